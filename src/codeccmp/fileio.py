"""Atomic writes: a reader never sees half a file, and an interrupted run leaves none."""

from __future__ import annotations

import json
import os
import tempfile
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
