"""Content hashes of files (weights, images), each file read once per process.

Provenance and cache keys name files by their content, not their path: retraining into the
same path must not serve the old model's results, and the JSON records which weights made a
figure. Checkpoints are hundreds of megabytes, hence the memo.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

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

def file_digest(path: str | Path) -> str:
    """sha256 of a file's content (``missing:PATH`` when it is gone).

    Weights files are keyed by content, not by path: retraining into the same path must
    not serve results of the old model.
    """
    try:
        return file_sha256(path)
    except OSError:
        return f"missing:{Path(path)}"
