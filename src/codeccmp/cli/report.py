"""`codeccmp report`: rebuild the markdown report from saved results, coding nothing again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app


@app.command("report")
def report_command(
    results: Annotated[Path, typer.Argument(help="A results JSON written by compare.")],
    out: Annotated[Path | None, typer.Option(
        help="Directory for report.md and its images (default: beside the JSON).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing report.")] = False,
) -> None:
    """Write report.md (and the montage, when the reconstructions were saved) from JSON."""
    from codeccmp.fileio import Outputs
    from codeccmp.rebuild import load_images_for_report
    from codeccmp.render.report import write_report
    from codeccmp.results import Comparison

    cmp = Comparison.load(results)
    out_dir = out or results.parent
    outputs = Outputs(force)  # checked now; written together, so a failure leaves nothing
    outputs.add_dir(out_dir, "--out")
    outputs.add_file(out_dir / "report.md", "--out")
    if cmp.rois:
        outputs.add_file(out_dir / "montage.png", "--out")
    original, recons, notes = load_images_for_report(cmp, results.parent)
    for n in notes:
        typer.echo(f"warning: {n}", err=True)
    with outputs:
        path = write_report(cmp, out_dir, original, recons, notes)
    typer.echo(f"report: {path}", err=True)
