"""Known answers for the stripe classes: every stripe pixel kept, turned, redrawn or erased.

The cases are a 256 px sine grating (period 4 px, 30°) whose central 128 px patch is changed
in a known way. The region measured is that patch less 16 px a side (its inner 96²): the
local energies are smoothed over one period (σ = 4 px) and the tensors over σt = 3 px, so a
pixel within about 2σ = 8 px of the patch's edge sees the untouched stripes outside it as
well; 16 px keeps every pixel measured clear of that (the whole patch is measured as well,
with bounds that allow the edge band: 1 − (120/128)² = 12 % of it lies within 4 px of the
edge).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from codeccmp.stripes import CLASSES, Roi, directional_error, synthetic_grating

N, P, ANGLE = 256, 4.0, 30.0
PATCH = Roi(64, 64, 128, 128)
INNER = Roi(80, 80, 96, 96)


def _grating(angle: float = ANGLE, period: float = P, contrast: float = 0.8) -> np.ndarray:
    return synthetic_grating((N, N), angle, period, contrast=contrast)


def _with_patch(base: np.ndarray, patch: np.ndarray) -> np.ndarray:
    out = base.copy()
    out[PATCH.slices] = patch[PATCH.slices]
    return out


def _shares(r: object) -> dict[str, float]:
    return {c: getattr(r, f"{c}_share") for c in CLASSES}


def _sums_to_one(r: object) -> None:
    assert math.fsum(_shares(r).values()) == pytest.approx(1.0, abs=1e-12)


def test_untouched_is_all_kept() -> None:
    g = _grating()
    for roi in (PATCH, INNER):
        r = directional_error(g, g, roi)
        assert _shares(r) == {"kept": 1.0, "turned": 0.0, "redrawn": 0.0, "erased": 0.0}
        assert r.delta_theta_deg == 0.0


def test_noise_on_a_faint_grating_is_kept() -> None:
    """σ = 10 noise on a 0.3-contrast grating (amplitude 38): the 0.3-octave ring around the
    period holds ~1 % of white noise's energy, so the stripes' band barely moves."""
    g = _grating(contrast=0.3)
    noisy = np.clip(g + np.random.default_rng(7).normal(0, 10, g.shape), 0, 255)
    r = directional_error(g, noisy.astype(np.uint8), INNER)
    assert r.kept_share >= 0.95 and r.delta_theta_deg < 2.0, r
    _sums_to_one(r)


@pytest.mark.parametrize("delta", [15.0, 30.0])
def test_rotated_patch_is_kept_below_and_turned_above_the_threshold(delta: float) -> None:
    """The patch holds the same grating turned by δ: the same period, so present; 15° is
    within the 20° threshold (kept), 30° beyond it (turned); Δθ is δ within 1°."""
    b = _with_patch(_grating(), _grating(ANGLE + delta))
    r = directional_error(_grating(), b, INNER)
    assert r.delta_theta_deg == pytest.approx(delta, abs=1.0), r
    if delta < 20:
        assert r.kept_share >= 0.95, r
    else:
        assert r.turned_share >= 0.9 and r.turned_deg == pytest.approx(delta, abs=1.0), r
    assert r.redrawn_share + r.erased_share == 0.0
    _sums_to_one(r)


def test_patch_blurred_flat_is_erased_not_turned() -> None:
    """Blurred with σ = 20 px (the 4 px grating's transfer is e^-49000: flat after rounding)
    the patch has no direction at all: erased, and Δθ has nothing to rest on. Today's
    measure read the flat patch as 0°, i.e. turned by the grating's own 30°."""
    g = _grating()
    flat = np.clip(np.rint(ndimage.gaussian_filter(g.astype(float), 20)), 0, 255)
    b = _with_patch(g, flat.astype(np.uint8))
    r = directional_error(g, b, INNER)
    assert r.erased_share >= 0.95 and r.turned_share + r.redrawn_share <= 0.05, r
    assert math.isnan(r.delta_theta_deg) or r.n_oriented < 0.05 * r.n_stripe
    whole = directional_error(g, b, PATCH)  # the edge band still shows the stripes outside
    assert whole.erased_share >= 0.85 and whole.turned_share + whole.redrawn_share <= 0.05
    _sums_to_one(whole)


def test_patch_replaced_by_coarser_stripes_at_another_angle_is_redrawn() -> None:
    """Twice the period at +45°: one octave from the ring's centre (gain e^-5.6, 0.4 %), so
    gone at the stripes' own period, with strongly oriented new structure 45° off."""
    g = _grating()
    b = _with_patch(g, _grating(ANGLE + 45.0, 2 * P))
    r = directional_error(g, b, INNER)
    assert r.redrawn_share >= 0.9, r
    assert r.redrawn_deg == pytest.approx(45.0, abs=2.0)
    _sums_to_one(r)


def test_coarser_stripes_along_the_original_direction_are_erased_not_redrawn() -> None:
    """Gone at their period, and what is left keeps the original direction: erased."""
    g = _grating()
    b = _with_patch(g, _grating(ANGLE, 2 * P))
    r = directional_error(g, b, INNER)
    assert r.erased_share >= 0.9 and r.redrawn_share <= 0.05, r


def test_an_edge_already_beside_the_stripes_is_not_a_redrawing() -> None:
    """Vertical stripes (3 px) beside strong horizontal bars (an edge at another angle); a
    blur erases the stripes and leaves the bars: what is oriented in the reconstruction was
    already in the original outside the stripes' band, so erased, not redrawn."""
    rows = np.arange(192)[:, None]
    cols = np.arange(192)[None, :]
    img = 128 + 30 * np.sin(2 * np.pi * cols / 3.0) + 0 * rows
    img = np.where((rows % 24) < 4, 10.0, img)
    img = np.clip(img, 0, 255).astype(np.uint8)
    blurred = np.clip(np.rint(ndimage.gaussian_filter(img.astype(float), 1.5)), 0, 255)
    r = directional_error(img, blurred.astype(np.uint8), Roi(48, 48, 96, 96))
    assert r.erased_share >= 0.9 and r.redrawn_share <= 0.05, r


def test_thin_stripes_between_strong_bars_blurred_away_are_erased() -> None:
    """3 px slats (±30 levels) between 4 px bars at level 10 every 24 rows, blurred (σ 1.5:
    the slats keep e^-4.4 = 1 % of their amplitude): erased, never turned."""
    rows = np.arange(192)
    slats = 128 + 30 * np.sin(2 * np.pi * rows / 3.0)
    slats[(rows % 24) < 4] = 10
    img = np.repeat(np.clip(slats, 0, 255)[:, None], 192, axis=1).astype(np.uint8)
    blurred = np.clip(np.rint(ndimage.gaussian_filter(img.astype(float), 1.5)), 0, 255)
    r = directional_error(img, blurred.astype(np.uint8), Roi(48, 48, 96, 96))
    assert r.erased_share >= 0.9 and r.turned_share == 0.0, r
    _sums_to_one(r)


def test_shares_sum_to_one_over_the_whole_image() -> None:
    """Whole-image mode has no single period: its band (DoG, 4-15 px) holds the 8 px
    stripes too, so there they count as present and turned, not redrawn."""
    g = _grating()
    b = _with_patch(g, _grating(ANGLE + 45.0, 2 * P))
    r = directional_error(g, b)
    _sums_to_one(r)
    assert r.turned_share == pytest.approx(PATCH.w * PATCH.h / (N - 16) ** 2, abs=0.05)
    assert r.turned_deg == pytest.approx(45.0, abs=3.0)


@pytest.mark.parametrize("side,defined", [(12, False), (40, True)])
def test_delta_theta_needs_five_percent_of_the_stripe_pixels_with_an_angle(
        side: int, defined: bool) -> None:
    """The patch blurred flat except a square of untouched stripes in its middle: 12² px
    (1.6 % of the 96² region, a little more with the filters' reach) leaves Δθ undefined,
    40² (17 %) gives it (0°: those stripes are untouched); the shares are given either way."""
    g = _grating()
    flat = np.clip(np.rint(ndimage.gaussian_filter(g.astype(float), 20)), 0, 255)
    b = _with_patch(g, flat.astype(np.uint8))
    c = N // 2
    b[c - side // 2:c + side // 2, c - side // 2:c + side // 2] = \
        g[c - side // 2:c + side // 2, c - side // 2:c + side // 2]
    r = directional_error(g, b, INNER)
    _sums_to_one(r)
    assert 0 < r.kept_share < 0.3 and r.erased_share > 0.7, r
    if defined:
        assert r.n_oriented >= 0.05 * r.n_stripe and r.delta_theta_deg < 1.0, r
    else:
        assert r.n_oriented < 0.05 * r.n_stripe and math.isnan(r.delta_theta_deg), r


def test_labels_cover_the_mask_and_only_the_mask() -> None:
    """``PixelClasses.label``: one class (0–3) on every stripe pixel and −1 everywhere else,
    so that a class map drawn from it shows the mask's outside as unlabelled."""
    from codeccmp.stripes.classes import classify
    from codeccmp.stripes.field import DEFAULT_SIGMA_D, DEFAULT_SIGMA_T

    a = _grating().astype(np.float64)
    b = ndimage.gaussian_filter(a, 2.0)
    inner = INNER.slices
    mask = np.zeros((INNER.h, INNER.w), bool)
    mask[10:60, 20:90] = True  # part of the region only
    band_a, band_b = a - ndimage.gaussian_filter(a, 6.0), b - ndimage.gaussian_filter(b, 6.0)
    got = classify(a, b, band_a, band_b, inner, mask, P, flip_deg=20.0,
                   coherence_threshold=0.5, energy_floor=16.0, sigma_d=DEFAULT_SIGMA_D,
                   sigma_t=DEFAULT_SIGMA_T)
    assert set(np.unique(got.label[~mask]).tolist()) == {-1}
    assert set(np.unique(got.label[mask]).tolist()) <= {0, 1, 2, 3}
    assert np.isnan(got.delta[~mask]).all()
