"""Stripe analysis: orientation field, directional error and stripe-ROI detection.

Why this module exists: MS-SSIM-optimised learned codecs at low rates can redraw stripes at the
wrong *orientation*. PSNR and MS-SSIM barely register that, so we measure it directly from the
local orientation of the image, estimated with the structure tensor.

Conventions (used everywhere in this module, in ``synthetic_grating`` and in docs/metrics.md):

- Angles are in degrees in ``[0, 180)``, measured counter-clockwise from the +x axis (to the
  right) with y pointing **up** on screen (row index increasing downwards means y = -row).
- ``theta`` is the orientation of the **stripes themselves**: the direction along which the
  intensity is constant. Horizontal stripes (rows of tiles, a venetian blind) have
  ``theta = 0``; vertical stripes (a barcode) have ``theta = 90``. The gradient direction is
  ``theta + 90``.

Only numpy and scipy.ndimage are imported, so the CLI stays fast to start.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import ndimage

from codeccmp.errors import UsageError

__all__ = [
    "DEFAULT_COHERENCE_THRESHOLD",
    "DEFAULT_ENERGY_FLOOR",
    "DEFAULT_FLIP_DEG",
    "DEFAULT_SIGMA_D",
    "DEFAULT_SIGMA_T",
    "DirectionalError",
    "OrientationField",
    "Roi",
    "default_roi_size",
    "directional_error",
    "find_stripe_rois",
    "orientation_field",
    "synthetic_grating",
    "to_luma",
]

#: Derivative-of-Gaussian scale (px). Real stripes in photographs go down to ~3 px periods (the
#: kodim08 roof rows are 3.3 px); at sigma 1.0 such stripes are attenuated to ~15 % and the
#: fine streaks a codec draws are invisible to the tensor. 0.7 keeps ~40 % at 3.3 px and still
#: measures gratings to < 0.3 degrees. See docs/metrics.md for the measurements.
DEFAULT_SIGMA_D: float = 0.7
#: Tensor integration scale (px). See docs/metrics.md for the measurements behind it.
DEFAULT_SIGMA_T: float = 3.0
#: Linear coherence (l1-l2)/(l1+l2) above which a pixel counts as "strongly oriented".
DEFAULT_COHERENCE_THRESHOLD: float = 0.5
#: Structure-tensor energy (smoothed squared gradient, 8-bit grey levels^2 per px^2) below
#: which a pixel is treated as flat, whatever its coherence. 16 = RMS gradient of 4 levels/px.
DEFAULT_ENERGY_FLOOR: float = 16.0
#: An oriented pixel whose angle moved by more than this counts as "flipped".
DEFAULT_FLIP_DEG: float = 20.0
#: Difference-of-Gaussians scales (px) of the stripe band used for contrast retention:
#: >= 50 % response for periods of ~4-15 px (peak ~0.87 near 8 px), 41 % at 3.3 px.
BAND_SIGMAS: tuple[float, float] = (0.7, 3.0)

_ROI_RE = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*$")


# --------------------------------------------------------------------------------------- ROI


@dataclass(frozen=True)
class Roi:
    """A rectangular region of interest in pixel coordinates (x = column, y = row, top-left)."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> Roi:
        """Parse ``"x,y,w,h"`` (as given to ``--roi``); raise UsageError on anything else."""
        m = _ROI_RE.match(text or "")
        if m is None:
            raise UsageError(
                f"bad ROI {text!r}: expected four integers 'x,y,w,h' (e.g. '200,110,80,110')"
            )
        x, y, w, h = (int(g) for g in m.groups())
        if w <= 0 or h <= 0:
            raise UsageError(f"bad ROI {text!r}: width and height must be positive")
        if x < 0 or y < 0:
            raise UsageError(f"bad ROI {text!r}: x and y must not be negative")
        return cls(x, y, w, h)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices, so ``img[roi.slices]`` is the crop (works for HxW and HxWxC)."""
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"

    def clip_check(self, width: int, height: int) -> None:
        """Raise UsageError unless the ROI lies entirely inside a ``width`` x ``height`` image.

        We refuse rather than clip: a silently shrunk ROI would make numbers incomparable.
        """
        if self.x < 0 or self.y < 0 or self.x + self.w > width or self.y + self.h > height:
            raise UsageError(
                f"ROI {self} (x,y,w,h) lies outside the {width}x{height} image"
            )

    def overlaps(self, other: Roi) -> bool:
        return not (
            self.x + self.w <= other.x
            or other.x + other.w <= self.x
            or self.y + self.h <= other.y
            or other.y + other.h <= self.y
        )


# ------------------------------------------------------------------------------ basic helpers


def to_luma(img: np.ndarray) -> np.ndarray:
    """Return the luma plane as float64 (BT.601 weights for RGB; HxW input returned as float).

    Orientation is a property of luminance structure; chroma is subsampled by most codecs anyway.
    An alpha channel (HxWx4) is ignored.
    """
    a = np.asarray(img)
    if a.ndim == 2:
        return a.astype(np.float64)
    if a.ndim == 3 and a.shape[2] == 1:
        return a[:, :, 0].astype(np.float64)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        a = a[:, :, :3].astype(np.float64)
        return 0.299 * a[:, :, 0] + 0.587 * a[:, :, 1] + 0.114 * a[:, :, 2]
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


def _tensor(gray: np.ndarray, sigma_d: float, sigma_t: float) -> tuple[np.ndarray, ...]:
    g = np.asarray(gray, dtype=np.float64)
    gx = ndimage.gaussian_filter(g, sigma_d, order=(0, 1), mode="reflect")
    gy = -ndimage.gaussian_filter(g, sigma_d, order=(1, 0), mode="reflect")  # y points up
    jxx = ndimage.gaussian_filter(gx * gx, sigma_t, mode="reflect")
    jyy = ndimage.gaussian_filter(gy * gy, sigma_t, mode="reflect")
    jxy = ndimage.gaussian_filter(gx * gy, sigma_t, mode="reflect")
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
    g = to_luma(gray) if np.asarray(gray).ndim == 3 else np.asarray(gray, dtype=np.float64)
    return _field_from_tensor(*_tensor(g, sigma_d, sigma_t))


# ------------------------------------------------------------------------- directional error


@dataclass(frozen=True)
class DirectionalError:
    """How far a reconstruction's stripes turned, and how much of their contrast survived.

    ``delta_theta_deg``: coherence×energy-weighted mean |Δθ| (180° wrap, so in [0, 90]), weights
    from the original; ``flip_share``: share of strongly oriented pixels whose angle moved by more
    than ``flip_deg``; ``contrast_retention``: band-pass RMS of the reconstruction over that of
    the original; ``n_oriented``: number of strongly oriented pixels the first two are based on.
    NaN where undefined (no oriented pixels / no band-pass energy).
    """

    delta_theta_deg: float
    flip_share: float
    contrast_retention: float
    n_oriented: int

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-safe dict: NaN becomes None."""

        def clean(v: float) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "delta_theta_deg": clean(self.delta_theta_deg),
            "flip_share": clean(self.flip_share),
            "contrast_retention": clean(self.contrast_retention),
            "n_oriented": int(self.n_oriented),
        }


