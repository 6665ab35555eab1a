"""Stripe classes: each stripe pixel is kept, turned, redrawn or erased, exactly one of them.

Why classes and not two overlapping shares: a "turned share" over every oriented pixel and an
"erased share" over the stripe pixels counted the same pixels twice (a patch blurred flat read
as turned by the grating's own angle and erased), so nobody could say how much was turned.
Here every stripe pixel gets one label from measurable per-pixel quantities:

- ``present``: the reconstruction keeps at least half the original's local amplitude at the
  stripes' own period (local energy in the stripe band >= ``ERASED_ENERGY_RATIO`` of the
  original's, both smoothed over one period);
- the angle *at that period*: the structure tensor of each image's stripe band (the ring
  band-pass around the period in a region; the fixed band over the whole image), so block
  edges or coarse folds at other periods do not decide whether the stripes turned;
- for pixels that are gone: the reconstruction's full-band tensor (what is there at any
  period) against what the original already had there *outside* its stripe band (the
  tensor of ``original - band``: an edge beside the stripes), projected onto the
  reconstruction's direction.

Labels: **kept** (present, within ``flip_deg`` of the original's angle, or present where the
original has no single direction, e.g. checks), **turned** (present, more than ``flip_deg``
off), **redrawn** (gone, but strongly oriented new structure at another angle:
coherence above the threshold, energy above the floor, and an anisotropic energy beyond what
the original had along that direction of at least ``REDRAWN_ENERGY_RATIO`` times the
original stripes' energy there), **erased** (gone, and nothing oriented left, or what is left
keeps the original direction). Thresholds and their calibration: docs/metrics.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy  # scipy.ndimage loads on first use (see error.py)

from codeccmp.stripes.field import (
    angle_diff_deg,
    orientation_field,
    structure_tensor,
)

#: The class names, in the order of the label values (0 = kept ... 3 = erased).
CLASSES: tuple[str, ...] = ("kept", "turned", "redrawn", "erased")
KEPT, TURNED, REDRAWN, ERASED = range(4)
#: Gone at the stripes' period: the reconstruction keeps less than 1/4 of the local stripe
#: energy (1/2 amplitude).
ERASED_ENERGY_RATIO: float = 0.25
#: Redrawn: the reconstruction's new oriented energy (anisotropy λ1 − λ2 beyond what the
#: original had along that direction outside its stripe band) is at least this share of the
#: original stripes' own tensor energy at the pixel. See docs/metrics.md for the calibration.
REDRAWN_ENERGY_RATIO: float = 0.25


@dataclass(frozen=True)
class PixelClasses:
    """Per-pixel labels over a region (``label`` −1 outside the stripe mask), the angle each
    labelled pixel moved (``delta``, NaN where there is no angle: erased pixels, pixels where
    the original has no single direction) and the original stripes' weight (coherence ×
    energy of its stripe band) for the weighted Δθ."""

    label: np.ndarray
    delta: np.ndarray
    weight: np.ndarray

    def counts(self) -> np.ndarray:
        """Pixels per class, in the order of :data:`CLASSES`."""
        lab = self.label[self.label >= 0]
        return np.bincount(lab.astype(np.intp), minlength=len(CLASSES))[:len(CLASSES)]


def _anisotropy_along(jxx: np.ndarray, jyy: np.ndarray, jxy: np.ndarray,
                      grad_deg: np.ndarray) -> np.ndarray:
    """nᵀJn − tᵀJt for the unit gradient direction n at ``grad_deg`` (y up), t ⊥ n: how much
    more the tensor's energy lies across that direction than along it (λ1 − λ2 when n is
    the tensor's own dominant direction, 0 for isotropic structure, negative across)."""
    phi = np.radians(2.0 * grad_deg)
    return (jxx - jyy) * np.cos(phi) + 2.0 * jxy * np.sin(phi)


def classify(a: np.ndarray, b: np.ndarray, band_a: np.ndarray, band_b: np.ndarray,
             inner: tuple[slice, slice], mask: np.ndarray, smooth: float, *,
             flip_deg: float, coherence_threshold: float, energy_floor: float,
             sigma_d: float, sigma_t: float) -> PixelClasses:
    """Label every pixel of ``mask`` (a boolean array over ``inner``).

    ``a``/``b``: original and reconstruction luma (region plus margin); ``band_a``/``band_b``:
    the same filtered to the stripes' band; ``smooth``: the scale (px) of the local energies,
    about one period. Everything is filtered on the margin-padded arrays and then cropped to
    ``inner``, so the region's edge does not bias it.
    """
    la = scipy.ndimage.gaussian_filter(band_a * band_a, smooth, mode="reflect")[inner]
    lb = scipy.ndimage.gaussian_filter(band_b * band_b, smooth, mode="reflect")[inner]
    present = lb >= ERASED_ENERGY_RATIO * la
    fa = orientation_field(band_a, sigma_d, sigma_t)
    fb = orientation_field(band_b, sigma_d, sigma_t)
    th_a, coh_a, en_a = fa.theta[inner], fa.coherence[inner], fa.energy[inner]
    has_angle = coh_a > coherence_threshold
    d_present = angle_diff_deg(th_a, fb.theta[inner])
    turned = present & has_angle & (d_present > flip_deg)

    full_b = orientation_field(b, sigma_d, sigma_t)
    th_b, coh_b, en_b = full_b.theta[inner], full_b.coherence[inner], full_b.energy[inner]
    rest = [j[inner] for j in structure_tensor(a - band_a, sigma_d, sigma_t)]
    had = np.maximum(_anisotropy_along(*rest, th_b + 90.0), 0.0)
    new = coh_b * en_b - had
    d_gone = angle_diff_deg(th_a, th_b)
    redrawn = (~present & (coh_b > coherence_threshold) & (en_b > energy_floor)
               & (new >= REDRAWN_ENERGY_RATIO * en_a) & (~has_angle | (d_gone > flip_deg)))

    label = np.full(mask.shape, -1, dtype=np.int8)
    label[mask & present] = KEPT
    label[mask & turned] = TURNED
    label[mask & redrawn] = REDRAWN
    label[mask & ~present & ~redrawn] = ERASED
    delta = np.full(mask.shape, np.nan)
    with_angle = mask & has_angle
    delta[with_angle & present] = d_present[with_angle & present]
    delta[with_angle & redrawn] = d_gone[with_angle & redrawn]
    return PixelClasses(label=label, delta=delta, weight=coh_a * en_a)
