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
    "DEFAULT_MIN_ORIENTED_SHARE",
    "DEFAULT_SIGMA_D",
    "DEFAULT_SIGMA_T",
    "DirectionalError",
    "OrientationField",
    "Roi",
    "RoiScore",
    "angle_diff_deg",
    "border_px",
    "default_roi_size",
    "directional_error",
    "find_stripe_rois",
    "orientation_field",
    "score_stripe_rois",
    "synthetic_grating",
    "to_luma",
]

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
#: Structure-tensor energy (smoothed squared gradient, 8-bit grey levels^2 per px^2) below
#: which a pixel is treated as flat, whatever its coherence. 16 = RMS gradient of 4 levels/px.
DEFAULT_ENERGY_FLOOR: float = 16.0
#: Below this share of oriented pixels in a region, the angle statistics are NaN (undefined).
DEFAULT_MIN_ORIENTED_SHARE: float = 0.01
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
            raise UsageError(f"ROI {self} (x,y,w,h) lies outside the {width}x{height} image")

    def overlaps(self, other: Roi) -> bool:
        """True if the two rectangles share at least one pixel."""
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

    - ``delta_theta_deg``: mean |Δθ| over the strongly oriented pixels of the original, weighted
      by the original's coherence × energy; angles wrap at 180°, so it lies in [0, 90].
    - ``flip_share``: share of those pixels whose angle moved by more than ``flip_deg``.
    - ``contrast_retention``: stripe-band RMS of the reconstruction over that of the original
      (1 = kept, 0 = erased, > 1 = added detail or noise). Over the whole ROI in ROI mode, over
      the oriented pixels in whole-image mode.
    - ``n_oriented``: how many pixels the angle statistics rest on.
    - ``erased_share``: share of the oriented pixels where the reconstruction kept less than half
      the original's local stripe amplitude. Where stripes are erased, Δθ measures the direction
      of whatever is left (folds, block edges), so read Δθ and flip share next to this.

    Fields are NaN where undefined (too few oriented pixels; no stripe-band energy).
    """

    delta_theta_deg: float
    flip_share: float
    contrast_retention: float
    n_oriented: int
    erased_share: float = math.nan

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-safe dict: NaN becomes None."""

        def clean(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "delta_theta_deg": clean(self.delta_theta_deg),
            "flip_share": clean(self.flip_share),
            "contrast_retention": clean(self.contrast_retention),
            "n_oriented": int(self.n_oriented),
            "erased_share": clean(self.erased_share),
        }


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


