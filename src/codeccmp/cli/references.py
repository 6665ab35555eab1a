"""`codeccmp references`: the published RD curves a sweep can draw and BD-measure against."""

from __future__ import annotations

from typing import Annotated

import typer

from codeccmp.cli.app import app


@app.command("references")
def references_command(
    dataset: Annotated[str | None, typer.Option(
        help="Only this data set (kodak, clic2020-mobile, clic2020-professional).")] = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of a table.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v",
        help="Also where each curve comes from (codec and version, device).")] = False,
) -> None:
    """List the published curves `sweep --reference ID` takes (ID, or DATASET/ID)."""
    import json

    from codeccmp.errors import UsageError
    from codeccmp.references import catalogue, load_curve, metrics_of

    refs = catalogue()
    if dataset is not None:
        known = sorted({str(r.dataset) for r in refs})
        if dataset not in known:
            raise UsageError(f"--dataset must be one of {', '.join(known)}, got {dataset!r}")
        refs = tuple(r for r in refs if r.dataset == dataset)
    rows = []
    for r in refs:
        curve = load_curve(r.path)
        rows.append({"id": r.id, "dataset": r.dataset, "spec": r.spec,
                     "metrics": metrics_of(curve), "points": len(curve.bpp),
                     "bpp_range": [min(curve.bpp), max(curve.bpp)], "kind": r.kind,
                     "device": r.device, "decoded": r.decoded, "source": r.source,
                     "origin": r.origin, "file": r.path.name})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from codeccmp.references import DEFAULT_DATASET
    from codeccmp.render.console import stdout_console
    from codeccmp.render.tables import references_tables

    console = stdout_console()
    for i, table in enumerate(references_tables(rows, DEFAULT_DATASET, verbose=verbose)):
        if i:
            console.print()
        console.print(table)
