"""Rate matching against fake codecs whose rate curves are known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.pipeline.ratematch import bits_per_pixel, match_rate

IMG = np.zeros((20, 40), np.uint8)  # 800 pixels: bpp = nbytes / 100


class CurveCodec(Codec):
    """Emits ``curve(param)`` bytes; counts encodes so search cost can be asserted."""

    name = "curve"

    def __init__(self, space: ParamSpace, curve) -> None:  # noqa: ANN001
        self.param_space = space
        self.curve = curve
        self.calls: list[float] = []

    def encode(self, image: np.ndarray, param: float) -> Encoded:
        self.calls.append(param)
        return Encoded(b"\0" * int(self.curve(param)), param)

    def decode(self, data: bytes) -> np.ndarray:
        return IMG


def test_bits_per_pixel_counts_every_byte() -> None:
    assert bits_per_pixel(100, 800) == 1.0


@pytest.mark.parametrize("target", [0.05, 0.23, 0.5, 1.0, 2.37, 9.0])
def test_integer_bisection_finds_closest(target: float) -> None:
    # bpp(q) = q / 10 exactly: the closest quality is round(10 * target).
    codec = CurveCodec(ParamSpace("q", "integer", 1, 100), lambda q: 10 * q)
    m = match_rate(codec, IMG, target)
    best = min(range(1, 101), key=lambda q: abs(q / 10 - target))
    assert m.encoded.param == best
    assert m.bpp == pytest.approx(best / 10)
    assert len(codec.calls) <= 2 + math.ceil(math.log2(100)) + 1
    assert len(set(codec.calls)) == len(codec.calls), "a parameter was encoded twice"


def test_decreasing_parameter() -> None:
    # A "quantiser" parameter: more means fewer bits.
    codec = CurveCodec(ParamSpace("qp", "integer", 0, 50, rate_increases=False),
                       lambda q: 1000 - 20 * q)
    m = match_rate(codec, IMG, 4.0)  # 400 bytes at qp 30
    assert m.encoded.param == 30
    assert m.deviation == pytest.approx(0.0)


def test_unreachable_targets_return_the_end_points_and_are_flagged() -> None:
    codec = CurveCodec(ParamSpace("q", "integer", 1, 100), lambda q: 100 + q)  # 1.01..2.0 bpp
    low = match_rate(codec, IMG, 0.1)
    assert low.encoded.param == 1 and not low.within(0.10)
    assert low.deviation == pytest.approx((1.01 - 0.1) / 0.1)
    high = match_rate(codec, IMG, 8.0)
    assert high.encoded.param == 100 and not high.within(0.10)
    assert len(codec.calls) <= 4  # only the end points are ever encoded


def test_discrete_values_picks_closest_real_rate() -> None:
    rates = {1: 12, 2: 25, 3: 41, 4: 70, 5: 110, 6: 180}
    codec = CurveCodec(ParamSpace("quality", "discrete", values=tuple(rates)), rates.__getitem__)
    for target, want in [(0.3, 2), (0.35, 3), (0.56, 4), (0.55, 3), (1.5, 6), (0.01, 1)]:
        assert match_rate(codec, IMG, target).encoded.param == want


def test_continuous_rate_parameter_converges_to_target() -> None:
    # Rate control that overshoots by a fixed header and 7 %: the search corrects it.
    codec = CurveCodec(ParamSpace("rate", "continuous", 0.01, 24, is_bpp=True),
                       lambda r: 30 + 107 * r)
    m = match_rate(codec, IMG, 0.8)
    assert abs(m.deviation) <= 0.005
    assert len(codec.calls) <= 6


def test_continuous_plain_parameter_bisection() -> None:
    codec = CurveCodec(ParamSpace("lambda", "continuous", 0.0, 1.0),
                       lambda x: 1 + 999 * x**2)
    m = match_rate(codec, IMG, 3.0)
    assert abs(m.deviation) <= 0.01


def test_codec_proposals_are_used_instead_of_search() -> None:
    class Proposer(CurveCodec):
        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN202
            return [self.encode(image, 3), self.encode(image, 4)]

    codec = Proposer(ParamSpace("quality", "discrete", values=(1, 2, 3, 4, 5)),
                     lambda q: 10 * q)
    m = match_rate(codec, IMG, 0.38)
    assert m.encoded.param == 4 and codec.calls == [3, 4]


def test_non_positive_target_rejected() -> None:
    codec = CurveCodec(ParamSpace("q", "integer", 1, 10), lambda q: q)
    with pytest.raises(ValueError):
        match_rate(codec, IMG, 0.0)


def test_bracket_ordered_over_a_plain_rate_function() -> None:
    """What learned codecs search their estimates with: adjacent bracket, each value once."""
    from codeccmp.pipeline.ratematch import bracket_ordered

    rates = [0.05 * 1.4**q for q in range(8)]  # a quality ladder
    for target in [0.01, 0.05, 0.06, 0.2, 0.5, 0.52, 5.0]:
        calls: list[int] = []

        def rate(q: int, calls: list[int] = calls) -> float:
            calls.append(q)
            return rates[q]

        lo, hi = bracket_ordered(rate, list(range(8)), target)
        want_hi = next((i for i, r in enumerate(rates) if r >= target), 8)
        assert (lo, hi) == (want_hi - 1, want_hi), target
        assert len(calls) == len(set(calls))
        if target < rates[0] or target > rates[-1]:
            assert len(calls) == 2  # the middle, then the end on the target's side
