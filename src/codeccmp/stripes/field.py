"""Orientation field: the structure tensor, its angle, coherence and energy.

Conventions (used everywhere in :mod:`codeccmp.stripes`, in ``synthetic_grating`` and in
docs/metrics.md):

- Angles are in degrees in ``[0, 180)``, measured counter-clockwise from the +x axis (to the
  right) with y pointing **up** on screen (row index increasing downwards means y = -row).
- ``theta`` is the orientation of the **stripes themselves**: the direction along which the
  intensity is constant. Horizontal stripes (rows of tiles, a venetian blind) have
  ``theta = 0``; vertical stripes (a barcode) have ``theta = 90``. The gradient direction is
  ``theta + 90``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy  # scipy.ndimage loads on first use: a run without stripes skips its 0.3 s

#: Derivative-of-Gaussian scale (px). Real stripes in photographs go down to ~3 px periods (the
#: kodim08 roof rows are 3.3 px); at sigma 1.0 such stripes are attenuated to 16 % and the
#: fine streaks a codec draws are invisible to the tensor. 0.7 keeps 41 % at 3.3 px and still
#: measures gratings to < 0.3 degrees (0.5 does not: 1.2 degrees, the sampled kernel is no
#: longer isotropic). See docs/metrics.md for the measurements.
DEFAULT_SIGMA_D: float = 0.7
#: Tensor integration scale (px): pools about one stripe period, so the angle is independent
#: of the stripes' phase and noise averages out (noise-only error 1.3 degrees at 3, 2.2 at 2),
#: while staying local enough to follow folds. See docs/metrics.md for the measurements.
DEFAULT_SIGMA_T: float = 3.0
#: Linear coherence (l1-l2)/(l1+l2) above which a pixel counts as "strongly oriented".
DEFAULT_COHERENCE_THRESHOLD: float = 0.5


def to_luma(img: np.ndarray, dtype: type = np.float64) -> np.ndarray:
    """Return the luma plane as float64 (BT.601 weights for RGB; HxW input returned as float).

    Orientation is a property of luminance structure; chroma is subsampled by most codecs anyway.
    An alpha channel (HxWx4) is ignored. ``dtype=np.float32`` halves the memory of large images
    (the detector and the whole-image figures use it; 8-bit input loses nothing).
    """
    a = np.asarray(img)
    if a.ndim == 2:
        return a.astype(dtype)
    if a.ndim == 3 and a.shape[2] == 1:
        return a[:, :, 0].astype(dtype)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        out = np.empty(a.shape[:2], dtype)
        for top in range(0, a.shape[0], 256):  # in strips: no full-size float RGB copy
            c = a[top:top + 256, :, :3].astype(dtype)
            out[top:top + 256] = 0.299 * c[:, :, 0] + 0.587 * c[:, :, 1] + 0.114 * c[:, :, 2]
        return out
    raise ValueError(f"expected an HxW or HxWx3 image, got shape {a.shape}")


def synthetic_grating(
    shape: tuple[int, int],
    angle_deg: float,
    period_px: float,
    kind: Literal["sine", "square"] = "sine",
    contrast: float = 0.8,
    phase: float = 0.0,
    *,
    mean: float = 127.5,
    supersample: int = 4,
) -> np.ndarray:
    """A uint8 grating whose stripes run at ``angle_deg`` (module convention) with a given period.

    ``contrast`` is the Michelson contrast around ``mean`` (amplitude = contrast * mean).
    ``phase`` is in radians. Square gratings are box-filtered over ``supersample``² sub-pixels,
    like a camera would integrate them, so their edges are not aliased staircases (which would
    themselves carry a spurious orientation at non-axis angles).
    """
    h, w = shape
    if period_px <= 0:
        raise ValueError("period_px must be positive")
    a = math.radians(angle_deg)
    # Normal to the stripes in (x, y_up) coordinates; y_up = -row.
    nx, ny = -math.sin(a), math.cos(a)
    ss = supersample if kind == "square" else 1
    offs = (np.arange(ss) + 0.5) / ss - 0.5
    rows = (np.arange(h)[:, None] + offs[None, :]).reshape(-1)
    cols = (np.arange(w)[:, None] + offs[None, :]).reshape(-1)
    s = nx * cols[None, :] + ny * (-rows[:, None])
    arg = 2 * math.pi * s / period_px + phase
    if kind == "sine":
        wave = np.sin(arg)
    elif kind == "square":
        wave = np.where(np.sin(arg) >= 0, 1.0, -1.0)
    else:
        raise ValueError(f"unknown grating kind {kind!r}")
    if ss > 1:
        wave = wave.reshape(h, ss, w, ss).mean(axis=(1, 3))
    val = mean * (1.0 + contrast * wave)
    return np.clip(np.rint(val), 0, 255).astype(np.uint8)


# -------------------------------------------------------------------------- orientation field


@dataclass(frozen=True)
class OrientationField:
    """Per-pixel structure-tensor summary.

    - ``theta``: stripe orientation in degrees, [0, 180) (see module docstring);
    - ``coherence``: (l1 - l2) / (l1 + l2) in [0, 1]; 1 = perfectly one-directional, 0 = isotropic;
    - ``energy``: l1 + l2 = Gaussian-smoothed squared gradient magnitude (grey levels²/px²).
    """

    theta: np.ndarray
    coherence: np.ndarray
    energy: np.ndarray


def structure_tensor(gray: np.ndarray, sigma_d: float = DEFAULT_SIGMA_D,
                     sigma_t: float = DEFAULT_SIGMA_T) -> tuple[np.ndarray, ...]:
    """The smoothed tensor's entries ``(jxx, jyy, jxy)`` (y up), for measures that need more
    than the field's angle: the stripe classes project a tensor onto another direction."""
    return _tensor(gray, sigma_d, sigma_t)


