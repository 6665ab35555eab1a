"""Regenerate the synthetic stripe chart in this folder.

    python samples/make_samples.py

A directional sweep: one tile per (orientation, period), each a sinusoidal grating whose
true orientation is known exactly. ``stripes.json`` records every tile's box, stripe angle
and period, so an orientation error can be measured against the truth rather than against
the original. Deterministic: the same bytes on every run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
from PIL import Image

HERE = Path(__file__).resolve().parent
TILE = 64
ANGLES = tuple(range(0, 180, 15))  # stripe direction, degrees counter-clockwise from +x
PERIODS = (4, 6, 8, 12, 16)  # pixels per cycle, across the stripes


def grating_tile(angle_deg: float, period: float, size: int = TILE) -> np.ndarray:
    """Stripes running at ``angle_deg`` (counter-clockwise from +x, y up), 8-bit gray."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    y = -y  # image rows grow downwards; angles are measured with y up
    a = math.radians(angle_deg)
    # Intensity varies along the normal to the stripes.
    u = -x * math.sin(a) + y * math.cos(a)
    return np.clip(np.rint(128 + 100 * np.cos(2 * math.pi * u / period)), 0, 255).astype(
        np.uint8)


def make_chart() -> tuple[np.ndarray, list[dict[str, float | int]]]:
    rows = []
    tiles: list[dict[str, float | int]] = []
    for r, period in enumerate(PERIODS):
        row = []
        for c, angle in enumerate(ANGLES):
            row.append(grating_tile(angle, period))
            tiles.append({"x": c * TILE, "y": r * TILE, "w": TILE, "h": TILE,
                          "angle_deg": angle, "period_px": period})
        rows.append(np.concatenate(row, axis=1))
    gray = np.concatenate(rows, axis=0)
    return np.repeat(gray[..., None], 3, axis=2), tiles


def main() -> None:
    chart, tiles = make_chart()
    Image.fromarray(chart).save(HERE / "stripes.png", optimize=True)
    meta = {
        "description": "directional sweep: sinusoidal gratings, one tile per orientation and "
                       "period; angle_deg is the stripe direction, counter-clockwise from +x "
                       "with y up",
        "tile": TILE, "angles_deg": list(ANGLES), "periods_px": list(PERIODS), "tiles": tiles,
    }
    (HERE / "stripes.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {HERE / 'stripes.png'} ({chart.shape[1]}×{chart.shape[0]}) and stripes.json")


if __name__ == "__main__":
    main()
