"""`codeccmp metrics`: every registered quality metric, what it measures and whether it runs
here."""

from __future__ import annotations

from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.cli.options import CodecConfigOpt, PluginOpt, plugin_sources


@app.command("metrics")
def metrics_command(
    plugin: PluginOpt = None,
    codec_config: CodecConfigOpt = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of a table.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also each metric's libraries and plugin.")] = False,
) -> None:
    """List every registered quality metric: what it measures, which way is better, and
    whether it is usable here (and why not; -v adds libraries and versions). Use the names
    with --metrics and --match."""
    import json

    from codeccmp.plugins import load_metrics

    registry = load_metrics(plugin_sources(plugin, codec_config))
    rows = []
    for m in registry.all():
        try:
            reason = m.availability()
            lib = ", ".join(f"{k} {v}" for k, v in m.library().items())
        except Exception as exc:  # a broken plugin shows up as unusable, not as a crash
            reason, lib = f"{type(exc).__name__}: {exc}", ""
        rows.append({"metric": m.name, "better": "higher" if m.higher_is_better else "lower",
                     "unit": m.unit, "per_roi": m.per_roi, "library": lib,
                     "usable": "yes" if reason is None else reason,
                     "plugin": registry.plugin_of(m.name), "description": m.description})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
        return
    from codeccmp.render.console import stdout_console
    from codeccmp.render.tables import metrics_table, usable_notes

    console = stdout_console()
    console.print(metrics_table(rows, verbose=verbose))
    for note in usable_notes(rows, "metric"):
        console.print(note, soft_wrap=True, highlight=False, markup=False)
