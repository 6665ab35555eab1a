"""``to_luma``, ``synthetic_grating`` and ``orientation_field`` against answers worked out by
hand: BT.601 luma of every row of a tall image (strips included) and the error message, the
grating's exact grey levels along its normal (sine and box-filtered square, with a phase, with
clipping at 0 and 255), its direction at 45°, its supersampling factors, and the field of an
RGB image equal to that of its luma. Written against surviving mutants of
codeccmp/stripes/field.py (benchmarks/mutation/run.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from codeccmp.stripes import orientation_field, synthetic_grating, to_luma


def test_luma_of_every_row_of_a_tall_image() -> None:
    # 700 rows = three 256-row strips, the last one partial; every row has a different colour
    # so a row skipped or written twice cannot go unnoticed (np.empty holds anything).
    rng = np.random.default_rng(18)
    px = rng.integers(1, 256, size=(700, 5, 3), dtype=np.uint8)
    want = px[..., 0] * 0.299 + px[..., 1] * 0.587 + px[..., 2] * 0.114  # BT.601
    got = to_luma(px)
    assert got.shape == (700, 5)
    assert np.allclose(got, want, rtol=0, atol=1e-9)
    got32 = to_luma(px, np.float32)
    assert got32.dtype == np.float32 and np.allclose(got32, want, rtol=0, atol=1e-4)


def test_luma_of_known_colours() -> None:
    colours = np.array([[[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [0, 0, 0]]],
                       np.uint8)
    assert to_luma(colours)[0].tolist() == pytest.approx([255.0, 76.245, 149.685, 29.07, 0.0])


def test_luma_of_a_one_channel_image_keeps_the_requested_dtype() -> None:
    one = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    y = to_luma(one, np.float32)
    assert y.dtype == np.float32 and y.tolist() == one[..., 0].tolist()


def test_luma_error_message() -> None:
    with pytest.raises(ValueError) as ei:
        to_luma(np.zeros((2, 2, 2), np.uint8))
    assert str(ei.value) == "expected an HxW or HxWx3 image, got shape (2, 2, 2)"


# Along the normal of a horizontal grating (angle 0) the wave is sin(2π·d/period + phase),
# d the distance along the normal (-sin a, cos a) in y-up coordinates: d = -row at angle 0,
# d = -col at 90°. Period 8, mean 100, contrast 0.5: levels 100 ± 50 at quarter periods.
SINE_ROWS = [100, 65, 50, 65, 100, 135, 150, 135]  # 100 (1 + 0.5 sin(-2π row / 8))


def test_sine_grating_levels_along_the_normal() -> None:
    g = synthetic_grating((16, 3), 0.0, 8.0, "sine", contrast=0.5, mean=100.0)
    want = [round(100 * (1 + 0.5 * math.sin(-2 * math.pi * r / 8))) for r in range(8)]
    assert want == SINE_ROWS
    assert g[:, 0].tolist() == SINE_ROWS * 2 and np.all(g == g[:, :1])
    vert = synthetic_grating((3, 16), 90.0, 8.0, "sine", contrast=0.5, mean=100.0)
    assert vert[0].tolist() == SINE_ROWS * 2 and np.all(vert == vert[:1])


def test_sine_grating_phase() -> None:
    # phase π/2 turns sin into cos: 100 (1 + 0.5 cos(2π row / 8)).
    g = synthetic_grating((8, 2), 0.0, 8.0, "sine", contrast=0.5, phase=math.pi / 2, mean=100.0)
    assert g[:, 0].tolist() == [150, 135, 100, 65, 50, 65, 100, 135]


def test_sine_grating_is_clipped_to_8_bits() -> None:
    hi = synthetic_grating((8, 1), 0.0, 8.0, "sine", contrast=0.5, mean=200.0)
    assert hi[:, 0].tolist() == [200, 129, 100, 129, 200, 255, 255, 255]  # 271, 300, 271
    lo = synthetic_grating((8, 1), 0.0, 8.0, "sine", contrast=2.0, mean=50.0)
    assert lo[:, 0].tolist() == [50, 0, 0, 0, 50, 121, 150, 121]  # -21, -50, -21


def test_square_grating_is_box_filtered_at_its_edges() -> None:
    # Square wave of period 8: dark for rows 0-4, bright for 4-8 (d = -row). Rows 0 and 4 sit
    # on an edge: half their sub-pixels on each side, so they average to the mean.
    g = synthetic_grating((8, 2), 0.0, 8.0, "square", contrast=0.5, mean=100.0)
    assert g[:, 0].tolist() == [100, 50, 50, 50, 100, 150, 150, 150]
    # With 2×2 sub-pixels (at ±0.25 px) the same; with none, an edge pixel's sin(0) counts
    # as bright, and the shape is always the requested one.
    g2 = synthetic_grating((8, 2), 0.0, 8.0, "square", contrast=0.5, mean=100.0, supersample=2)
    assert g2.shape == (8, 2) and g2[:, 0].tolist() == [100, 50, 50, 50, 100, 150, 150, 150]
    # Period 4 at 4×4 sub-pixels (±0.125, ±0.375 px): row 1 is dark at offsets -0.375..0.375
    # (d in -1.375..-0.625, within the dark half-period 0..-2): fully dark.
    g4 = synthetic_grating((4, 1), 0.0, 4.0, "square", contrast=0.5, mean=100.0)
    assert g4[:, 0].tolist() == [100, 50, 100, 150]


def test_square_grating_sub_pixels_sit_at_quarter_offsets() -> None:
    # 4×4 sub-pixels sit at ±0.125 and ±0.375 px from the pixel centre. Period 6 with phase
    # π/12 puts the edges at rows 0.25 and 3.25 (sin(π/12 - 2π row/6) changes sign there):
    # rows 0 and 3 each have 3 sub-rows on one side and 1 on the other.
    g = synthetic_grating((6, 1), 0.0, 6.0, "square", contrast=0.5, phase=math.pi / 12,
                          mean=100.0)
    # row 0: 3 bright, 1 dark -> 100 (1 + 0.5 * 0.5); row 3: 1 bright, 3 dark -> 75.
    assert g[:, 0].tolist() == [125, 50, 50, 75, 150, 150]


def test_oblique_grating_is_constant_along_its_stripes() -> None:
    # At 45° the stripes run along (1, 1) in y-up coordinates, i.e. one column right and one
    # row up; across them (one column right, one row down) the wave advances by √2 px.
    g = synthetic_grating((40, 40), 45.0, 8.0, "sine").astype(int)
    assert np.abs(g[:-1, 1:] - g[1:, :-1]).max() <= 1  # (r, c) vs (r - 1, c + 1)
    d = -math.sqrt(2) * np.arange(10)  # (r, c) = (k, k): d = -sin45·k - cos45·k
    want = np.rint(127.5 * (1 + 0.8 * np.sin(2 * math.pi * d / 8)))
    assert np.abs(np.diag(g)[:10] - want).max() <= 1
    # 135° is the mirror image: constant along (r + 1, c + 1).
    m = synthetic_grating((40, 40), 135.0, 8.0, "sine").astype(int)
    assert np.abs(m[1:, 1:] - m[:-1, :-1]).max() <= 1


def test_period_message() -> None:
    with pytest.raises(ValueError) as ei:
        synthetic_grating((4, 4), 0.0, -2.0)
    assert str(ei.value) == "period_px must be positive"


def test_a_one_pixel_period_is_allowed() -> None:
    # Only period <= 0 is refused; a 1 px sine sampled at whole pixels is flat at its mean.
    g = synthetic_grating((4, 4), 0.0, 1.0, "sine", mean=100.0)
    assert np.all(g == 100)
    assert synthetic_grating((4, 4), 0.0, 0.5, "sine", mean=100.0).shape == (4, 4)


def test_orientation_field_of_rgb_is_that_of_its_luma() -> None:
    g = synthetic_grating((32, 32), 30.0, 6.0)
    rgb = np.stack([g, (g // 2).astype(np.uint8), np.full_like(g, 40)], axis=-1)
    f = orientation_field(rgb)
    ref = orientation_field(to_luma(rgb))
    assert f.theta.shape == (32, 32)
    assert np.array_equal(f.theta, ref.theta) and np.array_equal(f.energy, ref.energy)
    # Its luma is a grating of the same angle: strongly oriented inside the border.
    assert float(np.median(f.coherence[8:24, 8:24])) > 0.9
