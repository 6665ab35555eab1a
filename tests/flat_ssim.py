"""SSIM and MS-SSIM of flat images: the exact value, and how far float32 may be from it.

On a flat image the definition gives σ² = σxy = 0, so SSIM is the luminance term alone and
MS-SSIM that term raised to the last scale's weight (every scale stays flat: 2 × 2 averages
of equal values are exact). Computed in float32, σ² = E[x²] − μ² cancels two numbers near v²
and keeps their rounding errors, and cs = (2σxy + C2) / (σx² + σy² + C2) divides them by
C2 = 9e-4: SSIM of a flat image is ill-conditioned in float32, and two correct float32
implementations (pytorch-msssim on one CPU, ours, pytorch-msssim under another torch or
kernel: fused multiply-adds or not, other summation orders) may differ by whole ulps of v²,
about 3e-5 in SSIM at v ≈ 0.5. So these tests do not ask for bitwise agreement; they use
the bound below, which holds for any order of summation.

Per window position, with u = 2⁻²⁴ (float32's unit roundoff) and first-order terms:

- each pass of the 11-tap window sums 11 positive products: any order, fused or not, is
  within 11u of the exact sum; two passes: μ within 22u·v, E[x²] within 22u·v²;
- μ² adds 2 × 22u + u (the product); x² itself is rounded once (u);
- the float32 taps sum to 1 + η, |η| ≤ 11u (each tap divided by the float32 sum of eleven),
  which shifts E[x²] − μ² by 2|η|·v²;
- the subtraction itself is exact (Sterbenz: the operands are within a factor 2).

So |σ²| ≤ 90u·v² (and 90u·vx·vy for σxy): K_SIGMA below. cs is then within
(2|σxy| + |σx²| + |σy²|) / (C2 − |σx²| − |σy²|) of 1. The remaining float32 operations are
relative errors: the luminance term from μ's 22u (about 50u), cs's own four roundings, and
the mean over the map (torch sums by cascade, we by 32 rows then in float64): 120u allowed
in all. MS-SSIM is a product of per-scale terms with weights summing to 1, so its relative
error is at most the largest per-scale one (to first order).
"""

from __future__ import annotations

import numpy as np

U = 2.0**-24
K_SIGMA = 90
RELATIVE = 120 * U
C1, C2 = 0.01**2, 0.03**2
MS_SSIM_LAST_WEIGHT = 0.1333


def _unit(c: int) -> float:
    """The float32 pixel value both implementations start from: float32(c) / 255."""
    return float(np.float32(c) / np.float32(255.0))


def flat(c: int, d: int) -> tuple[float, float, float, float]:
    """(SSIM, its float32 bound, MS-SSIM, its bound) of flat images of 8-bit values c and d."""
    x, y = _unit(c), _unit(d)
    lum = (2 * x * y + C1) / (x * x + y * y + C1)  # float64: the exact definition
    dx, dy, dxy = (K_SIGMA * U * m for m in (x * x, y * y, x * y))
    cs_error = (2 * dxy + dx + dy) / (C2 - dx - dy)
    rel = cs_error + RELATIVE
    ms = lum**MS_SSIM_LAST_WEIGHT
    return lum, lum * rel * 1.01, ms, ms * rel * 1.01  # 1 % for the second-order terms
