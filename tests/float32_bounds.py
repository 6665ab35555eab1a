"""How far a float32 SSIM / MS-SSIM may be from the float64 definition, for given images.

Known-answer tests compare codeccmp's float32 SSIM (and pytorch-msssim's) with a float64
rebuild of the definition. The tolerance must hold on any CPU and any torch: fused
multiply-adds or not, any order of the 11-tap sums, torch's cascade sum or ours for the mean.
So it is not measured; it is derived here, per window, from float32's unit roundoff
u = 2⁻²⁴ (first order in u: the second-order terms are below 100u ≈ 6e-6 of the first-order
ones, and the factor ``SECOND_ORDER`` covers them), from the float64 values of the images
themselves. ``tests/flat_ssim.py`` is the same argument on flat images, in closed form.

Per window (μ, E[x²], σ² = E[x²] − μ², σxy = E[xy] − μxμy; the images are ≥ 0, so every
filtered map is a sum of non-negative terms):

- **Input.** The float32 pixels are float32(c) / 255 (one rounding: u relative); each
  MS-SSIM scale pools the float32 image of the previous one (a sum of four non-negative
  values, 3u, the division by 4 exact), so scale s starts within ε_s = (1 + 3s)u of the
  float64 image, relatively. A relative perturbation |δx| ≤ εx moves μ by ≤ εμ and σ² by
  2·Σ w (x − μ) δx ≤ 2ε·σ·√E[x²] (Cauchy–Schwarz), σxy by ≤ ε(σy√E[x²] + σx√E[y²]).
- **Taps.** The float32 window (ours, or pytorch-msssim's as torch computed it on this
  machine: exp may round otherwise elsewhere) is not the exact Gaussian; it is known, so its
  effect is not bounded but computed: everything below is evaluated in float64 with the
  float32 taps, and the exact difference between the definition's value and that value (a
  few 1e-8 for our taps: they sum to 1 − 0.5u) is added to the bound. So that a wrong
  window is not absorbed into its own allowance, the taps must first be what float32 can
  give: pytorch-msssim's are exp of a rounded argument (|k²/4.5| ≤ 5.6: 5.6u) within an ulp
  (2u), divided by their float32 sum (10u) and rounded (u), so each is within 27u of the
  exact tap, and they sum to 1 within 11u (``check_taps``; ours: 4.4u and 0.5u).
- **Filtering.** Each pass sums 11 non-negative products: in any order, fused or not,
  within 11u of the exact sum; two passes 22u. x² (and xy) is itself rounded once (u), μ²
  is a product of two values within 22u (45u), and the subtraction rounds once (u·|σ²|):
  |δσ²| ≤ 23u·E[x²] + 45u·μ² + u|σ²|, and likewise σxy with E[xy] and μxμy.
- **The map.** cs = N/D = (2σxy + C2)/(σx² + σy² + C2) moves by exactly
  (δN − cs·δD)/(D + δD); the bound uses D − |δD| (the tests check it is > 0: a window near
  0/0 would have no bound). In δN − cs·δD the relative errors α, β of μ̃x, μ̃y (22u) enter
  through μ̃x², μ̃y² and μ̃xμ̃y together, 2αμx(cs·μx − μy) + 2βμy(cs·μy − μx), which nearly
  cancels where cs ≈ 1 and μx ≈ μy (bounding the three products apart was 2.5 times
  wider); the filtered x², y², xy, the products, the subtractions, the input's ε, C2's own
  float32 rounding and cs's four roundings are bounded one by one. The luminance term
  l = (2μxμy + C1)/(μx² + μy² + C1) moves by its partial derivatives times δμ
  (|∂l/∂μx| = |2μy − 2μx·l| / D1) plus seven roundings; SSIM = l·cs one more.
- **The mean.** A float32 sum in which each term takes part in at most k additions is
  within k·u·Σ|v| (any tree). Ours adds at most 32 rows in float32 (then float64);
  pytorch-msssim's ``mean`` is torch's cascade sum (``SumKernel.cpp``: 4 levels of
  2^max(4, ⌈log2 m⌉ // 4) values, m the values per vector lane and ILP stream, then the
  lanes and streams, then the threads): ``torch_sum_depth``. Then one division.
- **MS-SSIM.** Per channel Π f_s^w_s (f_s ≥ 0 the scales' cs, SSIM at the last): a factor
  within B_s of f_s gives f_s^w within 1 − (1 − B_s/f_s)^w_s relatively (w_s < 1), and the
  product within Π(1 + r_s) − 1; pytorch-msssim does this in float32 (its weights rounded
  to float32: u·w·|ln f|; five powers within an ulp each, four products, the channel mean):
  ``FINAL`` relative.

These are worst cases: every rounding of every window at its largest and all in the same
direction. On bright textured images they come to 1e-4 to 2e-4 (1e-3 where many windows are
bright and nearly flat, as in clipped highlights: C2 = 9e-4 then divides float32's noise of
v²), where the differences seen are 1e-8 to 4e-6. That is what float32 guarantees; a bug
worth 1e-4 (C2 1 % off) can hide under it, so the tests that use these bounds are
backed by exact ones where the arithmetic allows: the pooling to the bit, the tiling to the
mean's rounding, each channel at each scale on its own, the window to the bit.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

U = 2.0**-24
C1, C2 = 0.01**2, 0.03**2
TAP = 27 * U            # each float32 tap against the exact Gaussian tap
ETA = 11 * U            # the float32 taps' sum against 1
FILTER = 22 * U         # two passes of 11 non-negative terms, any order, fused or not
FINAL = 20 * U          # pytorch-msssim's float32 powers, product and channel mean
SECOND_ORDER = 1.001    # the terms of order u² (below 100u of the first-order ones)
#: pytorch-msssim's MS-SSIM weights (the float64 definition; float32 in the library).
WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
#: Our mean: float32 sums down at most 32 rows of a tile (TILE_ROWS), then float64.
OURS_MEAN_DEPTH = 32


def gauss() -> np.ndarray:
    """pytorch-msssim's window, exact (float64): exp(-k²/(2·1.5²)), k = -5..5, normalised."""
    k = np.arange(11) - 5.0
    g = np.exp(-(k**2) / (2 * 1.5**2))
    return g / g.sum()


