"""The rate search with a codec's typical rate curve (``ParamSpace.typical_bpp``).

A prior may only change how many encodes a search costs, never its answer: whatever the prior
(exact, offset, the wrong shape, nonsense, absent), the choice must equal an exhaustive scan's
for every target. Rate curves are synthetic and exact, through a fake codec that counts its
encodes; the only real encodes are a few JPEG ones on a tiny image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace

import numpy as np
import pytest
from codeccmp_pillow.codecs import ALL_CODECS, JpegCodec

from codeccmp.codec import Codec, Encoded, Param, ParamSpace, WrappedCodec
from codeccmp.pipeline.ratematch import match_rate

IMG = np.zeros((100, 100), np.uint8)  # 10 000 pixels: bpp = 8 * nbytes / 10 000
NUM_PIXELS = IMG.size
Curve = Callable[[Param], float]


class CurveCodec(Codec):
    """Emits ``bpp(param)`` worth of bytes (rounded down); records every encode."""

    name = "curve"

    def __init__(self, space: ParamSpace, bpp: Curve) -> None:
        self.param_space = space
        self.bpp = bpp
        self.calls: list[Param] = []

    def nbytes(self, param: Param) -> int:
        return int(self.bpp(param) * NUM_PIXELS / 8)

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        self.calls.append(param)
        return Encoded(b"\0" * self.nbytes(param), param)

    def decode(self, data: bytes) -> np.ndarray:
        return IMG


def exhaustive_choice(codec: CurveCodec, target: float) -> Param:
    """Encode every value; keep the closer of the adjacent pair bracketing the target.

    The pair is the last value below the target and the first at or above it (just one end
    when the target is out of reach); on a tie the lower rate wins.
    """
    values = codec.param_space.candidates()
    rates = [8.0 * codec.nbytes(v) / NUM_PIXELS for v in values]
    k = next((i for i, r in enumerate(rates) if r >= target), len(values))
    pair = [i for i in (k - 1, k) if 0 <= i < len(values)]
    return values[min(pair, key=lambda i: abs(rates[i] - target))]


def targets_for(codec: CurveCodec) -> list[float]:
    """Targets across and beyond the reachable range, on and between real rates."""
    rates = sorted({8.0 * codec.nbytes(v) / NUM_PIXELS for v in codec.param_space.candidates()})
    low, high = rates[0], rates[-1]
    spread = list(np.geomspace(low / 3, high * 3, 60))
    on_rates = rates[:: max(1, len(rates) // 15)]
    midpoints = [(a + b) / 2 for a, b in zip(rates[:-1], rates[1:], strict=True)][::7]
    return spread + on_rates + midpoints + [low, high, low * 0.999, high * 1.001]


def photo(q: Param) -> float:
    """Shaped like a real quality curve: a jump off the lowest quality, flat-ish, then steep."""
    q = float(q)
    return 0.08 + 0.12 * min(q, 1.0) + 0.006 * q + 4.0 * (q / 100) ** 5


def with_plateaus(q: Param) -> float:
    """Flat over qualities 0-6 and again over 40-49 (equal bytes for neighbouring values)."""
    q = float(q)
    q = 6.0 if q < 6 else 40.0 if 40 <= q < 50 else q
    return photo(q)


def exponential(q: Param) -> float:
    return 0.02 * math.exp(float(q) / 19)


def sample(curve: Curve, points: Sequence[int], scale: float = 1.0) -> dict[int, float]:
    return {q: scale * curve(q) for q in points}


SPARSE = (0, 1, 2, 4, 8, *range(10, 101, 10))
PRIORS: dict[str, Callable[[Curve], dict[int, float] | None]] = {
    "absent": lambda c: None,
    "truth": lambda c: sample(c, range(101)),
    "sparse truth": lambda c: sample(c, SPARSE),
    "times 1.8": lambda c: sample(c, SPARSE, 1.8),
    "times 0.3": lambda c: sample(c, SPARSE, 0.3),
    "wrong shape": lambda c: {0: 0.5, 100: 1.0},  # nearly flat where the curve is steep
    "other shape": lambda c: sample(exponential if c is not exponential else photo, SPARSE),
    "one point": lambda c: {50: 1.0},
    "partial range": lambda c: sample(c, (30, 40, 50)),
    "decreasing": lambda c: {0: 5.0, 50: 0.5, 100: 0.05},  # nonsense: must still be right
}
CURVES: dict[str, Curve] = {"photo": photo, "plateaus": with_plateaus,
                            "exponential": exponential}


def log_bound(n: int) -> int:
    """Most encodes any prior may cost: galloping to a bracket, then thirds-of-halvings."""
    return 3 * math.ceil(math.log2(n)) + 2


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("prior", PRIORS)
def test_choice_equals_exhaustive_search(curve: str, prior: str) -> None:
    space = ParamSpace("q", "integer", 0, 100, typical_bpp=PRIORS[prior](CURVES[curve]))
    codec = CurveCodec(space, CURVES[curve])
    for target in targets_for(codec):
        codec.calls.clear()
        m = match_rate(codec, IMG, target)
        assert m.encoded.param == exhaustive_choice(codec, target), (prior, target)
        assert len(codec.calls) <= log_bound(101), (prior, target, codec.calls)
        assert len(set(codec.calls)) == len(codec.calls), "a value was encoded twice"


@pytest.mark.parametrize("prior", ["truth", "times 1.8", "wrong shape", "decreasing"])
def test_decreasing_parameter_and_discrete_values(prior: str) -> None:
    # A quantiser (more means fewer bits) over a sparse set of values, prior keyed likewise.
    qps = tuple(range(0, 52, 3))

    def curve(qp: Param) -> float:
        return photo(100 - 100 * float(qp) / 51)

    typical = {qp: curve(qp) for qp in qps}
    priors = {"truth": typical, "times 1.8": {k: 1.8 * v for k, v in typical.items()},
              "wrong shape": {0: 2.0, 51: 1.0}, "decreasing": {0: 0.1, 51: 3.0}}
    space = ParamSpace("qp", "discrete", values=qps, rate_increases=False,
                       typical_bpp=priors[prior])
    codec = CurveCodec(space, curve)
    for target in targets_for(codec):
        assert match_rate(codec, IMG, target).encoded.param == exhaustive_choice(codec, target)


def test_unreachable_targets_cost_one_encode_with_a_true_prior() -> None:
    codec = CurveCodec(ParamSpace("q", "integer", 0, 100, typical_bpp=sample(photo, SPARSE)),
                       photo)
    for target, end in [(0.01, 0), (50.0, 100)]:
        codec.calls.clear()
        assert match_rate(codec, IMG, target).encoded.param == end
        assert codec.calls == [end]


def _images(seed: int = 0) -> list[Curve]:
    """Rate curves of 'other photos': the typical one, scaled and slightly reshaped."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(12):
        scale, tilt = float(rng.uniform(0.4, 2.5)), float(rng.uniform(-0.5, 0.5))
        out.append(lambda q, s=scale, t=tilt: s * photo(q) * math.exp(t * float(q) / 100))
    return out