def angle_diff_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """|a - b| for axial angles (period 180°), in [0, 90]."""
    d = np.mod(np.asarray(a) - np.asarray(b), 180.0)
    return np.minimum(d, 180.0 - d)


def _band_pass(g: np.ndarray) -> np.ndarray:
    s1, s2 = BAND_SIGMAS
    return ndimage.gaussian_filter(g, s1, mode="reflect") - ndimage.gaussian_filter(
        g, s2, mode="reflect"
    )


def directional_error(
    orig: np.ndarray,
    recon: np.ndarray,
    roi: Roi | None = None,
    *,
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
    flip_deg: float = DEFAULT_FLIP_DEG,
    energy_floor: float = DEFAULT_ENERGY_FLOOR,
    sigma_d: float = DEFAULT_SIGMA_D,
    sigma_t: float = DEFAULT_SIGMA_T,
) -> DirectionalError:
    """Directional distortion of ``recon`` against ``orig`` inside ``roi`` (or the whole image).

    Both fields are computed on the ROI plus a margin (so the window edge does not bias them),
    then cropped. All statistics use only *strongly oriented* pixels of the original (coherence
    above ``coherence_threshold`` and energy above ``energy_floor``): elsewhere the original has
    no stripe direction to keep, and the reconstruction's angle there is meaningless.
    """
    a = to_luma(orig)
    b = to_luma(recon)
    if a.shape != b.shape:
        raise ValueError(f"original {a.shape} and reconstruction {b.shape} differ in size")
    h, w = a.shape
    if roi is not None:
        roi.clip_check(w, h)
        m = int(math.ceil(3 * (sigma_t + sigma_d) + 3 * BAND_SIGMAS[1]))
        y0, y1 = max(roi.y - m, 0), min(roi.y + roi.h + m, h)
        x0, x1 = max(roi.x - m, 0), min(roi.x + roi.w + m, w)
        a, b = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
        inner = (slice(roi.y - y0, roi.y - y0 + roi.h), slice(roi.x - x0, roi.x - x0 + roi.w))
    else:
        inner = (slice(None), slice(None))

    fa = orientation_field(a, sigma_d, sigma_t)
    fb = orientation_field(b, sigma_d, sigma_t)
    coh = fa.coherence[inner]
    en = fa.energy[inner]
    mask = (coh > coherence_threshold) & (en > energy_floor)
    n = int(mask.sum())

    ba = _band_pass(a)[inner]
    bb = _band_pass(b)[inner]
    region = mask if n > 0 else np.ones_like(mask)
    ea = float(np.mean(ba[region] ** 2))
    eb = float(np.mean(bb[region] ** 2))
    retention = math.sqrt(eb / ea) if ea > 1e-9 else math.nan

    if n == 0:
        return DirectionalError(math.nan, math.nan, retention, 0)
    d = angle_diff_deg(fa.theta[inner], fb.theta[inner])[mask]
    wts = (coh * en)[mask]
    delta = float(np.sum(wts * d) / np.sum(wts))
    flip = float(np.mean(d > flip_deg))
    return DirectionalError(delta, flip, retention, n)


