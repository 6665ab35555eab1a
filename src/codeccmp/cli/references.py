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
    from rich.table import Table

    from codeccmp.render.console import stdout_console

    t = Table(title="Published RD curves (sweep --reference ID, or DATASET/ID for a "
                    "non-Kodak set; --reference FILE.json for any other)", title_justify="default",
              caption="From CompressAI's results/ at commit 869a9f5 (its LICENSE ships with "
                      "them); each is a mean over the data set's images per quality.",
              caption_justify="left")
    for col, just in (("id", "left"), ("data set", "left"), ("metrics", "left"),
                      ("points", "right"), ("bpp", "right"), ("device", "left"),
                      ("source", "left")):
        t.add_column(col, justify=just, style="bold" if col == "id" else None,  # type: ignore[arg-type]
                     no_wrap=col in ("id", "bpp", "metrics"))
    for row in rows:
        lo, hi = row["bpp_range"]
        device = row["device"] or "–"
        if row["decoded"] == "8bit":
            device += ", 8-bit decoded"
        t.add_row(row["id"], str(row["dataset"]), ", ".join(row["metrics"]),
                  str(row["points"]), f"{lo:.2f}–{hi:.2f}", device, row["source"])
    stdout_console().print(t)
