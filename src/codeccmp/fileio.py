"""Atomic writes: a reader never sees half a file, and an interrupted run leaves none."""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

from codeccmp.errors import UsageError


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return p


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def check_writable(path: str | Path, force: bool) -> Path:
    """Refuse to replace an existing file unless the user said ``--force``."""
    p = Path(path)
    if p.exists() and not force:
        raise UsageError(f"{p} exists; pass --force to overwrite it")
    if p.exists() and p.is_dir():
        raise UsageError(f"{p} is a directory")
    return p


_SHA256_MEMO: dict[tuple[str, int, int], str] = {}
_SHA256_LOCK = threading.Lock()


def _memo_key(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's content, computed once per (path, size, mtime) in this process.

    Weights files are hundreds of MB and are hashed for provenance and for cache keys;
    hashing each once is what keeps a sweep over many targets cheap.
    """
    p = Path(path)
    key = _memo_key(p)
    with _SHA256_LOCK:
        if key in _SHA256_MEMO:
            return _SHA256_MEMO[key]
    h = hashlib.sha256()
    with p.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digest = h.hexdigest()
    with _SHA256_LOCK:
        _SHA256_MEMO[key] = digest
    return digest


def remember_sha256(path: str | Path, digest: str) -> None:
    """Record a hash computed while the file was written (a download), to skip rereading."""
    key = _memo_key(Path(path))
    with _SHA256_LOCK:
        _SHA256_MEMO[key] = digest


def forget_sha256() -> None:
    """Drop every remembered hash (benchmarks measure a cold start with it)."""
    with _SHA256_LOCK:
        _SHA256_MEMO.clear()
