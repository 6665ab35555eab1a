"""Known answers for spectral.py at the edges of its input: ``ring_band_pass`` next to a
region's border (its mirror padding) and ``dominant_period`` at the ends of its search band
and at any contrast.

Written against the survivors of mutation testing (benchmarks/mutation/run.py). The band-pass
answers are exact: a cosine whose mirror image continues it seamlessly, and whose mirrored
frame (region plus the documented padding of ``min(h - 1, w - 1, ceil(3 period))`` px each
side) holds a whole number of periods, is one DFT bin at radius 1/period, where the ring's
gain is 1. The filter then returns the cosine itself, border pixels included, to rounding;
any other padding (or none, or zeros) leaves the frequency between bins and changes the
pixels near the border. All images are a few dozen pixels (well under a second in all).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeccmp.stripes.spectral import dominant_period, ring_band_pass


def _cosines(h: int, w: int, period: float, axes: str) -> np.ndarray:
    """cos(2πx/period) and/or cos(2πy/period) on an h×w grid (x along columns)."""
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    g = np.zeros((h, w))
    if "x" in axes:
        g += np.cos(2 * np.pi * x / period)
    if "y" in axes:
        g += np.cos(2 * np.pi * y / period)
    return g


def _frame_periods(size: int, pad: int, period: float) -> float:
    return (size + 2 * pad) / period


@pytest.mark.parametrize(
    ("h", "w", "period", "axes", "pad"),
    [
        # pad = ceil(3 * 30/13) = 7 on both axes; 16 - 1 = 15 = 6.5 periods (mirror-symmetric
        # about both edges) and 16 + 14 = 30 = 13 periods.
        (16, 16, 30 / 13, "xy", 7),
        # pad capped by the height: h - 1 = 5 < ceil(3 * 22/9) = 8; 12 + 10 = 22 = 9 periods
        # along x, and the rows are constant so the padding of y does not matter.
        (6, 12, 22 / 9, "x", 5),
        (12, 6, 22 / 9, "y", 5),  # the same, capped by the width
        # a 2 px high region: pad 1 (h - 1), 10 + 2 = 12 = 4 periods of 3 px.
        (2, 10, 3.0, "x", 1),
        (10, 2, 3.0, "y", 1),
    ],
)
def test_ring_band_pass_returns_a_seamlessly_mirrored_cosine_unchanged(
        h: int, w: int, period: float, axes: str, pad: int) -> None:
    """Border pixels included, to 1e-9: the padding is mirrored and of the documented size."""
    # the construction's premises, computed independently of the code under test
    assert pad == min(h - 1, w - 1, math.ceil(3 * period))
    for size, axis in ((w, "x"), (h, "y")):
        if axis in axes:
            assert (size - 1) / (period / 2) == pytest.approx(round((size - 1) / (period / 2)))
            assert _frame_periods(size, pad, period) == pytest.approx(
                round(_frame_periods(size, pad, period)))
    g = _cosines(h, w, period, axes)
    out = ring_band_pass(g + 5.0, period)  # the mean is removed (the ring's gain is 0 at DC)
    assert out.shape == (h, w)
    np.testing.assert_allclose(out, g, atol=1e-9)


def test_ring_band_pass_without_the_seamless_frame_differs_at_the_border() -> None:
    """The same 16 px cosine, but a padded frame off a whole number of periods (pad 8 of a
    2.5 px period: 32 / 2.5 = 12.8): the interior is still the cosine within a few %, while
    the exactness above came from the frame, not from a filter that passes everything."""
    period = 2.5
    g = _cosines(16, 16, period, "x")
    out = ring_band_pass(g, period)
    assert np.abs(out - g).max() > 1e-3
    np.testing.assert_allclose(out[:, 6:10], g[:, 6:10], atol=0.1)


@pytest.mark.parametrize("period", [3.3, 5.7, 9.1])
def test_dominant_period_does_not_depend_on_contrast(period: float) -> None:
    """A period is a length: the same oblique grating at 1/1000 and 1000 times the contrast,
    or on a bright ground, gives the same period (the faint one is still found: it has a
    sharp peak), down to the flatness floor."""
    y, x = np.mgrid[0:48, 0:48].astype(np.float64)
    g = np.sin(2 * np.pi * (0.8 * x + 0.6 * y) / period)
    ref = dominant_period(g)
    assert ref == pytest.approx(period, rel=0.08)
    for scale in (1e-3, 1e3):
        assert dominant_period(scale * g) == pytest.approx(ref, rel=1e-9)
    # nor on the mean grey level (removed before the transform: 200 is not a pattern)
    assert dominant_period(g + 200.0) == pytest.approx(ref, rel=1e-9)
    assert dominant_period(1e-3 * g + 200.0) == pytest.approx(ref, rel=1e-9)
    # but a standard deviation under 1e-6 grey levels is flat: no period
    assert (1e-7 * g).std() < 1e-6
    assert dominant_period(1e-7 * g) is None


def test_dominant_period_at_the_2px_end_of_its_band() -> None:
    """The search band ends at 2 px: a 2 px grating (its maximum on the band's last bin) and
    finer diagonal ones (maximum past it) have no peak inside the band: None, as documented;
    just above 2 px a peak is found."""
    y, x = np.mgrid[0:48, 0:48].astype(np.float64)
    assert dominant_period(np.cos(np.pi * x)) is None
    assert dominant_period(np.cos(np.pi * y)) is None
    for p in (1.9, 1.95):
        assert dominant_period(np.sin(2 * np.pi * (x + y) / math.sqrt(2) / p)) is None
    assert dominant_period(np.sin(2 * np.pi * (x + y) / math.sqrt(2) / 2.1)) == pytest.approx(
        2.1, rel=0.03)


def test_dominant_period_in_a_region_with_three_candidate_bins() -> None:
    """A 10 px square: periods from 10/3 px (3 repeats) down to 2 px leave the radial bins
    3, 4, 5 (n / period with n = 10); a 2.5 px grating peaks on the middle one, so it is
    found (a shorter band would need more bins than this)."""
    y, x = np.mgrid[0:10, 0:10].astype(np.float64)
    assert math.ceil(10 / (10 / 3)) == 3 and 10 // 2 == 5
    assert dominant_period(np.sin(2 * np.pi * x / 2.5)) == pytest.approx(2.5, rel=0.01)
    assert dominant_period(np.sin(2 * np.pi * y / 2.5)) == pytest.approx(2.5, rel=0.01)


def test_dominant_period_with_a_band_narrower_than_one_bin() -> None:
    """A 9 px region asked for 4.2 repeats: periods 2 to 9 / 4.2 = 2.14 px, i.e. radial bins
    from ceil(9 / 2.14) = 5 to 9 // 2 = 4: no bin at all. None, not an error."""
    y, x = np.mgrid[0:9, 0:9].astype(np.float64)
    assert math.ceil(9 / (9 / 4.2)) == 5 and 9 // 2 == 4
    assert dominant_period(np.sin(2 * np.pi * x / 2.1), min_repeats=4.2) is None
