"""The tiled SSIM internals of codeccmp.measure.metrics against an untiled float64 reference.

``metrics.ssim_ms_ssim`` cuts each scale into 32 × 1024 tiles, filters them in float32 with
torch's own order of operations and pools between scales in bands of rows. The agreement
tests in test_metrics_fast.py use images of one tile row and one pooling band, so a tile or
band boundary off by one, a channel mixed up with another or a buffer shared between two maps
could go unseen. Here the reference is written out directly, without tiles or torch: the
Gaussian window in float64, SSIM's formula on whole images per channel, the 2 × 2 average with
a zero row (column) before an odd side. Sizes are chosen to land on and just past the tile and
band boundaries. Written against the mutants of metrics.py's internals that the rest of the
suite let survive (benchmarks/mutation/run.py).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import float32_bounds
import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from codeccmp.measure import metrics

# float32 against float64: the tolerance is float32_bounds' worst case for each image (every
# rounding of every window at its largest, any order of the sums, fused or not): 8e-5 to
# 2.2e-4 on these bright textured images (1.3e-4 for the single 11 x 11 window), where the
# errors seen are 2e-7 to 2.1e-6. That is what float32 guarantees, and it is too wide to see
# every bug of 1e-4; the tiling is held to the mean's rounding (4e-6) by
# test_tiling_changes_only_the_means_rounding below.


def _gauss() -> np.ndarray:
    """pytorch-msssim's window, in float64: exp(-k²/(2·1.5²)) for k = -5..5, normalised."""
    k = np.arange(11) - 5.0
    g = np.exp(-(k**2) / (2 * 1.5**2))
    return g / g.sum()


def _filter(m: np.ndarray) -> np.ndarray:
    """The window down the columns, then along the rows, over the valid region (H-10, W-10)."""
    g = _gauss()
    v = sliding_window_view(m, 11, axis=0) @ g
    return sliding_window_view(v, 11, axis=1) @ g