def filt(m: np.ndarray, g: np.ndarray | None = None) -> np.ndarray:
    """The window ``g`` (the exact one by default) down the columns, then along the rows,
    over the valid region."""
    g = gauss() if g is None else np.asarray(g, np.float64)
    v = sliding_window_view(m, 11, axis=0) @ g
    return sliding_window_view(v, 11, axis=1) @ g


def pool(x: np.ndarray) -> np.ndarray:
    """2 × 2 average of (H, W, C) in float64, a zero row (column) before an odd side."""
    h, w = x.shape[:2]
    p = np.zeros((h + h % 2, w + w % 2, x.shape[2]))
    p[h % 2:, w % 2:] = x
    return (p[0::2, 0::2] + p[0::2, 1::2] + p[1::2, 0::2] + p[1::2, 1::2]) / 4


def torch_sum_depth(n: int, threads: int | None = None) -> int:
    """The most float32 additions one value takes part in when torch sums n contiguous
    values on a CPU (``SumKernel.cpp``'s cascade), over vector widths 1, 8 and 16 lanes
    (default, AVX2, AVX512 kernels) and ``threads`` partial sums (torch's, if None)."""
    if threads is None:
        try:
            import torch

            threads = torch.get_num_threads()
        except ImportError:
            threads = 1
    worst = 0
    for lanes in (1, 8, 16):
        m = max(1, n // (lanes * 4))          # values per lane and ILP stream
        step = 1 << max(4, math.ceil(math.log2(m)) // 4)
        top = math.ceil(m / step**3)          # the last of the 4 levels is unbounded
        # 3 levels of ``step``, the top, 3 more streams, the scalar tail and the lanes
        worst = max(worst, 3 * step + top + 3 + 2 * lanes)
    return min(worst, n - 1) + threads  # a value takes part in at most n - 1 additions


def _maps(x: np.ndarray, y: np.ndarray, g: np.ndarray | None) -> tuple[np.ndarray, ...]:
    mx, my = filt(x, g), filt(y, g)
    exx, eyy, exy = filt(x * x, g), filt(y * y, g), filt(x * y, g)
    return mx, my, exx, eyy, exy


def _exact(x: np.ndarray, y: np.ndarray, g: np.ndarray | None) -> tuple[np.ndarray, ...]:
    """The SSIM and cs maps by the definition, in float64, with the window g."""
    mx, my, exx, eyy, exy = _maps(x, y, g)
    cs = (2 * (exy - mx * my) + C2) / (exx - mx * mx + eyy - my * my + C2)
    return (2 * mx * my + C1) / (mx * mx + my * my + C1) * cs, cs


def check_taps(taps: np.ndarray) -> None:
    """Fail unless ``taps`` are a float32 computation of the window (see Taps above)."""
    t = np.asarray(taps, np.float64)
    assert t.shape == (11,), t.shape
    assert np.all(np.abs(t / gauss() - 1) <= TAP), "a tap is not the window's"
    assert abs(t.sum() - 1) <= ETA, "the taps do not sum to 1"


def _scale(x: np.ndarray, y: np.ndarray, eps: float,
           taps: np.ndarray) -> dict[str, np.ndarray]:
    """Per-window float64 maps of one scale with the float32 ``taps``: SSIM, cs and bounds
    on their float32 errors, for (H, W) float64 images whose float32 inputs are within
    ``eps`` of them, relatively."""
    check_taps(taps)
    mx, my, exx, eyy, exy = _maps(x, y, taps)
    sxx, syy, sxy = exx - mx * mx, eyy - my * my, exy - mx * my
    sx, sy = np.sqrt(np.maximum(sxx, 0)), np.sqrt(np.maximum(syy, 0))
    d_mx = (FILTER + eps) * mx
    d_my = (FILTER + eps) * my

    def d_var(ee: np.ndarray, mm: np.ndarray, ss: np.ndarray, sd: np.ndarray) -> np.ndarray:
        return ((FILTER + U) * ee + (2 * FILTER + U) * mm + U * np.abs(ss)
                + 2 * eps * sd * np.sqrt(ee))

    d_sxx = d_var(exx, mx * mx, sxx, sx)
    d_syy = d_var(eyy, my * my, syy, sy)
    # cs = N / D: (N + δN)/(D + δD) − cs = (δN − cs·δD)/(D + δD) exactly, and in
    # δN − cs·δD the errors of μ̃x, μ̃y (relative α, β: the filter's 22u) enter through
    # μ̃x², μ̃y² and μ̃xμ̃y together: 2αμx(cs·μx − μy) + 2βμy(cs·μy − μx), nearly cancelling
    # where cs ≈ 1 and μx ≈ μy. The filtered x², y², xy (23u each), the three products and
    # subtractions (u each), the input's ε and cs's own roundings are bounded one by one.
    num, den = 2 * sxy + C2, sxx + syy + C2
    cs = num / den
    acs = np.abs(cs)
    d_mix = (FILTER * (np.abs(2 * mx * (cs * mx - my)) + np.abs(2 * my * (cs * my - mx)))
             + (FILTER + U) * (2 * exy + acs * (exx + eyy))
             + U * (2 * mx * my + acs * (mx * mx + my * my))
             + U * (2 * np.abs(sxy) + acs * (np.abs(sxx) + np.abs(syy)))
             + 2 * eps * (sy * np.sqrt(exx) + sx * np.sqrt(eyy))
             + acs * 2 * eps * (sx * np.sqrt(exx) + sy * np.sqrt(eyy))
             + U * (np.abs(num) + C2) + acs * U * (np.abs(sxx + syy) + den + C2))
    d_den = d_sxx + d_syy + U * C2 + U * np.abs(sxx + syy) + U * den
    margin = den - d_den
    b_cs = d_mix / margin
    b_cs += U * (acs + b_cs)                            # the division
    # luminance: first order in δμ (the derivative), then its own six roundings and C1's.
    n1, d1 = 2 * mx * my + C1, mx * mx + my * my + C1
    lum = n1 / d1
    b_lum = (np.abs(2 * my - 2 * mx * lum) * d_mx + np.abs(2 * mx - 2 * my * lum) * d_my) / d1
    b_lum += 7 * U * lum
    ssim = lum * cs
    b_ssim = lum * b_cs + np.abs(cs) * b_lum + b_lum * b_cs
    b_ssim += U * (np.abs(ssim) + b_ssim)
    return {"ssim": ssim, "cs": cs, "b_ssim": b_ssim * SECOND_ORDER,
            "b_cs": b_cs * SECOND_ORDER, "margin": margin}


def _mean_bound(v: np.ndarray, b: np.ndarray, depth: int) -> float:
    """The bound on a float32 mean of values each within b of v (one more rounding: the
    division)."""
    return float(b.mean() + (depth + 1) * U * np.abs(v).mean() * SECOND_ORDER)


def scale(x: np.ndarray, y: np.ndarray, taps: np.ndarray, eps: float = U,
          depth: int = OURS_MEAN_DEPTH) -> tuple[np.ndarray, ...]:
    """One scale, per channel of (H, W, C) float64 images in [0, 1] whose float32 inputs are
    within ``eps`` of them: (SSIM, its bound, cs, its bound), the values by the definition
    (exact window), the bounds for float32 with ``taps`` and a mean of ``depth``."""
    out = np.zeros((4, x.shape[2]))
    for c in range(x.shape[2]):
        m = _scale(x[..., c], y[..., c], eps, taps)
        assert m["margin"].min() > 0, "a window too close to 0/0 for a bound"
        exact = _exact(x[..., c], y[..., c], None)
        for row, key, ex in ((0, "ssim", exact[0]), (2, "cs", exact[1])):
            out[row, c] = ex.mean()
            out[row + 1, c] = (_mean_bound(m[key], m["b_" + key], depth)
                               + abs(m[key].mean() - ex.mean()))
    return tuple(out)


def _combine(factors: list[np.ndarray]) -> float:
    """MS-SSIM from the per-scale, per-channel factors (cs, then SSIM at the last)."""
    per_channel = np.prod([f**w for f, w in zip(factors, WEIGHTS, strict=True)], axis=0)
    return float(per_channel.mean())


def ssim_ms_ssim(a: np.ndarray, b: np.ndarray, taps: np.ndarray,
                 mean_depth: int | str = OURS_MEAN_DEPTH,
                 ) -> tuple[float, float, float | None, float | None]:
    """(SSIM, its float32 bound, MS-SSIM (``None`` under 161 pixels a side), its bound) of
    two 8-bit images: the values by the definition, in float64 with the exact window; the
    bounds for a float32 computation with the window ``taps`` whose mean adds each value
    ``mean_depth`` times at most (``OURS_MEAN_DEPTH``, or ``"torch"``: torch's cascade at
    each map's size)."""
    x = np.asarray(a, np.float64).reshape(*a.shape[:2], -1) / 255.0
    y = np.asarray(b, np.float64).reshape(*b.shape[:2], -1) / 255.0
    ch = x.shape[2]
    levels = len(WEIGHTS) if min(a.shape[:2]) >= 161 else 1
    factors, bounds, exact = [], [], []
    for level in range(levels):
        eps = (1 + 3 * level) * U
        last = level == levels - 1
        f_c, bf_c, ex_c, s_c, bs_c, exs_c = [], [], [], [], [], []
        for c in range(ch):
            m = _scale(x[..., c], y[..., c], eps, taps)
            assert m["margin"].min() > 0, "a window too close to 0/0 for a bound"
            n = m["ssim"].size
            depth = torch_sum_depth(n) if mean_depth == "torch" else int(mean_depth)
            ssim_map, cs_map = _exact(x[..., c], y[..., c], None)
            s_c.append(float(m["ssim"].mean()))
            bs_c.append(_mean_bound(m["ssim"], m["b_ssim"], depth))
            exs_c.append(float(ssim_map.mean()))
            key, exact_map = ("ssim", ssim_map) if last else ("cs", cs_map)
            f_c.append(float(m[key].mean()))
            bf_c.append(_mean_bound(m[key], m["b_" + key], depth))
            ex_c.append(float(exact_map.mean()))
        if level == 0:
            # The channels' mean: float32 in pytorch-msssim (C - 1 additions, a division);
            # the window's own effect, exact: the float32 taps' value against the definition's.
            ssim = float(np.mean(exs_c))
            b_ssim = float(np.mean(bs_c) + ch * U * np.mean(np.abs(s_c))
                           + abs(np.mean(s_c) - ssim))
        factors.append(np.array(f_c))
        bounds.append(np.array(bf_c))
        exact.append(np.array(ex_c))
        x, y = pool(x), pool(y)
    if levels == 1:
        return ssim, b_ssim, None, None
    rel = np.ones(ch)
    for f, bf, w in zip(factors, bounds, WEIGHTS, strict=True):
        assert np.all(f - bf > 0), "a scale's factor within its bound of 0 (ReLU)"
        r = np.maximum(1 - (1 - bf / f) ** w, (1 + bf / f) ** w - 1)
        rel *= 1 + r + U * w * np.abs(np.log(f))        # float32 weights
    rel = rel - 1 + FINAL + ch * U
    per_channel = np.prod([f**w for f, w in zip(factors, WEIGHTS, strict=True)], axis=0)
    ms_taps, ms_value = float(per_channel.mean()), _combine(exact)
    bound = float((per_channel * rel).mean() * SECOND_ORDER) + abs(ms_taps - ms_value)
    return ssim, b_ssim, ms_value, bound


def agreement_tolerance(a: np.ndarray, b: np.ndarray, our_taps: np.ndarray
                        ) -> tuple[float, float | None]:
    """How far our SSIM and MS-SSIM may be from any pytorch-msssim call on the same 8-bit
    pair (``data_range`` 1 on [0, 1] inputs, or 255 on 0–255 ones, as CompressAI's tools
    call it): our bound plus the library's, each around the float64 definition.

    The bounds are derived for [0, 1] inputs. On 0–255 inputs the same float32 operations
    run on values scaled by 255 (exact: integers, and 2 × 2 averages of them, are float32
    numbers), every term of the bound is relative to the values it rounds, and only the
    input's own rounding (``eps``) disappears; so the [0, 1] bound covers that call too.
    """
    from pytorch_msssim.ssim import _fspecial_gauss_1d

    pm_taps = _fspecial_gauss_1d(11, 1.5).numpy().ravel()
    _, ours_s, _, ours_ms = ssim_ms_ssim(a, b, our_taps)
    _, pm_s, _, pm_ms = ssim_ms_ssim(a, b, pm_taps, mean_depth="torch")
    return ours_s + pm_s, (None if ours_ms is None or pm_ms is None else ours_ms + pm_ms)
