"""`codeccmp codecs`: what is registered, what each needs, and whether it runs here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.cli.options import (
    CodecConfigOpt,
    OfflineOpt,
    PluginOpt,
    plugin_sources,
    run_settings,
)


@app.command("codecs")
def codecs_command(
    plugin: PluginOpt = None,
    codec_config: CodecConfigOpt = None,
    weights_dir: Annotated[Path | None, typer.Option(
        help="Directory of learned-codec weights (or CODECCMP_WEIGHTS_DIR).")] = None,
    offline: OfflineOpt = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every registered codec: family, parameter, library and whether it is usable here."""
    import json

    from codeccmp.plugins import load_registry
    from codeccmp.render.tables import codecs_table

    registry = load_registry(plugin_sources(plugin, codec_config))
    settings = run_settings("auto", None, weights_dir, offline)
    rows = []
    for codec in registry.all():
        try:
            codec.configure(settings)
            reason = codec.availability()
            lib = ", ".join(f"{k} {v}" for k, v in codec.library().items() if k != "pillow")
            space = codec.param_space.describe()
        except Exception as exc:  # a broken plugin shows up as unusable, not as a crash
            reason, lib, space = f"{type(exc).__name__}: {exc}", "", ""
        rows.append({"codec": codec.name, "family": codec.family, "parameter": space,
                     "library": lib, "usable": "yes" if reason is None else reason,
                     "plugin": registry.plugin_of(codec.name),
                     "description": codec.description})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
    else:
        from codeccmp.render.console import stdout_console

        stdout_console().print(codecs_table(rows))
