"""`codeccmp report`: rebuild the markdown report from saved results, coding nothing again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app


@app.command("report")
def report_command(
    results: Annotated[Path, typer.Argument(
        metavar="RESULTS",
        help="A results JSON written by compare (or by sweep, with --html); '-' reads it "
             "from standard input.")],
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
    from codeccmp.model.fileio import Outputs
    from codeccmp.model.results import Comparison
    from codeccmp.pipeline.rebuild import load_images_for_report
    from codeccmp.render.html import check_html_target
    from codeccmp.render.html.sweep import is_sweep, write_sweep_html
    from codeccmp.render.report import write_report

    data = _read_json(results)
    if is_sweep(data):  # a sweep's JSON: its page (curves, BD table, points)
        if html is None or out is not None:
            raise UsageError(f"{results} is a sweep's JSON; `codeccmp report` reads the results "
                             "of `codeccmp compare` (its --json, or results.json in --report), "
                             "or a sweep's with --html DIR")
        check_html_target(html, force)
        typer.echo(f"html: {write_sweep_html(data, html, force)}", err=True)
        return
    stdin = str(results) == "-"
    if stdin and out is None and html is None:
        raise UsageError("results read from standard input (-): give --out DIR or --html DIR "
                         "for the report")
    cmp = Comparison.from_dict(data) if stdin else Comparison.load(results)
    base = Path.cwd() if stdin else results.parent  # where saved reconstructions are found
    out_dir = out or results.parent
    markdown = html is None or out is not None
    outputs = Outputs(force)  # checked now; written together, so a failure leaves nothing
    if markdown:
        outputs.add_dir(out_dir, "--out")
        outputs.add_file(out_dir / "report.md", "--out")
        if cmp.rois:
            outputs.add_file(out_dir / "montage.png", "--out")
    if html is not None:
        outputs.add_tree(html, "--html")
    original, recons, notes = load_images_for_report(cmp, base)
    for n in notes:
        typer.echo(f"warning: {n}", err=True)
    written = []
    with outputs:
        if markdown:
            written.append(f"report: {write_report(cmp, out_dir, original, recons, notes)}")
        if html is not None:  # staged whole, moved into place with report.md
            from codeccmp.render.html import write_html

            page = write_html(cmp, html, original, recons, notes, force=force)
            written.append(f"html: {page}")
    for line in written:
        typer.echo(line, err=True)


def _read_json(path: Path):  # noqa: ANN202 - any JSON value
    import json
    import sys

    from codeccmp.errors import UsageError

    if str(path) == "-":  # standard input, as every Unix filter reads it
        try:
            return json.loads(sys.stdin.read())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"standard input is not valid JSON: {exc}") from None
    if path.is_dir():
        raise UsageError(f"{path} is a directory; expected the results JSON (the --json of "
                         "compare, or results.json inside its --report folder)")
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise UsageError(f"results file not found: {path}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path} is not valid JSON: {exc}") from None