def _interior(region: Roi, width: int, height: int, sigma_d: float, sigma_t: float) -> np.ndarray:
    """Boolean mask over ``region``: True where the pixel is not within the image border band."""
    b = border_px(sigma_d, sigma_t)
    if 2 * b >= min(width, height):  # tiny image: keep everything rather than nothing
        return np.ones((region.h, region.w), dtype=bool)
    ys = np.arange(region.y, region.y + region.h)
    xs = np.arange(region.x, region.x + region.w)
    ok_y = (ys >= b) & (ys < height - b)
    ok_x = (xs >= b) & (xs < width - b)
    return ok_y[:, None] & ok_x[None, :]


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
    min_oriented_share: float = DEFAULT_MIN_ORIENTED_SHARE,
    sigma_d: float = DEFAULT_SIGMA_D,
    sigma_t: float = DEFAULT_SIGMA_T,
) -> DirectionalError:
    """Directional distortion of ``recon`` against ``orig`` inside ``roi`` (or the whole image).

    Both fields are computed on the region plus a margin (so a ROI's edge does not bias them),
    then cropped. Angle statistics use only *strongly oriented* pixels of the original
    (coherence above ``coherence_threshold``, energy above ``energy_floor``, not within
    ``border_px`` of the image edge): elsewhere the original has no stripe direction to keep.
    If fewer than ``min_oriented_share`` of the region's pixels qualify (a flat patch, a check
    pattern), the angle fields are NaN rather than an average over a handful of pixels.
    """
    a = to_luma(orig)
    b = to_luma(recon)
    if a.shape != b.shape:
        raise ValueError(f"original {a.shape} and reconstruction {b.shape} differ in size")
    h, w = a.shape
    region = roi if roi is not None else Roi(0, 0, w, h)
    region.clip_check(w, h)
    # Compute on the region plus a margin wide enough for every filter, then crop back.
    m = int(math.ceil(4 * (sigma_t + sigma_d) + 4 * BAND_SIGMAS[1]))
    y0, y1 = max(region.y - m, 0), min(region.y + region.h + m, h)
    x0, x1 = max(region.x - m, 0), min(region.x + region.w + m, w)
    a, b = a[y0:y1, x0:x1], b[y0:y1, x0:x1]
    inner = (
        slice(region.y - y0, region.y - y0 + region.h),
        slice(region.x - x0, region.x - x0 + region.w),
    )

    fa = orientation_field(a, sigma_d, sigma_t)
    fb = orientation_field(b, sigma_d, sigma_t)
    coh = fa.coherence[inner]
    en = fa.energy[inner]
    interior = _interior(region, w, h, sigma_d, sigma_t)
    mask = (coh > coherence_threshold) & (en > energy_floor) & interior
    n = int(mask.sum())
    enough = n > 0 and n >= min_oriented_share * int(interior.sum())

    ba = _band_pass(a)
    bb = _band_pass(b)
    # ROI mode: the ROI *is* the stripe region, and contrast is defined on checks too.
    # Whole-image mode: only where there are stripes, or sky and walls would dilute it.
    whole_sel = mask if enough else np.zeros_like(mask)
    sel = interior if roi is not None else whole_sel
    ea = float(np.mean(ba[inner][sel] ** 2)) if sel.any() else 0.0
    eb = float(np.mean(bb[inner][sel] ** 2)) if sel.any() else 0.0
    retention = math.sqrt(eb / ea) if ea > 1e-9 else math.nan

    if not enough:
        return DirectionalError(math.nan, math.nan, retention, n, math.nan)
    d = angle_diff_deg(fa.theta[inner], fb.theta[inner])[mask]
    wts = (coh * en)[mask]
    delta = float(np.sum(wts * d) / np.sum(wts))
    flip = float(np.mean(d > flip_deg))
    # Local stripe energy (band-pass squared, smoothed like the tensor): erased where the
    # reconstruction keeps < 1/4 of the energy, i.e. < 1/2 of the amplitude.
    la = ndimage.gaussian_filter(ba * ba, sigma_t, mode="reflect")[inner][mask]
    lb = ndimage.gaussian_filter(bb * bb, sigma_t, mode="reflect")[inner][mask]
    erased = float(np.mean(lb < 0.25 * la))
    return DirectionalError(delta, flip, retention, n, erased)


# ------------------------------------------------------------------------------ ROI detection


def default_roi_size(height: int, width: int) -> int:
    """~min(H, W)/6 rounded to a multiple of 8, clamped to [32, 160] (and to the image)."""
    s = int(round(min(height, width) / 6 / 8)) * 8
    s = max(32, min(160, s))
    return max(1, min(s, height, width))


def _window_means(values: np.ndarray, size: int, stride: int) -> np.ndarray:
    """Mean of ``values`` over each ``size``² window whose top-left corner is on the stride grid."""
    h, w = values.shape
    ii = np.zeros((h + 1, w + 1))
    ii[1:, 1:] = np.cumsum(np.cumsum(values, axis=0), axis=1)
    sums = ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]
    return sums[::stride, ::stride] / float(size * size)


