"""The result cache as a whole: how big it is, its size limit, clearing it.

The limit (:data:`DEFAULT_MAX_SIZE`, or ``CODECCMP_CACHE_MAX_SIZE``, or ``--max-size`` of
``codeccmp cache trim``) is applied after every sweep: entries of older cache versions go
first (they are never read again), then the least recently used (a hit refreshes an
entry's time). Only files that look like cache entries (``v<N>/<kind>/<xx>/<sha256>``) and
left-over temporary files are ever deleted, so a ``--cache-dir`` pointed at the wrong
folder loses nothing else.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from codeccmp.errors import UsageError

#: The size limit when none is set: room for the trials of many sweeps over a dataset.
DEFAULT_MAX_SIZE = 2 * 1024**3
ENV_MAX_SIZE = "CODECCMP_CACHE_MAX_SIZE"
#: After trimming, the cache holds at most this share of the limit, so that trimming is not
#: needed again after every small run.
TRIM_TO = 0.9
#: Temporary files older than this are left-overs of killed processes.
STALE_TMP_S = 3600.0

_ENTRY = re.compile(r"^[0-9a-f]{64}$")
_VERSION = re.compile(r"^v(\d+)$")
_KINDS = ("trials", "results")
_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": 1024**2, "mb": 1024**2,
          "mib": 1024**2, "g": 1024**3, "gb": 1024**3, "gib": 1024**3, "t": 1024**4,
          "tb": 1024**4, "tib": 1024**4}


def parse_size(text: str, what: str = "size") -> int | None:
    """``500M``, ``2G``, ``1.5GiB``, ``123456`` (bytes); ``none`` or ``0``: no limit."""
    t = text.strip().lower()
    if t in ("none", "unlimited", "0"):
        return None
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([a-z]*)", t)
    if not m or m.group(2) not in _UNITS:
        raise UsageError(f"{what} must be a size like 500M or 2G (or 'none'), got {text!r}")
    return int(float(m.group(1)) * _UNITS[m.group(2)])


def max_size(option: str | None = None) -> int | None:
    """The limit in bytes: ``option``, else ``$CODECCMP_CACHE_MAX_SIZE``, else the default."""
    if option is not None:
        return parse_size(option, "--max-size")
    env = os.environ.get(ENV_MAX_SIZE)
    if env:
        return parse_size(env, ENV_MAX_SIZE)
    return DEFAULT_MAX_SIZE


def human(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GiB"


@dataclass
class Entry:
    path: Path
    size: int
    mtime: float
    version: int
    kind: str


@dataclass
class Usage:
    root: Path
    entries: list[Entry] = field(default_factory=list)
    temporaries: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(e.size for e in self.entries)

    def by_kind(self, version: int) -> dict[str, tuple[int, int]]:
        out = {}
        for kind in _KINDS:
            es = [e for e in self.entries if e.kind == kind and e.version == version]
            out[kind] = (len(es), sum(e.size for e in es))
        return out


def scan(root: str | Path) -> Usage:
    """Every cache entry under ``root`` (all versions) and every left-over temporary file."""
    usage = Usage(Path(root))
    if not usage.root.is_dir():
        return usage
    for vdir in usage.root.iterdir():
        vm = _VERSION.match(vdir.name)
        if not vm or not vdir.is_dir():
            continue
        for kind in _KINDS:
            kdir = vdir / kind
            if not kdir.is_dir():
                continue
            for sub in kdir.iterdir():
                if not sub.is_dir():
                    continue
                with os.scandir(sub) as it:
                    for f in it:
                        if not f.is_file(follow_symlinks=False):
                            continue
                        st = f.stat(follow_symlinks=False)
                        if _ENTRY.match(f.name):
                            usage.entries.append(Entry(Path(f.path), st.st_size, st.st_mtime,
                                                       int(vm.group(1)), kind))
                        elif f.name.startswith(".") and f.name.endswith(".tmp"):
                            usage.temporaries.append(Path(f.path))
    return usage


def _remove(paths: list[Path]) -> None:
    dirs = set()
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()
        dirs.add(p.parent)
    for d in sorted(dirs, key=lambda d: len(d.parts), reverse=True):  # empty folders too
        for folder in (d, d.parent, d.parent.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()


def clear(root: str | Path) -> tuple[int, int]:
    """Delete every entry and temporary file; returns (entries, bytes) deleted."""
    usage = scan(root)
    _remove([e.path for e in usage.entries] + usage.temporaries)
    return len(usage.entries), usage.total


def trim(root: str | Path, limit: int | None, current_version: int | None = None
         ) -> tuple[int, int]:
    """Bring the cache under ``limit`` bytes (to :data:`TRIM_TO` of it when over).

    Old-version entries go first, then the least recently used; stale temporary files
    always. Returns (entries, bytes) deleted.
    """
    from codeccmp.sweep.cache import CACHE_VERSION

    current = CACHE_VERSION if current_version is None else current_version
    usage = scan(root)
    now = time.time()
    stale = [p for p in usage.temporaries if _age(p, now) > STALE_TMP_S]
    if limit is None or usage.total <= limit:
        _remove(stale)
        return 0, 0
    goal = int(limit * TRIM_TO)
    order = sorted(usage.entries, key=lambda e: (e.version == current, e.mtime))
    total, gone = usage.total, []
    for e in order:
        if total <= goal:
            break
        gone.append(e)
        total -= e.size
    _remove([e.path for e in gone] + stale)
    return len(gone), sum(e.size for e in gone)


def _age(p: Path, now: float) -> float:
    try:
        return now - p.stat().st_mtime
    except OSError:
        return 0.0
