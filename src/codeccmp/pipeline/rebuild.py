"""Finding the pixels a saved comparison refers to, checked against the recorded hashes."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from codeccmp.errors import UsageError
from codeccmp.model.images import load_image
from codeccmp.model.results import Comparison


def load_images_for_report(cmp: Comparison, base: Path
                           ) -> tuple[np.ndarray | None, dict[str, np.ndarray], list[str]]:
    """The original and every saved reconstruction, or notes saying what is missing."""
    notes: list[str] = []
    original = None
    path = Path(cmp.image.get("path", ""))
    if path.is_file():
        if hashlib.sha256(path.read_bytes()).hexdigest() != cmp.image.get("sha256"):
            notes.append(f"{path} changed since the comparison (sha256 differs): no montage")
        else:
            try:
                original = load_image(path).pixels
            except UsageError as exc:
                notes.append(str(exc))
    else:
        notes.append(f"original image {path} not found: no montage")
    recons: dict[str, np.ndarray] = {}
    if any(r.ok for r in cmp.results) and not any(
            r.outputs.get("reconstruction") for r in cmp.results if r.ok):
        notes.append("these results record no saved reconstructions (compare saves them with "
                     "--out DIR or --report DIR): no viewer or montage")
    for r in cmp.results:
        rel = r.outputs.get("reconstruction") if r.ok else None
        if not rel:
            continue
        p = Path(rel) if Path(rel).is_absolute() else base / rel
        if not p.is_file():
            notes.append(f"reconstruction of {r.codec} not found at {p}")
            continue
        try:
            recons[r.codec] = load_image(p).pixels
        except UsageError as exc:  # a damaged file: the report is still written, without it
            notes.append(f"reconstruction of {r.codec}: {exc}")
    return original, recons, notes