def _ref_scale(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel means of the SSIM and cs maps of (H, W, C) float64 images in [0, 1]."""
    c1, c2 = 0.01**2, 0.03**2
    ssim, cs = [], []
    for c in range(x.shape[2]):
        a, b = x[..., c], y[..., c]
        mu1, mu2 = _filter(a), _filter(b)
        s11 = _filter(a * a) - mu1 * mu1
        s22 = _filter(b * b) - mu2 * mu2
        s12 = _filter(a * b) - mu1 * mu2
        cs_map = (2 * s12 + c2) / (s11 + s22 + c2)
        lum = (2 * mu1 * mu2 + c1) / (mu1 * mu1 + mu2 * mu2 + c1)
        ssim.append(float(np.mean(lum * cs_map)))
        cs.append(float(np.mean(cs_map)))
    return np.array(ssim), np.array(cs)


def _ref_pool(x: np.ndarray) -> np.ndarray:
    """2 × 2 average of (H, W, C), a zero row (column) added before an odd side."""
    h, w = x.shape[:2]
    p = np.zeros((h + h % 2, w + w % 2, x.shape[2]))
    p[h % 2:, w % 2:] = x
    return (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2]) / 4


def _ref_ssim_ms_ssim(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """(SSIM, MS-SSIM) of two 8-bit images: 5 scales, ReLU on each factor, channels averaged
    last (pytorch-msssim's definition), all in float64."""
    x = a.reshape(*a.shape[:2], -1) / 255.0
    y = b.reshape(*b.shape[:2], -1) / 255.0
    factors = []
    for level in range(5):
        s, cs = _ref_scale(x, y)
        if level == 0:
            ssim = float(s.mean())
        factors.append(np.maximum(cs if level < 4 else s, 0))
        x, y = _ref_pool(x), _ref_pool(y)
    per_channel = np.prod([f**w for f, w in zip(factors, metrics.MS_SSIM_WEIGHTS,
                                                    strict=True)], axis=0)
    return ssim, float(per_channel.mean())


def _pair(shape: tuple[int, ...], seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured image and a copy degraded by a different amount in each channel (so that a
    channel read in another's place changes its score), with a bright flat corner."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    base = 120 + 50 * np.sin(xx / 2.9 + yy / 7.3) + 0.3 * (xx - 2 * yy) % 40
    if len(shape) == 3:
        base = base[..., None] + np.linspace(-30, 30, shape[2])
    a = np.clip(base + rng.normal(0, 10, shape), 0, 255)
    a[: h // 4, : w // 5] = 230
    amp = np.array([4.0, 15.0, 40.0, 25.0][: shape[2]]) if len(shape) == 3 else 12.0
    b = np.clip(a + rng.normal(0, 1, shape) * amp, 0, 255)
    return a.astype(np.uint8), b.astype(np.uint8)


def _as3(a: np.ndarray) -> np.ndarray:
    """(H, W) as (H, W, 1), so the reference handles gray and colour alike."""
    return a if a.ndim == 3 else a[..., None]


@pytest.mark.parametrize("shape", [
    (11, 11),          # one output pixel
    (42, 1034),        # exactly one 32 × 1024 tile
    (43, 1035),        # one row and one column past it: 1-pixel tiles at both edges
    (45, 1040, 3),     # partial tiles both ways, RGB
    (11, 1060, 3),     # one output row across two column tiles
    (75, 19, 2),       # three tile rows, two channels
    (20, 30, 4),       # four channels
])
def test_scale_matches_untiled_float64_per_channel(shape: tuple[int, ...]) -> None:
    a, b = _pair(shape, sum(shape))
    ch = 1 if a.ndim == 2 else a.shape[2]
    want_s, want_cs = _ref_scale(_as3(a) / 255.0, _as3(b) / 255.0)
    ref_s, tol_s, ref_cs, tol_cs = float32_bounds.scale(_as3(a) / 255.0, _as3(b) / 255.0,
                                                        metrics.WINDOW)
    np.testing.assert_allclose(ref_s, want_s, rtol=1e-12)  # two writings of the definition
    np.testing.assert_allclose(ref_cs, want_cs, rtol=1e-12)
    with ThreadPoolExecutor(2) as pool:
        s, cs = metrics._scale(metrics._planar(a), metrics._planar(b), ch, pool)
        # The second scale's input: float32 in [0, 1], measured as it is.
        s32, cs32 = metrics._scale(metrics._planar(a).astype(np.float32) / np.float32(255),
                                   metrics._planar(b).astype(np.float32) / np.float32(255),
                                   ch, pool)
    assert s.shape == cs.shape == (ch,)
    # (the float32 input a / 255 is the same rounding as the uint8 path's: within u of it)
    for got_s, got_cs in ((s, cs), (s32, cs32)):
        assert np.all(np.abs(got_s - want_s) <= tol_s), (got_s - want_s, tol_s)
        assert np.all(np.abs(got_cs - want_cs) <= tol_cs), (got_cs - want_cs, tol_cs)


@pytest.mark.parametrize("shape", [(161, 161), (163, 197, 3), (170, 2090)])
def test_ssim_and_ms_ssim_match_untiled_float64(shape: tuple[int, ...]) -> None:
    # 2090 px: the first scale has three column tiles, the second two.
    a, b = _pair(shape, 3)
    want = _ref_ssim_ms_ssim(a, b)
    ref_s, tol_s, ref_ms, tol_ms = float32_bounds.ssim_ms_ssim(a, b, metrics.WINDOW)
    assert (ref_s, ref_ms) == pytest.approx(want, rel=1e-12)  # two writings of the definition
    got = metrics.ssim_ms_ssim(a, b)
    assert abs(got[0] - want[0]) <= tol_s and abs(got[1] - want[1]) <= tol_ms


@pytest.mark.parametrize(("shape", "tiles"), [
    ((75, 1040, 3), (7, 13)),       # many partial tiles both ways, RGB
    ((75, 1040, 3), (1000, 5000)),  # one tile
    ((170, 2090), (5, 300)),        # gray, the oneDNN-like fused path (over 20480 values)
    ((30, 25, 2), (3, 4)),
])
def test_tiling_changes_only_the_means_rounding(monkeypatch: pytest.MonkeyPatch,
                                                shape: tuple[int, ...],
                                                tiles: tuple[int, int]) -> None:
    # Every window's SSIM and cs are the same float32 bits however the image is cut (the
    # filters are element-wise fused multiply-adds or products and sums, in tap order), so
    # only the mean's rounding changes: float32 sums down at most TILE_ROWS rows, each value
    # in at most that many additions (k·u·Σ|v|, any order), then float64. Two tilings may
    # then differ by (32 + rows)·u·mean|v| plus float64's rounding: about 4e-6 at most, where
    # a tile read one column off, or a partial tile dropped or counted twice, moves the
    # value by 1e-4 or more.
    a, b = _pair(shape, 11)
    ch = 1 if a.ndim == 2 else a.shape[2]
    with ThreadPoolExecutor(2) as pool:
        s0, cs0 = metrics._scale(metrics._planar(a), metrics._planar(b), ch, pool)
        monkeypatch.setattr(metrics, "TILE_ROWS", tiles[0])
        monkeypatch.setattr(metrics, "TILE_COLS", tiles[1])
        s1, cs1 = metrics._scale(metrics._planar(a), metrics._planar(b), ch, pool)
    rows = min(tiles[0], shape[0] - 10)  # a tile's rows: at most the output's
    bound = (32 + rows) * float32_bounds.U * 1.001 + 1e-12
    # mean|v| ≤ 1 for SSIM and cs (|cs| ≤ 1 by Cauchy–Schwarz, up to rounding)
    np.testing.assert_allclose(s1, s0, rtol=0, atol=bound)
    np.testing.assert_allclose(cs1, cs0, rtol=0, atol=bound)


@pytest.mark.parametrize(("h", "w", "ch"), [
    (45, 8001, 3),     # 262144 // (4001 · 3) = 21 rows a band: two bands, odd sides
    (44, 8000, 3),     # two bands, even sides
    (271, 4001, 1),    # gray, 131 rows a band: two bands
    (3, 262201, 1),    # 131101 pixels an output row: bands of one row (262144 // 131101)
])
def test_pool_in_bands_is_the_untiled_average(h: int, w: int, ch: int) -> None:
    rng = np.random.default_rng(h)
    a = rng.integers(0, 256, (h, w, ch), dtype=np.uint8)
    want = _ref_pool(a / 255.0)
    f32 = (a / np.float32(255)).astype(np.float32)
    with ThreadPoolExecutor(2) as pool:
        got = metrics._pool(a.reshape(h, -1), ch, pool)
        got32 = metrics._pool(f32.reshape(h, -1), ch, pool)
    assert got.dtype == np.float32
    assert got.shape == ((h + 1) // 2, ((w + 1) // 2) * ch)
    np.testing.assert_allclose(got.reshape(want.shape), want, rtol=0, atol=1e-7)
    assert np.array_equal(got32, got)  # float32 input pooled as the same values


@pytest.mark.parametrize("shape", [
    (128, 160),      # gray, 20480 values: torch's native convolution in both passes
    (138, 160),      # 22080 values, then 128 · 160 = 20480: oneDNN, then native
    (139, 160),      # 22240, then 129 · 160 = 20640: oneDNN in both passes
    (40, 60, 3),     # RGB, small: oneDNN (grouped) in both passes
    (30, 25, 2),
])
@pytest.mark.parametrize(("c", "d"), [(12, 18), (100, 140)])
def test_flat_images_agree_with_pytorch_msssim_on_both_sides_of_its_kernel_choice(
        shape: tuple[int, ...], c: int, d: int) -> None:
    # On flat images σ² is float32 rounding noise, the same at every pixel, and it differs
    # between a fused multiply-add and a product then a sum, and between torch's kernels on
    # different CPUs and versions (3e-5 in SSIM at 100/140 on one AVX512 machine): both
    # values must lie within float32's bound around the exact one (tests/flat_ssim.py,
    # argued there: 8e-5 at 12/18, 5e-3 at 100/140), whichever kernel torch picked.
    import flat_ssim

    torch = pytest.importorskip("torch")
    pm = pytest.importorskip("pytorch_msssim")
    a, b = np.full(shape, c, np.uint8), np.full(shape, d, np.uint8)

    def t(x: np.ndarray):  # noqa: ANN202
        v = torch.from_numpy(x.astype(np.float32)) / 255.0
        return v[None, None] if x.ndim == 2 else v.permute(2, 0, 1)[None]

    want, bound, _, _ = flat_ssim.flat(c, d)
    ref = float(pm.ssim(t(a), t(b), data_range=1.0, win_size=11))
    got = metrics.ssim(a, b)
    assert abs(ref - want) <= bound and abs(got - want) <= bound
    assert abs(got - ref) <= 2 * bound


def test_to_unit_rounds_as_torch_and_copies_float32() -> None:
    torch = pytest.importorskip("torch")
    v = np.arange(256, dtype=np.uint8).reshape(16, 16)
    out = np.full((16, 16), -1, np.float32)
    got = metrics._to_unit(v, out=out)
    assert got is out
    want = (torch.arange(256, dtype=torch.float) / 255.0).numpy().reshape(16, 16)
    assert np.array_equal(out, want)  # torch's float32(x) / 255.0, to the bit
    f = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    out = np.zeros((3, 4), np.float32)
    assert metrics._to_unit(f, out=out) is out and np.array_equal(out, f)


def test_planar_interleaves_channels_without_copying() -> None:
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    p = metrics._planar(a)
    assert p.shape == (2, 12) and np.shares_memory(p, a)
    assert p[1].tolist() == a[1].ravel().tolist()
    g = np.arange(15, dtype=np.uint8).reshape(3, 5)
    assert metrics._planar(g).shape == (3, 5) and np.shares_memory(metrics._planar(g), g)
    odd = a[:, ::2]  # not contiguous: copied, same values
    assert np.array_equal(metrics._planar(odd), odd.reshape(2, 8))


def test_scratch_reuses_a_buffer_per_slot_and_thread() -> None:
    first = metrics._scratch(7, (3, 4))
    assert first.shape == (3, 4) and first.dtype == np.float32
    again = metrics._scratch(7, (3, 4))
    smaller = metrics._scratch(7, (2, 5))
    assert np.shares_memory(first, again) and np.shares_memory(first, smaller)
    assert smaller.shape == (2, 5)
    other_slot = metrics._scratch(8, (3, 4))
    assert not np.shares_memory(first, other_slot)
    bigger = metrics._scratch(7, (5, 6))
    assert bigger.shape == (5, 6) and bigger.size == 30
    assert np.shares_memory(bigger, metrics._scratch(7, (30,)))
    seen: list[np.ndarray] = []
    t = threading.Thread(target=lambda: seen.append(metrics._scratch(7, (5, 6))))
    t.start()
    t.join()
    assert seen[0].shape == (5, 6) and not np.shares_memory(seen[0], bigger)


@pytest.mark.parametrize("fused", [True, False])
def test_correlate_is_the_window_along_one_axis(fused: bool) -> None:
    rng = np.random.default_rng(5)
    g = _gauss()
    maps = rng.random((5, 23, 17 * 3), dtype=np.float32)
    down = metrics._correlate(maps, 13, 1, 1, np.empty((5, 13, 51), np.float32), fused)
    want = sliding_window_view(maps.astype(np.float64), 11, axis=1) @ g
    np.testing.assert_allclose(down, want, rtol=0, atol=1e-6)
    # Along a row of three interleaved channels: taps 3 values apart.
    along = metrics._correlate(maps, 7 * 3, 3, 2, np.empty((5, 23, 21), np.float32), fused)
    m = maps.astype(np.float64).reshape(5, 23, 17, 3)
    want = sliding_window_view(m, 11, axis=2) @ g
    np.testing.assert_allclose(along.reshape(5, 23, 7, 3), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("c", "d"), [(12, 18), (100, 140)])
def test_float32_bounds_on_flat_images_agree_with_flat_ssims_closed_form(c: int, d: int) -> None:
    # The same worst case derived twice: per window from the images (float32_bounds, used on
    # the textured images here and in test_metrics_fast) and in closed form for flat images
    # (flat_ssim). The per-window one keeps the correlation of μ's errors and the taps' exact
    # effect, so it is the tighter of the two (3e-5 against 8e-5 at 12/18, 1.7e-3 against
    # 5e-3 at 100/140); both must hold our value, which on a flat image carries float32's
    # real rounding noise (3e-5 off the definition at 100/140), not an average of it.
    import flat_ssim

    a, b = np.full((176, 176), c, np.uint8), np.full((176, 176), d, np.uint8)
    s, tol_s, ms, tol_ms = float32_bounds.ssim_ms_ssim(a, b, metrics.WINDOW)
    want, bound, want_ms, bound_ms = flat_ssim.flat(c, d)
    # flat_ssim starts from float32(c)/255, the definition here from c/255: within 1e-7
    assert s == pytest.approx(want, abs=1e-7) and ms == pytest.approx(want_ms, abs=1e-7)
    assert 0 < tol_s <= bound and 0 < tol_ms <= bound_ms
    got_s, got_ms = metrics.ssim_ms_ssim(a, b)
    assert abs(got_s - s) <= tol_s and abs(got_ms - ms) <= tol_ms


@pytest.mark.parametrize(("c", "d"), [(12, 18), (100, 140), (230, 200)])
def test_float32_bounds_cs_term_is_its_closed_form_on_flat_images(c: int, d: int) -> None:
    # The helper's cs bound written out by hand for flat images (σ = 0, cs = 1, every
    # window alike), so that a term lost or mistyped in float32_bounds fails here: the
    # correlated μ terms 22u·2|v − w|(v + w), the filtered products 23u and the products and
    # subtractions u on (v + w)², C2's rounding and cs's own 2u·C2 over C2 − |δD| with
    # |δD| = 68u(v² + w²) + 2u·C2; then the division, the mean (32 rows + 1) and the taps'
    # exact effect. Within 1e-3: the float32 taps' own σ² (−e·v², e ≈ −u) moves D = C2 by up
    # to 2e-4 relatively at 230/200, where a term lost moves the bound by a tenth or more.
    u, c2 = float32_bounds.U, float32_bounds.C2
    v, w = c / 255.0, d / 255.0
    x, y = np.full((40, 40, 1), v), np.full((40, 40, 1), w)
    *_, tol_cs = float32_bounds.scale(x, y, metrics.WINDOW)
    mix = 22 * u * 2 * abs(v - w) * (v + w) + 24 * u * (v + w) ** 2 + 4 * u * c2
    b_cs = mix / (c2 - 68 * u * (v * v + w * w) - 2 * u * c2)
    b_cs = (b_cs + u * (1 + b_cs)) * 1.001
    taps = abs(float32_bounds._exact(x[..., 0], y[..., 0], metrics.WINDOW)[1].mean() - 1)
    want = b_cs + 33 * u * 1.001 + taps
    assert tol_cs[0] == pytest.approx(want, rel=1e-3)
