"""First-party plugin: codecs and quality metrics that run external programs, defined in
TOML, no Python needed.

Three sources, registered through the ordinary ``register_codecs`` and ``register_metrics``
hooks:

- the definitions shipped in ``codeccmp_external/codecs/*.toml`` (cjxl, avifenc, cwebp,
  ffmpeg's x265 and AV1, OpenJPEG, BPG, VTM, HM) and ``codeccmp_external/metrics/*.toml``
  (Debian's butteraugli);
- the user's own, ``*.toml`` in :func:`user_config_dir` ``/codecs.d`` and ``/metrics.d``;
  a user definition with a shipped one's name replaces the shipped one;
- files given with ``--codec-config FILE.toml`` (or its alias ``--metric-config``), which
  may hold ``[[codec]]`` and ``[[metric]]`` tables, each file registered as its own plugin:
  this plugin claims them through the ``load_plugin_file`` hook (:func:`config_plugin`), so
  they travel to sweep workers with the ``--plugin`` files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from codeccmp import hookimpl
from codeccmp.codec import Codec
from codeccmp.metric import Metric


def user_config_dir() -> Path:
    """``$CODECCMP_CONFIG_DIR``, else ``$XDG_CONFIG_HOME/codeccmp``, else ``~/.config/codeccmp``."""
    env = os.environ.get("CODECCMP_CONFIG_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CONFIG_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".config") / "codeccmp"


def _codecs_from(paths: list[Path]) -> list[Codec]:
    from codeccmp_external.codec import ExternalCodec
    from codeccmp_external.config import load_file

    return [ExternalCodec(spec) for p in paths for spec in load_file(p)]


def _metrics_from(paths: list[Path]) -> list[Metric]:
    from codeccmp_external.metric import ExternalMetric
    from codeccmp_external.metric_config import load_metric_file

    return [ExternalMetric(spec) for p in paths for spec in load_metric_file(p)]


def shipped_files(kind: str = "codecs") -> list[Path]:
    """The shipped definitions: ``kind`` is ``codecs`` or ``metrics``.

    The files beside this module, where the package is installed (its package data), found
    by path: they are read as files anyway (a codec's TOML is named in its results), and
    ``importlib.resources`` costs every start about 6 ms of imports (``tempfile``,
    ``zipfile``, ``shutil``) to say the same."""
    folder = Path(__file__).parent / kind
    return sorted(f for f in folder.iterdir() if f.name.endswith(".toml"))


def user_files(kind: str = "codecs") -> list[Path]:
    """The user's definitions in ``codecs.d`` or ``metrics.d``."""
    folder = user_config_dir() / f"{kind}.d"
    return sorted(folder.glob("*.toml")) if folder.is_dir() else []


@hookimpl
def register_codecs(register: Callable[[Codec], None]) -> None:
    codecs = {c.name: c for c in _codecs_from(shipped_files())}
    for c in codecs.values():
        # Shipped definitions run when named: most duplicate a Pillow codec's format, and a
        # plain `compare` should not grow by whatever happens to be on PATH.
        c.in_default_set = False
    codecs.update({c.name: c for c in _codecs_from(user_files())})  # the user's win
    for codec in codecs.values():
        register(codec)


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    metrics = {m.name: m for m in _metrics_from(shipped_files("metrics"))}
    metrics.update({m.name: m for m in _metrics_from(user_files("metrics"))})  # the user's win
    for metric in metrics.values():
        register(metric)


class _ConfigPlugin:
    """The codecs and metrics of one ``--codec-config`` file, as a plugin object."""

    def __init__(self, path: Path) -> None:
        from codeccmp.errors import UsageError
        from codeccmp_external.codec import ExternalCodec
        from codeccmp_external.config import codecs_of, read_document
        from codeccmp_external.metric import ExternalMetric
        from codeccmp_external.metric_config import metrics_of

        self.path = path
        self.__name__ = f"config:{path.resolve()}"  # its name in the plugin manager
        # Bad files fail here, before any work.
        doc = read_document(path, "config", {"codec", "metric"})
        self.codecs: list[Codec] = [ExternalCodec(s) for s in codecs_of(doc, path)]
        self.metrics: list[Metric] = [ExternalMetric(s) for s in metrics_of(doc, path)]
        if not self.codecs and not self.metrics:
            raise UsageError(f"config {path}: defines no codec or metric (expected "
                             "[[codec]] or [[metric]] tables)")

    @hookimpl
    def register_codecs(self, register: Callable[[Codec], None]) -> None:
        for codec in self.codecs:
            register(codec)

    @hookimpl
    def register_metrics(self, register: Callable[[Metric], None]) -> None:
        for metric in self.metrics:
            register(metric)


def config_plugin(path: Path) -> object:
    from codeccmp.errors import UsageError

    if not path.is_file():
        raise UsageError(f"codec config file not found: {path}")
    return _ConfigPlugin(path)


@hookimpl
def load_plugin_file(path: Path) -> object | None:
    """``--codec-config FILE.toml`` (or ``--plugin FILE.toml``): its codecs, as a plugin."""
    if path.suffix.lower() != ".toml":
        return None
    return config_plugin(path)
