"""`codeccmp compare`: every codec on one image at the same bitrate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.errors import UsageError


@app.command("compare")
def compare_command(
    image: Annotated[Path, typer.Argument(help="Image to code (PNG, JPEG, TIFF, BMP, PPM/PGM).")],
    bpp: Annotated[float, typer.Option("--bpp", help="Target rate in bits per pixel.")],
    codecs: Annotated[str | None, typer.Option(
        help="Comma-separated codec names (default: every codec usable here).")] = None,
    tolerance: Annotated[float, typer.Option(
        help="Flag codecs whose achieved bpp deviates more than this fraction.")] = 0.10,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Write all results and provenance as JSON.")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for each reconstruction (PNG) and bitstream.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    plugin: Annotated[list[Path] | None, typer.Option(
        "--plugin", help="Load a codec plugin from a Python file (repeatable).")] = None,
    device: Annotated[str, typer.Option(
        help="Device for learned codecs: auto, cpu, cuda or cuda:N.")] = "auto",
    weights: Annotated[list[str] | None, typer.Option(
        help="Weights for a learned codec: CODEC[:QUALITY]=PATH (repeatable).")] = None,
    weights_dir: Annotated[Path | None, typer.Option(
        help="Directory of weights under the zoo's file names (or CODECCMP_WEIGHTS_DIR).")] = None,
    offline: Annotated[bool, typer.Option(
        help="Never download weights (or CODECCMP_OFFLINE=1).")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
) -> int:
    """Code IMAGE with every codec at the bitrate closest to --bpp and compare the results."""
    from codeccmp.cli.options import parse_codec_list, run_settings
    from codeccmp.compare import CompareOptions, compare_image, select_codecs, validate_bpp
    from codeccmp.images import load_image
    from codeccmp.plugins import load_registry

    validate_bpp(bpp)
    if not 0 < tolerance < 1:
        raise UsageError(f"--tolerance must be between 0 and 1, got {tolerance:g}")
    names = parse_codec_list(codecs)
    settings = run_settings(device, weights, weights_dir, offline)
    registry = load_registry(plugin or [])
    selected = select_codecs(registry, names)  # unknown names fail here, before any work
    if json_path is not None:
        _check_target(json_path, force)
    if out is not None:
        if out.exists() and not out.is_dir():
            raise UsageError(f"--out {out} exists and is not a directory")
        for c in selected:
            for name in (f"{c.name}.png", f"{c.name}.{c.extension}"):
                _check_target(out / name, force)
    src = load_image(image)
    options = CompareOptions(target_bpp=bpp, codecs=[c.name for c in selected],
                             tolerance=tolerance, settings=settings)
    if names is None:
        options.codecs = None

    with _progress(quiet, len(selected)) as progress:
        result = compare_image(src, registry, options, progress=progress)

    _render(result, src.notes)
    if out is not None:
        _save_outputs(result, out)
    if json_path is not None:
        from codeccmp.fileio import atomic_write_text

        atomic_write_text(json_path, result.to_json())
    if names is not None:
        return 0 if all(r.ok for r in result.results) else 1
    return 1 if any(r.status == "failed" for r in result.results) else 0


def _check_target(path: Path, force: bool) -> None:
    from codeccmp.fileio import check_writable

    check_writable(path, force)


def _render(result, notes: list[str]) -> None:  # noqa: ANN001 - Comparison
    from codeccmp.render.console import stderr_console, stdout_console
    from codeccmp.render.tables import problems, results_table

    console, err = stdout_console(), stderr_console()
    for n in notes:
        err.print(f"[yellow]warning:[/] {n}")
    console.print(results_table(result))
    for line in problems(result.results):
        err.print(f"[yellow]note:[/] {line}", highlight=False)


def _save_outputs(result, out: Path) -> None:  # noqa: ANN001 - Comparison
    from codeccmp.fileio import atomic_write_bytes
    from codeccmp.images import save_png

    out.mkdir(parents=True, exist_ok=True)
    for r in result.results:
        if r.ok and r.reconstruction is not None and r.bitstream is not None:
            save_png(r.reconstruction, out / f"{r.codec}.png")
            atomic_write_bytes(out / f"{r.codec}.{r.extension}", r.bitstream)


class _progress:
    """A rich progress display on stderr naming the codec that runs and its last trial."""

    def __init__(self, quiet: bool, total: int) -> None:
        self.quiet, self.total = quiet, total
        self.bar = None

    def __enter__(self):  # noqa: ANN204
        if self.quiet:
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                            TextColumn("{task.completed}/{task.total}"),
                            console=Console(stderr=True), transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("starting", total=self.total)
        return self.update

    def update(self, codec: str, event: str, detail) -> None:  # noqa: ANN001
        assert self.bar is not None
        if event == "start":
            self.bar.update(self.task, description=f"{codec}: rate search")
        elif event == "trial":
            self.bar.update(self.task,
                            description=f"{codec}: {detail.param:g} → {detail.bpp:.3f} bpp")
        elif event == "done":
            self.bar.advance(self.task)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.bar is not None:
            self.bar.__exit__(*exc)