def test_a_good_prior_needs_few_encodes() -> None:
    """With the typical curve as prior, searches cost about three encodes, half the blind one."""
    prior = sample(photo, SPARSE)
    with_prior, without = [], []
    for curve in _images():
        for typical, counts in ((prior, with_prior), (None, without)):
            codec = CurveCodec(ParamSpace("q", "integer", 0, 100, typical_bpp=typical), curve)
            for target in (0.1, 0.2, 0.3, 0.5, 1.0, 2.0):
                codec.calls.clear()
                m = match_rate(codec, IMG, target)
                assert m.encoded.param == exhaustive_choice(codec, target)
                counts.append(len(codec.calls))
    assert np.mean(with_prior) <= 3.5, with_prior
    assert max(with_prior) <= log_bound(101)
    assert np.mean(with_prior) < 0.6 * np.mean(without)


def test_typical_bpp_is_normalised_and_validated() -> None:
    space = ParamSpace("q", "integer", 1, 100, typical_bpp={100: 4.0, 1: 0.1, 50: 0.8})
    assert space.typical_bpp == ((1, 0.1), (50, 0.8), (100, 4.0))
    assert hash(space) == hash(ParamSpace("q", "integer", 1, 100,
                                          typical_bpp=[(1, 0.1), (50, 0.8), (100, 4.0)]))
    assert ParamSpace("q", "integer", 1, 100).typical_bpp is None
    for bad in ({}, {1: 0.0}, {1: -1.0}, {1: math.inf}):
        with pytest.raises(ValueError):
            ParamSpace("q", "integer", 1, 100, typical_bpp=bad)


# --- the Pillow plugin's measured priors ---------------------------------------------------

@pytest.mark.parametrize("codec", [cls() for cls in ALL_CODECS], ids=lambda c: c.name)
def test_pillow_priors_are_monotone_and_cover_the_range(codec: Codec) -> None:
    space = codec.param_space
    if space.kind == "continuous":
        assert space.typical_bpp is None  # the parameter is the rate itself
        return
    assert space.typical_bpp, f"{codec.name} has no rate prior"
    qualities = [q for q, _ in space.typical_bpp]
    rates = [b for _, b in space.typical_bpp]
    assert qualities[0] == space.low and qualities[-1] == space.high
    assert all(b > a for a, b in zip(qualities[:-1], qualities[1:], strict=True))
    assert all(b >= a for a, b in zip(rates[:-1], rates[1:], strict=True)), rates
    assert rates[-1] > 10 * rates[0]  # a real curve, not a placeholder


def test_pillow_prior_changes_cost_not_choice(rgb_image: np.ndarray) -> None:
    """JPEG on a real (tiny) image: the same quality with and without its prior."""
    class NoPrior(WrappedCodec):
        param_space = replace(JpegCodec.param_space, typical_bpp=None)  # type: ignore[assignment]

    jpeg = JpegCodec()
    for target in (0.3, 0.8, 1.5, 3.0, 6.0):
        assert (match_rate(jpeg, rgb_image, target).encoded.param
                == match_rate(NoPrior(jpeg), rgb_image, target).encoded.param)


def test_make_priors_writes_an_importable_module(tmp_path) -> None:  # noqa: ANN001
    from codeccmp_pillow.make_priors import quality_grid, write

    grid = quality_grid(1, 99)
    assert grid[0] == 1 and grid[-1] == 99 and all(q in grid for q in range(5, 99, 5))
    curves = {"jpeg": [(q, round(0.05 * 1.04**q, 4)) for q in grid]}
    out = tmp_path / "priors.py"
    write(out, curves, {"command": "test", "codecs": {}})
    namespace: dict = {}
    exec(compile(out.read_text(), str(out), "exec"), namespace)
    assert namespace["TYPICAL_BPP"] == {"jpeg": tuple(curves["jpeg"])}
    assert namespace["ABOUT"]["command"] == "test"
