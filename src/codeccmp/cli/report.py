"""`codeccmp report`: rebuild the markdown report from saved results, coding nothing again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app


@app.command("report")
def report_command(
    results: Annotated[Path, typer.Argument(
        help="A results JSON written by compare (or by sweep, with --html).")],
    out: Annotated[Path | None, typer.Option(
        help="Directory for report.md and its images (default: beside the JSON).")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite an existing report.")] = False,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write an HTML report folder here instead (report.md too only with "
                       "--out).")] = None,
) -> None:
    """Write report.md (and the montage, when the reconstructions were saved) from JSON.

    With --html, the HTML folder instead; a sweep's JSON makes the sweep's HTML page.
    """
    from codeccmp.errors import UsageError
    from codeccmp.fileio import check_writable
    from codeccmp.rebuild import load_images_for_report
    from codeccmp.render.html import check_html_target
    from codeccmp.render.html.sweep import is_sweep, write_sweep_html
    from codeccmp.render.report import write_report
    from codeccmp.results import Comparison

    data = _read_json(results)
    if is_sweep(data):  # a sweep's JSON: its page (curves, BD table, points)
        if html is None or out is not None:
            raise UsageError(f"{results} holds a sweep's results: only --html DIR reports "
                             "them (the markdown report is for compare's)")
        check_html_target(html, force)
        typer.echo(f"html: {write_sweep_html(data, html, force)}", err=True)
        return
    cmp = Comparison.load(results)
    out_dir = out or results.parent
    markdown = html is None or out is not None
    if markdown:
        check_writable(out_dir / "report.md", force)
        if cmp.rois:
            check_writable(out_dir / "montage.png", force)
    if html is not None:
        check_html_target(html, force)
    original, recons, notes = load_images_for_report(cmp, results.parent)
    for n in notes:
        typer.echo(f"warning: {n}", err=True)
    if markdown:
        path = write_report(cmp, out_dir, original, recons, notes)
        typer.echo(f"report: {path}", err=True)
    if html is not None:
        from codeccmp.render.html import write_html

        page = write_html(cmp, html, original, recons, notes, force=force)
        typer.echo(f"html: {page}", err=True)


def _read_json(path: Path):  # noqa: ANN202 - any JSON value
    import json

    from codeccmp.errors import UsageError

    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"results file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
