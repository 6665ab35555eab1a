"""Matching at equal quality (``compare --match ms-ssim=0.95``): per codec, the parameter
whose *decoded* reconstruction is closest to a target value of any registered metric.

Every candidate is really encoded, decoded from its bytes and measured. Integer and discrete
parameters go through the rate search's own bracketing (:func:`ratematch.bracket_ordered`),
with quality in place of rate: values are ordered by increasing rate, and the metric is
assumed monotone in rate (better with more bits), as it is for every metric and codec here
up to noise; where it is not, the answer is still the closest value *probed*, and the
flag below says how far it is. Continuous parameters are bisected.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codeccmp.codec import Codec, Encoded, Param
from codeccmp.metric import Metric
from codeccmp.pipeline.ratematch import Trial, bits_per_pixel, bracket_ordered

_MAX_CONTINUOUS_STEPS = 20


@dataclass
class QualityTarget:
    """``NAME=VALUE`` resolved: the metric, the value wanted and the accepted deviation
    (in the metric's own units)."""

    metric: Metric
    value: float
    tolerance: float

    def to_dict(self) -> dict:
        return {"metric": self.metric.name, "value": self.value, "tolerance": self.tolerance,
                "higher_is_better": self.metric.higher_is_better,
                "library": dict(self.metric.library())}


#: Default accepted deviation for --match, in metric units, where a fraction of the target
#: would mean nothing (1 % of an MS-SSIM of 0.95 is coarser than most codec steps).
DEFAULT_TOLERANCES = {"psnr": 0.25, "psnr-y": 0.25, "psnr-y601": 0.25, "ms-ssim-db": 0.25,
                      "ms-ssim": 0.0025, "ssim": 0.005, "ssimulacra2": 1.0}


def default_tolerance(metric: Metric, value: float) -> float:
    return DEFAULT_TOLERANCES.get(metric.name, 0.01 * abs(value) if value else 0.01)


def parse_match(text: str, lookup: Callable[[str], Metric],
                tolerance: float | None = None) -> QualityTarget:
    """``ms-ssim=0.95`` → a :class:`QualityTarget`; bad input is a UsageError."""
    from codeccmp.errors import UsageError

    name, sep, raw = text.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise UsageError(f"--match {text!r}: expected METRIC=VALUE, e.g. ms-ssim=0.95")
    metric = lookup(name)
    try:
        value = float(raw)
    except ValueError:
        raise UsageError(f"--match {text!r}: {raw.strip()!r} is not a number") from None
    if not math.isfinite(value):
        raise UsageError(f"--match {text!r}: the target must be finite")
    if value not in metric.value_range:
        # Outside the values the metric can take, a search could only end at the edge of
        # the codec's range with a note: a typo (ms-ssim=95) is better caught here.
        raise UsageError(f"--match {text!r}: {metric.name} takes values in "
                         f"{metric.value_range}, got {value:g}")
    reason = metric.availability()
    if reason:
        raise UsageError(f"metric {metric.name} is not usable here: {reason}")
    tol = default_tolerance(metric, value) if tolerance is None else tolerance
    if not tol > 0:
        raise UsageError(f"--match-tolerance must be positive, got {tol:g}")
    return QualityTarget(metric, value, tol)


@dataclass
class QualityMatch:
    """The encoding whose quality is closest to the target, and every one tried."""

    encoded: Encoded
    bpp: float
    value: float | None
    target: QualityTarget
    encode_s: float
    trials: list[dict] = field(default_factory=list)
    search_s: float = 0.0

    @property
    def deviation(self) -> float | None:
        """Achieved − target, in the metric's units."""
        return None if self.value is None else self.value - self.target.value

    def within(self) -> bool:
        d = self.deviation
        return d is not None and abs(d) <= self.target.tolerance


def match_quality(codec: Codec, pixels: np.ndarray, target: QualityTarget,
                  measure: Callable[[Encoded], float | None],
                  on_trial: Callable[[Trial], None] | None = None) -> QualityMatch:
    """Encode ``pixels`` at the parameter whose measured quality is closest to ``target``.

    ``measure(encoded)`` decodes the bytes and returns the metric on the reconstruction as
    compared (the caller knows about gray replication).
    """
    t0 = time.perf_counter()
    n_px = pixels.shape[0] * pixels.shape[1]
    seen: dict[Param, tuple[Encoded, float, float | None, float]] = {}
    sign = 1.0 if target.metric.higher_is_better else -1.0

    def probe(param: Param) -> tuple[Encoded, float, float | None, float]:
        if param not in seen:
            t = time.perf_counter()
            enc = codec.encode(pixels, param)
            secs = time.perf_counter() - t
            value = measure(enc)
            seen[param] = (enc, bits_per_pixel(enc.nbytes, n_px), value, secs)
            if on_trial:
                on_trial(Trial(enc.param, seen[param][1], enc.nbytes, secs))
        return seen[param]

    def score(param: Param) -> float:
        """Quality as a positive number increasing with quality, so the rate search's
        log-interpolation is linear interpolation in the metric (exp of a clamped value)."""
        v = probe(param)[2]
        s = -700.0 if v is None or math.isnan(v) else max(min(sign * v, 700.0), -700.0)
        return math.exp(s)

    space = codec.param_space
    want = math.exp(max(min(sign * target.value, 700.0), -700.0))
    if space.kind == "continuous":
        a, b = space.low, space.high
        for _ in range(_MAX_CONTINUOUS_STEPS):
            mid = 0.5 * (a + b)
            v = probe(mid)[2]
            if v is not None and abs(v - target.value) <= target.tolerance / 4:
                break
            # quality rises with rate; rate rises with the parameter when rate_increases
            if (score(mid) < want) == space.rate_increases:
                a = mid
            else:
                b = mid
    else:
        values = space.candidates()
        bracket_ordered(score, values, want)

    def key(item: tuple[Param, tuple[Encoded, float, float | None, float]]) -> tuple:
        _, (_, bpp, v, _) = item
        return (math.inf if v is None else abs(v - target.value), bpp)

    _, (enc, bpp, value, secs) = min(seen.items(), key=key)
    trials = [{"param": p, "bpp": b, "nbytes": e.nbytes, target.metric.name: v}
              for p, (e, b, v, _) in seen.items()]
    return QualityMatch(enc, bpp, value, target, secs, trials, time.perf_counter() - t0)
