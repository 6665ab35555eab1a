"""`codeccmp codecs`: what is registered, what each needs, and whether it runs here."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.cli.complete import codec_completions
from codeccmp.cli.options import (
    CodecConfigOpt,
    OfflineOpt,
    PluginOpt,
    WeightsOpt,
    check_weights_codecs,
    plugin_sources,
    run_settings,
)
from codeccmp.errors import UsageError


@app.command("codecs")
def codecs_command(
    names: Annotated[list[str] | None, typer.Argument(
        metavar="CODEC", autocompletion=codec_completions,
        help="Only these codecs (default: every registered one).")] = None,
    plugin: PluginOpt = None,
    codec_config: CodecConfigOpt = None,
    weights: WeightsOpt = None,
    weights_dir: Annotated[Path | None, typer.Option(
        help="Directory of learned-codec weights (or CODECCMP_WEIGHTS_DIR).")] = None,
    offline: OfflineOpt = False,
    json_out: Annotated[bool, typer.Option(
        "--json", help="Print JSON instead of a table.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also show how each codec is set up, its libraries and "
                                "plugin, and where a learned codec's weights are.")] = False,
) -> None:
    """List every registered codec (or the CODECs named): family, parameter, encoder options
    (set them as NAME[KEY=VALUE,...] in --codecs) and whether it is usable here; -v adds how
    each is set up, its libraries and where a learned one's weights are."""
    import json

    from codeccmp.plugins import load_registry
    from codeccmp.render.tables import codecs_table, space_text

    for n in names or ():  # before loading anything
        if "[" in n:
            raise UsageError(f"codecs takes codec names, got {n!r}: the table lists each "
                             "one's options and defaults")
    registry = load_registry(plugin_sources(plugin, codec_config))
    settings = run_settings("auto", weights, weights_dir, offline)
    # Named ones through the registry: an unknown name is the usual one-line error (with its
    # "did you mean").
    codecs = [registry.get(n.strip()) for n in names] if names else registry.all()
    # --weights as compare takes it (a codec not listed, or a file that is no checkpoint, is
    # refused the same way), so that -v shows where a run would take them from.
    check_weights_codecs(settings, codecs, registry, add="name it too")
    rows = []
    for codec in codecs:
        weights = None
        try:
            codec.configure(settings)
            reason = codec.availability()
            lib = ", ".join(f"{k} {v}" for k, v in codec.library().items() if k != "pillow")
            space = space_text(codec.param_space, codec.family)
            status = getattr(codec, "weights_status", None)
            if callable(status):
                weights = status()
        except Exception as exc:  # a broken plugin shows up as unusable, not as a crash
            reason, lib, space = f"{type(exc).__name__}: {exc}", "", ""
        usable = "yes" if reason is None else reason
        if reason is None and weights and weights.startswith("not on disk"):
            # Usable only once its weights are downloaded: say so here, as a run would.
            usable = "after a download"
        if usable == "yes" and not codec.in_default_set:
            usable = "yes (when named in --codecs)"
        rows.append({"codec": codec.name, "family": codec.family, "parameter": space,
                     "options": [{"key": o.name, "values": o.describe(),
                                  "default": o.format(o.default), "help": o.help}
                                 for o in codec.option_specs],
                     "library": lib, "usable": usable, "weights": weights,
                     "plugin": registry.plugin_of(codec.name),
                     "description": codec.description})
    if json_out:
        typer.echo(json.dumps(rows, indent=2))
    else:
        from codeccmp.render.console import stdout_console
        from codeccmp.render.tables import (
            CODECS_HINT,
            codec_options_table,
            codec_records,
            usable_notes,
        )

        console = stdout_console()
        if verbose:  # a block per codec, every field whole
            for i, block in enumerate(codec_records(rows)):
                if i:
                    console.print()
                console.print(block, highlight=False)
            return
        console.print(codecs_table(rows))
        console.print(CODECS_HINT, highlight=False, markup=False)
        options = codec_options_table(rows)
        if options is not None:
            console.print()
            console.print(options)
        notes = usable_notes(rows, "codec")
        if notes:
            console.print()
        for note in notes:
            console.print(note, soft_wrap=True, highlight=False, markup=False)
