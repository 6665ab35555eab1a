"""Known answers for the stripe-region detector (detect.py) and the spectral measures
(spectral.py) on synthetic gratings: the tile evidence, the window sums, the picked windows'
figures, the dominant period, the ring band-pass's gain and the angular spectrum.

Written against the survivors of mutation testing (benchmarks/mutation.py): each test pins a
number the detector or the measurement derives, so that a changed constant or operator
shows. All images are at most a few hundred pixels a side (well under a second in all).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from codeccmp.errors import UsageError
from codeccmp.stripes import Roi, synthetic_grating
from codeccmp.stripes.detect import (
    MIN_EXTENT,
    RoiScore,
    TileMap,
    _describe,
    _pixel_extent,
    _window_sums,
    find_stripe_rois,
    score_stripe_rois,
    tile_map,
)
from codeccmp.stripes.spectral import (
    angular_spectrum,
    circular_emd_deg,
    dominant_period,
    ring_band_pass,
)

# ------------------------------------------------------------------------------ detect.py


def test_roi_score_to_dict_carries_every_field() -> None:
    r = RoiScore(Roi(1, 2, 3, 4), 5.0, 6.0, 0.7, 0.8, 0.9, 10.0, 11.0)
    assert r.to_dict() == {"roi": {"x": 1, "y": 2, "w": 3, "h": 4}, "score": 5.0,
                           "amplitude": 6.0, "coherence": 0.7, "periodicity": 0.8,
                           "extent": 0.9, "period_px": 10.0, "theta_deg": 11.0}


def test_tile_map_of_a_sine_grating() -> None:
    """Every tile of a pure sine grating: all its gradient power in the peak (share and
    concentration 1), the peak's RMS amplitude = amplitude / sqrt(2), its period and angle."""
    g = synthetic_grating((96, 112), 30.0, 6.0, "sine", contrast=0.2)
    tm = tile_map(g)
    assert tm.share.shape == (4, 5)  # (96-48)//16+1, (112-48)//16+1
    assert (tm.tile, tm.step) == (48, 16)
    np.testing.assert_allclose(tm.share, 1.0, atol=0.01)
    np.testing.assert_allclose(tm.concentration, 1.0, atol=0.01)
    np.testing.assert_allclose(tm.amplitude, 0.2 * 127.5 / math.sqrt(2), rtol=0.01)
    np.testing.assert_allclose(tm.period, 6.0, atol=0.1)
    np.testing.assert_allclose(tm.theta, 30.0, atol=0.5)
    assert tm.stripe.all()


@pytest.mark.parametrize(("angle", "period"), [(0.0, 4.0), (90.0, 8.0), (135.0, 5.0)])
def test_tile_map_period_and_angle(angle: float, period: float) -> None:
    tm = tile_map(synthetic_grating((64, 64), angle, period, "sine", contrast=0.3))
    assert tm.share.shape == (2, 2)
    np.testing.assert_allclose(tm.period, period, rtol=0.04)  # a bin of 48 px
    # On the spectrum's axes too the peak is counted once (half-plane): RMS = A / sqrt(2).
    np.testing.assert_allclose(tm.amplitude, 0.3 * 127.5 / math.sqrt(2), rtol=0.03)
    d = np.abs((tm.theta - angle + 90.0) % 180.0 - 90.0)
    assert d.max() < 1.0


def test_tile_map_of_flat_too_small_and_noise() -> None:
    flat = tile_map(np.full((64, 80), 100, np.uint8))
    assert flat.share.shape == (2, 3)
    assert not flat.stripe.any()
    np.testing.assert_array_equal(flat.amplitude, 0.0)
    small = tile_map(np.zeros((47, 200)))
    assert small.share.shape == (0, 10)
    assert small.stripe.shape == (0, 10)
    assert (small.tile, small.step) == (48, 16)
    assert tile_map(np.zeros((200, 40))).amplitude.shape == (10, 0)
    one = tile_map(synthetic_grating((48, 63), 0.0, 6.0, "sine", contrast=0.3))
    assert one.share.shape == (1, 1)  # exactly one tile fits
    assert one.stripe.all()
    assert tile_map(synthetic_grating((63, 48), 0.0, 6.0, "sine")).stripe.all()
    rng = np.random.default_rng(1)
    noise = tile_map(rng.normal(128, 20, (96, 96)))
    assert not noise.stripe.any()
    assert noise.share.max() < MIN_EXTENT  # white noise: no peak holds much power


