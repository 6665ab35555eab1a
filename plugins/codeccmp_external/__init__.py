"""First-party plugin: codecs that run external programs, defined in TOML, no Python needed.

Three sources, all registered through the ordinary ``register_codecs`` hook:

- the definitions shipped in ``codeccmp_external/codecs/*.toml`` (cjxl, avifenc, cwebp,
  ffmpeg's x265 and AV1, OpenJPEG, BPG, VTM, HM);
- the user's own, ``*.toml`` in :func:`user_config_dir` ``/codecs.d``; a user definition
  with a shipped codec's name replaces the shipped one;
- files given with ``--codec-config FILE.toml``, each registered as its own plugin: this
  plugin claims them through the ``load_plugin_file`` hook (:func:`config_plugin`), so they
  travel to sweep workers with the ``--plugin`` files.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path

from codeccmp import hookimpl
from codeccmp.codec import Codec


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


def shipped_files() -> list[Path]:
    folder = resources.files("codeccmp_external") / "codecs"
    return sorted(Path(str(f)) for f in folder.iterdir() if f.name.endswith(".toml"))


def user_files() -> list[Path]:
    folder = user_config_dir() / "codecs.d"
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


class _ConfigPlugin:
    """The codecs of one ``--codec-config`` file, as a plugin object."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.__name__ = f"config:{path.resolve()}"  # its name in the plugin manager
        self.codecs = _codecs_from([path])  # bad files fail here, before any work

    @hookimpl
    def register_codecs(self, register: Callable[[Codec], None]) -> None:
        for codec in self.codecs:
            register(codec)


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