def field_from_tensor(jxx: np.ndarray, jyy: np.ndarray, jxy: np.ndarray) -> OrientationField:
    """The orientation field of given tensor entries (see :func:`orientation_field`)."""
    return _field_from_tensor(jxx, jyy, jxy)


def _tensor(gray: np.ndarray, sigma_d: float, sigma_t: float) -> tuple[np.ndarray, ...]:
    g = np.asarray(gray)
    if g.dtype != np.float32:  # float32 input stays float32 (whole-image mode: memory, speed)
        g = g.astype(np.float64)
    gx = scipy.ndimage.gaussian_filter(g, sigma_d, order=(0, 1), mode="reflect")
    gy = -scipy.ndimage.gaussian_filter(g, sigma_d, order=(1, 0), mode="reflect")  # y points up
    jxx = scipy.ndimage.gaussian_filter(gx * gx, sigma_t, mode="reflect")
    jyy = scipy.ndimage.gaussian_filter(gy * gy, sigma_t, mode="reflect")
    jxy = scipy.ndimage.gaussian_filter(gx * gy, sigma_t, mode="reflect")
    return jxx, jyy, jxy


def _field_from_tensor(jxx: np.ndarray, jyy: np.ndarray, jxy: np.ndarray) -> OrientationField:
    energy = jxx + jyy
    diff = np.hypot(jxx - jyy, 2.0 * jxy)  # = l1 - l2
    with np.errstate(invalid="ignore", divide="ignore"):
        coherence = np.where(energy > 1e-12, diff / energy, 0.0)
    grad_dir = 0.5 * np.degrees(np.arctan2(2.0 * jxy, jxx - jyy))  # dominant gradient orientation
    theta = np.mod(grad_dir + 90.0, 180.0)  # stripes run perpendicular to the gradient
    return OrientationField(theta=theta, coherence=np.clip(coherence, 0.0, 1.0), energy=energy)


def orientation_field(
    gray: np.ndarray, sigma_d: float = DEFAULT_SIGMA_D, sigma_t: float = DEFAULT_SIGMA_T
) -> OrientationField:
    """Structure-tensor orientation field of a grey (or RGB, converted to luma) image.

    Gradients are derivative-of-Gaussian at scale ``sigma_d``; the tensor (outer product of the
    gradient) is smoothed with a Gaussian of scale ``sigma_t``. Smoothing the tensor rather than
    the angle is what makes the estimate phase-independent: on a stripe the gradient vanishes on
    crests and troughs, and the tensor averages the flanks of about one period together.
    """
    g = np.asarray(gray)
    g = to_luma(g) if g.ndim == 3 else g if g.dtype == np.float32 else g.astype(np.float64)
    return _field_from_tensor(*_tensor(g, sigma_d, sigma_t))


def angle_diff_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| for axial angles (period 180°), in [0, 90]."""
    d = np.mod(np.asarray(a) - np.asarray(b), 180.0)
    return np.minimum(d, 180.0 - d)


def border_px(sigma_d: float = DEFAULT_SIGMA_D, sigma_t: float = DEFAULT_SIGMA_T) -> int:
    """Width of the image border whose orientation estimates are unreliable.

    Near the image edge the filters see reflected content: an oblique grating mirrored at the
    border becomes a chevron, and the tensor there averages two orientations (on gratings this
    biased whole-image Δθ by 1-1.7°; excluding ``2 (sigma_t + sigma_d)`` px brings it under
    0.1°). Only the *image* border matters; ROI borders are handled by computing with a margin.
    """
    return int(math.ceil(2 * (sigma_t + sigma_d)))
