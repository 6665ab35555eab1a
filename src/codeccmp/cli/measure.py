"""`codeccmp measure`: metrics and directional figures for any pair of images."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.errors import UsageError


@app.command("measure")
def measure_command(
    original: Annotated[Path, typer.Argument(help="The original image.")],
    decoded: Annotated[Path, typer.Argument(help="A reconstruction of it (any codec).")],
    roi: Annotated[list[str] | None, typer.Option(
        help="Stripe region x,y,w,h (repeatable); 'auto' finds them (default).")] = None,
    roi_count: Annotated[int, typer.Option(help="How many regions 'auto' finds.")] = 3,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing --json file.")] = False,
) -> None:
    """PSNR, SSIM, MS-SSIM and per-ROI directional error of DECODED against ORIGINAL."""
    from codeccmp.analysis import resolve_rois, roi_figures
    from codeccmp.cli.compare import parse_rois
    from codeccmp.fileio import atomic_write_json, check_output
    from codeccmp.images import load_image, to_gray
    from codeccmp.metrics import ms_ssim, ms_ssim_db, psnr, ssim
    from codeccmp.results import _json_safe, environment
    from codeccmp.stripes import directional_error

    if json_path is not None:
        check_output(json_path, force, "--json")
    a, b = load_image(original), load_image(decoded)
    if (a.width, a.height) != (b.width, b.height):
        raise UsageError(f"sizes differ: {original} is {a.width}×{a.height}, "
                         f"{decoded} is {b.width}×{b.height}")
    pa, pb = a.pixels, b.pixels
    if pa.ndim != pb.ndim:  # one gray, one RGB: compare in gray, say so
        pa, pb = to_gray(pa), to_gray(pb)
        typer.echo("warning: one image is gray: both measured in gray", err=True)
    rois = resolve_rois(pa, parse_rois(roi) or "auto", roi_count)
    ms = ms_ssim(pa, pb)
    result = {
        "original": {"path": str(original), "sha256": a.sha256},
        "decoded": {"path": str(decoded), "sha256": b.sha256},
        "width": a.width, "height": a.height,
        "psnr": psnr(pa, pb), "ssim": ssim(pa, pb), "ms_ssim": ms, "ms_ssim_db": ms_ssim_db(ms),
        "stripes_image": directional_error(pa, pb).to_dict(),
        "rois": [roi_figures(pa, pb, r) for r in rois],
        "environment": environment(),
    }
    _print(result)
    if json_path is not None:
        atomic_write_json(json_path, _json_safe(result))


def _print(res: dict) -> None:
    from rich.table import Table

    from codeccmp.render.console import stdout_console

    def f(v: float | None, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    console = stdout_console()
    ms = "n/a (image under 161 px)" if res["ms_ssim"] is None else f"{res['ms_ssim']:.4f}"
    console.print(f"PSNR {f(res['psnr'], '.2f')} dB   SSIM {f(res['ssim'], '.4f')}   "
                  f"MS-SSIM {ms}   MS-SSIM dB {f(res['ms_ssim_db'], '.2f')}", highlight=False)
    whole = res["stripes_image"]
    console.print(f"whole image, strongly oriented pixels: Δθ "
                  f"{f(whole['delta_theta_deg'], '.2f')}°  flip {f(whole['flip_share'], '.1%')}"
                  f"  contrast retention {f(whole['contrast_retention'], '.2f')}",
                  highlight=False)
    t = Table(title="Stripe regions", title_justify="left")
    for col in ("ROI x,y,w,h", "Δθ °", "flip share", "spectral shift °", "contrast", "PSNR dB",
                "MS-SSIM"):
        t.add_column(col, justify="right")
    for e in res["rois"]:
        t.add_row(f"{e['x']},{e['y']},{e['w']},{e['h']}", f(e["delta_theta_deg"], ".2f"),
                  f(e["flip_share"], ".1%"), f(e.get("spectral_shift_deg"), ".1f"),
                  f(e["contrast_retention"], ".2f"),
                  f(e["psnr"], ".2f"), "n/a" if e["ms_ssim"] is None else f"{e['ms_ssim']:.4f}")
    console.print(t)