def test_tile_map_concentration_window_is_15_degrees_either_side() -> None:
    """Two waves of about the same period in one tile: the weaker 14° off the stronger (on
    either side) counts as the same orientation, 20.6° off it does not."""
    y, x = np.mgrid[0:48, 0:48]
    main = 100 * np.cos(2 * np.pi * 8 * y / 48)  # horizontal stripes, 6 px
    for dx, inside in ((2, True), (-2, True), (3, False), (-3, False)):  # atan(dx / 8)
        tm = tile_map(main + 80 * np.cos(2 * np.pi * (dx * x + 8 * y) / 48))
        assert tm.theta[0, 0] == pytest.approx(0.0, abs=1e-3)
        assert bool(tm.concentration[0, 0] > 0.85) is inside, (dx, tm.concentration)
        if not inside:
            assert tm.concentration[0, 0] < 0.7


def test_tile_map_ratios_do_not_depend_on_contrast() -> None:
    """Share and concentration are ratios of powers: the same for a wave of 0.01 and of
    100 grey levels (no floor added to their denominators beyond 1e-12)."""
    y = np.mgrid[0:48, 0:48][0]
    faint, strong = (tile_map(a * np.cos(2 * np.pi * 8 * y / 48)) for a in (0.01, 100.0))
    np.testing.assert_allclose(faint.share, strong.share, rtol=1e-4)
    np.testing.assert_allclose(faint.concentration, strong.concentration, rtol=1e-4)
    assert faint.share[0, 0] > 0.99


def test_tile_map_thresholds_each_test_alone() -> None:
    """TileMap.stripe needs every test: at the threshold passes, just under it fails."""
    one = np.ones((1, 1), np.float32)

    def tm(share=0.35, conc=0.5, amp=3.0, period=12.0) -> TileMap:
        return TileMap(one * share, one * conc, one * amp, one * period, one * 0.0, 48, 16)

    assert tm().stripe.all()
    assert not tm(share=0.34).stripe.any()
    assert not tm(conc=0.49).stripe.any()
    assert not tm(amp=2.99).stripe.any()
    assert not tm(period=12.01).stripe.any()


def test_tile_map_amplitude_sees_contrast_not_mean() -> None:
    """The amplitude scales with the grating's contrast and ignores its mean level; a faint
    grating (RMS under MIN_AMPLITUDE = 3 levels) is not a stripe tile."""
    lo = tile_map(synthetic_grating((64, 64), 45.0, 6.0, "sine", contrast=0.02, mean=60))
    hi = tile_map(synthetic_grating((64, 64), 45.0, 6.0, "sine", contrast=0.08, mean=60))
    np.testing.assert_allclose(lo.amplitude, 0.02 * 60 / math.sqrt(2), rtol=0.15)
    np.testing.assert_allclose(hi.amplitude, 0.08 * 60 / math.sqrt(2), rtol=0.05)
    assert not lo.stripe.any()
    assert hi.stripe.all()


def test_window_sums_equal_brute_force() -> None:
    rng = np.random.default_rng(0)
    v = rng.integers(0, 5, (7, 9)).astype(float)
    for s in (1, 3, 7):
        got = _window_sums(v, s)
        want = np.array([[v[y:y + s, x:x + s].sum() for x in range(9 - s + 1)]
                         for y in range(7 - s + 1)])
        np.testing.assert_array_equal(got, want)


def _numbered_tiles(rows: int = 6, cols: int = 4) -> TileMap:
    """Every tile a stripe tile; its period says its row (10 + i) and its amplitude its
    column (3 + j), so a median names which tiles a window took."""
    i, j = np.mgrid[0:rows, 0:cols].astype(np.float32)
    one = np.ones((rows, cols), np.float32)
    return TileMap(one, one, 3.0 + j, 10.0 + i * 0.01, one * 100.0, 48, 16)


