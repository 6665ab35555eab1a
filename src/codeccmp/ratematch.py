"""Target-bitrate search: find the codec parameter whose *real* bitstream is closest to a bpp.

Every candidate is really encoded and its bytes counted; nothing here trusts a codec's own
rate estimate. Integer and discrete parameters are searched over their ordered values (rate
is monotone in them) by interpolation in log(bpp) with a bisection safeguard, then the two
values bracketing the target are compared.
Continuous parameters that are themselves a rate (JPEG 2000) start at the target and are
corrected multiplicatively, since an encoder's rate control misses by its header and
packet overhead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from codeccmp.codec import Codec, Encoded, Param

#: A codec whose best achievable bpp deviates more than this from the target is flagged.
DEFAULT_TOLERANCE = 0.10
#: Continuous searches stop once within this relative deviation.
_CONTINUOUS_STOP = 0.005
_MAX_CONTINUOUS_STEPS = 24


def bits_per_pixel(nbytes: int, num_pixels: int) -> float:
    return 8.0 * nbytes / num_pixels


@dataclass
class Trial:
    param: Param
    bpp: float
    nbytes: int
    encode_s: float


@dataclass
class RateMatch:
    """The encoding closest to the target, and every encoding tried on the way."""

    encoded: Encoded
    bpp: float
    target_bpp: float
    encode_s: float
    trials: list[Trial] = field(default_factory=list)
    search_s: float = 0.0

    @property
    def deviation(self) -> float:
        """Relative deviation from the target, (bpp − target) / target."""
        return (self.bpp - self.target_bpp) / self.target_bpp

    def within(self, tolerance: float) -> bool:
        return abs(self.deviation) <= tolerance


class _Evaluator:
    """Encodes each parameter at most once and remembers the closest result."""

    def __init__(self, codec: Codec, pixels: np.ndarray, target: float,
                 on_trial: Callable[[Trial], None] | None) -> None:
        self.codec, self.pixels, self.target = codec, pixels, target
        self.num_pixels = pixels.shape[0] * pixels.shape[1]
        self.cache: dict[Param, tuple[Encoded, float, float]] = {}
        self.trials: list[Trial] = []
        self.on_trial = on_trial

    def add(self, enc: Encoded, seconds: float) -> float:
        bpp = bits_per_pixel(enc.nbytes, self.num_pixels)
        self.cache[enc.param] = (enc, bpp, seconds)
        trial = Trial(enc.param, bpp, enc.nbytes, seconds)
        self.trials.append(trial)
        if self.on_trial:
            self.on_trial(trial)
        return bpp

    def __call__(self, param: Param) -> float:
        if param in self.cache:
            return self.cache[param][1]
        t0 = time.perf_counter()
        enc = self.codec.encode(self.pixels, param)
        return self.add(enc, time.perf_counter() - t0)

    def best(self) -> RateMatch:
        if not self.cache:
            raise RuntimeError("rate search evaluated nothing")
        enc, bpp, secs = min(self.cache.values(), key=lambda e: abs(e[1] - self.target))
        return RateMatch(enc, bpp, self.target, secs, list(self.trials))


def _search_ordered(ev: _Evaluator, values: list[Param]) -> None:
    """Find the two values bracketing the target in values ordered by increasing rate.

    Starts in the middle rather than at the ends (the top quality is the slowest encode and
    rarely near a low target), checks the one end on the target's side to catch unreachable
    targets in two encodes, then interpolates in log(bpp) between the bracketing values,
    falling back to bisection whenever interpolation stops halving the bracket.
    """
    n = len(values)
    if n == 1:
        ev(values[0])
        return
    mid = n // 2
    if ev(values[mid]) < ev.target:
        if ev(values[n - 1]) < ev.target:
            return  # even the highest rate is below the target
        lo, hi = mid, n - 1
    else:
        if ev(values[0]) >= ev.target:
            return  # even the lowest rate is above the target
        lo, hi = 0, mid
    # invariant: bpp(values[lo]) < target <= bpp(values[hi])
    bisect = False
    while hi - lo > 1:
        width = hi - lo
        b_lo, b_hi = ev(values[lo]), ev(values[hi])
        if bisect or b_lo <= 0 or b_hi <= b_lo:
            j = (lo + hi) // 2
        else:
            t = (math.log(ev.target) - math.log(b_lo)) / (math.log(b_hi) - math.log(b_lo))
            j = min(max(lo + round(t * width), lo + 1), hi - 1)
        if ev(values[j]) < ev.target:
            lo = j
        else:
            hi = j
        bisect = (hi - lo) > width / 2  # interpolation did not halve it: bisect next


def _search_continuous(ev: _Evaluator, low: float, high: float, increasing: bool,
                       is_bpp: bool) -> None:
    def close(bpp: float) -> bool:
        return abs(bpp - ev.target) / ev.target <= _CONTINUOUS_STOP

    if is_bpp:
        # Rate control misses by overhead; correct the request multiplicatively.
        p = min(max(ev.target, low), high)
        for _ in range(8):
            bpp = ev(p)
            if close(bpp) or bpp <= 0:
                return
            nxt = min(max(p * ev.target / bpp, low), high)
            if abs(nxt - p) <= 1e-9 * max(p, 1e-9):
                break
            p = nxt
    # Bisection on [low, high] for whatever is left (and for non-rate parameters).
    a, b = low, high
    for _ in range(_MAX_CONTINUOUS_STEPS):
        mid = 0.5 * (a + b)
        bpp = ev(mid)
        if close(bpp):
            return
        if (bpp < ev.target) == increasing:
            a = mid
        else:
            b = mid


def match_rate(
    codec: Codec,
    pixels: np.ndarray,
    target_bpp: float,
    on_trial: Callable[[Trial], None] | None = None,
) -> RateMatch:
    """Encode ``pixels`` with ``codec`` at the parameter whose real bpp is closest to target."""
    if not target_bpp > 0:
        raise ValueError("target bpp must be positive")
    t0 = time.perf_counter()
    ev = _Evaluator(codec, pixels, target_bpp, on_trial)
    proposed = codec.match_rate(pixels, target_bpp)
    if proposed is not None:
        for enc in proposed:
            ev.add(enc, float(enc.settings.get("encode_s", 0.0)))
    else:
        space = codec.param_space
        if space.kind == "continuous":
            _search_continuous(ev, space.low, space.high, space.rate_increases, space.is_bpp)
        else:
            _search_ordered(ev, space.candidates())
    result = ev.best()
    result.search_s = time.perf_counter() - t0
    return result
