"""Known answers for PSNR, SSIM and MS-SSIM, and agreement with pytorch-msssim itself.

codeccmp computes SSIM and MS-SSIM in its own tiled code (``codeccmp.measure.metrics``) for speed at
camera resolution; these tests hold it to pytorch-msssim's definition: closed-form values on
constant images (within float32's bound: tests/flat_ssim.py), the library's own values on
textured images of awkward sizes (each within float32's bound around the float64 definition,
for those images: tests/float32_bounds.py), and its downsampling to the bit.
"""

from __future__ import annotations

import math

import flat_ssim
import float32_bounds
import numpy as np
import pytest

from codeccmp.measure import metrics

#: Barbara as bundled with the repository (samples/), so the test runs in any checkout.
BARBARA = __import__("pathlib").Path(__file__).resolve().parents[1] / "samples" / "barbara.png"


def _textured(shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Smooth gradients, stripes and noise: every term of SSIM matters."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    base = 128 + 60 * np.sin(xx / 3.7 + yy / 9.1) + 0.2 * (xx - yy)
    if len(shape) == 3:
        base = base[..., None] + np.array([0.0, 15.0, -25.0])[: shape[2]]
    return np.clip(base + rng.normal(0, 12, shape), 0, 255).astype(np.uint8)


def _degrade(a: np.ndarray, seed: int, amp: int = 18) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(a.astype(np.int16) + rng.integers(-amp, amp + 1, a.shape), 0,
                   255).astype(np.uint8)


def _luminance_only(c: float, d: float) -> float:
    """SSIM of two constant images of values c and d (8-bit): σ = 0, so the contrast-
    structure term is C2 / C2 = 1 and only the luminance term remains."""
    c, d = c / 255.0, d / 255.0
    c1 = 0.01**2
    return (2 * c * d + c1) / (c * c + d * d + c1)


# ---------------------------------------------------------------------- known answers


def test_psnr_and_mse_known_values():
    a = np.full((20, 30, 3), 100, np.uint8)
    assert metrics.mse(a, a + 1) == 1.0
    assert metrics.psnr(a, a + 1) == pytest.approx(10 * math.log10(255**2))
    assert metrics.psnr(a, a) == math.inf
    black, white = np.zeros((40, 50), np.uint8), np.full((40, 50), 255, np.uint8)
    assert metrics.mse(black, white) == 255.0**2  # no uint8 wrap-around, no int overflow
    assert metrics.psnr(black, white) == pytest.approx(0.0)


def test_mse_exact_against_float64_on_many_bands():
    # More rows than one band of the chunked sum: every band must be counted once.
    a = _textured((3000, 400, 3), 1)
    b = _degrade(a, 2)
    d = a.astype(np.float64) - b.astype(np.float64)
    assert metrics.mse(a, b) == pytest.approx(float(np.mean(d * d)), rel=1e-12)


@pytest.mark.parametrize(("c", "d"), [(12, 18), (100, 140), (100, 100)])
def test_constant_images_have_closed_form_ssim(c: int, d: int):
    # float32 (pytorch-msssim's precision, kept on purpose) leaves σ² at rounding noise
    # instead of 0; flat_ssim derives how far that can move SSIM on any CPU and torch: 8e-5
    # at 12/18, 5e-3 at 100/140 (the noise grows with v², and C2 = 9e-4 divides it).
    a, b = np.full((64, 80), c, np.uint8), np.full((64, 80), d, np.uint8)
    want, bound, _, _ = flat_ssim.flat(c, d)
    assert metrics.ssim(a, b) == pytest.approx(want, abs=bound)
    assert _luminance_only(c, d) == pytest.approx(want, rel=1e-6)  # two writings agree


@pytest.mark.parametrize(("c", "d"), [(12, 18), (60, 90)])
def test_constant_images_have_closed_form_ms_ssim(c: int, d: int):
    # 176 = 11 · 16: every scale has even sides, so the pooled images stay constant and
    # MS-SSIM = 1^(w0+…+w3) · SSIM_lum^w4 at the last scale.
    a = np.full((176, 176, 3), c, np.uint8)
    b = np.full((176, 176, 3), d, np.uint8)
    want_s, bound_s, want_ms, bound_ms = flat_ssim.flat(c, d)
    assert want_ms == pytest.approx(_luminance_only(c, d) ** metrics.MS_SSIM_WEIGHTS[-1])
    ssim_value, ms_value = metrics.ssim_ms_ssim(a, b)
    assert ssim_value == pytest.approx(want_s, abs=bound_s)
    assert ms_value == pytest.approx(want_ms, abs=bound_ms)
    assert metrics.ms_ssim(a, b) == ms_value


@pytest.mark.parametrize(("c", "d"), [(12, 18), (100, 140)])
def test_flat_regions_agree_with_pytorch_msssim_within_float32s_rounding(c: int, d: int):
    # Flat areas (sky, constant images) keep the same float32 rounding noise at every pixel
    # instead of averaging it out, and that noise depends on the order of the convolution's
    # sums, which torch picks per CPU and version: pytorch-msssim itself was 3e-5 away from
    # our value at 100/140 under torch 2.14.1 on an AVX512 CPU, and bit-equal on another.
    # So each value is held to the float32 bound around the exact one (flat_ssim: 8e-5 at
    # 12/18, 5e-3 at 100/140), and the two to each other within the sum of the bounds.
    for a, b in [(np.full((64, 180), c, np.uint8), np.full((64, 180), d, np.uint8)),
                 (np.full((176, 176, 3), c, np.uint8), np.full((176, 176, 3), d, np.uint8))]:
        want_s, bound_s, want_ms, bound_ms = flat_ssim.flat(c, d)
        ref_s, ref_ms = _torch_values(a, b)
        s, ms = metrics.ssim_ms_ssim(a, b)
        assert abs(ref_s - want_s) <= bound_s and abs(s - want_s) <= bound_s
        assert abs(s - ref_s) <= 2 * bound_s
        if ref_ms is not None:
            assert abs(ref_ms - want_ms) <= bound_ms and abs(ms - want_ms) <= bound_ms
            assert abs(ms - ref_ms) <= 2 * bound_ms


def test_too_small_images_give_none():
    a = _textured((160, 400, 3), 3)
    assert metrics.ms_ssim(a, a) is None  # 5 scales need a side of 161
    assert metrics.ssim(a, a) == pytest.approx(1.0, abs=1e-6)
    tiny = _textured((10, 40), 4)
    assert metrics.ssim_ms_ssim(tiny, tiny) == (None, None)  # under the 11-pixel window
    with pytest.raises(ValueError, match="differ in shape"):
        metrics.ssim(a, a[:-1])


def test_worse_reconstruction_scores_lower():
    a = _textured((200, 220, 3), 5)
    mild, strong = _degrade(a, 6, 6), _degrade(a, 6, 40)
    s_mild, m_mild = metrics.ssim_ms_ssim(a, mild)
    s_strong, m_strong = metrics.ssim_ms_ssim(a, strong)
    assert 1 > s_mild > s_strong > 0
    assert 1 > m_mild > m_strong > 0


# ------------------------------------------------------------- against pytorch-msssim


def _torch_values(a: np.ndarray, b: np.ndarray) -> tuple[float, float | None]:
    torch = pytest.importorskip("torch")
    pm = pytest.importorskip("pytorch_msssim")

    def t(x: np.ndarray):  # noqa: ANN202
        v = torch.from_numpy(x.astype(np.float32)) / 255.0
        return v[None, None] if x.ndim == 2 else v.permute(2, 0, 1)[None]

    x, y = t(a), t(b)
    s = float(pm.ssim(x, y, data_range=1.0, win_size=11))
    ms = (float(pm.ms_ssim(x, y, data_range=1.0, win_size=11))
          if min(a.shape[:2]) >= metrics.MS_SSIM_MIN_SIDE else None)
    return s, ms


def _assert_both_within_float32s_bound(a: np.ndarray, b: np.ndarray,
                                       got: tuple[float | None, float | None],
                                       ref: tuple[float, float | None]) -> None:
    """Ours and pytorch-msssim's values each within float32's worst case around the float64
    definition (tests/float32_bounds.py: our taps and 32-row float32 sums; the library's taps
    as torch computed them here and torch's cascade mean), hence within the sum of the two
    bounds of each other. The bounds are 1e-4 or so on these images (every rounding of every
    window at its largest); the differences seen are 1e-8 to 4e-6."""
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    pm_taps = _fspecial_gauss_1d(11, 1.5).numpy().ravel()
    want_s, ours_s, want_ms, ours_ms = float32_bounds.ssim_ms_ssim(a, b, metrics.WINDOW)
    _, pm_s, _, pm_ms = float32_bounds.ssim_ms_ssim(a, b, pm_taps, mean_depth="torch")
    assert abs(got[0] - want_s) <= ours_s and abs(ref[0] - want_s) <= pm_s
    assert abs(got[0] - ref[0]) <= ours_s + pm_s
    if ref[1] is None:
        assert got[1] is None
        return
    assert abs(got[1] - want_ms) <= ours_ms and abs(ref[1] - want_ms) <= pm_ms
    assert abs(got[1] - ref[1]) <= ours_ms + pm_ms


@pytest.mark.parametrize("shape", [
    (161, 161, 3),     # the smallest MS-SSIM accepts
    (175, 333, 3),     # odd sides: zero padding before each odd side at every scale
    (240, 1100, 3),    # wider than one tile
    (230, 190),        # gray
    (70, 45, 3),       # SSIM only
])
def test_agrees_with_pytorch_msssim(shape):
    a = _textured(shape, 7)
    b = _degrade(a, 8)
    ref = _torch_values(a, b)
    s, ms = metrics.ssim_ms_ssim(a, b)
    _assert_both_within_float32s_bound(a, b, (s, ms), ref)
    assert metrics.ssim(a, b) == s and metrics.ms_ssim(a, b) == ms


def test_agrees_with_pytorch_msssim_on_barbara():
    from codeccmp.model.images import load_image

    if not BARBARA.exists():
        pytest.skip("samples/barbara.png not present")
    a = load_image(BARBARA).pixels
    b = _degrade(a, 9, 25)
    _assert_both_within_float32s_bound(a, b, metrics.ssim_ms_ssim(a, b), _torch_values(a, b))


def test_downsampling_is_torchs_avg_pool_to_the_bit():
    torch = pytest.importorskip("torch")
    from concurrent.futures import ThreadPoolExecutor

    import torch.nn.functional as F

    for h, w in [(9, 14), (10, 13), (11, 11), (600, 7)]:
        a = _textured((h, w, 3), h * w)
        x = torch.from_numpy(a.astype(np.float32)).permute(2, 0, 1)[None] / 255.0
        ref = F.avg_pool2d(x, kernel_size=2, padding=[h % 2, w % 2])[0].permute(1, 2, 0)
        with ThreadPoolExecutor(2) as pool:
            got = metrics._pool(a.reshape(h, -1), 3, pool)
        assert np.array_equal(got.reshape(ref.shape), ref.numpy()), (h, w)


def test_window_is_pytorch_msssims():
    pytest.importorskip("pytorch_msssim")
    import torch
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    ref = _fspecial_gauss_1d(11, 1.5).ravel()
    # to the bit: see WINDOW
    assert torch.equal(torch.from_numpy(metrics.WINDOW.copy()), ref)