def test_describe_takes_the_tiles_whose_central_cell_is_inside() -> None:
    """Tile (i, j) speaks for rows 16i+16 .. 16i+32 (and columns alike): a window from 32 to
    80 holds the cells of rows 1, 2 and 3 exactly (edges included)."""
    tm = _numbered_tiles()
    d = _describe(tm, Roi(48, 32, 32, 48), 1.0, 0.5)
    assert d.period_px == pytest.approx(10.02)  # rows 1, 2, 3
    assert d.amplitude == pytest.approx(5.5)  # columns 2 and 3 (cells 48-64, 64-80)
    assert d.theta_deg == pytest.approx(100.0)
    assert d.coherence == 1.0 and d.periodicity == 1.0
    assert (d.roi, d.score, d.extent) == (Roi(48, 32, 32, 48), 1.0, 0.5)
    d = _describe(tm, Roi(16, 16, 16, 80), 1.0, 0.5)
    assert d.period_px == pytest.approx(10.02)  # rows 0-4: median row 2
    assert d.amplitude == pytest.approx(3.0)  # column 0
    # Axial mean: 170° and 10° average to 0°, not 90°.
    theta = np.where(np.arange(4)[None, :] % 2 == 0, 170.0, 10.0) * np.ones((6, 1))
    tm2 = TileMap(tm.share, tm.concentration, tm.amplitude, tm.period,
                  theta.astype(np.float32), 48, 16)
    t = _describe(tm2, Roi(16, 16, 64, 64), 1.0, 0.5).theta_deg
    assert min(t, 180.0 - t) == pytest.approx(0.0, abs=1e-4)  # float32 angles
    # No stripe tile inside: the window, score and extent as given, NaN figures.
    none = _describe(tm, Roi(0, 0, 8, 8), 1.0, 0.5)
    assert (none.roi, none.score, none.extent) == (Roi(0, 0, 8, 8), 1.0, 0.5)
    for v in (none.amplitude, none.coherence, none.periodicity, none.period_px,
              none.theta_deg):
        assert math.isnan(v)


