"""`codeccmp measure`: metrics and directional figures for reconstructions made anywhere.

Several decoded files of one original (models run elsewhere, other codecs' outputs) line up
in one table and one montage, measured on the same stripe regions, each with its rate when
given (``--bpp`` per file, or the real size: ``--bytes`` / ``--bitstream``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from codeccmp.cli.app import app
from codeccmp.errors import UsageError


def _rates(n: int, bpp: list[float] | None, nbytes: list[int] | None,
           bitstream: list[Path] | None, pixels: int) -> list[dict[str, Any]]:
    """One ``{"bpp", "bytes", "bitstream"}`` per decoded file, from whichever option was given.

    Each option is given once per decoded file (in the same order), or not at all; only one
    of them may be used. Checked before any measuring.
    """
    given = [(name, v) for name, v in (("--bpp", bpp), ("--bytes", nbytes),
                                       ("--bitstream", bitstream)) if v]
    if not given:
        return [{} for _ in range(n)]
    if len(given) > 1:
        raise UsageError(f"give the rate one way: {' and '.join(g for g, _ in given)} "
                         "cannot be combined")
    name, values = given[0]
    if len(values) != n:
        raise UsageError(f"{name} given {len(values)} time(s) for {n} decoded file(s): give it "
                         "once per decoded file, in the same order")
    out = []
    for v in values:
        if name == "--bpp":
            if not v > 0:
                raise UsageError(f"--bpp must be positive, got {v}")
            out.append({"bpp": float(v)})
            continue
        if name == "--bytes":
            if int(v) <= 0:
                raise UsageError(f"--bytes must be positive, got {v}")
            size, src = int(v), None
        else:
            p = Path(v)
            if not p.is_file():
                raise UsageError(f"bitstream file not found: {p}")
            size, src = p.stat().st_size, str(p)
            if size == 0:
                raise UsageError(f"bitstream file is empty: {p}")
        entry: dict[str, Any] = {"bytes": size, "bpp": 8.0 * size / pixels}
        if src:
            entry["bitstream"] = src
        out.append(entry)
    return out


@app.command("measure")
def measure_command(
    original: Annotated[Path, typer.Argument(
        metavar="ORIGINAL", help="The original image ('-': standard input).")],
    decoded: Annotated[list[Path], typer.Argument(
        metavar="DECODED",
        help="One or more reconstructions of it (any codec), one table row each ('-': "
             "standard input, for one of them).")],
    bpp: Annotated[list[float] | None, typer.Option(
        "--bpp", metavar="BPP",
        help="Rate of each decoded file (repeat once per file, same order).")] = None,
    nbytes: Annotated[list[int] | None, typer.Option(
        "--bytes", metavar="BYTES",
        help="Bitstream size in bytes of each decoded file (bpp from it).")] = None,
    bitstream: Annotated[list[Path] | None, typer.Option(
        "--bitstream", metavar="FILE",
        help="Bitstream file of each decoded file (bpp from its size).")] = None,
    roi: Annotated[list[str] | None, typer.Option(
        metavar="X,Y,W,H",
        help="Stripe region x,y,w,h (repeatable); 'auto' finds them (default); 'none' skips "
             "the stripe analysis.")] = None,
    roi_count: Annotated[int, typer.Option(help="How many regions 'auto' finds.")] = 3,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write results as JSON.")] = None,
    montage: Annotated[Path | None, typer.Option(
        help="Write a montage of the stripe regions (one column per decoded file).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing --json/--montage files.")] = False,
) -> None:
    """PSNR, SSIM, MS-SSIM and per-ROI directional error of each DECODED against ORIGINAL."""
    from codeccmp.cli.compare import NO_MONTAGE, NOT_MEASURED, parse_rois
    from codeccmp.cli.options import check_roi_count
    from codeccmp.measure.metrics import ms_ssim, ms_ssim_db, psnr, ssim
    from codeccmp.model.fileio import Outputs, atomic_write_json, is_stdout
    from codeccmp.model.images import load_image, to_gray
    from codeccmp.model.results import _json_safe, environment
    from codeccmp.pipeline.analysis import resolve_rois, roi_figures
    from codeccmp.stripes import NO_REGIONS, directional_error

    wanted = parse_rois(roi)  # "auto", the regions given, or None: no stripe analysis
    check_roi_count(roi_count)
    if wanted is None and montage is not None:
        raise UsageError(NO_MONTAGE)
    outputs = Outputs(force)  # checked now; written together at the end (or not at all)
    for p, opt in ((json_path, "--json"), (montage, "--montage")):
        if p is not None:
            outputs.add_file(p, opt)
    a = load_image(original)
    rates = _rates(len(decoded), bpp, nbytes, bitstream, a.width * a.height)
    images = []
    for d in decoded:
        b = load_image(d)
        if (a.width, a.height) != (b.width, b.height):
            raise UsageError(f"sizes differ: {original} is {a.width}×{a.height}, "
                             f"{d} is {b.width}×{b.height}")
        images.append(b)
    pa = a.pixels
    rois = resolve_rois(pa, wanted, roi_count)
    results, recons = [], []
    for d, b, rate in zip(decoded, images, rates, strict=True):
        # Each file on its own terms: a gray one against the original's gray (channels
        # averaged, as compare averages a gray codec's replicated channels), the others in
        # colour. All were once measured in gray as soon as one was, which moved the colour
        # files' figures (PSNR 25.24 → 25.70 dB) with no word in the JSON.
        oa, pb, notes = pa, b.pixels, []
        if pb.ndim != oa.ndim:
            oa, pb = to_gray(oa), to_gray(pb)
            notes.append(f"{'gray' if b.pixels.ndim == 2 else 'colour'} image against a "
                         f"{'colour' if pa.ndim == 3 else 'gray'} original: both measured "
                         "in gray (channels averaged)")
            typer.echo(f"note: {d}: {notes[-1]}", err=True)
        ms = ms_ssim(oa, pb)
        results.append({
            "decoded": {"path": str(d), "sha256": b.sha256}, **rate,
            "psnr": psnr(oa, pb), "ssim": ssim(oa, pb), "ms_ssim": ms,
            "ms_ssim_db": ms_ssim_db(ms),
            "stripes_image": None if wanted is None else directional_error(oa, pb).to_dict(),
            "rois": [roi_figures(oa, pb, r) for r in rois],
            "notes": notes,
        })
        recons.append(pb)
    res = {
        "original": {"path": str(original), "sha256": a.sha256},
        "width": a.width, "height": a.height,
        "rois": [r.to_dict() for r in rois],
        "stripe_regions": (NOT_MEASURED if wanted is None
                           else len(rois) if rois else NO_REGIONS),
        "results": results,
        "environment": environment(),
    }
    # ``--json -`` or ``--montage -``: standard output holds exactly that document, the
    # tables go to stderr (as in compare).
    _print(res, stripes=wanted is not None,
           to_stderr=is_stdout(json_path) or is_stdout(montage))
    with outputs:
        if montage is not None and rois:
            _montage(pa, rois, decoded, results, recons, montage)
        elif montage is not None:
            typer.echo(f"montage not written: {NO_REGIONS}", err=True)
        if json_path is not None:
            atomic_write_json(json_path, _json_safe(res))


def _montage(original, rois, decoded, results, recons, path: Path) -> None:  # noqa: ANN001
    from codeccmp.render.montage import MontageColumn, make_montage
    from codeccmp.render.report import roi_caption

    cols = [MontageColumn(label=Path(d).name, image=img,
                          captions_per_roi=[roi_caption(r.get("bpp"), r["ms_ssim"], e)
                                            for e in r["rois"]])
            for d, r, img in zip(decoded, results, recons, strict=True)]
    make_montage(original, rois, cols, path)


def _print(res: dict, stripes: bool = True, to_stderr: bool = False) -> None:
    """The summary table (without its stripe columns when ``--roi none`` asked for no stripe
    analysis), then a table per stripe region."""
    from codeccmp.render.console import stdout_console
    from codeccmp.render.fit import Column, fitted_table

    def f(v: float | None, fmt: str) -> str:
        return "–" if v is None else format(v, fmt)

    def mean(r: dict, key: str) -> float | None:
        vals = [e[key] for e in r["rois"] if e.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    from codeccmp.pipeline.analysis import STRIPE_SHARES
    from codeccmp.render.report import redrawn_text, turned_text
    from codeccmp.render.tables import classes_cell
    from codeccmp.stripes import NO_REGIONS

    console = stdout_console(stderr=to_stderr)
    names = [Path(r["decoded"]["path"]).name for r in res["results"]]
    # Narrower than the whole table, the least telling columns go first (higher ``drop``)
    # rather than every number being cut to "0.…" (codeccmp.render.fit).
    summary = [
        Column("decoded", names, justify="left"),
        Column("bpp", [f(r.get("bpp"), ".4f") for r in res["results"]], drop=3),
        Column("PSNR dB", [f(r["psnr"], ".2f") for r in res["results"]], narrow="PSNR\ndB"),
        Column("SSIM", [f(r["ssim"], ".4f") for r in res["results"]], drop=2),
        Column("MS-SSIM", ["n/a (< 161 px)" if r["ms_ssim"] is None else f"{r['ms_ssim']:.4f}"
                           for r in res["results"]]),
        Column("MS-SSIM dB", [f(r["ms_ssim_db"], ".2f") for r in res["results"]],
               narrow="MS-SSIM\ndB", drop=4),
    ]
    if stripes:
        summary += [
            Column("Δθ ° (ROIs)", [f(mean(r, "delta_theta_deg"), ".2f")
                                   for r in res["results"]], narrow="Δθ °\n(ROIs)"),
            Column("turned / redrawn / erased",
                   [classes_cell({k: mean(r, k) for k in STRIPE_SHARES})
                    for r in res["results"]], narrow="turned /\nredrawn /\nerased"),
            Column("contrast", [f(mean(r, "contrast_retention"), ".2f")
                                for r in res["results"]], drop=1),
        ]
    console.print(fitted_table(
        summary, console.width,
        title=f"{res['original']['path']} ({res['width']}×{res['height']})"))
    if not res["rois"]:
        if stripes:
            console.print(NO_REGIONS.capitalize() + ".", highlight=False)
        return
    for i, roi in enumerate(res["rois"]):
        es = [r["rois"][i] for r in res["results"]]
        columns = [
            Column("decoded", list(names), justify="left"),
            Column("Δθ °", [f(e["delta_theta_deg"], ".2f") for e in es]),
            Column("kept", [f(e.get("kept_share"), ".1%") for e in es]),
            Column("turned", [turned_text(e) for e in es]),
            Column("redrawn", [redrawn_text(e) for e in es]),
            Column("erased", [f(e.get("erased_share"), ".1%") for e in es]),
            Column("spectral shift °", [f(e.get("spectral_shift_deg"), ".1f") for e in es],
                   narrow="spectral\nshift °", drop=2),
            Column("contrast", [f(e["contrast_retention"], ".2f") for e in es], drop=1),
            Column("period px", [f(e.get("period_px"), ".1f") for e in es],
                   narrow="period\npx", drop=3),
            Column("stripe px", [f(e.get("stripe_share"), ".0%") for e in es],
                   narrow="stripe\npx", drop=3),
            Column("PSNR dB", [f(e["psnr"], ".2f") for e in es], narrow="PSNR\ndB", drop=2),
            Column("MS-SSIM (ROI)", ["n/a" if e["ms_ssim"] is None else f"{e['ms_ssim']:.4f}"
                                     for e in es], narrow="MS-SSIM\n(ROI)", drop=4),
        ]
        console.print(fitted_table(
            columns, console.width,
            title=f"ROI {i + 1}: {roi['x']},{roi['y']},{roi['w']},{roi['h']}"))
