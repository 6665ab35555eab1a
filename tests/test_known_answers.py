"""Known answers for every number codeccmp reports: metrics, Δθ and tolerance flagging.

Metric values are checked against the reference implementations the field uses
(pytorch-msssim, and CompressAI's own evaluation code: ``compressai.utils.bench.codecs``
and ``compressai.utils.eval_model``) on fixed images, and against answers that can be worked
out by hand (a constant offset, constant images, the dB scale of CompressAI's plots).
"""

from __future__ import annotations

import math

import float32_bounds
import numpy as np
import pytest

from codeccmp.measure.metrics import WINDOW, ms_ssim, ms_ssim_db, psnr, ssim
from codeccmp.pipeline.ratematch import DEFAULT_TOLERANCE, RateMatch
from codeccmp.stripes import angle_diff_deg, directional_error, synthetic_grating

torch = pytest.importorskip("torch")


def fixed_pair(h: int = 192, w: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """A seeded RGB image (grating, gradients, noise) and a noisy copy; large enough for
    5-scale MS-SSIM (shorter side > 160)."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([128 + 90 * np.sin(x / 5 + y / 9), 255 * x / w, 40 + y], axis=2)
    a = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).astype(np.uint8)
    b = np.clip(a.astype(np.int32) + rng.normal(0, 12, a.shape).round(), 0, 255)
    return a, b.astype(np.uint8)


@pytest.fixture(scope="module")
def pair(torch_one_thread) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001
    return fixed_pair()


# ------------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("offset", [1, 3, 10])
def test_psnr_of_a_constant_offset(offset: int) -> None:
    """Every pixel off by d: MSE = d², PSNR = 20·log10(255 / d)."""
    rng = np.random.default_rng(offset)
    a = rng.integers(20, 230, (24, 30, 3), dtype=np.uint8)
    assert psnr(a, a + np.uint8(offset)) == pytest.approx(20 * math.log10(255 / offset),
                                                          abs=1e-9)
    assert psnr(a[..., 0], a[..., 0] - np.uint8(offset)) == pytest.approx(
        20 * math.log10(255 / offset), abs=1e-9)


def test_psnr_of_identical_images_is_infinite() -> None:
    a = np.full((8, 8), 7, np.uint8)
    assert psnr(a, a) == math.inf


def test_psnr_matches_compressai(pair) -> None:  # noqa: ANN001
    from compressai.utils.bench.codecs import compute_metrics

    a, b = pair
    ref = compute_metrics(a, b, ["psnr-rgb"])["psnr-rgb"]
    assert psnr(a, b) == pytest.approx(ref, abs=1e-4)
    assert 20 < psnr(a, b) < 35  # a real, finite value, not a degenerate case


# ---------------------------------------------------------------------- SSIM, MS-SSIM


def test_ssim_matches_pytorch_msssim(pair) -> None:  # noqa: ANN001
    from pytorch_msssim import ssim as ref_ssim

    a, b = pair
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float()
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float()
    ref = ref_ssim(ta, tb, data_range=255).item()
    tol, _ = float32_bounds.agreement_tolerance(a, b, WINDOW)  # argued there, not measured
    assert abs(ssim(a, b) - ref) <= tol
    assert 0.5 < ssim(a, b) < 0.9


def test_ms_ssim_matches_compressai_bench(pair) -> None:  # noqa: ANN001
    from compressai.utils.bench.codecs import compute_metrics

    a, b = pair
    ref = compute_metrics(a, b, ["ms-ssim-rgb"])["ms-ssim-rgb"]
    _, tol = float32_bounds.agreement_tolerance(a, b, WINDOW)  # pytorch-msssim inside
    assert abs(ms_ssim(a, b) - ref) <= tol
    assert 0.8 < ms_ssim(a, b) < 0.99


def test_psnr_and_ms_ssim_match_compressai_eval_model(pair) -> None:  # noqa: ANN001
    """``eval_model`` (what CompressAI's published curves come from) works on [0, 1]
    tensors, rounds to 8 bits and measures at ``max_val`` 255."""
    from compressai.utils.eval_model.__main__ import compute_metrics

    a, b = pair
    ta = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    tb = torch.from_numpy(b).permute(2, 0, 1)[None].float() / 255
    ref = compute_metrics(ta, tb)
    assert psnr(a, b) == pytest.approx(ref["psnr-rgb"], abs=1e-4)
    _, tol = float32_bounds.agreement_tolerance(a, b, WINDOW)  # pytorch-msssim inside
    assert abs(ms_ssim(a, b) - ref["ms-ssim-rgb"]) <= tol


def test_ssim_and_ms_ssim_of_constant_images_by_hand(torch_one_thread) -> None:  # noqa: ANN001
    """Two flat images 100 and 110: no structure, so SSIM is the luminance term alone,
    (2·μa·μb + C1) / (μa² + μb² + C1) with C1 = 0.01², and MS-SSIM is that to the power
    of the coarsest scale's weight, 0.1333 (every contrast-structure term is 1)."""
    a = np.full((176, 176), 100, np.uint8)
    b = np.full((176, 176), 110, np.uint8)
    m1, m2, c1 = 100 / 255, 110 / 255, 0.01**2
    lum = (2 * m1 * m2 + c1) / (m1 * m1 + m2 * m2 + c1)
    assert ssim(a, b) == pytest.approx(lum, abs=1e-4)
    assert ms_ssim(a, b) == pytest.approx(lum**0.1333, abs=1e-4)
    assert ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    assert ms_ssim(a, a) == pytest.approx(1.0, abs=1e-6)


def test_ms_ssim_needs_five_scales() -> None:
    a = np.zeros((160, 300), np.uint8)
    assert ms_ssim(a, a) is None  # 160 < (11 - 1) * 2**4 + 1
    assert ssim(np.zeros((10, 40), np.uint8), np.zeros((10, 40), np.uint8)) is None


@pytest.mark.parametrize("value,db", [(0.9, 10.0), (0.99, 20.0), (0.999, 30.0),
                                      (0.5, 10 * math.log10(2))])
def test_ms_ssim_db_known_values(value: float, db: float) -> None:
    """−10·log10(1 − MS-SSIM), the scale of CompressAI's plots (``compressai.utils.plot``)."""
    assert ms_ssim_db(value) == pytest.approx(db, abs=1e-9)


def test_ms_ssim_db_edges() -> None:
    assert ms_ssim_db(1.0) == math.inf
    assert ms_ssim_db(None) is None


# ---------------------------------------------------------------------------------- Δθ


@pytest.mark.parametrize("a,b,want", [(2, 178, 4), (178, 2, 4), (179, 1, 2), (0, 90, 90),
                                      (10, 100, 90), (135, 45, 90), (0, 180, 0),
                                      (30, 30, 0), (170, 10, 20)])
def test_angle_difference_wraps_at_180(a: float, b: float, want: float) -> None:
    assert float(angle_diff_deg(np.float64(a), np.float64(b))) == pytest.approx(want, abs=1e-9)


@pytest.mark.parametrize("a,b,want", [(178, 2, 4), (2, 178, 4), (1, 179, 2), (179, 3, 4)])
def test_delta_theta_across_the_horizontal_axis(a: float, b: float, want: float) -> None:
    """Near-horizontal stripes turned across 0°/180° moved a few degrees, not ~176°."""
    err = directional_error(synthetic_grating((64, 64), a, 8),
                            synthetic_grating((64, 64), b, 8))
    assert err.delta_theta_deg == pytest.approx(want, abs=0.3)
    assert err.turned_share == 0.0


@pytest.mark.parametrize("a,b", [(0, 90), (45, 135), (90, 0), (170, 80)])
def test_delta_theta_at_right_angles(a: float, b: float) -> None:
    err = directional_error(synthetic_grating((64, 64), a, 8),
                            synthetic_grating((64, 64), b, 8))
    assert err.delta_theta_deg == pytest.approx(90, abs=0.3)
    assert err.turned_share == 1.0


# --------------------------------------------------------------------------- tolerance


def _match(bpp: float, target: float = 1.0) -> RateMatch:
    from codeccmp.codec import Encoded

    return RateMatch(Encoded(b"", 0), bpp, target, 0.0)


def test_default_tolerance_is_ten_percent() -> None:
    assert pytest.approx(0.10) == DEFAULT_TOLERANCE
    for bpp, within in [(1.09, True), (0.91, True), (1.11, False), (0.89, False)]:
        assert _match(bpp).within(DEFAULT_TOLERANCE) is within, bpp


def test_user_tolerance_moves_the_line() -> None:
    assert _match(1.09).within(0.05) is False
    assert _match(1.11).within(0.15) is True
    assert _match(0.3 * 1.11, 0.3).deviation == pytest.approx(0.11)
