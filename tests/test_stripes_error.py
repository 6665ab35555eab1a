"""Known answers for directional_error's thresholds, weights and counts (error.py), whole
image and ROI, on synthetic gratings and blank images.

Written against the survivors of mutation testing (benchmarks/mutation.py): which pixels
count (strictly above each threshold, inside the image's interior), how the share of
oriented pixels is taken over the whole image when it is processed in strips, that a strip
with nothing oriented does not end the scan, that Δθ is weighted by the original's
coherence × energy, and that undefined figures come back as NaN without a warning or an
error. Small images only (well under a second in all).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from codeccmp.stripes import Roi, directional_error, synthetic_grating
from codeccmp.stripes import error as stripes_error
from codeccmp.stripes.field import border_px, orientation_field


def _quiet(*args: object, **kwargs: object) -> stripes_error.DirectionalError:
    """directional_error with every warning turned into an error: NaN must be reported, not
    computed from an empty array (NumPy's 'Mean of empty slice' warnings)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return directional_error(*args, **kwargs)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- whole image


def test_whole_image_thresholds_are_strict_on_a_blank_image() -> None:
    """A blank image has gradient energy 0 and coherence 0 everywhere. A pixel counts only
    strictly above both thresholds: at 0 nothing counts; below 0 every interior pixel does
    ((64 - 2 × border)² of them), and with all weights 0 Δθ is undefined (NaN), as is the
    contrast retention (no band energy), while nothing flipped or was erased."""
    z = np.zeros((64, 64), np.uint8)
    b = border_px()
    assert b == 8
    for ct, floor in ((0.0, -1.0), (-1.0, 0.0)):
        r = _quiet(z, z, coherence_threshold=ct, energy_floor=floor, min_oriented_share=0.0)
        assert r.n_oriented == 0, (ct, floor)
        for v in (r.delta_theta_deg, r.turned_share, r.contrast_retention, r.erased_share):
            assert math.isnan(v)
    r = _quiet(z, z, coherence_threshold=-1.0, energy_floor=-1.0)
    assert r.n_oriented == (64 - 2 * b) ** 2
    assert math.isnan(r.delta_theta_deg) and math.isnan(r.contrast_retention)
    assert (r.turned_share, r.erased_share) == (0.0, 0.0)


def test_whole_image_delta_theta_is_weighted_by_coherence_times_energy() -> None:
    """Left half: a grating at 3× the contrast of the right half (9× the gradient energy,
    same coherence), turned by 10° in the reconstruction; right half unchanged. Weighted by
    energy Δθ is about 10 × 9 / (9 + 1) = 9° (the seam blurs it a little); unweighted it
    would be 5°, weighted by coherence / energy 1°."""
    hi = synthetic_grating((96, 96), 30.0, 7.0, contrast=0.6)
    lo = synthetic_grating((96, 96), 30.0, 7.0, contrast=0.2)
    a = hi.copy()
    a[:, 48:] = lo[:, 48:]
    b = a.copy()
    b[:, :48] = synthetic_grating((96, 96), 40.0, 7.0, contrast=0.6)[:, :48]
    r = _quiet(a, b)
    assert r.delta_theta_deg == pytest.approx(9.0, abs=0.6)
    assert r.turned_share == 0.0 and r.n_oriented > 0.9 * 80 * 80


@pytest.mark.parametrize("strip_rows", [512, 32])
def test_whole_image_oriented_share_is_over_the_whole_interior(
        monkeypatch: pytest.MonkeyPatch, strip_rows: int) -> None:
    """Stripes in the top third only: n oriented pixels out of (96 - 16)² = 6400 interior
    pixels. ``min_oriented_share`` compares n with the whole image's interior, in one pass or
    in strips of 32 rows (the last strip's interior alone is 1920): just above n / 6400 the
    angle figures are NaN, at exactly n / 6400 they are not (n is not fewer than itself)."""
    monkeypatch.setattr(stripes_error, "STRIP_ROWS", strip_rows)
    a = np.full((96, 96), 128, np.uint8)
    a[:32] = synthetic_grating((32, 96), 30.0, 7.0, contrast=0.6)
    n = _quiet(a, a, min_oriented_share=0.0).n_oriented
    assert 0 < n < 6400 / 2
    share = n / 6400
    assert share * 6400 == n  # the tie is exact in floating point
    at = _quiet(a, a, min_oriented_share=share)
    assert (at.n_oriented, at.delta_theta_deg, at.turned_share) == (n, 0.0, 0.0)
    above = _quiet(a, a, min_oriented_share=share * 1.01)
    assert above.n_oriented == n
    for v in (above.delta_theta_deg, above.turned_share, above.contrast_retention,
              above.erased_share):
        assert math.isnan(v)
    # fewer oriented pixels than the share asks for, even with every one of them counted:
    assert math.isnan(_quiet(a, a, min_oriented_share=0.5).delta_theta_deg)


def test_whole_image_goes_on_past_a_strip_with_nothing_oriented(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A flat band 80 rows high holds a whole 32-row strip (rows 64-95) at least 24 px from
    any stripe: no oriented pixel there. The strips below it still count: the turned
    stripes in the last strip move Δθ and the turned share exactly as in one pass."""
    a = synthetic_grating((160, 96), 30.0, 7.0, contrast=0.6)
    a[40:120] = 128
    b = a.copy()
    b[128:] = synthetic_grating((32, 96), 60.0, 7.0, contrast=0.6)
    one = _quiet(a, b)
    monkeypatch.setattr(stripes_error, "STRIP_ROWS", 32)
    strips = _quiet(a, b)
    assert one.turned_share > 0.1 and one.delta_theta_deg > 3.0
    assert strips.n_oriented == one.n_oriented
    for k in ("delta_theta_deg", "turned_share", "contrast_retention", "erased_share"):
        assert getattr(strips, k) == pytest.approx(getattr(one, k), rel=1e-5, abs=1e-7), k


# ------------------------------------------------------------------------------ ROI mode


def _grating_and_field() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 96 px sine grating and its orientation field over the whole image: a 48 px ROI in
    the middle has a margin (4 (σt + σd) + 4 periods ≥ 39 px) reaching every edge, so the
    ROI's fields are these, cropped."""
    g = synthetic_grating((96, 96), 30.0, 6.0, "sine", contrast=0.4)
    f = orientation_field(g.astype(np.float64))
    return g, f.coherence, f.energy


def test_roi_thresholds_are_strict(monkeypatch: pytest.MonkeyPatch) -> None:
    """The original has an angle where the coherence of its stripe band (ring around the
    period) is strictly above the threshold: at the highest value in the region no pixel
    has one (angle figures NaN, no minimum share asked for; every stripe pixel still kept),
    just below it at least that pixel counts."""
    from codeccmp.stripes.spectral import dominant_period, ring_band_pass

    monkeypatch.setattr(stripes_error, "MIN_ANGLE_SHARE", 0.0)
    g, _, _ = _grating_and_field()
    roi = Roi(24, 24, 48, 48)
    period = dominant_period(g[roi.slices].astype(np.float64))
    coh = orientation_field(ring_band_pass(g.astype(np.float64), period)).coherence
    cmax = float(coh[roi.slices].max())
    for ct in (cmax, 1.0):
        r = _quiet(g, g, roi, min_oriented_share=0.0, coherence_threshold=ct)
        assert r.n_oriented == 0, ct
        assert math.isnan(r.delta_theta_deg)
        assert (r.kept_share, r.turned_share, r.contrast_retention, r.erased_share,
                r.stripe_share) == (1.0, 0.0, 1.0, 0.0, 1.0)
    r = _quiet(g, g, roi, min_oriented_share=0.0, coherence_threshold=np.nextafter(cmax, 0.0))
    assert r.n_oriented >= 1 and r.delta_theta_deg == 0.0


def test_roi_without_stripe_pixels_warns_nothing() -> None:
    """No stripe pixel at the given period: the NaN figures come from the early return, not
    from means of empty arrays."""
    flat = np.full((64, 64), 90, np.uint8)
    r = _quiet(flat, flat, Roi(8, 8, 48, 48), period_px=4.0)
    assert (r.n_oriented, r.period_px, r.stripe_share) == (0, 4.0, 0.0)
    assert math.isnan(r.contrast_retention) and math.isnan(r.erased_share)


def test_whole_image_strips_agree_with_one_pass_to_rounding(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each strip is filtered with a margin covering every filter's reach (the tensor's
    3 + 12 px, the band's 12 px and its local energy's 12 more), and a Gaussian truncated at
    4 sigma ignores everything past that, so every pixel's figures in strips are those of one
    pass over the image: the sums agree to float rounding (1e-12), not just closely. The
    image: an oblique grating rotated 4° and blurred in the reconstruction, with a seam of
    faint turned stripes across every strip boundary (rows 32, 64, 96, 128 at 32 rows a strip)."""
    a = synthetic_grating((150, 90), 25.0, 7.0, contrast=0.6)
    b = synthetic_grating((150, 90), 29.0, 7.0, contrast=0.4)
    for top in (20, 56, 88, 120):
        b[top:top + 12] = synthetic_grating((12, 90), 70.0, 5.0, contrast=0.1)
    one = _quiet(a, b)
    monkeypatch.setattr(stripes_error, "STRIP_ROWS", 32)
    strips = _quiet(a, b)
    assert one.n_oriented == strips.n_oriented > 0
    assert 0 < one.erased_share < 1 and 0 < one.kept_share < 1
    for k in ("delta_theta_deg", "kept_share", "turned_share", "redrawn_share",
              "contrast_retention", "erased_share"):
        assert getattr(strips, k) == pytest.approx(getattr(one, k), rel=1e-12), k


def test_whole_image_of_a_tiny_image_counts_every_pixel() -> None:
    """Smaller than twice the border (16 px): the border is kept, row 0 and column 0
    included; on a blank image with both thresholds below 0 every pixel counts."""
    z = np.zeros((12, 15), np.uint8)
    r = _quiet(z, z, coherence_threshold=-1.0, energy_floor=-1.0)
    assert r.n_oriented == 12 * 15


def test_turned_share_counts_only_angles_moved_by_more_than_flip_deg() -> None:
    """Identical images: every angle moved by exactly 0°, which is not more than 0°."""
    g = synthetic_grating((96, 96), 30.0, 6.0, "sine", contrast=0.4)
    for roi in (None, Roi(24, 24, 48, 48)):
        r = _quiet(g, g, roi, flip_deg=0.0)
        assert r.n_oriented > 0 and (r.delta_theta_deg, r.turned_share) == (0.0, 0.0), roi


def test_whole_image_figures_of_a_faint_grating() -> None:
    """Float images of amplitude 0.02 grey levels (band energy and weights far below 1, still
    above the 1e-9 'no energy' guard) with the energy floor at 0: the reconstruction, turned
    by 10° at 0.6 times the amplitude, keeps 0.6 of the contrast (the band-pass is linear),
    nothing erased (0.36 of the energy is over the 1/4 limit), and Δθ is about 10°."""
    y, x = np.mgrid[0:96, 0:96].astype(np.float64)

    def grating(angle: float, amp: float) -> np.ndarray:
        t = math.radians(angle)  # stripes at `angle` (y up): the gradient is at angle + 90°
        return amp * np.sin(2 * np.pi * (-math.sin(t) * x - math.cos(t) * y) / 7.0)

    a, b = grating(30.0, 0.02), grating(40.0, 0.012)
    r = _quiet(a, b, energy_floor=0.0)
    assert r.n_oriented > 0.9 * 80 * 80
    assert r.delta_theta_deg == pytest.approx(10.0, abs=0.5)
    assert r.contrast_retention == pytest.approx(0.6, abs=0.01)
    assert r.turned_share == 0.0 and r.erased_share == 0.0


def _classes_by_hand(a: np.ndarray, b: np.ndarray, band_a: np.ndarray, band_b: np.ndarray,
                     mask: np.ndarray, smooth: float, sd: float, st: float, ct: float,
                     floor: float, flip: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The four classes as docs/metrics.md words them, written out again from the public
    pieces (no call into the classifier): labels (0 kept .. 3 erased), angle moved, weight."""
    from scipy import ndimage

    from codeccmp.stripes.field import angle_diff_deg, structure_tensor

    la = ndimage.gaussian_filter(band_a * band_a, smooth)
    lb = ndimage.gaussian_filter(band_b * band_b, smooth)
    present = lb >= 0.25 * la
    fa, fb = orientation_field(band_a, sd, st), orientation_field(band_b, sd, st)
    angle = fa.coherence > ct
    turned = present & angle & (angle_diff_deg(fa.theta, fb.theta) > flip)
    full = orientation_field(b, sd, st)
    jxx, jyy, jxy = structure_tensor(a - band_a, sd, st)
    n = np.radians(full.theta + 90.0)  # the reconstruction's gradient direction
    c, s_ = np.cos(n), np.sin(n)
    had = (jxx * c * c + 2 * jxy * c * s_ + jyy * s_ * s_) - (jxx * s_ * s_ - 2 * jxy * c * s_
                                                           + jyy * c * c)
    lam_diff = full.coherence * full.energy  # λ1 − λ2 of the reconstruction
    moved = angle_diff_deg(fa.theta, full.theta)
    redrawn = (~present & (full.coherence > ct) & (full.energy > floor)
               & (lam_diff - np.maximum(had, 0) >= 0.25 * fa.energy) & (~angle | (moved > flip)))
    label = np.where(present, np.where(turned, 1, 0), np.where(redrawn, 2, 3))
    delta = np.where(present, angle_diff_deg(fa.theta, fb.theta), moved)
    delta = np.where(angle & (label < 3), delta, np.nan)
    return label[mask], delta[mask], (fa.coherence * fa.energy)[mask]


def _check_classes(r: object, label: np.ndarray, delta: np.ndarray, wts: np.ndarray) -> None:
    n = label.size
    for k, name in enumerate(("kept_share", "turned_share", "redrawn_share", "erased_share")):
        assert getattr(r, name) == pytest.approx(float(np.mean(label == k)), abs=0.5 / n), name
    ok = np.isfinite(delta)
    assert r.n_oriented == int(ok.sum()) and r.n_stripe == n
    assert r.delta_theta_deg == pytest.approx(
        float(np.sum(wts[ok] * delta[ok]) / np.sum(wts[ok])), rel=1e-6)


def test_whole_image_follows_its_definition_at_other_scales() -> None:
    """The documented figures recomputed from the public pieces, over the whole image at once,
    with σd = 1, σt = 2 (border 6 px) and other thresholds: the stripe pixels are the
    original's strongly oriented interior pixels, each classed as docs/metrics.md says with
    the DoG band as the stripes' band and σt as the local-energy scale; Δθ weighted by the
    band's coherence × energy; the DoG band's RMS ratio. The reconstruction is rotated 12°
    and blurred, with a flat band (erased) and a band of coarse stripes at 70° (redrawn)."""
    from scipy import ndimage

    from codeccmp.stripes.field import to_luma

    a = synthetic_grating((100, 84), 25.0, 7.0, contrast=0.6)
    rot = ndimage.rotate(a.astype(float), 12.0, reshape=False, mode="reflect")
    b = np.clip(np.rint(ndimage.gaussian_filter(rot, 1.2)), 0, 255).astype(np.uint8)
    b[60:80] = 128
    b[20:34] = synthetic_grating((14, 84), 95.0, 40.0, contrast=0.6)
    sd, st, ct, floor, flip = 1.0, 2.0, 0.6, 30.0, 8.0
    r = _quiet(a, b, sigma_d=sd, sigma_t=st, coherence_threshold=ct, energy_floor=floor,
               flip_deg=flip)

    a32, b32 = to_luma(a, np.float32), to_luma(b, np.float32)
    fa = orientation_field(a32, sd, st)
    bd = border_px(sd, st)
    assert bd == 6
    interior = np.zeros(a.shape, bool)
    interior[bd:-bd, bd:-bd] = True
    mask = (fa.coherence > ct) & (fa.energy > floor) & interior

    def band(g: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(g, 0.7) - ndimage.gaussian_filter(g, 3.0)

    ba, bb = band(a32), band(b32)
    label, delta, wts = _classes_by_hand(a32, b32, ba, bb, mask, st, sd, st, ct, floor, flip)
    _check_classes(r, label, delta, wts)
    ea = np.sum(ba[mask].astype(np.float64) ** 2)
    eb = np.sum(bb[mask].astype(np.float64) ** 2)
    assert r.contrast_retention == pytest.approx(math.sqrt(eb / ea), rel=1e-9)
    assert min(r.kept_share + r.turned_share, r.redrawn_share, r.erased_share) > 0.01, r


def test_whole_image_border_rule_for_small_images() -> None:
    """The border (8 px a side) is dropped from images at least twice as wide (16 px): a
    blank 20×23 image with both thresholds below 0 counts (20 - 16) × (23 - 16) pixels. In
    an image too small for that every pixel counts, and the share of oriented pixels is
    taken over all of them: stripes in 6 of 15 columns leave n < 180 oriented pixels, and
    asking for (n + 1) / 180 gives NaN angles."""
    z = np.zeros((20, 23), np.uint8)
    assert _quiet(z, z, coherence_threshold=-1.0, energy_floor=-1.0).n_oriented == 4 * 7
    g = np.full((12, 15), 128, np.uint8)
    g[:, :6] = synthetic_grating((12, 6), 80.0, 4.0, contrast=0.6)
    n = _quiet(g, g, min_oriented_share=0.0).n_oriented
    assert 0 < n < 180
    r = _quiet(g, g, min_oriented_share=(n + 1) / 180)
    assert r.n_oriented == n and math.isnan(r.delta_theta_deg)
    assert _quiet(g, g, min_oriented_share=n / 180).delta_theta_deg == 0.0


def test_roi_follows_its_definition_at_other_scales() -> None:
    """ROI mode recomputed from the public pieces over the whole image, with σd = 1, σt = 2,
    a given period of 6 px and other thresholds. The 48 px ROI is 36 px from every edge, and
    its margin is exactly ceil(4 (σt + σd) + 4 periods) = 36 px, so the code's crop is the
    whole image: every figure must come out as computed here (to float rounding): the ring
    band around 6 px, the stripe mask, the contrast retention and each stripe pixel's class
    (local ring energy smoothed at one period) and Δθ. A narrower margin changes them."""
    from scipy import ndimage

    from codeccmp.stripes import stripe_mask
    from codeccmp.stripes.field import to_luma
    from codeccmp.stripes.spectral import ring_band_pass

    a = synthetic_grating((120, 120), 25.0, 6.0, "sine", contrast=0.5)
    rot = ndimage.rotate(a.astype(float), 8.0, reshape=False, mode="reflect")
    b = np.clip(np.rint(ndimage.gaussian_filter(rot, 0.8)), 0, 255).astype(np.uint8)
    b[36:48] = synthetic_grating((12, 120), 60.0, 6.0, "sine", contrast=0.5)
    b[50:62] = np.clip(np.rint(128 + 0.3 * (b[50:62].astype(float) - 128)), 0, 255)
    b[66:76] = synthetic_grating((10, 120), 110.0, 13.0, contrast=0.6)
    roi = Roi(36, 36, 48, 48)
    sd, st, ct, floor, flip, period = 1.0, 2.0, 0.6, 30.0, 12.0, 6.0
    assert math.ceil(4 * (st + sd) + 4 * period) == 36
    r = _quiet(a, b, roi, sigma_d=sd, sigma_t=st, coherence_threshold=ct, energy_floor=floor,
               flip_deg=flip, period_px=period)

    la_, lb_ = to_luma(a), to_luma(b)
    ra, rb = ring_band_pass(la_, period), ring_band_pass(lb_, period)
    stripes = np.zeros(a.shape, bool)
    stripes[roi.slices] = stripe_mask(la_, period, ra)[roi.slices]  # inside the interior
    assert r.stripe_share == pytest.approx(stripes.sum() / 48**2, rel=1e-12)
    ea = np.mean(ra[stripes] ** 2)
    eb = np.mean(rb[stripes] ** 2)
    assert r.contrast_retention == pytest.approx(math.sqrt(eb / ea), rel=1e-9)
    label, delta, wts = _classes_by_hand(la_, lb_, ra, rb, stripes, period, sd, st, ct, floor,
                                         flip)
    _check_classes(r, label, delta, wts)
    assert min(r.kept_share, r.turned_share, r.redrawn_share, r.erased_share) > 0.02, r
    assert r.period_px == period


def test_roi_oriented_share_tie_and_erased_is_relative() -> None:
    """The minimum share of oriented pixels is over the ROI's interior (48² pixels here): at
    exactly n / 2304 the angles are reported. 'Erased' is relative to the original's local
    stripe energy: the same grating at 0.4 of its contrast (0.16 of the energy, under 1/4)
    is erased everywhere, at 0.6 (0.36) nowhere, whatever the absolute level."""
    g = synthetic_grating((96, 96), 30.0, 6.0, "sine", contrast=0.4)
    roi = Roi(24, 24, 48, 48)
    n = _quiet(g, g, roi, min_oriented_share=0.0).n_oriented
    assert n > 0 and (n / 48**2) * 48**2 == n
    assert _quiet(g, g, roi, min_oriented_share=n / 48**2).delta_theta_deg == 0.0
    a = g.astype(np.float64)
    for f, erased in ((0.4, 1.0), (0.6, 0.0)):
        r = _quiet(a, 128 + (a - 128) * f, roi)
        assert r.erased_share == erased and r.contrast_retention == pytest.approx(f, rel=1e-9)


def test_stripe_mask_input_types_given_ring_and_ringing_on_flat_ground() -> None:
    """8-bit input gives the mask its float copy gives (no integer wrap-around in the high
    pass); a ring band passed in is the one used (all zeros: no stripe energy, no stripe
    pixel); ring energy on flat ground (no detail at all) is not a stripe."""
    from codeccmp.stripes import stripe_mask

    g = synthetic_grating((64, 64), 30.0, 6.0, "sine", contrast=0.4)
    m = stripe_mask(g, 6.0)
    assert m.mean() > 0.95
    assert np.array_equal(m, stripe_mask(g.astype(np.float64), 6.0))
    assert not stripe_mask(g, 6.0, np.zeros((64, 64))).any()
    assert not stripe_mask(np.zeros((64, 64)), 6.0, np.full((64, 64), 5.0)).any()


# ------------------------------------------- the orientation field under the figures above


def test_orientation_field_coherence_of_a_ramp_and_of_two_gratings() -> None:
    """A linear ramp has one gradient direction everywhere: a rank-one tensor, coherence 1
    exactly (its float rounding can exceed 1 by 2e-16; the documented range is [0, 1]).
    Two equal gratings whose gradients are 0° and 60° apart: coherence is
    |1 + e^(i 120°)| / 2 = 0.5 (the doubled-angle mean) and the stripes' angle is the mean
    orientation, gradient at 30°, stripes at 120°."""
    y, x = np.mgrid[0:64, 0:64].astype(np.float64)
    c = orientation_field(0.37 * x - 0.81 * y).coherence
    assert c.max() <= 1.0 and c[16:-16, 16:-16].min() >= 1.0 - 1e-12  # mirrored edges fold it
    y, x = np.mgrid[0:128, 0:128].astype(np.float64)
    g = np.sin(2 * np.pi * x / 7) + np.sin(
        2 * np.pi * (x * math.cos(math.pi / 3) - y * math.sin(math.pi / 3)) / 7)
    f = orientation_field(g)
    inner = (slice(30, -30), slice(30, -30))
    assert float(f.coherence[inner].mean()) == pytest.approx(0.5, abs=0.01)
    assert float(np.median(f.theta[inner])) == pytest.approx(120.0, abs=1.0)


@pytest.mark.parametrize("period", [2.5, 3.0, 6.0])
def test_stripe_mask_is_its_documented_definition_for_fine_stripes(period: float) -> None:
    """The mask rebuilt from its docstring (energies smoothed over half a period, ``ed`` from
    ``gray - G_period * gray``, the share and RMS thresholds), on a patch of stripes on flat
    ground so that the mask has edges: equal pixel for pixel. Periods under 4 px are where
    a smoothing of ``max(2, period / 2)`` instead of half a period would move those edges."""
    from scipy import ndimage

    from codeccmp.stripes.spectral import ring_band_pass

    g = np.full((72, 72), 128.0)
    patch = synthetic_grating((40, 40), 30.0, period, "sine", contrast=0.4, mean=128.0)
    g[16:56, 16:56] = patch
    rb = ring_band_pass(g, period)
    half = period / 2
    es = ndimage.gaussian_filter(rb * rb, half)
    hp = g - ndimage.gaussian_filter(g, period)
    ed = ndimage.gaussian_filter(hp * hp, half)
    share, rms = stripes_error.STRIPE_ENERGY_SHARE, stripes_error.STRIPE_MIN_RMS
    want = (es >= share * ed) & (es * share <= ed) & (es >= rms ** 2)
    got = stripes_error.stripe_mask(g, period)
    # The patch (0.31 of the image) and its surroundings, not the ground: edges to check.
    assert 0.2 < want.mean() < 0.75
    assert np.array_equal(got, want)
