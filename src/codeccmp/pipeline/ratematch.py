"""Target-bitrate search: find the codec parameter whose *real* bitstream is closest to a bpp.

Every candidate is really encoded and its bytes counted; nothing here trusts a codec's own
rate estimate. Integer and discrete parameters are searched over their ordered values (rate
is monotone in them) for the two adjacent values bracketing the target, which are then
compared. Where the codec declares a typical rate curve (``ParamSpace.typical_bpp``) the
search asks that curve, shifted to fit the image's probes, where the target lies; without one
it interpolates in log(bpp) between probes. Both keep a bisection safeguard and, where the
rate is monotone in the parameter, settle on the same bracket, so a prior only changes how
many encodes the answer costs. The choice between the pair depends on their rates alone,
never on the order of the probes (see :meth:`_Evaluator.best`).
Continuous parameters that are themselves a rate (JPEG 2000) start at the target and are
corrected multiplicatively, since an encoder's rate control misses by its header and
packet overhead.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from codeccmp.codec import Codec, Encoded, Param, ParamSpace

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
    #: The bitstreams the search encoded itself, by parameter (not those a codec's own rate
    #: control proposed): the jump check (``pipeline.ratejump``) decodes these instead of
    #: encoding the same parameters again. Held only as long as this result is.
    encoded_here: dict[Param, Encoded] = field(default_factory=dict, repr=False)

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
        self.encoded_here: dict[Param, Encoded] = {}  # ``codec.encode(pixels, p)`` itself

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
        if enc.param == param:
            self.encoded_here[param] = enc
        return self.add(enc, time.perf_counter() - t0)

    def best(self, settled: Sequence[Param] = ()) -> RateMatch:
        """The encoding closest to the target; ties go to ``settled``, in its order.

        An ordered search passes the bracketing pair it settled on, lower rate first, so
        that a tie between the pair, or with an equal-rate neighbour in a flat stretch of
        the curve, is decided by the curve alone and not by which search probed what first.
        Any other tie goes to the earliest encoding.
        """
        if not self.cache:
            raise RuntimeError("rate search evaluated nothing")

        def key(item: tuple[Param, tuple[Encoded, float, float]]) -> tuple[float, int]:
            param, (_, bpp, _) = item
            rank = settled.index(param) if param in settled else len(settled)
            return abs(bpp - self.target), rank

        _, (enc, bpp, secs) = min(self.cache.items(), key=key)
        return RateMatch(enc, bpp, self.target, secs, list(self.trials),
                         encoded_here=self.encoded_here)


#: A bracket of indices into the rate-ordered values: bpp[lo] < target <= bpp[hi], where
#: lo = -1 and hi = len(values) stand for "below the lowest" and "above the highest" rate.
Bracket = tuple[int, int]


def _search_ordered(ev: _Evaluator, values: list[Param]) -> Bracket:
    """Find the two values bracketing the target in values ordered by increasing rate.

    Starts in the middle rather than at the ends (the top quality is the slowest encode and
    rarely near a low target), checks the one end on the target's side to catch unreachable
    targets in two encodes, then interpolates in log(bpp) between the bracketing values,
    falling back to bisection whenever interpolation stops halving the bracket.
    """
    n = len(values)
    if n == 1:
        return (0, 1) if ev(values[0]) < ev.target else (-1, 0)
    mid = n // 2
    if ev(values[mid]) < ev.target:
        if ev(values[n - 1]) < ev.target:
            return n - 1, n  # even the highest rate is below the target
        lo, hi = mid, n - 1
    else:
        if ev(values[0]) >= ev.target:
            return -1, 0  # even the lowest rate is above the target
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
    return lo, hi


def _log_bpp(bpp: float) -> float:
    """log(bpp), floored so that an empty bitstream still gives a (very low) finite rate."""
    return math.log(max(bpp, 1e-12))


def _prior_log_rates(prior: Sequence[tuple[Param, float]], values: list[Param]) -> list[float]:
    """The prior's log(bpp) at each value: linear in the parameter between its points.

    Beyond its first or last point the end segment is extended rather than held flat, so a
    prior measured on part of a range still says in which direction the rate goes.
    """
    xs = [float(v) for v, _ in prior]
    ys = [math.log(b) for _, b in prior]
    if len(xs) == 1:
        return [ys[0]] * len(values)
    out = []
    for v in values:
        x = float(v)
        k = 1 if x <= xs[0] else len(xs) - 1 if x >= xs[-1] else int(np.searchsorted(xs, x))
        x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
        out.append(y0 + (y1 - y0) * (x - x0) / (x1 - x0))
    return out


def _predict(log_prior: list[float], xs: list[float], corr: dict[int, float],
             lo: int, hi: int, log_t: float) -> int:
    """The unprobed index in (lo, hi) to probe next, from the prior shifted to fit the probes.

    The modelled log rate is the prior's plus a correction: 0 before any probe, the nearest
    probe's log(bpp / prior) while all probes lie on one side of the target, and linear in
    the parameter between the bracketing probes' corrections once both sides are known. Of
    the two values either side of the modelled crossing, the one probed is the one that, if
    the model is right, leaves the smaller bracket (lo and hi may be the virtual ends -1 and
    n): a right guess then halves the bracket, and the other value closes it next.
    """
    n = len(xs)
    if lo >= 0 and hi < n:
        slope = (corr[hi] - corr[lo]) / (xs[hi] - xs[lo])

        def correction(i: int) -> float:
            return corr[lo] + slope * (xs[i] - xs[lo])
    else:
        side = corr[lo] if lo >= 0 else corr[hi] if hi < n else 0.0

        def correction(i: int) -> float:
            return side

    # The modelled crossing: the first value modelled at or above the target.
    k = next((i for i in range(lo + 1, hi) if log_prior[i] + correction(i) >= log_t), hi)
    if k == lo + 1:
        return k
    if k == hi:
        return k - 1
    return k if k - lo < hi - (k - 1) else k - 1


def _search_with_prior(ev: _Evaluator, values: list[Param],
                       prior: Sequence[tuple[Param, float]]) -> Bracket:
    """Find the bracketing pair by asking the codec's typical rate curve where the target is.

    The image's log-rate curve is modelled as the prior's shifted by a correction learnt
    from the probes so far (see :func:`_predict`), so a good prior needs one probe to learn
    the image's offset and about one more on each side of the target.

    Safeguards keep the worst case logarithmic whatever the prior. While all probes are on
    one side of the target, each probe that fails to cross it doubles the least distance of
    the next step from the nearest probe (a galloping search, which settles an unreachable
    target as soon as it probes the end). Once bracketed, whenever the last two probes
    together have not halved the bracket the next one bisects it, so every three probes at
    least halve it. (Two, not one: after a near miss the corrected model usually names the
    value that closes the bracket, and bisecting first would throw that away.)
    """
    n = len(values)
    log_t = math.log(ev.target)
    log_prior = _prior_log_rates(prior, values)
    xs = [float(v) for v in values]
    corr: dict[int, float] = {}  # probed index -> log(bpp) - log(prior)
    lo, hi = -1, n  # invariant: bpp(values[lo]) < target <= bpp(values[hi])
    min_step = 1  # one-sided: the least distance of the next probe from the nearest one
    widths: list[int] = []  # bracket widths after each two-sided probe
    while hi - lo > 1:
        two_sided = lo >= 0 and hi < n
        if len(widths) >= 3 and widths[-1] > widths[-3] / 2:
            j = (lo + hi) // 2
        else:
            j = _predict(log_prior, xs, corr, lo, hi, log_t)
            if lo >= 0 and hi == n:
                j = max(j, min(lo + min_step, n - 1))
            elif lo == -1 and hi < n:
                j = min(j, max(hi - min_step, 0))
        bpp = ev(values[j])
        corr[j] = _log_bpp(bpp) - log_prior[j]
        below = bpp < ev.target
        if not two_sided and (lo >= 0 or hi < n) and below == (lo >= 0):
            min_step *= 2  # still one-sided, on the same side: gallop
        if below:
            lo = j
        else:
            hi = j
        if lo >= 0 and hi < n:
            widths.append(hi - lo)
    return lo, hi


class _Rates:
    """An evaluator over a plain rate function, for :func:`bracket_ordered`."""

    def __init__(self, rate: Callable[[Param], float], target: float) -> None:
        self.rate, self.target = rate, target
        self.cache: dict[Param, float] = {}

    def __call__(self, param: Param) -> float:
        if param not in self.cache:
            self.cache[param] = float(self.rate(param))
        return self.cache[param]


def bracket_ordered(rate: Callable[[Param], float], values: Sequence[Param],
                    target: float) -> Bracket:
    """The generic search over ordered values, for a codec searching a rate of its own.

    Returns indices ``(lo, hi)`` of adjacent values with ``rate(values[lo]) < target <=
    rate(values[hi])`` (``-1`` or ``len(values)`` past either end), calling ``rate`` at most
    once per value. Learned codecs search their analysis-side rate estimates with it (each
    call loads a model and runs its analysis transform), then code the bracket for real.
    """
    if not target > 0:
        raise ValueError("target bpp must be positive")
    return _search_ordered(_Rates(rate, target), list(values))  # type: ignore[arg-type]


def _search_continuous(ev: _Evaluator, low: float, high: float, increasing: bool,
                       is_bpp: bool) -> None:
    def close(bpp: float) -> bool:
        return abs(bpp - ev.target) / ev.target <= _CONTINUOUS_STOP

    if is_bpp:
        # Rate control misses by overhead; correct the request multiplicatively.
        p = min(max(ev.target, low), high)
        for _ in range(8):
            bpp = ev(p)
            if close(bpp):
                return
            if bpp <= 0:
                break  # nothing to scale by (an empty bitstream): bisect instead
            nxt = min(max(p * ev.target / bpp, low), high)
            if abs(nxt - p) <= 1e-9 * max(p, 1e-9):
                # Clamped at an end of the range: the rate is monotone, so no other
                # request gets closer (bisecting here cost 24 encodes for nothing).
                return
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


def _settle_ordered(ev: _Evaluator, space: ParamSpace) -> list[Param]:
    """Search an integer or discrete space; return the settling pair (or end), lowest rate first."""
    values = space.candidates()
    if space.typical_bpp:
        lo, hi = _search_with_prior(ev, values, space.typical_bpp)
    else:
        lo, hi = _search_ordered(ev, values)
    return [values[i] for i in (lo, hi) if 0 <= i < len(values)]


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
    settled: list[Param] = []
    if proposed is not None:
        for enc in proposed:
            ev.add(enc, float(enc.settings.get("encode_s", 0.0)))
    else:
        space = codec.param_space
        if space.kind == "continuous":
            _search_continuous(ev, space.low, space.high, space.rate_increases, space.is_bpp)
        else:
            settled = _settle_ordered(ev, space)
    result = ev.best(settled)
    result.search_s = time.perf_counter() - t0
    return result
