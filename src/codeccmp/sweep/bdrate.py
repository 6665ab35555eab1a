"""Bjøntegaard-delta rate and quality between two rate-distortion curves.

The arithmetic is the maintained ``bjontegaard`` package (FAU-LMS), not a hand-written copy:
BD numbers are compared across papers and a private variant of the integration would make
ours incomparable. We use its **Akima** interpolation: its authors found it more accurate
and stable than the cubic polynomial of the original VCEG-M33 and than PCHIP (which the
JCT-VC Excel sheet uses, and which the package reproduces to 10 decimals; pass
``method="pchip"`` to match that sheet).

What this wrapper adds is the input hygiene the package leaves to the caller, and answers
instead of exceptions: points are sorted by rate, points that do not improve quality with
rate are dropped (interpolation needs a strictly monotone curve), and when a BD value cannot
be computed (too few points, no overlap) the result is NaN with the reason, so a table can
show a dash and say why.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

#: Below this share of the two curves' joint range, the package warns that a BD value rests
#: on too little common ground (its ``min_overlap``); we keep the value and report the share.
MIN_OVERLAP = 0.75
#: Points per curve below which a BD number is not reported (the VCEG-M33 convention of four
#: rates; the package itself would accept two, which is a straight line, not a curve).
MIN_POINTS = 4
DEFAULT_METHOD = "akima"


@dataclass
class BDResult:
    """BD-rate (percent, negative = fewer bits than the anchor at equal quality) and
    BD-quality (metric units, positive = better than the anchor at equal rate)."""

    rate: float = math.nan
    quality: float = math.nan
    reason: str | None = None
    method: str = DEFAULT_METHOD
    notes: list[str] = field(default_factory=list)
    #: Share of the joint quality range both curves cover (what BD-rate integrates over),
    #: and of the joint log-rate range (what BD-quality integrates over).
    rate_overlap: float = math.nan
    quality_overlap: float = math.nan

    @property
    def ok(self) -> bool:
        return math.isfinite(self.rate) or math.isfinite(self.quality)

    def to_dict(self) -> dict[str, object]:
        return {
            "bd_rate_percent": self.rate if math.isfinite(self.rate) else None,
            "bd_quality": self.quality if math.isfinite(self.quality) else None,
            "reason": self.reason, "method": self.method, "notes": list(self.notes),
            "rate_overlap": self.rate_overlap if math.isfinite(self.rate_overlap) else None,
            "quality_overlap": (self.quality_overlap if math.isfinite(self.quality_overlap)
                                else None),
        }

    def overlap_note(self) -> str | None:
        """One line when a BD value rests on little common range (rate-matched sweeps of
        codecs far apart cover different quality ranges at the same rates)."""
        low = [f"{name} over {share:.0%} of the joint range" for name, share in
               (("BD-rate", self.rate_overlap), ("BD-quality", self.quality_overlap))
               if math.isfinite(share) and share < MIN_OVERLAP]
        return "; ".join(low) or None


def clean_curve(rates: Sequence[float], quality: Sequence[float]
                ) -> tuple[list[float], list[float], list[str]]:
    """Sort by rate; keep finite, positive-rate points whose quality rises with rate.

    A point that costs more bits for no better quality (a codec's plateau, a duplicate from
    two targets landing on one parameter) is not part of the RD curve, and interpolation
    over a non-monotone curve is undefined.
    """
    notes: list[str] = []
    pts = sorted((float(r), float(q)) for r, q in zip(rates, quality, strict=True)
                 if r is not None and q is not None and math.isfinite(r) and r > 0
                 and math.isfinite(q))
    dropped_bad = len(rates) - len(pts)
    if dropped_bad:
        notes.append(f"{dropped_bad} point(s) without a finite rate and quality dropped")
    out_r: list[float] = []
    out_q: list[float] = []
    dropped = 0
    for r, q in pts:
        if out_r and (r <= out_r[-1] or q <= out_q[-1]):
            dropped += 1
            continue
        out_r.append(r)
        out_q.append(q)
    if dropped:
        notes.append(f"{dropped} point(s) not improving quality with rate dropped")
    return out_r, out_q, notes


def bd(anchor_rate: Sequence[float], anchor_quality: Sequence[float],
       test_rate: Sequence[float], test_quality: Sequence[float],
       method: str = DEFAULT_METHOD, min_points: int = MIN_POINTS) -> BDResult:
    """BD-rate and BD-quality of the test curve against the anchor curve.

    Rates in bpp (any positive unit: only ratios matter), quality in any metric where
    higher is better (PSNR dB, MS-SSIM dB). BD-rate integrates log-rate over the quality
    interval both curves cover; BD-quality integrates quality over the common log-rate
    interval. Never raises for bad curves: returns NaN with ``reason``.
    """
    import bjontegaard

    res = BDResult(method=method)
    ar, aq, an = clean_curve(anchor_rate, anchor_quality)
    tr, tq, tn = clean_curve(test_rate, test_quality)
    res.notes += [f"anchor: {n}" for n in an] + [f"test: {n}" for n in tn]
    if len(ar) < min_points or len(tr) < min_points:
        res.reason = (f"needs {min_points} RD points per curve; anchor has {len(ar)}, "
                      f"test has {len(tr)}")
        return res

    def overlap(lo_a: float, hi_a: float, lo_t: float, hi_t: float) -> float:
        """The package's measure: common interval over joint interval."""
        return max(min(hi_a, hi_t) - max(lo_a, lo_t), 0.0) / (max(hi_a, hi_t) - min(lo_a, lo_t))

    def run(fn, kind: str, lo_a: float, hi_a: float, lo_t: float, hi_t: float) -> float:
        if min(hi_a, hi_t) <= max(lo_a, lo_t):
            res.notes.append(f"{kind}: curves do not overlap")
            return math.nan
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            value = float(fn(ar, aq, tr, tq, method, require_matching_points=False,
                             min_overlap=MIN_OVERLAP))
        for w in caught:
            if "Insufficient curve overlap" not in str(w.message):  # reported as a share
                res.notes.append(f"{kind}: {w.message}")
        return value

    res.rate_overlap = overlap(aq[0], aq[-1], tq[0], tq[-1])
    lar, ltr = (math.log10(ar[0]), math.log10(ar[-1])), (math.log10(tr[0]), math.log10(tr[-1]))
    res.quality_overlap = overlap(*lar, *ltr)

    res.rate = run(bjontegaard.bd_rate, "BD-rate", aq[0], aq[-1], tq[0], tq[-1])
    res.quality = run(bjontegaard.bd_psnr, "BD-quality", *lar, *ltr)
    if not res.ok:
        res.reason = "curves do not overlap"
    return res