# ------------------------------------------------------------------------------ ROI detection


def default_roi_size(height: int, width: int) -> int:
    """~min(H, W)/6 rounded to a multiple of 8, clamped to [32, 160] (and to the image)."""
    s = int(round(min(height, width) / 6 / 8)) * 8
    s = max(32, min(160, s))
    return max(1, min(s, height, width))


def find_stripe_rois(
    img: np.ndarray,
    k: int = 3,
    size: int | None = None,
    *,
    sigma_d: float = DEFAULT_SIGMA_D,
    sigma_t: float = DEFAULT_SIGMA_T,
    coherence_threshold: float = DEFAULT_COHERENCE_THRESHOLD,
) -> list[Roi]:
    """Up to ``k`` non-overlapping square windows where stripes are strongest, best first."""
    g = to_luma(img)
    h, w = g.shape
    s = default_roi_size(h, w) if size is None else int(size)
    if s <= 0 or s > h or s > w:
        raise UsageError(f"ROI size {s} does not fit the {w}x{h} image")
    f = orientation_field(g, sigma_d, sigma_t)
    score = f.coherence * f.energy
    # Window sums at every top-left position via an integral image.
    ii = np.zeros((h + 1, w + 1))
    ii[1:, 1:] = np.cumsum(np.cumsum(score, 0), 1)
    win = ii[s:, s:] - ii[:-s, s:] - ii[s:, :-s] + ii[:-s, :-s]  # (h-s+1, w-s+1)
    avail = np.ones_like(win, dtype=bool)
    out: list[Roi] = []
    for _ in range(k):
        cand = np.where(avail, win, -np.inf)
        idx = int(np.argmax(cand))
        if not np.isfinite(cand.flat[idx]) or cand.flat[idx] <= 0:
            break
        y, x = divmod(idx, win.shape[1])
        out.append(Roi(int(x), int(y), s, s))
        avail[max(0, y - s + 1) : y + s, max(0, x - s + 1) : x + s] = False
    return out
