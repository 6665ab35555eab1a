"""`codeccmp metrics`: every registered quality metric, its library and whether it runs here;
and the ``--metrics`` option that ``compare`` and ``sweep`` share."""

from __future__ import annotations

from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.cli.complete import metric_completions
from codeccmp.cli.options import CodecConfigOpt, PluginOpt, plugin_sources

MetricsOpt = Annotated[str | None, typer.Option(
    "--metrics", autocompletion=metric_completions,
    help="Extra quality columns, comma-separated (e.g. psnr-y,ssimulacra2); "
         "`codeccmp metrics` lists them. JSON and CSV carry them under 'metrics'.")]


@app.command("metrics")
def metrics_command(
    plugin: PluginOpt = None,
    codec_config: CodecConfigOpt = None,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every registered quality metric: direction, library and version, and whether it
    is usable here (and why not). Use the names with --metrics and --match."""
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
    from rich.table import Table

    from codeccmp.render.console import stdout_console

    t = Table(title="quality metrics (--metrics NAME,...; --match NAME=VALUE)",
              title_justify="default")
    for col in ("metric", "better", "library", "usable", "description"):
        t.add_column(col, overflow="fold")
    for r in rows:
        t.add_row(r["metric"], r["better"], r["library"], r["usable"], r["description"])
    stdout_console().print(t)
