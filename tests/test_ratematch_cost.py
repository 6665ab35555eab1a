"""What a rate search costs: the number and order of encodes its documented rules imply.

A prior only changes how many encodes a search costs (``ratematch``'s module docstring), so
the cost is the behaviour a user pays for. Each test builds a rate curve and a prior whose
probe sequence follows by hand from the rules in the docstrings of ``_search_with_prior``,
``_predict``, ``_search_ordered`` and ``_search_continuous``, and checks the encodes a
counting fake codec saw. Written to kill the "cost only" survivors of
``benchmarks/mutation/run.py ratematch`` (see benchmarks/README.md).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest

from codeccmp.codec import Codec, Encoded, Param, ParamSpace
from codeccmp.pipeline.ratematch import _prior_log_rates, bracket_ordered, match_rate

IMG = np.zeros((20, 40), np.uint8)  # 800 pixels: bpp = bytes / 100


class Counting(Codec):
    """Emits ``size(param)`` bytes and records every parameter it was asked to encode."""

    name = "counting"

    def __init__(self, space: ParamSpace, size: Callable[[Param], float]) -> None:
        self.param_space = space
        self.size = size
        self.calls: list[Param] = []

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        self.calls.append(param)
        space = self.param_space
        if space.kind != "discrete" and not space.low <= param <= space.high:
            # A real encoder refuses it; and the curves here would ask for gigabytes.
            raise ValueError(f"{param} outside [{space.low}, {space.high}]")
        return Encoded(b"\0" * round(self.size(param)), param)

    def decode(self, data: bytes) -> np.ndarray:
        return IMG


def _linear_bytes(q: Param) -> int:
    """280 + 4q bytes: 2.80 to 6.80 bpp over q = 0..100, strictly increasing."""
    return 280 + 4 * int(q)


def test_an_exact_prior_costs_two_encodes_inside_the_range_and_one_outside() -> None:
    """With the image's own curve as prior the model is right from the first probe: it
    probes one side of the crossing, the model (unchanged: the correction is 0) then names
    the other side, 2 encodes; a target at or below the lowest rate, or above the highest,
    is settled by its end alone, 1 encode. Targets exactly on a rate included: the crossing
    is the first value whose rate is *at or above* the target (the bracket's definition).

    The log rates lie in [1, 2], so the prior's interpolation reproduces them exactly
    (y0 + (y1 - y0) is exact when y0 and y1 are within a factor of 2): the model is exact
    in floating point too, not just to rounding.
    """
    rates = [_linear_bytes(q) / 100 for q in range(101)]
    assert all(1.0 <= math.log(r) <= 2.0 for r in rates)
    prior = dict(enumerate(rates))
    codec = Counting(ParamSpace("q", "integer", 0, 100, typical_bpp=prior), _linear_bytes)
    mids = [math.sqrt(a * b) for a, b in zip(rates[:-1], rates[1:], strict=True)]
    for target in [*rates, *mids, 1.0, rates[0] * 0.999, rates[-1] * 1.001, 50.0]:
        codec.calls.clear()
        m = match_rate(codec, IMG, target)
        inside = rates[0] < target <= rates[-1]
        assert len(codec.calls) == (2 if inside else 1), (target, codec.calls)
        if target in rates:
            assert m.bpp == target


#: A prior far steeper than any image (log rate up 4.6 per quality step): from any probe,
#: the shifted model puts the crossing at the very next value, so only the galloping
#: safeguard makes the search move faster than one value per encode.
_STEEP = {0: 1e-100, 100: 1e100}
#: As steep, but 1000 bpp at q = 0: above every target.
_HIGH = {0: 1e3, 100: 1e200}


@pytest.mark.parametrize("target,probes,prior", [
    # First probe: the prior crosses every target in 2.8..6.8 bpp between q = 50 and 51
    # (log prior = -230.26 + 4.605 q), and of 50 and 51 the one leaving the smaller bracket
    # of (-1, 101) is 50. Each probe that fails to cross the target doubles the least
    # distance to the next: 1, 2, 4, 8, 16, ... from the nearest probe.
    (5.6, [50, 51, 53, 57, 65, 81], _STEEP),   # 5.6 bpp is q = 70: crossed at 81
    (3.6, [50, 49, 47, 43, 35, 19], _STEEP),   # q = 20: crossed at 19, downwards
    # Out of reach: the step is clamped to the end, which settles it.
    (100.0, [50, 51, 53, 57, 65, 81, 100], _STEEP),
    (1.0, [50, 49, 47, 43, 35, 19, 0], _STEEP),
    # As steep but 1000 bpp at q = 0, above every target: q = 0 is probed first (the
    # crossing is at the lowest value), then the same doubling from there.
    (5.6, [0, 1, 3, 7, 15, 31, 63, 100], _HIGH),
    (100.0, [0, 1, 3, 7, 15, 31, 63, 100], _HIGH),
])
def test_galloping_doubles_the_step_until_the_target_is_crossed(
        target: float, probes: list[int], prior: dict[int, float]) -> None:
    codec = Counting(ParamSpace("q", "integer", 0, 100, typical_bpp=prior), _linear_bytes)
    m = match_rate(codec, IMG, target)
    assert codec.calls[:len(probes)] == probes
    if target > 7 or target < 2:
        assert codec.calls == probes and m.encoded.param == probes[-1]
    else:  # then the bracket (16 or 37 values wide) is closed in a few more
        assert len(codec.calls) <= len(probes) + 4


def _cliff(q: Param) -> int:
    """1.00 to 1.96 bpp over q = 0..96, then a cliff to 1000 bpp: seen from below the
    cliff, interpolating in log(bpp) to the top puts any target just above the bottom."""
    return 100 + int(q) if q <= 96 else 100_000


def test_three_probes_that_do_not_halve_the_bracket_force_a_bisection() -> None:
    """Bracketed between q = 69 (1.69 bpp) and the cliff at 100, the model (the prior's
    log-linear shape shifted through both probes: log-linear between them) names the value
    next to the low end at every probe, shrinking the bracket by one. The rule: whenever
    the last two probes together have not halved the bracket, the next one bisects it.
    Widths 31 -> 30 -> 29 (29 > 31/2): bisect (71+100)//2 = 85 -> 15; 86, 87 -> 14, 13
    (13 > 15/2): bisect 93 -> 7; 94, 95 -> 6, 5 (5 > 7/2): bisect 97 -> 2; 96 closes it
    (1.96 bpp >= 1.955)."""
    codec = Counting(ParamSpace("q", "integer", 0, 100, typical_bpp={0: 1.0, 100: 100.0}),
                     _cliff)
    m = match_rate(codec, IMG, 1.955)
    first_two_sided = codec.calls.index(100) + 1
    assert codec.calls[:first_two_sided][-2:] == [69, 100]
    assert codec.calls[first_two_sided:] == [70, 71, 85, 86, 87, 93, 94, 95, 97, 96]
    assert m.encoded.param == 96


def test_the_blind_search_starts_in_the_middle() -> None:
    """Without a prior the first encode is the middle value (of 101 integers, 50; of 7
    discrete values, the 4th), then the end on the target's side."""
    codec = Counting(ParamSpace("q", "integer", 0, 100), _linear_bytes)
    match_rate(codec, IMG, 6.0)
    assert codec.calls[:2] == [50, 100]
    codec.calls.clear()
    match_rate(codec, IMG, 3.0)
    assert codec.calls[:2] == [50, 0]
    values = (2, 3, 5, 8, 13, 21, 34)
    disc = Counting(ParamSpace("v", "discrete", values=values), lambda v: 100 * v)
    match_rate(disc, IMG, 20.0)
    assert disc.calls[:2] == [8, 34]
    asked: list[Param] = []
    bracket_ordered(lambda v: asked.append(v) or v, values, 4.0)
    assert asked[:2] == [8, 2]


def test_the_prior_extends_its_end_segments() -> None:
    """Log rates 0, 1, 3 at 10, 20, 30: beyond the first point the first segment's slope
    (0.1 per step) continues, beyond the last the last one's (0.2 per step)."""
    prior = [(10, 1.0), (20, math.e), (30, math.e ** 3)]
    got = _prior_log_rates(prior, [0, 5, 10, 15, 25, 30, 40])
    assert got == pytest.approx([-1.0, -0.5, 0.0, 0.5, 2.0, 3.0, 5.0])


# --- continuous rate control (JPEG 2000's rate parameter) ----------------------------------


def _rate_space(low: float, high: float) -> ParamSpace:
    return ParamSpace("rate", "continuous", low, high, is_bpp=True)


def test_rate_control_stops_as_soon_as_within_half_a_percent() -> None:
    """An encoder that overshoots by 10 % plus 0.02 bpp of headers: asked for 1 bpp it
    writes 1.12; asked for 1/1.12 it writes 1.1/1.12 + 0.02 = 1.00214, 0.21 % off: done
    in 2 encodes, without refining towards the exact request."""
    big = np.broadcast_to(np.zeros((1, 1), np.uint8), (1000, 1000))  # bytes = bpp * 125 000
    codec = Counting(_rate_space(0.01, 4.0), lambda r: (1.1 * r + 0.02) * 125_000)
    m = match_rate(codec, big, 1.0)
    assert codec.calls == pytest.approx([1.0, 1 / 1.12])
    assert abs(m.deviation) <= 0.005


@pytest.mark.parametrize("scale", [1.0, 1e-4, 1e-7])
def test_rate_control_is_the_same_at_any_scale(scale: float) -> None:
    """An encoder 0.8 % over every request: asked for the target it is 0.8 % off (more than
    0.5 %), so it is asked for target / 1.008 and then exact. The rule is relative, so the
    same 2 encodes at 1, 1e-4 and 1e-7 bpp (the image is sized to keep bytes exact)."""
    pixels = round(8 * 1_000_000 / scale)  # 1 000 000 bytes at the target
    side = round(math.sqrt(pixels))
    img = np.broadcast_to(np.zeros((1, 1), np.uint8), (side, pixels // side))
    per_bpp = img.shape[0] * img.shape[1] / 8
    codec = Counting(_rate_space(scale / 100, scale * 10), lambda r: 1.008 * r * per_bpp)
    m = match_rate(codec, img, scale)
    assert codec.calls == pytest.approx([scale, scale / 1.008])
    assert abs(m.deviation) < 1e-5


def test_rate_control_gives_up_after_eight_corrections() -> None:
    """Rate = request^1.9: the multiplicative correction p <- p * t / p^1.9 = t p^-0.9
    overshoots by 0.9 of its error each time, so it never gets within 0.5 % of e bpp in 8
    steps (log error 0.9^k * 0.9). After 8 encodes it bisects [0.01, 10] from the middle."""
    big = np.broadcast_to(np.zeros((1, 1), np.uint8), (1000, 1000))
    codec = Counting(_rate_space(0.01, 10.0), lambda r: r ** 1.9 * 125_000)
    target = math.e
    match_rate(codec, big, target)
    # log p_k = 1/1.9 + (1 - 1/1.9) (-0.9)^k
    corrections = [math.exp(1 / 1.9 + (1 - 1 / 1.9) * (-0.9) ** k) for k in range(8)]
    assert codec.calls[:8] == pytest.approx(corrections, rel=1e-4)
    assert codec.calls[8] == pytest.approx((0.01 + 10.0) / 2)
