"""Averaging a sweep's points over images into the points of each codec's curve."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from codeccmp.results import CodecResult, _json_safe
from codeccmp.sweep_tasks import JobKind


@dataclass
class SweepPoint:
    """One job's result, and whether it cost anything this time."""

    image: int
    kind: JobKind
    value: float | int
    result: CodecResult
    cached: bool = False
    encodes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "kind": self.kind, "value": self.value,
                "cached": self.cached, "encodes": self.encodes,
                "result": self.result.to_dict()}


@dataclass
class AveragePoint:
    """One point of a codec's curve averaged over images (or a single image's point).

    Targets are averaged per target, fixed parameters (learned qualities, the pinned
    parameters of a per-quality average) per parameter value. bpp, PSNR, MS-SSIM and times
    are arithmetic means over images; MS-SSIM dB is taken of the mean MS-SSIM, as
    CompressAI's plots do. ``metrics`` holds the extra ``--metrics`` the same way: the
    arithmetic mean over the images where the metric has a value (a metric undefined on
    an image, e.g. too small, leaves it out of that mean only). ``n`` images contributed
    out of ``n_images``: a point with ``n < n_images`` (a codec failed on some image) is
    shown but kept out of BD numbers.
    """

    codec: str
    family: str
    kind: JobKind
    value: float | int
    n: int
    n_images: int
    bpp: float | None = None
    psnr: float | None = None
    ms_ssim: float | None = None
    ms_ssim_db: float | None = None
    ssim: float | None = None
    delta_theta_deg: float | None = None
    #: The stripe classes' shares (means over images; each image's sum to 1).
    turned_share: float | None = None
    redrawn_share: float | None = None
    erased_share: float | None = None
    all_within_tolerance: bool | None = None
    param_name: str | None = None  # what ``value`` is, for fixed-parameter points
    encode_s: float | None = None  # mean seconds per image, of the encode kept
    decode_s: float | None = None
    #: The extra ``--metrics`` by name, each a mean over images (``None``: no image had it).
    metrics: dict[str, float | None] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.n == self.n_images and self.n > 0

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _stripe(r: CodecResult, name: str) -> float | None:
    v = (r.stripes or {}).get(name)
    return float(v) if isinstance(v, (int, float)) else None


def average_points(points: Sequence[SweepPoint], families: dict[str, str],
                   n_images: int, average: str = "target") -> list[AveragePoint]:
    """Per (codec, kind, value): the mean over the images whose job succeeded.

    ``average="quality"`` keeps only the fixed-parameter points (CompressAI's convention:
    one curve point per codec setting); ``"target"`` keeps every point, rate-matched
    targets and any ``--all-qualities`` points alike.
    """
    from codeccmp.metrics import ms_ssim_db

    groups: dict[tuple[str, str, Any], list[CodecResult]] = {}
    order: list[tuple[str, str, Any]] = []
    for p in points:
        if average == "quality" and p.kind != "quality":
            continue
        k = (p.result.codec, p.kind, p.value)
        if k not in groups:
            groups[k] = []
            order.append(k)
        if p.result.ok:
            groups[k].append(p.result)
    out = []
    for k in order:
        rs = groups[k]
        codec, kind, value = k
        ms = _mean([r.ms_ssim for r in rs])
        names = list(dict.fromkeys(n for r in rs for n in r.metrics))
        flags = [r.within_tolerance for r in rs if r.within_tolerance is not None]
        out.append(AveragePoint(
            codec=codec, family=families.get(codec, ""), kind=kind,  # type: ignore[arg-type]
            value=value, n=len(rs), n_images=n_images,
            bpp=_mean([r.bpp for r in rs]), psnr=_mean([r.psnr for r in rs]), ms_ssim=ms,
            ms_ssim_db=ms_ssim_db(ms) if ms is not None else None,
            ssim=_mean([r.ssim for r in rs]),
            delta_theta_deg=_mean([_stripe(r, "delta_theta_deg") for r in rs]),
            turned_share=_mean([_stripe(r, "turned_share") for r in rs]),
            redrawn_share=_mean([_stripe(r, "redrawn_share") for r in rs]),
            erased_share=_mean([_stripe(r, "erased_share") for r in rs]),
            all_within_tolerance=all(flags) if flags else None,
            param_name=next((r.param_name for r in rs if r.param_name), None),
            encode_s=_mean([r.encode_s for r in rs]), decode_s=_mean([r.decode_s for r in rs]),
            metrics={n: _mean([r.metrics.get(n) for r in rs]) for n in names}))
    out.sort(key=lambda a: (list(families).index(a.codec) if a.codec in families else 0,
                            a.bpp if a.bpp is not None else math.inf))
    return out


def curve(points: Sequence[AveragePoint], codec: str, metric: str,
          complete_only: bool = True) -> tuple[list[float], list[float]]:
    """(bpp, metric) of one codec's points, sorted by rate.

    ``metric`` is a point's attribute (``psnr``) or ``metric:NAME`` for an extra metric."""
    pts = sorted((p.bpp, point_value(p, metric)) for p in points
                 if p.codec == codec and p.bpp is not None
                 and point_value(p, metric) is not None and (p.complete or not complete_only))
    return [b for b, _ in pts], [q for _, q in pts]


def point_value(p: AveragePoint, key: str) -> float | None:
    """A point's value of ``key``: an attribute, or ``metric:NAME`` for an extra metric."""
    if key.startswith("metric:"):
        return p.metrics.get(key[len("metric:"):])
    return getattr(p, key)
