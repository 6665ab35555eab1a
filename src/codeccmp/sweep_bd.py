"""BD-rate tables of a sweep: on the averaged curves, and image by image."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from codeccmp.sweep_average import AveragePoint, SweepPoint, average_points, curve

#: The quality metrics a curve can be drawn or BD-measured against (higher is better).
QUALITY_METRICS = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB)"}


def bd_table(points: Sequence[AveragePoint], codecs: Sequence[str], anchor: str,
             method: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{metric: {codec: BDResult dict}}`` for every codec but the anchor."""
    from codeccmp.bdrate import bd

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for metric in QUALITY_METRICS:
        ar, aq = curve(points, anchor, metric)
        out[metric] = {}
        for c in codecs:
            if c == anchor:
                continue
            tr, tq = curve(points, c, metric)
            out[metric][c] = bd(ar, aq, tr, tq, method=method).to_dict()
    return out


def bd_per_image(points: Sequence[SweepPoint], families: dict[str, str], n_images: int,
                  names: Sequence[str], anchor: str, method: str
                  ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """BD numbers image by image (and their mean), the other common way to report them."""
    if n_images < 2:
        return {}
    per: dict[str, dict[str, list[dict[str, Any]]]] = {m: {c: [] for c in names if c != anchor}
                                                      for m in QUALITY_METRICS}
    for i in range(n_images):
        avg = average_points([p for p in points if p.image == i], families, 1)
        table = bd_table(avg, names, anchor, method)
        for m, by_codec in table.items():
            for c, r in by_codec.items():
                per[m][c].append({"image": i, **r})
    return per


def mean_bd_rate(entries: Sequence[dict[str, Any]]) -> float | None:
    """Mean of the finite per-image BD-rates (``None`` when there are none)."""
    vals = [e["bd_rate_percent"] for e in entries if e.get("bd_rate_percent") is not None]
    return sum(vals) / len(vals) if vals else None
