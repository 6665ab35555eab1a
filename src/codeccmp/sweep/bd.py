"""BD-rate tables of a sweep: on the averaged curves, and image by image."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from codeccmp.sweep.average import AveragePoint, SweepPoint, average_points, curve

#: The quality metrics a curve can be drawn or BD-measured against (higher is better).
QUALITY_METRICS = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB)"}


def reference_curve(ref_curve: Mapping[str, Any], metric: str) -> tuple[list[float], list[float]]:
    """(bpp, metric) of a published curve (a reference's ``curve`` dict), sorted by rate."""
    pts = sorted((b, q) for b, q in zip(ref_curve.get("bpp", []), ref_curve.get(metric, []),
                                        strict=False) if b is not None and q is not None)
    return [b for b, _ in pts], [q for _, q in pts]


def bd_table(points: Sequence[AveragePoint], codecs: Sequence[str], anchor: str,
             method: str, references: Mapping[str, Mapping[str, Any]] | None = None,
             extra: Mapping[str, bool] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{metric: {name: BDResult dict}}`` for every codec and reference but the anchor.

    ``references`` maps a reference's name (``ref:vtm``) to its published curve; the anchor
    may be one of them (BD-rate against VTM is what papers report). ``extra`` maps each
    ``--metrics`` metric to whether higher is better; its BD numbers are keyed
    ``metric:NAME``, between measured codecs only (published curves carry no such values).
    A lower-is-better metric (GMSD, LPIPS) is measured on its negation, BD-rate being the
    same either way, and its BD-quality given back in the metric's own sign (negative =
    better than the anchor).
    """
    from codeccmp.sweep.bdrate import bd

    refs = references or {}

    def of(name: str, metric: str) -> tuple[list[float], list[float]]:
        return reference_curve(refs[name], metric) if name in refs else curve(points, name,
                                                                              metric)

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for metric in QUALITY_METRICS:
        ar, aq = of(anchor, metric)
        out[metric] = {}
        for c in [*codecs, *refs]:
            if c == anchor:
                continue
            tr, tq = of(c, metric)
            out[metric][c] = bd(ar, aq, tr, tq, method=method).to_dict()
    if anchor in refs:
        return out
    for name, higher in (extra or {}).items():
        key, sign = f"metric:{name}", 1.0 if higher else -1.0
        ar, aq = curve(points, anchor, key)
        out[key] = {}
        for c in codecs:
            if c == anchor:
                continue
            tr, tq = curve(points, c, key)
            r = bd(ar, [sign * q for q in aq], tr, [sign * q for q in tq],
                   method=method).to_dict()
            if r.get("bd_quality") is not None:
                r["bd_quality"] = sign * r["bd_quality"]
            out[key][c] = r
    return out


def bd_per_image(points: Sequence[SweepPoint], families: dict[str, str], n_images: int,
                 names: Sequence[str], anchor: str, method: str, average: str = "target",
                 extra: Mapping[str, bool] | None = None
                 ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """BD numbers image by image (and their mean), the other common way to report them."""
    if n_images < 2:
        return {}
    keys = [*QUALITY_METRICS, *(f"metric:{n}" for n in extra or {})]
    per: dict[str, dict[str, list[dict[str, Any]]]] = {m: {c: [] for c in names if c != anchor}
                                                      for m in keys}
    for i in range(n_images):
        avg = average_points([p for p in points if p.image == i], families, 1, average)
        table = bd_table(avg, names, anchor, method, extra=extra)
        for m, by_codec in table.items():
            for c, r in by_codec.items():
                per[m][c].append({"image": i, **r})
    return per


def mean_bd_rate(entries: Sequence[dict[str, Any]]) -> float | None:
    """Mean of the finite per-image BD-rates (``None`` when there are none)."""
    vals = [e["bd_rate_percent"] for e in entries if e.get("bd_rate_percent") is not None]
    return sum(vals) / len(vals) if vals else None
