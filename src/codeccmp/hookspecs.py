"""The plugin API of codeccmp: the hooks a plugin may implement.

This module is the single definition of the API. ``docs/plugins.md`` documents every hook
listed here, and a test checks that the two agree.

A plugin is any module or object with functions decorated by :data:`hookimpl`. Plugins are
found through the ``codeccmp`` entry-point group (``pip install`` a package that declares one)
or loaded from a file with ``--plugin FILE.py``; a file of another kind (``--codec-config
FILE.toml``) is read by the plugin that claims it through :func:`load_plugin_file`. The
first-party codecs (Pillow, CompressAI, external programs) are plugins registered exactly
this way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    import typer

    from codeccmp.codec import Codec
    from codeccmp.metric import Metric

PROJECT = "codeccmp"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_codecs(register: Callable[[Codec], None]) -> None:
    """Register codecs by calling ``register(codec)`` once per :class:`~codeccmp.codec.Codec`.

    Called once when the plugin manager starts. Keep it cheap: do not import heavy
    libraries (torch, codec bindings) here; do that inside the codec's methods, and report
    missing dependencies through ``Codec.availability()`` rather than by raising.
    """


@hookspec
def register_commands(app: typer.Typer) -> None:
    """Add commands to the ``codeccmp`` command line (a ``typer.Typer`` app).

    Use ``@app.command()`` or ``app.add_typer(...)``. Called at every start of the CLI
    except a run of a built-in command (``compare``, ``sweep``, ...), whose names a plugin
    may not take; so import nothing heavy at module level: ``codeccmp --help`` must stay
    instant.
    """


@hookspec
def register_metrics(register: Callable[[Metric], None]) -> None:
    """Register quality metrics by calling ``register(metric)`` once per
    :class:`~codeccmp.metric.Metric`.

    Called when a metric registry is built (``codeccmp metrics``, ``--metrics``,
    ``--match``). Import nothing heavy here: do it inside ``Metric.compute`` and report a
    missing package or weights through ``Metric.availability()``.
    """


@hookspec(firstresult=True)
def load_plugin_file(path: Path) -> object | None:
    """Read a plugin file given with ``--plugin`` or ``--codec-config`` that this plugin
    understands (``codeccmp_external`` reads ``.toml`` codec and metric definitions):
    return a plugin object, whose hook implementations are then registered, or ``None`` to
    leave the file to others.

    The first non-``None`` answer wins; a file no plugin claims is imported as Python.
    The returned object is registered under its ``__name__`` if it has one, else
    ``file:PATH``. Raise :class:`~codeccmp.errors.UsageError` for a file that is yours but
    bad: it is the user's input. Called again in each sweep worker, so keep it a pure read.
    """
