"""What the rate search promises besides its choice: the record of every trial, timings,
tie-breaking, the cost of an interpolated search, argument checks. Written to kill the
mutants that survived ``benchmarks/mutation/run.py ratematch`` (see benchmarks/README.md)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.pipeline.ratematch import RateMatch, bracket_ordered, match_rate

IMG = np.zeros((20, 40), np.uint8)  # 800 pixels: bpp = bytes / 100


class Sized(Codec):
    """Emits ``size(param)`` bytes; records the arguments of every call."""

    name = "sized"

    def __init__(self, space: ParamSpace, size, delay: float = 0.0) -> None:  # noqa: ANN001
        self.param_space = space
        self.size = size
        self.delay = delay
        self.calls: list[float] = []
        self.images: list[object] = []

    def encode(self, image: np.ndarray, param: float) -> Encoded:
        self.calls.append(param)
        self.images.append(image)
        if self.delay:
            time.sleep(self.delay)
        return Encoded(b"\0" * int(self.size(param)), param)

    def decode(self, data: bytes) -> np.ndarray:
        return IMG


def test_every_trial_is_recorded_in_order_with_its_real_rate() -> None:
    codec = Sized(ParamSpace("q", "integer", 1, 100), lambda q: 3 * q, delay=0.002)
    seen = []
    start = time.perf_counter()
    m = match_rate(codec, IMG, 1.5, on_trial=seen.append)
    wall = time.perf_counter() - start  # what the times must fit in, in seconds
    assert [t.param for t in m.trials] == codec.calls
    assert seen == m.trials  # the callback saw the same trials, as they happened
    for t in m.trials:
        assert t.nbytes == 3 * t.param
        assert t.bpp == pytest.approx(t.nbytes / 100)
        assert 0.002 <= t.encode_s <= wall  # around the encode's own 2 ms; in seconds
    assert all(image is IMG for image in codec.images)  # the caller's pixels, untouched
    chosen = next(t for t in m.trials if t.param == m.encoded.param)
    assert m.encode_s == chosen.encode_s
    assert sum(t.encode_s for t in m.trials) <= m.search_s <= wall


def test_within_is_inclusive_at_the_tolerance() -> None:
    m = RateMatch(Encoded(b"", 0), 1.25, 1.0, 0.0)
    assert m.deviation == 0.25
    assert m.within(0.25) and not m.within(0.2499)


def test_a_tie_between_the_bracketing_pair_goes_to_the_lower_rate() -> None:
    """1.0 and 3.0 bpp around a 2.0 target: equally close. The lower rate wins, whichever
    the search happened to probe first."""
    for values in [(5, 9), (1, 5, 9, 12), (0, 5, 9)]:
        sizes = {0: 20, 1: 50, 5: 100, 9: 300, 12: 800}
        codec = Sized(ParamSpace("q", "discrete", values=values), sizes.__getitem__)
        assert match_rate(codec, IMG, 2.0).encoded.param == 5, values
    dec = Sized(ParamSpace("qp", "discrete", values=(5, 9), rate_increases=False),
                {5: 300, 9: 100}.__getitem__)
    assert match_rate(dec, IMG, 2.0).encoded.param == 9


def test_interpolation_pays_on_a_log_linear_curve() -> None:
    """Without a prior the search interpolates in log(bpp). On an exactly exponential rate
    curve that costs 35 encodes over these 7 targets (pure bisection: 42); a cost
    regression bound, not a promise of optimality (a near miss makes it bisect next)."""
    codec = Sized(ParamSpace("q", "integer", 1, 100), lambda q: round(20 * 1.04**q))
    total = 0
    for target in (0.3, 0.75, 1.7, 4.0, 9.0, 0.5, 2.5):
        codec.calls.clear()
        m = match_rate(codec, IMG, target)
        best = min(range(1, 101), key=lambda q: abs(round(20 * 1.04**q) / 100 - target))
        assert abs(m.bpp - target) == pytest.approx(abs(round(20 * 1.04**best) / 100 - target))
        total += len(codec.calls)
    assert total <= 36


def test_proposals_keep_their_encode_times() -> None:
    class Proposer(Sized):
        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN202
            self.asked = (image, target_bpp)
            return [Encoded(b"\0" * 120, 3, {"encode_s": 0.25}),
                    Encoded(b"\0" * 200, 4, {"encode_s": 0.5})]

    codec = Proposer(ParamSpace("quality", "discrete", values=(1, 2, 3, 4)), lambda q: q)
    seen = []
    m = match_rate(codec, IMG, 1.3, on_trial=seen.append)
    assert codec.asked[0] is IMG and codec.asked[1] == 1.3
    assert m.encoded.param == 3 and m.encode_s == 0.25
    assert [(t.param, t.encode_s) for t in m.trials] == [(3, 0.25), (4, 0.5)]
    assert len(seen) == 2 and codec.calls == []


@pytest.mark.parametrize("target", [0.0, -1.0])
def test_non_positive_targets_are_refused_with_a_reason(target: float) -> None:
    codec = Sized(ParamSpace("q", "integer", 1, 10), lambda q: q)
    with pytest.raises(ValueError, match="^target bpp must be positive$"):
        match_rate(codec, IMG, target)
    with pytest.raises(ValueError, match="^target bpp must be positive$"):
        bracket_ordered(lambda q: q, [1, 2, 3], target)
    assert codec.calls == []


def test_an_empty_proposal_is_an_error_not_a_result() -> None:
    class Empty(Sized):
        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN202
            return []

    codec = Empty(ParamSpace("quality", "discrete", values=(1, 2)), lambda q: q)
    with pytest.raises(RuntimeError, match="^rate search evaluated nothing$"):
        match_rate(codec, IMG, 1.0)


def test_a_proposal_without_a_time_counts_zero() -> None:
    class Untimed(Sized):
        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN202
            return [Encoded(b"\0" * 100, 2)]

    m = match_rate(Untimed(ParamSpace("quality", "discrete", values=(1, 2)), lambda q: q),
                   IMG, 1.0)
    assert m.encode_s == 0.0 and m.trials[0].encode_s == 0.0


@pytest.mark.parametrize("empty_below,want_bpp", [(0.5, 0.0), (0.25, 0.25)])
def test_rate_control_that_returns_nothing_is_bisected(empty_below: float,
                                                       want_bpp: float) -> None:
    """An encoder that writes 0 bytes at the requested rate: no division by its rate, and
    the search goes on by bisection to the closest rate the codec can give. Below 0.5 bpp
    this one writes nothing and 0 bpp is the closest to 0.2; below 0.25, 0.25 bpp is
    (stopping at the empty bitstream reported −100 % there, not −25 %)."""
    codec = Sized(ParamSpace("rate", "continuous", 0.01, 2.0, is_bpp=True),
                  lambda r: 0 if r < empty_below else 100 * r)
    m = match_rate(codec, IMG, 0.2)
    assert codec.calls[0] == 0.2 and len(codec.calls) > 1
    assert m.bpp == pytest.approx(want_bpp, abs=0.01)  # a byte


@pytest.mark.parametrize("target,end", [(8.0, 2.0), (0.001, 0.01)])
def test_an_unreachable_continuous_rate_costs_two_encodes(target: float, end: float) -> None:
    """Rate control clamped at the end of the range cannot get closer: the search stops
    there instead of bisecting 24 more times towards the same end."""
    codec = Sized(ParamSpace("rate", "continuous", 0.01, 2.0, is_bpp=True),
                  lambda r: 5 + 105 * r)
    m = match_rate(codec, IMG, target)
    assert m.encoded.param == end
    assert len(codec.calls) <= 2, codec.calls


def _photo(q: float) -> float:
    q = float(q)
    return 0.08 + 0.12 * min(q, 1.0) + 0.006 * q + 4.0 * (q / 100) ** 5


def _exponential(q: float) -> float:
    return 0.02 * math.exp(float(q) / 19)


_SPARSE = (0, 1, 2, 4, 8, *range(10, 101, 10))
#: (curve, prior) -> encodes over 25 targets from 0.03 to 20 bpp, as measured when
#: these bounds were set (2026-12-02). A cost
#: regression bound: lower these numbers when the search improves.
_COST = {
    ("photo", "sparse"): 42, ("photo", "x1.8"): 57, ("photo", "x0.3"): 64,
    ("photo", "one point"): 98, ("photo", "partial"): 70,
    ("exponential", "sparse"): 43, ("exponential", "x1.8"): 67, ("exponential", "x0.3"): 63,
    ("exponential", "one point"): 79, ("exponential", "partial"): 43,
}


def test_prior_guided_search_cost_does_not_regress() -> None:
    """The prior only changes how many encodes a search costs; this pins that cost (the
    choice itself is checked against an exhaustive scan in test_rate_priors.py)."""
    curves = {"photo": _photo, "exponential": _exponential}
    priors = {
        "sparse": lambda c: {q: c(q) for q in _SPARSE},
        "x1.8": lambda c: {q: 1.8 * c(q) for q in _SPARSE},
        "x0.3": lambda c: {q: 0.3 * c(q) for q in _SPARSE},
        "one point": lambda c: {50: 1.0},
        "partial": lambda c: {q: c(q) for q in (30, 40, 50)},
    }
    img = np.zeros((100, 100), np.uint8)
    got = {}
    for cname, curve in curves.items():
        for pname, prior in priors.items():
            codec = Sized(ParamSpace("q", "integer", 0, 100, typical_bpp=prior(curve)),
                          lambda q, c=curve: int(c(q) * 10_000 / 8))
            for target in np.geomspace(0.03, 20, 25):
                m = match_rate(codec, img, float(target))
                assert 0 <= m.encoded.param <= 100
            got[(cname, pname)] = len(codec.calls)
    assert all(got[k] <= _COST[k] for k in _COST), {k: (got[k], _COST[k]) for k in _COST}