def _spectral_peak_share(
    gray: np.ndarray, size: int, stride: int, n_peaks: int, periods: tuple[float, float]
) -> np.ndarray:
    """Share of each window's stripe-band power that sits in its ``n_peaks`` strongest bins.

    A periodic pattern (straight stripes, a gingham check, a lattice) puts its power into a few
    sharp spectral peaks, so the share is high (~0.9 on Barbara's tablecloth); random texture
    (gravel, stone, foliage) spreads it (~0.1-0.4). The window is Hann-tapered so its edges do not
    add a spurious cross to the spectrum.
    """
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy import fft as sfft

    # float32 halves the FFT time; the share is a ratio, so single precision is ample.
    taper = np.outer(np.hanning(size), np.hanning(size)).astype(np.float32)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.hypot(fy, fx)
    band = (radius >= 1.0 / periods[1]) & (radius <= 1.0 / periods[0])
    out = np.zeros(((gray.shape[0] - size) // stride + 1, (gray.shape[1] - size) // stride + 1))
    if not band.any():  # window too small to hold any stripe-band frequency
        return out
    n_peaks = max(1, min(n_peaks, int(band.sum())))
    views = sliding_window_view(gray, (size, size))[::stride, ::stride]
    for i in range(views.shape[0]):  # one grid row at a time keeps memory at a few MB
        blk = (views[i] - views[i].mean(axis=(1, 2), keepdims=True)).astype(np.float32)
        spec = sfft.rfft2(blk * taper)
        pb = (spec.real**2 + spec.imag**2)[:, band]
        top = np.partition(pb, -n_peaks, axis=1)[:, -n_peaks:].sum(axis=1)
        out[i] = top / np.maximum(pb.sum(axis=1), 1e-12)
    return out


@dataclass(frozen=True)
class RoiScore:
    """Why a window was picked (for reports and for tuning): score = amplitude × orientedness."""

    roi: Roi
    score: float
    amplitude: float
    coherence: float
    periodicity: float

    def to_dict(self) -> dict[str, object]:
        return {
            "roi": self.roi.to_dict(),
            "score": self.score,
            "amplitude": self.amplitude,
            "coherence": self.coherence,
            "periodicity": self.periodicity,
        }


def score_stripe_rois(
    img: np.ndarray,
    k: int = 3,
    size: int | None = None,
    *,
    stride: int | None = None,
    sigma_d: float = DEFAULT_SIGMA_D,
    sigma_t: float = DEFAULT_SIGMA_T,
    fine_sigma: float = 1.5,
    n_peaks: int = 16,
    periods: tuple[float, float] = (2.5, 16.0),
) -> list[RoiScore]:
    """``find_stripe_rois`` with the per-window evidence; see there for the method."""
    g = to_luma(img)
    h, w = g.shape
    s = default_roi_size(h, w) if size is None else int(size)
    if s <= 0 or s > h or s > w:
        raise UsageError(f"ROI size {s} does not fit the {w}x{h} image")
    if k <= 0:
        return []
    st = max(1, s // 8) if stride is None else max(1, int(stride))

    # Amplitude: fine-detail energy (what a codec at low rate has to spend bits on), as a
    # geometric mean over the window, so a window only scores if stripes *fill* it: a few
    # strong edges (book spines, a shelf) cannot buy a high score.
    hp = g - ndimage.gaussian_filter(g, fine_sigma, mode="reflect")
    local = ndimage.gaussian_filter(hp * hp, sigma_t, mode="reflect")
    amplitude = np.sqrt(np.exp(_window_means(np.log1p(local), s, st)))
    # Orientedness: tensor coherence (tolerates curved stripes: folds of a scarf) or spectral
    # periodicity (tolerates several orientations: checks), whichever is larger.
    coherence = _window_means(orientation_field(g, sigma_d, sigma_t).coherence, s, st)
    periodicity = _spectral_peak_share(g, s, st, n_peaks, periods)
    score = amplitude * np.maximum(coherence, periodicity)

    avail = np.ones(score.shape, dtype=bool)
    reach = -(-s // st)  # grid cells closer than this overlap
    out: list[RoiScore] = []
    for _ in range(k):
        cand = np.where(avail, score, -np.inf)
        idx = int(np.argmax(cand))  # first maximum: deterministic
        best = float(cand.flat[idx])
        if not math.isfinite(best) or best <= 0.0:
            break
        gy, gx = divmod(idx, score.shape[1])
        roi = Roi(int(gx * st), int(gy * st), s, s)
        out.append(
            RoiScore(
                roi,
                best,
                float(amplitude[gy, gx]),
                float(coherence[gy, gx]),
                float(periodicity[gy, gx]),
            )
        )
        avail[max(0, gy - reach + 1) : gy + reach, max(0, gx - reach + 1) : gx + reach] = False
    return out


def find_stripe_rois(
    img: np.ndarray,
    k: int = 3,
    size: int | None = None,
    *,
    stride: int | None = None,
    sigma_d: float = DEFAULT_SIGMA_D,
    sigma_t: float = DEFAULT_SIGMA_T,
) -> list[Roi]:
    """Up to ``k`` non-overlapping square windows where fine stripes are strongest, best first.

    Every ``size``² window on a grid of step ``stride`` (default ``size // 8``) is scored by

        score = A × max(C, P)

    - ``A``: fine-detail amplitude, the geometric mean over the window of the local RMS of
      ``g - G_1.5 * g`` (periods below ~8 px pass at >= 50 %: the stripes codecs lose first);
    - ``C``: mean structure-tensor coherence (the "coherence" of the design's
      coherence × oriented energy; it keeps curved stripes);
    - ``P``: share of the window's 2.5-16 px-period power in its 16 strongest spectral bins
      (periodicity; it keeps checks, whose coherence is near 0).

    Windows are then taken greedily, best first, skipping any that overlaps one already taken.
    Fewer than ``k`` come back only if the image is too flat to score. The plain
    coherence × tensor-energy ranking puts Barbara's bookshelf above the trousers and misses the
    tablecloth entirely; docs/metrics.md has the comparison.
    """
    return [
        r.roi
        for r in score_stripe_rois(img, k, size, stride=stride, sigma_d=sigma_d, sigma_t=sigma_t)
    ]


# --------------------------------------------------------------- spectral orientation shift

#: Periods (px) of the stripe band the angular spectrum is taken over: finer than 2.5 px is
#: mostly noise and chroma aliasing, coarser than 24 px is shading rather than stripes.
SPECTRAL_PERIODS: tuple[float, float] = (2.5, 24.0)
SPECTRAL_BINS = 180  # 1° bins over the 180° of axial orientation


def angular_spectrum(gray: np.ndarray, periods: tuple[float, float] = SPECTRAL_PERIODS,
                     bins: int = SPECTRAL_BINS) -> np.ndarray:
    """Band-pass power of ``gray`` per *stripe* orientation (module convention), 1° bins.

    A Hann window keeps the region's edges from adding a spurious cross at 0° and 90°. Power
    at spatial frequency direction φ belongs to stripes at φ − 90°.
    """
    g = np.asarray(gray, dtype=np.float64)
    h, w = g.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.fftshift(np.fft.fft2((g - g.mean()) * win))) ** 2
    fy = np.fft.fftshift(np.fft.fftfreq(h))[:, None]
    fx = np.fft.fftshift(np.fft.fftfreq(w))[None, :]
    r = np.hypot(fx, fy)
    band = (r >= 1 / periods[1]) & (r <= 1 / periods[0])
    # Frequency direction with y up (rows grow downwards), then the stripes' direction.
    phi = np.degrees(np.arctan2(-fy * np.ones_like(fx), fx * np.ones_like(fy)))
    theta = np.mod(phi - 90.0, 180.0)
    idx = np.minimum((theta[band] / (180.0 / bins)).astype(int), bins - 1)
    return np.bincount(idx, weights=p[band], minlength=bins)


def circular_emd_deg(a: np.ndarray, b: np.ndarray) -> float:
    """Earth mover's distance between two orientation histograms on the 180° circle.

    For distributions on a circle the optimal transport cost is Σ|F − G − c| over the
    cumulative sums, minimised at c = median(F − G) (Rabin, Delon & Gousseau, 2011).
    """
    if a.sum() <= 0 or b.sum() <= 0:
        return math.nan
    d = np.cumsum(a / a.sum()) - np.cumsum(b / b.sum())
    step = 180.0 / len(a)
    return float(np.sum(np.abs(d - np.median(d))) * step)


def spectral_shift_deg(orig: np.ndarray, recon: np.ndarray, roi: Roi | None = None) -> float:
    """How far the stripes' orientation energy moved, in degrees, from the angular spectra.

    Unlike Δθ this needs no single dominant direction: on a check pattern (two orientations)
    or a weave it still measures energy turning to other angles. It compares *shapes* of the
    angular distributions (each normalised), so a uniform loss of contrast alone does not
    move it: contrast retention reports that. A grating rotated by δ gives δ.
    """
    a, b = to_luma(orig), to_luma(recon)
    if roi is not None:
        a, b = a[roi.slices], b[roi.slices]
    return circular_emd_deg(angular_spectrum(a), angular_spectrum(b))
