"""Edges of the stripe analysis that the grating tests do not reach: every luma weight and
input layout, the border width, bad grating arguments, float32 fields, flat coherence, tiny
images, and whole-image figures computed strip by strip equal to one pass. Written against
surviving mutants of codeccmp/stripes (benchmarks/mutation.py, issue 18)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from codeccmp.stripes import (
    angle_diff_deg,
    border_px,
    directional_error,
    orientation_field,
    synthetic_grating,
    to_luma,
)
from codeccmp.stripes import error as stripes_error


def test_luma_weights_layouts_and_strips() -> None:
    px = np.zeros((600, 3, 4), np.uint8)  # taller than one 256-row strip, with alpha
    px[:, 0, 0], px[:, 1, 1], px[:, 2, 2] = 200, 200, 200
    px[..., 3] = 255
    px[599, 0, 0] = 100  # the last strip, too
    y = to_luma(px)
    assert y.shape == (600, 3) and y.dtype == np.float64
    assert y[0].tolist() == pytest.approx([0.299 * 200, 0.587 * 200, 0.114 * 200])
    assert y[300].tolist() == y[0].tolist()
    assert y[599, 0] == pytest.approx(29.9)
    assert to_luma(px[..., :3], np.float32).dtype == np.float32
    one = np.arange(6, dtype=np.uint8).reshape(2, 3, 1)
    assert np.array_equal(to_luma(one), one[..., 0].astype(np.float64))
    assert to_luma(one[..., 0], np.float32).dtype == np.float32
    with pytest.raises(ValueError, match="expected an HxW or HxWx3 image"):
        to_luma(np.zeros((2, 2, 3, 1), np.uint8))


def test_border_width() -> None:
    assert border_px() == 8  # ceil(2 (3.0 + 0.7))
    assert border_px(1.0, 2.0) == 6
    assert border_px(0.5, 1.2) == 4  # ceil(3.4)


def test_angle_difference_known_values() -> None:
    a = np.array([0.0, 10.0, 179.0, 45.0, 90.0])
    b = np.array([179.0, 100.0, 1.0, 135.0, 90.0])
    assert angle_diff_deg(a, b).tolist() == pytest.approx([1.0, 90.0, 2.0, 90.0, 0.0])


def test_bad_grating_arguments() -> None:
    with pytest.raises(ValueError, match="period_px must be positive"):
        synthetic_grating((8, 8), 0.0, 0.0)
    with pytest.raises(ValueError, match="unknown grating kind 'zigzag'"):
        synthetic_grating((8, 8), 0.0, 4.0, "zigzag")  # type: ignore[arg-type]
    g = synthetic_grating((16, 16), 0.0, 8.0, "square", contrast=0.5, mean=100.0)
    assert set(np.unique(g).tolist()) <= {50, 100, 150}  # edges averaged, flats exact
    assert {50, 150} <= set(np.unique(g).tolist())


def test_float32_field_and_flat_coherence() -> None:
    g = synthetic_grating((40, 40), 30.0, 8.0).astype(np.float32)
    f = orientation_field(g)
    assert f.theta.dtype == np.float32
    f64 = orientation_field(g.astype(np.float64))
    assert np.allclose(f.theta[10:30, 10:30], f64.theta[10:30, 10:30], atol=1e-2)
    flat = orientation_field(np.full((20, 20), 7.0))
    assert np.all(flat.coherence == 0.0) and np.all(flat.energy == 0.0)
    assert np.all((f64.coherence >= 0) & (f64.coherence <= 1))


def test_tiny_image_keeps_its_border() -> None:
    # 14 px < 2 × border: nothing would be left, so nothing is dropped.
    for side in (14, 16):  # 16 = exactly 2 × border: still kept whole
        g = synthetic_grating((side, side + 3), 30.0, 4.0, contrast=0.9)
        r = directional_error(g, g)
        assert r.n_oriented > 0 and r.delta_theta_deg == 0.0, side


def test_whole_image_in_strips_equals_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    a = synthetic_grating((150, 90), 25.0, 7.0, contrast=0.6)
    rot = ndimage.rotate(a.astype(float), 4.0, reshape=False, mode="reflect")
    b = np.clip(np.rint(ndimage.gaussian_filter(rot, 0.8)), 0, 255).astype(np.uint8)
    b[:40] = a[:40]  # the first strip unchanged: where a row is counted matters
    one = directional_error(a, b)
    monkeypatch.setattr(stripes_error, "STRIP_ROWS", 32)
    strips = directional_error(a, b)
    assert one.n_oriented == strips.n_oriented > 0
    for k in ("delta_theta_deg", "turned_share", "contrast_retention", "erased_share"):
        x, y = getattr(one, k), getattr(strips, k)
        assert not math.isnan(x) and x == pytest.approx(y, rel=1e-5, abs=1e-7), k
    assert 0 < one.delta_theta_deg < 10


def test_directional_error_to_dict_carries_every_field() -> None:
    from codeccmp.stripes import DirectionalError

    d = DirectionalError(3.0, 0.5, 0.25, 0.125, 0.125, 0.5, 10, 12, 30.0, 57.0, 6.5,
                         0.75).to_dict()
    assert d == {"delta_theta_deg": 3.0, "kept_share": 0.5, "turned_share": 0.25,
                 "redrawn_share": 0.125, "erased_share": 0.125, "turned_deg": 30.0,
                 "redrawn_deg": 57.0, "contrast_retention": 0.5, "n_oriented": 10,
                 "n_stripe": 12, "period_px": 6.5, "stripe_share": 0.75}


def test_whole_image_contrast_is_the_blurs_transfer_at_the_stripes_frequency() -> None:
    # The whole-image band is a difference of Gaussians: linear, so a blurred sine grating
    # keeps exp(-(2π σ / period)² / 2) of its band-passed amplitude (0.29 here).
    g = synthetic_grating((160, 160), 30.0, 6.0, contrast=0.6)
    blurred = np.clip(np.rint(ndimage.gaussian_filter(g.astype(float), 1.5)), 0, 255)
    r = directional_error(g, blurred.astype(np.uint8))
    want = math.exp(-((2 * math.pi * 1.5 / 6.0) ** 2) / 2)
    assert r.contrast_retention == pytest.approx(want, abs=0.03)
    # Under half the amplitude everywhere: every stripe pixel erased, none with an angle.
    assert r.erased_share == 1.0 and math.isnan(r.delta_theta_deg)


def test_whole_image_flips_and_erasures_add_up_over_strips(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Stripes turned 90° in the first strip, a flat band with nothing oriented in between,
    stripes wiped out further down: strip by strip, every count must add up to one pass."""
    a = synthetic_grating((192, 96), 30.0, 7.0, contrast=0.6)
    a[64:128] = 128  # two whole strips with nothing oriented
    b = a.copy()
    b[:40] = synthetic_grating((40, 96), 120.0, 7.0, contrast=0.6)
    b[144:176] = 128
    one = directional_error(a, b)
    monkeypatch.setattr(stripes_error, "STRIP_ROWS", 32)
    strips = directional_error(a, b)
    assert one.turned_share > 0.05 and one.erased_share > 0.05
    assert one.n_oriented == strips.n_oriented
    for k in ("delta_theta_deg", "turned_share", "contrast_retention", "erased_share"):
        assert getattr(one, k) == pytest.approx(getattr(strips, k), rel=1e-5, abs=1e-7), k