def test_pixel_extent_counts_the_whole_window() -> None:
    """Stripes in the lower (or right) half of the window: 32 of 64 rows plus the mask's
    bleed of one period onto the flat half, 36/64; with the image around the window or
    not. A non-finite period gives 0."""
    for size, top in ((64, 32), (96, 48)):
        g = np.full((size, size), 128.0)
        g[top:, :] = synthetic_grating((size - top, size), 0.0, 4.0, "sine", contrast=0.3)
        roi = Roi((size - 64) // 2, (size - 64) // 2, 64, 64)
        assert _pixel_extent(g, roi, 4.0) == pytest.approx(36 / 64, abs=0.02)
        assert _pixel_extent(g.T.copy(), roi, 4.0) == pytest.approx(36 / 64, abs=0.02)
        assert _pixel_extent(g, roi, math.nan) == 0.0


def test_windows_smaller_than_a_tile_cell_are_not_taken() -> None:
    """An 8 px window holds no tile's 16 px central cell: it cannot be described (no
    period), so the detector returns nothing rather than an unmeasurable window."""
    img = synthetic_grating((96, 96), 0.0, 4.0, "sine", contrast=0.5)
    assert score_stripe_rois(img, k=2, size=8) == []
    assert len(score_stripe_rois(img, k=2, size=16)) == 2


def test_window_size_must_fit_the_image() -> None:
    img = synthetic_grating((64, 128), 0.0, 4.0, "sine", contrast=0.5)
    for bad in (0, -8, 65, 129):
        with pytest.raises(UsageError, match=f"ROI size {bad} does not fit the 128x64 image"):
            score_stripe_rois(img, size=bad)
    assert len(score_stripe_rois(img, size=64)) == 1  # as tall as the image: fits
    assert score_stripe_rois(img, size=1) == []  # smaller than a cell: nothing to describe
    wide = synthetic_grating((128, 64), 0.0, 4.0, "sine", contrast=0.5)
    assert len(score_stripe_rois(wide, size=64)) == 1
    assert len(score_stripe_rois(synthetic_grating((160, 160), 0.0, 4.0), size=48)) == 3


def test_a_grating_patch_gives_one_window_on_it_with_its_figures() -> None:
    """A 96 px grating patch on flat grey: one 64 px window (k=3), inside the patch, with
    the grating's period, angle and amplitude, an extent of 1 and score = extent × amplitude."""
    img = np.full((192, 256), 128, np.uint8)
    img[48:144, 96:192] = synthetic_grating((96, 96), 120.0, 5.0, "sine", contrast=0.1)
    got = score_stripe_rois(img, k=3, size=64)
    assert len(got) == 1
    r = got[0]
    assert 96 <= r.roi.x <= 192 - 64 and 48 <= r.roi.y <= 144 - 64
    assert (r.roi.w, r.roi.h) == (64, 64)
    assert r.extent == pytest.approx(1.0)
    assert r.period_px == pytest.approx(5.0, abs=0.1)
    assert r.theta_deg == pytest.approx(120.0, abs=3.0)  # tile spectra: 1 bin = 48 px
    assert r.amplitude == pytest.approx(0.1 * 127.5 / math.sqrt(2), rel=0.03)
    assert r.score == pytest.approx(r.extent * r.amplitude)
    assert r.coherence > 0.9 and r.periodicity > 0.9
    assert find_stripe_rois(img, size=64) == [r.roi]
    # Keyword arguments of the former texture ranking are accepted and ignored.
    assert score_stripe_rois(img, k=3, size=64, stride=4, sigma_d=2.0) == got


def test_windows_across_a_full_grating_are_disjoint_ranked_and_capped() -> None:
    """A grating over the whole image: k windows that do not overlap, all of extent 1, with
    the amplitude counted up to AMPLITUDE_CAP (16 levels) in the score."""
    img = synthetic_grating((160, 160), 0.0, 4.0, "sine", contrast=0.5)  # RMS 45 levels
    got = score_stripe_rois(img, k=4, size=64)
    assert len(got) == 4
    for i, r in enumerate(got):
        assert r.extent == pytest.approx(1.0)
        assert r.amplitude == pytest.approx(0.5 * 127.5 / math.sqrt(2), rel=0.03)
        assert r.score == pytest.approx(16.0)
        assert not any(r.roi.overlaps(o.roi) for o in got[i + 1:])
        assert r.roi.x + 64 <= 160 and r.roi.y + 64 <= 160
    assert len(find_stripe_rois(img, size=64)) == 3  # k = 3 by default
    # Tiles speak for their central cells, so the outer 16 px are not stripe cells: the
    # first window (raster order among equal scores) starts at (16, 16); the stripe cells
    # reach to 144, so the four windows tile 16-144 exactly.
    assert [(r.roi.x, r.roi.y) for r in got] == [(16, 16), (80, 16), (16, 80), (80, 80)]


def test_pixel_check_rejections_skip_neighbours_and_stop_after_10k_tries(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The cell map proposes, the pixel mask confirms. A rejected window rules out the
    windows shifted by up to a quarter of its side (q cells of 8 px) and the search goes on
    to the next best, for at most 10 k tries. On a full grating every window inside the
    stripe cells (16-144 px) scores alike, so they are tried in raster order."""
    import codeccmp.stripes.detect as detect

    tried: list[tuple[int, int]] = []
    verdict = {"share": 0.0}

    def pixel_extent(g: np.ndarray, roi: Roi, period: float) -> float:
        tried.append((roi.x, roi.y))
        return verdict["share"] if len(tried) <= verdict.get("reject", 10**9) else 1.0

    monkeypatch.setattr(detect, "_pixel_extent", pixel_extent)
    img = synthetic_grating((160, 160), 0.0, 4.0, "sine", contrast=0.5)
    # 32 px windows: q = 1 cell, so every second window along a row and every second row.
    assert score_stripe_rois(img, k=2, size=32) == []
    assert tried == [(x, y) for y in (16, 32, 48) for x in range(16, 113, 16)][:20]
    # 64 px windows: q = 2 cells, every third position; 10 tries for k = 1.
    tried.clear()
    assert score_stripe_rois(img, k=1, size=64) == []
    assert tried[:9] == [(x, y) for y in (16, 40, 64) for x in (16, 40, 64)]
    assert len(tried) == 10
    # Two rejections, then every window passes: the search goes on past them.
    tried.clear()
    verdict["reject"] = 2
    got = score_stripe_rois(img, k=2, size=32)
    assert [(r.roi.x, r.roi.y) for r in got] == [(48, 16), (80, 16)]
    assert tried[:2] == [(16, 16), (32, 16)]
    # A pixel extent exactly at min_extent is enough.
    tried.clear()
    verdict.update(share=0.5, reject=10**9)
    assert len(score_stripe_rois(img, k=1, size=32, min_extent=0.5)) == 1


def test_a_faint_small_patch_is_found_when_min_extent_allows() -> None:
    """A 32 px grating of RMS 3.2 levels in a 128 px window: extent 0.07, score 0.2. Low
    scores are still scores: with min_extent 0.05 the window comes back."""
    img = np.full((128, 128), 128, np.uint8)
    img[48:80, 48:80] = synthetic_grating((32, 32), 0.0, 4.0, "sine", contrast=0.04)
    got = score_stripe_rois(img, k=1, size=128, min_extent=0.05)
    assert len(got) == 1
    assert got[0].extent == pytest.approx(0.066, abs=0.01)
    assert got[0].score == pytest.approx(got[0].extent * got[0].amplitude)
    assert score_stripe_rois(img, k=1, size=128) == []  # MIN_EXTENT 0.4


def test_min_extent_decides_a_partly_covered_window() -> None:
    """A 96 px grating in a 128 px image: the only 128 px window is about 62 % stripe
    pixels, kept with min_extent 0.5 and dropped with 0.7."""
    img = np.full((128, 128), 128, np.uint8)
    img[32:128, 32:128] = synthetic_grating((96, 96), 90.0, 4.0, "sine", contrast=0.3)
    kept = score_stripe_rois(img, k=1, size=128, min_extent=0.5)
    assert [r.roi for r in kept] == [Roi(0, 0, 128, 128)]
    assert kept[0].extent == pytest.approx(0.62, abs=0.05)
    assert score_stripe_rois(img, k=1, size=128, min_extent=0.7) == []
    assert score_stripe_rois(img, k=1, size=128) == kept  # MIN_EXTENT = 0.4
    assert find_stripe_rois(img, k=1, size=128, min_extent=0.7) == []  # passed through


# ---------------------------------------------------------------------------- spectral.py


@pytest.mark.parametrize("period", [2.5, 3.0, 5.5, 10.0, 16.0])
def test_dominant_period_of_sine_gratings(period: float) -> None:
    g = synthetic_grating((64, 64), 20.0, period, "sine")
    assert dominant_period(g) == pytest.approx(period, rel=0.04)


def test_dominant_period_none_without_a_peak() -> None:
    assert dominant_period(np.full((64, 64), 7.0)) is None  # flat
    assert dominant_period(np.zeros((6, 6))) is None  # too small for 3 repeats
    ramp = np.tile(np.arange(64, dtype=float), (64, 1))
    assert dominant_period(ramp) is None  # power at the lowest frequencies only
    # 16 px stripes in 48 px: 3 repeats put the peak on the searched band's edge (None);
    # with 2 repeats allowed it is inside.
    g = synthetic_grating((48, 48), 0.0, 16.0, "sine")
    assert dominant_period(g) is None
    assert dominant_period(g, min_repeats=2.0) == pytest.approx(16.0, rel=0.05)


def test_ring_band_pass_gain_is_one_at_the_period_and_tiny_an_octave_away() -> None:
    """The gain is a Gaussian in log2 frequency with sigma RING_OCTAVES = 0.3: 1 at the
    period, exp(-0.5 / 0.09) = 0.004 an octave away (either side)."""
    for p in (4.0, 8.0):
        x = synthetic_grating((64, 96), 0.0, p, "sine", contrast=0.2).astype(float)
        x -= x.mean()
        inner = (slice(16, -16), slice(16, -16))
        same = ring_band_pass(x, p)
        assert same.shape == x.shape
        assert same[inner].std() / x[inner].std() == pytest.approx(1.0, abs=0.01)
        other = ring_band_pass(x, 2 * p if p == 4.0 else p / 2)  # an octave off
        assert other[inner].std() / x[inner].std() < 0.012
    x = synthetic_grating((64, 64), 45.0, 6.0, "sine").astype(float)
    wide = ring_band_pass(x, 12.0, octaves=1.0)  # an octave = one sigma: gain exp(-0.5)
    assert wide[16:-16, 16:-16].std() / x[16:-16, 16:-16].std() == pytest.approx(
        math.exp(-0.5), rel=0.03)


def test_angular_spectrum_peaks_at_the_stripes_angle() -> None:
    for angle in (10.0, 60.0, 150.0):
        g = synthetic_grating((64, 64), angle, 6.0, "sine", contrast=0.2)
        a = angular_spectrum(g)
        assert a.shape == (180,)
        assert abs((int(np.argmax(a)) + 0.5 - angle + 90) % 180 - 90) <= 2.0
    # On the DFT's axes the bin is exact: horizontal stripes in bin 0, vertical in bin 90.
    assert int(np.argmax(angular_spectrum(synthetic_grating((64, 64), 0.0, 8.0)))) == 0
    assert int(np.argmax(angular_spectrum(synthetic_grating((64, 64), 90.0, 8.0)))) == 90
    two_h = angular_spectrum(synthetic_grating((64, 64), 0.0, 8.0), bins=2)
    two_v = angular_spectrum(synthetic_grating((64, 64), 90.0, 8.0), bins=2)
    assert two_h[0] > 4 * two_h[1] and two_v[1] > 4 * two_v[0]
    # Few frequencies in an 8 px image leave the last bins empty: still 180 of them.
    assert angular_spectrum(synthetic_grating((8, 8), 0.0, 4.0)).shape == (180,)


def test_angular_spectrum_band_and_scale() -> None:
    """Power (squared magnitude) of the mean-free image, over periods 2.5-24 px, ends
    included."""
    g = synthetic_grating((64, 64), 30.0, 6.0, "sine", contrast=0.2).astype(float)
    a = angular_spectrum(g)
    np.testing.assert_allclose(angular_spectrum(2 * g), 4 * a, rtol=1e-9)  # power: x²
    # The mean is removed: a constant added changes nothing, even in a 32 px image whose
    # Hann window would spread a mean into the band.
    s = synthetic_grating((32, 32), 30.0, 6.0, "sine", contrast=0.2).astype(float)
    np.testing.assert_allclose(angular_spectrum(s + 100.0), angular_spectrum(s), rtol=1e-6)
    # Outside the band almost nothing is counted: 40 px and 2.2 px gratings.
    fine = angular_spectrum(synthetic_grating((64, 64), 0.0, 6.0, "sine"))
    coarse = angular_spectrum(synthetic_grating((64, 64), 0.0, 40.0, "sine"))
    finer = angular_spectrum(synthetic_grating((64, 64), 0.0, 2.2, "sine"))
    assert coarse.sum() < 0.05 * fine.sum()
    assert finer.sum() < 0.001 * fine.sum()
    # Ends included: a 24 px grating in 48 px and a 2.5 px one in 20 px sit exactly on
    # the band's radii 1/24 and 1/2.5; widening the band by a hair adds nothing.
    for n, period in ((48, 24.0), (20, 2.5)):
        x = synthetic_grating((n, n), 0.0, period, "sine", contrast=0.5)
        np.testing.assert_allclose(angular_spectrum(x, periods=(2.4999, 24.001)),
                                   angular_spectrum(x), rtol=1e-12)


def test_circular_emd_known_answers() -> None:
    h = np.zeros(180)
    h[10] = 1
    k = np.zeros(180)
    k[30] = 2.0  # scale does not matter: each histogram is normalised
    wrap = np.zeros(180)
    wrap[170] = 1
    assert circular_emd_deg(h, k) == pytest.approx(20.0)
    assert circular_emd_deg(h, wrap) == pytest.approx(20.0)  # across 0°/180°
    assert circular_emd_deg(h, h) == 0.0
    with warnings.catch_warnings():  # an empty histogram is NaN without a 0/0 warning
        warnings.simplefilter("error")
        assert math.isnan(circular_emd_deg(h, np.zeros(180)))
        assert math.isnan(circular_emd_deg(np.zeros(180), h))
    half = np.zeros(180)
    half[[10, 100]] = 1
    assert circular_emd_deg(h, half) == pytest.approx(45.0)  # half the mass moves 90°
    coarse = np.zeros(36)
    coarse[1] = 1
    coarse2 = np.zeros(36)
    coarse2[3] = 1
    assert circular_emd_deg(coarse, coarse2) == pytest.approx(10.0)  # 5° bins


def test_dominant_period_weights_by_gradient_and_keeps_faint_stripes() -> None:
    """The profile is weighted by |f|²: a 12 px wave √5 times stronger than a 4 px one still
    loses to it (5 < (12/4)² = 9). A faint wave (0.01 levels) still has a period."""
    y = np.mgrid[0:64, 0:64][0]
    mix = np.sin(2 * np.pi * y / 4) + math.sqrt(5) * np.sin(2 * np.pi * y / 12)
    assert dominant_period(mix) == pytest.approx(4.0, rel=0.02)
    assert dominant_period(0.01 * np.sin(2 * np.pi * y / 6)) == pytest.approx(6.0, rel=0.03)


def test_ring_band_pass_of_an_odd_width_image() -> None:
    """An odd width (the real FFT's last column is then not the Nyquist one) filters alike:
    the grating passes unchanged inside."""
    x = synthetic_grating((64, 65), 90.0, 4.0, "sine", contrast=0.2).astype(float)
    x -= x.mean()
    y = ring_band_pass(x, 4.0)
    assert y.shape == (64, 65)
    np.testing.assert_allclose(y[16:-16, 16:-16], x[16:-16, 16:-16], atol=0.06 * x.std())


def test_directional_error_when_there_is_little_to_measure() -> None:
    """No stripe pixel at the given period: period and a zero share come back, the rest NaN.
    Too few oriented pixels: the contrast figures and counts still come back, the angle
    figures are NaN."""
    from codeccmp.stripes import directional_error

    flat = np.full((64, 64), 90, np.uint8)
    r = directional_error(flat, flat, Roi(8, 8, 48, 48), period_px=4.0)
    assert (r.n_oriented, r.period_px, r.stripe_share) == (0, 4.0, 0.0)
    for v in (r.delta_theta_deg, r.turned_share, r.contrast_retention, r.erased_share):
        assert math.isnan(v)
    g = synthetic_grating((96, 96), 30.0, 6.0, "sine", contrast=0.4)
    few = directional_error(g, g, Roi(24, 24, 48, 48), min_oriented_share=2.0)
    full = directional_error(g, g, Roi(24, 24, 48, 48))
    assert math.isnan(few.delta_theta_deg)  # the shares are still given: all kept
    assert (few.kept_share, few.turned_share) == (1.0, 0.0)
    assert few.n_oriented == full.n_oriented > 0
    assert (few.contrast_retention, few.erased_share) == (1.0, 0.0)
    assert few.period_px == full.period_px == pytest.approx(6.0, rel=0.05)
    assert few.stripe_share == full.stripe_share > 0.9


def test_directional_error_without_a_period_at_a_corner_and_on_bad_sizes() -> None:
    from codeccmp.stripes import directional_error

    flat = np.full((64, 64), 90, np.uint8)
    r = directional_error(flat, flat, Roi(8, 8, 48, 48))  # no period found
    assert r.n_oriented == 0
    for v in (r.delta_theta_deg, r.turned_share, r.contrast_retention, r.erased_share,
              r.period_px, r.stripe_share):
        assert math.isnan(v)
    # A region at the image's corner: its margin is cut at row and column 0.
    g = synthetic_grating((96, 96), 30.0, 6.0, "sine", contrast=0.4)
    corner = directional_error(g, g, Roi(0, 0, 48, 48))
    assert corner.period_px == pytest.approx(6.0, rel=0.05)
    assert corner.n_oriented > 0 and corner.contrast_retention == 1.0
    assert corner.delta_theta_deg == 0.0
    with pytest.raises(ValueError, match="differ in size"):
        directional_error(g, g[:-1], Roi(0, 0, 48, 48))


# ------------------------------------------------------- detect.py: the window search's edges


def _bottom_band(h: int = 100, w: int = 96, top: int = 64) -> np.ndarray:
    """Flat grey with a 4 px grating from row ``top`` to the bottom edge."""
    img = np.full((h, w), 128, np.uint8)
    img[top:, :] = synthetic_grating((h - top, w), 0.0, 4.0, "sine", contrast=0.3)
    return img


def test_windows_never_reach_past_the_bottom_or_right_edge() -> None:
    """Stripes along the bottom (or right) edge of a 100 px image, 64 px windows: on the
    8 px window grid the last window that fits starts at 32 px, and one at 40 px would end
    at 104. Whatever the search tries and keeps, every window lies inside the image (here
    the first window tried, at 16 px, holds too few stripe pixels and its rejection rules
    out its neighbours; the 40 px window behind them would pass the pixel check)."""
    for img in (_bottom_band(), _bottom_band().T.copy()):
        h, w = img.shape
        for min_extent in (0.4, 0.45):
            for r in score_stripe_rois(img, k=2, size=64, min_extent=min_extent):
                assert r.roi.x + r.roi.w <= w and r.roi.y + r.roi.h <= h, r.roi


def test_a_rejection_at_the_image_edge_rules_out_row_and_column_0(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A 96 px grating, 64 px windows (q = 2 cells of 8 px): the only full window, at
    (16, 16), is rejected by the pixel check, which rules out every window shifted by up to
    16 px, i.e. all 25 that fit (x, y in 0..32), rows and columns 0 included. Nothing else
    is tried."""
    import codeccmp.stripes.detect as detect

    tried: list[tuple[int, int]] = []

    def reject(g: np.ndarray, roi: Roi, period: float) -> float:
        tried.append((roi.x, roi.y))
        return 0.0

    monkeypatch.setattr(detect, "_pixel_extent", reject)
    img = synthetic_grating((96, 96), 0.0, 4.0, "sine", contrast=0.5)
    assert score_stripe_rois(img, k=1, size=64) == []
    assert tried == [(16, 16)]


def test_a_window_right_above_or_left_of_a_picked_one_is_still_free() -> None:
    """Two 64 px stripe areas side by side along the long axis of a 160 × 96 image, the
    second twice the contrast (RMS 9 against 4.5 levels, under the cap): the stripe cells
    span 16-144 px, so the two windows are exactly 16-80 and 80-144, the stronger picked
    first. The weaker one touches it without overlapping and must stay available."""
    img = np.full((160, 96), 128, np.uint8)
    img[:80] = synthetic_grating((80, 96), 0.0, 4.0, "sine", contrast=0.05)
    img[80:] = synthetic_grating((80, 96), 0.0, 4.0, "sine", contrast=0.1)
    for im, first, second in ((img, (16, 80), (16, 16)),
                              (img.T.copy(), (80, 16), (16, 16))):
        got = score_stripe_rois(im, k=2, size=64)
        assert [(r.roi.x, r.roi.y) for r in got] == [first, second]
        assert got[0].amplitude == pytest.approx(0.1 * 127.5 / math.sqrt(2), rel=0.05)
        assert got[1].amplitude == pytest.approx(0.05 * 127.5 / math.sqrt(2), rel=0.05)


def test_a_window_whose_cells_are_exactly_min_extent_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A tile map (100 × 96 px image) whose tile rows 2 and 3 pass: they speak for cell rows
    48-80 px, so a 64 px window from 16 to 80 is exactly half stripe cells. "kept only where
    extent >= min_extent": with min_extent 0.5 it is a candidate (the pixel check stubbed to
    pass), with 0.51 nothing is."""
    import codeccmp.stripes.detect as detect

    monkeypatch.setattr(detect, "_pixel_extent", lambda g, roi, period: 1.0)
    rows = np.zeros((4, 4), np.float32)
    rows[2:] = 1.0
    tm = TileMap(rows, rows, rows * 5.0, np.where(rows > 0, 4.0, 0.0).astype(np.float32),
                 np.zeros((4, 4), np.float32), 48, 16)
    g = np.zeros((100, 96), np.float32)
    got = detect._pick(tm, g, 64, 1, 0.5)
    assert [r.roi for r in got] == [Roi(16, 16, 64, 64)]
    assert detect._pick(tm, g, 64, 1, 0.51) == []


def _concentration_by_definition(tile_img: np.ndarray) -> float:
    """MIN_CONCENTRATION's definition on one 48 px tile, in exact integer bin geometry:
    gradient power (|f|² × power of the tapered, mean-free tile; periods 2.5-24 px,
    half-plane) at 0.7-1.4 × the peak's radius, ends included (compared as 100 n² against
    49 and 196 times the peak's n², no rounding), and the share of it within 15° of the
    peak's direction."""
    n = tile_img.shape[0]
    taper = np.outer(np.hanning(n), np.hanning(n))
    p = np.abs(np.fft.rfft2((tile_img - tile_img.mean()) * taper)) ** 2
    ky = np.fft.fftfreq(n, 1.0 / n).round().astype(int)[:, None] * np.ones((1, n // 2 + 1), int)
    kx = np.arange(n // 2 + 1)[None, :] * np.ones((n, 1), int)
    n2 = ky**2 + kx**2
    band = (n2 * 24**2 >= n**2) & (n2 * 2.5**2 <= n**2) & ~((kx == 0) & (ky < 0))
    gp = np.where(band, p * n2, 0.0)
    peak = np.unravel_index(np.argmax(gp), gp.shape)
    p2 = n2[peak]
    ring = band & (100 * n2 >= 49 * p2) & (100 * n2 <= 196 * p2)
    ang = np.degrees(np.arctan2(ky, kx))
    dang = np.abs((ang - ang[peak] + 90.0) % 180.0 - 90.0)
    return float(gp[ring & (dang <= 15.0)].sum() / gp[ring].sum())


def test_concentration_ring_includes_its_ends_at_0_7_and_1_4_times_the_peak() -> None:
    """One 48 px tile: the peak on the DFT bin (6, 8) (radius 10 bins, 37°) and two weaker
    waves off its direction exactly on the ring's ends, bins (0, 7) and (14, 0) (radii 7 and
    14 bins = 0.7 and 1.4 × 10). Their power counts in the ring: the concentration equals
    the definition computed in integer geometry, well under 1."""
    y, x = np.mgrid[0:48, 0:48].astype(np.float64)
    wave = lambda ky, kx, a: a * np.cos(2 * np.pi * (ky * y + kx * x) / 48)  # noqa: E731
    img = 128 + wave(6, 8, 40.0) + wave(0, 7, 30.0) + wave(14, 0, 20.0)
    tm = tile_map(img)
    assert tm.share.shape == (1, 1)
    assert tm.period[0, 0] == pytest.approx(4.8)  # the peak is (6, 8)
    want = _concentration_by_definition(img)
    assert want < 0.8
    assert float(tm.concentration[0, 0]) == pytest.approx(want, rel=1e-4)
