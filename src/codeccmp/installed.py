"""What is installed: distributions' versions and entry points, read from their metadata.

Why not ``importlib.metadata`` (which pluggy's ``load_setuptools_entrypoints`` uses) at every
start: importing it loads ``email``, ``zipfile``, ``csv`` and their dependencies, about 10 ms,
and collecting one entry-point group walks every distribution on ``sys.path`` through its
path objects, 5–8 ms more in an environment of 200 packages: together a twentieth of a JPEG
``compare`` (``benchmarks/bench_lean.py``), paid by every command, ``--help`` and each
completion TAB included, before any work. What codeccmp asks is narrow: the ``*.dist-info``
and ``*.egg-info`` folders in the plain folders of ``sys.path``, their ``entry_points.txt``
(an INI file) and the ``Version`` header of their ``METADATA``. That is read here directly,
in ``importlib.metadata``'s order and with its rules (first on ``sys.path`` wins; names
compared normalised). Where the answer could come from anything else (a zip file or an egg on
``sys.path``, a finder that knows distributions of its own) ``importlib.metadata`` answers,
so the answers are the same either way, only sooner here.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from dataclasses import dataclass
from typing import Any

_SUFFIXES = (".dist-info", ".egg-info")
#: ``importlib.metadata.EntryPoint.pattern``: ``module[:attr.attr] [extras]``.
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


@dataclass(frozen=True)
class EntryPoint:
    """One entry point: ``name = value`` in its distribution's ``entry_points.txt``."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        """The object the value names, imported (``importlib.metadata.EntryPoint.load``)."""
        match = _VALUE.match(self.value)
        if match is None:
            raise ValueError(f"entry point {self.name!r}: malformed value {self.value!r}")
        obj: Any = importlib.import_module(match["module"])
        for attr in filter(None, (match["attr"] or "").split(".")):
            obj = getattr(obj, attr)
        return obj


def normalize(name: str) -> str:
    """A distribution name as ``importlib.metadata`` compares them (PEP 503, ``_`` for ``-``):
    ``Pillow``, ``pillow_heif`` and ``pillow-heif`` name what they should."""
    return re.sub(r"[-_.]+", "_", name).lower()


def _direct() -> bool:
    """Whether the metadata folders of ``sys.path``'s plain folders are the whole answer:
    no zip file on ``sys.path`` and no finder but the path finder that finds distributions."""
    from importlib.machinery import PathFinder

    if any(getattr(f, "find_distributions", None) is not None and f is not PathFinder
           for f in sys.meta_path):
        return False
    return not any(p.lower().endswith(".egg") or os.path.isfile(p) for p in sys.path if p)


def _folders() -> list[tuple[str, str]]:
    """``(distribution name normalised, metadata folder)`` in ``importlib.metadata``'s order
    (its ``Lookup``): ``sys.path``'s order; in a folder, the names in the order they are first
    listed, each with its folders as listed."""
    out: list[tuple[str, str]] = []
    for entry in sys.path:
        root = entry or "."
        try:
            mtime = os.stat(root).st_mtime_ns
        except OSError:  # missing, or a path hook's placeholder
            continue
        out.extend(_listed(root, mtime))
    return out


_LISTED: dict[str, tuple[int, list[tuple[str, str]]]] = {}


def _listed(root: str, mtime: int) -> list[tuple[str, str]]:
    """``_folders`` of one folder, listed again only when its modification time changes (a
    package installed meanwhile), as ``importlib.metadata`` caches its lookups."""
    cached = _LISTED.get(root)
    if cached is not None and cached[0] == mtime:
        return cached[1]
    try:
        names = os.listdir(root)
    except OSError:  # not a folder
        names = []
    found: dict[str, list[str]] = {}
    for n in names:
        if n.lower().endswith(_SUFFIXES):
            key = normalize(n.rpartition(".")[0].partition("-")[0])
            found.setdefault(key, []).append(os.path.join(root, n))
    listed = [(key, path) for key, paths in found.items() for path in paths]
    _LISTED[root] = (mtime, listed)
    return listed


def _read(folder: str, name: str) -> str | None:
    try:
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError):
        return None


def entry_points(group: str) -> list[EntryPoint] | None:
    """Every distribution's entry points in ``group``, in discovery order (a name given
    twice: the first wins, as pluggy keeps it), or ``None`` where ``importlib.metadata``
    must answer (see the module's docstring)."""
    if not _direct():
        return None
    eps: list[EntryPoint] = []
    for _, folder in _folders():
        text = _read(folder, "entry_points.txt")
        if text is None:
            continue
        section = None
        for raw in text.splitlines():  # importlib.metadata's ``Sectioned`` reading
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
            elif section == group:
                name, sep, value = line.partition("=")
                if sep:
                    eps.append(EntryPoint(name.strip(), value.strip(), group))
    return eps


def version(name: str) -> str | None:
    """The version of the installed distribution ``name`` (the first on ``sys.path``), or
    ``None`` where none is installed.

    From its metadata's header lines only: ``importlib.metadata.version`` parses the whole
    file as an e-mail message, long description and licence included (tens of kilobytes for
    NumPy and SciPy). The core metadata specification puts ``Version`` among the headers,
    which end at the first blank line."""
    if _direct():
        key = normalize(name)
        folder = next((f for found, f in _folders() if found == key), None)
        if folder is None:
            return None
        # The first such distribution decides, as for importlib.metadata.
        text = _read(folder, "METADATA") or _read(folder, "PKG-INFO")
        for line in (text or "").splitlines():
            if not line.strip():
                break
            header, _, value = line.partition(":")
            if header.strip().lower() == "version":
                return value.strip()
    from importlib import metadata  # no Version header found: let the library say

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
