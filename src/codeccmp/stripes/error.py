"""Directional error: how far a reconstruction's stripes turned, and whether they survived.

In a region (ROI mode) everything is measured at the stripes' own frequency and on the
stripe pixels themselves: the region's dominant period is found from its spectrum, the images
are filtered to a narrow ring around it, and a *stripe mask* keeps the pixels where that ring
holds a large share of the local detail energy. Frames, muntins, sky and leaves around a band
of stripes therefore do not enter Δθ, the turned share, contrast retention or erased share.

Over the whole image (no ROI) there is no single period; the figures use the strongly
oriented pixels and a fixed difference-of-Gaussians band, computed in strips of rows so that
memory stays bounded at any image size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy  # scipy.ndimage loads on first use: a run without stripes skips its 0.3 s

from codeccmp.stripes.classes import (
    CLASSES,
    REDRAWN,
    TURNED,
    PixelClasses,
    classify,
)
from codeccmp.stripes.field import (
    DEFAULT_COHERENCE_THRESHOLD,
    DEFAULT_SIGMA_D,
    DEFAULT_SIGMA_T,
    border_px,
    orientation_field,
    to_luma,
)
from codeccmp.stripes.roi import Roi
from codeccmp.stripes.spectral import dominant_period, ring_band_pass

#: Structure-tensor energy (smoothed squared gradient, 8-bit grey levels^2 per px^2) below
#: which a pixel is treated as flat, whatever its coherence. 16 = RMS gradient of 4 levels/px.
DEFAULT_ENERGY_FLOOR: float = 16.0
#: Below this share of oriented pixels in a region, the angle statistics are NaN (undefined).
DEFAULT_MIN_ORIENTED_SHARE: float = 0.01
#: In a region, Δθ needs at least this share of the stripe pixels to still have an angle
#: (kept, turned or redrawn where the original has one direction): a Δθ of 57° resting on
#: the 2 % of a trouser leg that a codec redrew, the other 98 % erased, would read as a
#: turn of the whole region in a table's mean. The redrawn and turned angles themselves
#: (``redrawn_deg``, ``turned_deg``) are still given.
MIN_ANGLE_SHARE: float = 0.05
#: An oriented pixel whose angle moved by more than this counts as "flipped".
DEFAULT_FLIP_DEG: float = 20.0
#: Difference-of-Gaussians scales (px) of the whole-image stripe band: >= 50 % response for
#: periods of ~4-15 px (peak ~0.87 near 8 px), 41 % at 3.3 px.
BAND_SIGMAS: tuple[float, float] = (0.7, 3.0)
#: Stripe mask: a pixel is a stripe pixel where the ring band (the stripes' frequency) holds
#: at least this share of the local detail energy (all periods up to ~2x the stripes')...
STRIPE_ENERGY_SHARE: float = 0.35
#: ...and the ring band's local RMS is at least this many grey levels.
STRIPE_MIN_RMS: float = 2.0
#: Rows per strip in whole-image mode (memory: a few arrays of STRIP_ROWS x width float64).
STRIP_ROWS: int = 512


@dataclass(frozen=True)
class DirectionalError:
    """Where a reconstruction's stripes went: kept, turned, redrawn or erased, and by how much.

    - ``kept_share``, ``turned_share``, ``redrawn_share``, ``erased_share``: shares of the
      stripe pixels in each class (:mod:`codeccmp.stripes.classes`); they sum to 1.
    - ``delta_theta_deg``: mean |Δθ| over the pixels that still have an orientation (kept,
      turned and redrawn, where the original has a single direction), weighted by the
      original stripes' coherence × energy; angles wrap at 180°, so it lies in [0, 90].
      Erased pixels never enter it; NaN where too few pixels have an angle.
    - ``turned_deg``, ``redrawn_deg``: the same mean over the turned, the redrawn pixels only
      (how far they turned; at what angle the new structure runs).
    - ``contrast_retention``: RMS of the reconstruction's stripe band over the original's, on
      the stripe pixels (1 = kept, 0 = erased, > 1 = added detail or noise). In a ROI the band
      is a narrow ring around the stripes' own period (``period_px``).
    - ``n_stripe``: stripe pixels classified; ``n_oriented``: those Δθ rests on.
    - ``period_px``: the stripes' period in the region (NaN: no periodic pattern found).
    - ``stripe_share``: share of the region's pixels in the stripe mask.

    Fields are NaN where undefined (no stripe pixels; too few oriented pixels).
    """

    delta_theta_deg: float
    kept_share: float
    turned_share: float
    redrawn_share: float
    erased_share: float
    contrast_retention: float
    n_oriented: int
    n_stripe: int = 0
    turned_deg: float = math.nan
    redrawn_deg: float = math.nan
    period_px: float = math.nan
    stripe_share: float = math.nan

    def to_dict(self) -> dict[str, float | int | None]:
        """JSON-safe dict: NaN becomes None."""

        def clean(v: float | None) -> float | None:
            return None if v is None or not math.isfinite(v) else float(v)

        return {
            "delta_theta_deg": clean(self.delta_theta_deg),
            "kept_share": clean(self.kept_share),
            "turned_share": clean(self.turned_share),
            "redrawn_share": clean(self.redrawn_share),
            "erased_share": clean(self.erased_share),
            "turned_deg": clean(self.turned_deg),
            "redrawn_deg": clean(self.redrawn_deg),
            "contrast_retention": clean(self.contrast_retention),
            "n_oriented": int(self.n_oriented),
            "n_stripe": int(self.n_stripe),
            "period_px": clean(self.period_px),
            "stripe_share": clean(self.stripe_share),
        }


_NAN = math.nan


def _empty(retention: float = _NAN, n_stripe: int = 0, period: float = _NAN,
           share: float = _NAN, n_oriented: int = 0) -> DirectionalError:
    return DirectionalError(_NAN, _NAN, _NAN, _NAN, _NAN, retention, n_oriented, n_stripe, _NAN,
                            _NAN, period, share)


class _Tally:
    """Class counts and angle sums accumulated over one region or over strips of an image."""

    def __init__(self) -> None:
        self.counts = np.zeros(len(CLASSES), dtype=np.int64)
        self.n_angle = 0
        self.sw = self.swd = 0.0
        self.by_class = {TURNED: [0.0, 0.0], REDRAWN: [0.0, 0.0]}

    def add(self, pc: PixelClasses) -> None:
        self.counts += pc.counts()
        ok = (pc.label >= 0) & np.isfinite(pc.delta)
        w, d, lab = pc.weight[ok], pc.delta[ok], pc.label[ok]
        self.n_angle += int(ok.sum())
        self.sw += float(np.sum(w, dtype=np.float64))
        self.swd += float(np.sum(w * d, dtype=np.float64))
        for c, acc in self.by_class.items():
            sel = lab == c
            acc[0] += float(np.sum(w[sel], dtype=np.float64))
            acc[1] += float(np.sum(w[sel] * d[sel], dtype=np.float64))

    def result(self, retention: float, enough: bool, period: float = _NAN,
               share: float = _NAN) -> DirectionalError:
        n = int(self.counts.sum())
        if n == 0:
            return _empty(retention, 0, period, share)
        shares = self.counts / n
        angles = enough and self.n_angle > 0 and self.sw > 0

        def mean(c: int) -> float:
            sw, swd = self.by_class[c]
            return swd / sw if sw > 0 else _NAN

        return DirectionalError(self.swd / self.sw if angles else _NAN, *map(float, shares),
                                retention, self.n_angle, n,
                                mean(TURNED), mean(REDRAWN), period, share)


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
    return scipy.ndimage.gaussian_filter(g, s1, mode="reflect") - scipy.ndimage.gaussian_filter(
        g, s2, mode="reflect"
    )


def stripe_mask(gray: np.ndarray, period: float, ring: np.ndarray | None = None) -> np.ndarray:
    """Pixels of ``gray`` that belong to stripes of ``period`` px (see module docstring).

    ``es``: local energy of the ring band (the stripes' frequency); ``ed``: local energy of
    ``gray - G_period * gray`` (all detail finer than ~2 periods); both smoothed over half a
    period. A stripe pixel has ``STRIPE_ENERGY_SHARE * ed <= es <= ed / STRIPE_ENERGY_SHARE``:
    next to a strong edge, whose energy is spread over all frequencies, ``es`` is a small
    share of ``ed``; on flat ground just beyond a patch of stripes the narrow ring still
    rings (``es`` large) while there is no detail (``ed`` small). On the stripes the ratio is
    0.8-1.2 (a square wave keeps ~0.8 in its fundamental).
    """
    g = np.asarray(gray, dtype=np.float64)
    rb = ring_band_pass(g, period) if ring is None else ring
    s = max(1.0, period / 2)
    es = scipy.ndimage.gaussian_filter(rb * rb, s, mode="reflect")
    hp = g - scipy.ndimage.gaussian_filter(g, period, mode="reflect")
    ed = scipy.ndimage.gaussian_filter(hp * hp, s, mode="reflect")
    return ((es >= STRIPE_ENERGY_SHARE * ed) & (es * STRIPE_ENERGY_SHARE <= ed)
            & (es >= STRIPE_MIN_RMS**2))


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
    period_px: float | None = None,
) -> DirectionalError:
    """Directional distortion of ``recon`` against ``orig`` inside ``roi`` (or the whole image).

    ROI mode: the region's period (``period_px``, or ``dominant_period`` of the original's
    region), its stripe mask and ring band-pass; every stripe pixel (not within
    ``border_px`` of the image edge) is then classed kept, turned, redrawn or erased
    (:func:`codeccmp.stripes.classes.classify`). Fields are computed on the region plus a
    margin, then cropped, so the region's edge does not bias them. If fewer than
    ``min_oriented_share`` of the region's pixels still have an angle (a check pattern, a
    patch blurred flat), the angle fields are NaN rather than an average over a handful of
    pixels; the shares are still given. With no periodic pattern at all every field is NaN.
    Whole-image mode: the stripe pixels are the strongly oriented ones (coherence above
    ``coherence_threshold``, energy above ``energy_floor``) and the band is the fixed one.
    """
    a_full, b_full = np.asarray(orig), np.asarray(recon)
    if a_full.shape[:2] != b_full.shape[:2]:
        raise ValueError(f"original {a_full.shape} and reconstruction {b_full.shape} differ "
                         "in size")
    h, w = a_full.shape[:2]
    if roi is None:
        return _whole_image(a_full, b_full, coherence_threshold, flip_deg, energy_floor,
                            min_oriented_share, sigma_d, sigma_t)
    roi.clip_check(w, h)
    region = roi
    period = period_px
    if period is None:
        period = dominant_period(to_luma(a_full[region.slices]))
    if period is None:
        return _empty()
    m = int(math.ceil(4 * (sigma_t + sigma_d) + 4 * period))
    y0, y1 = max(region.y - m, 0), min(region.y + region.h + m, h)
    x0, x1 = max(region.x - m, 0), min(region.x + region.w + m, w)
    a = to_luma(a_full[y0:y1, x0:x1])
    b = to_luma(b_full[y0:y1, x0:x1])
    inner = (slice(region.y - y0, region.y - y0 + region.h),
             slice(region.x - x0, region.x - x0 + region.w))
    interior = _interior(region, w, h, sigma_d, sigma_t)
    ra, rb = ring_band_pass(a, period), ring_band_pass(b, period)
    stripes = stripe_mask(a, period, ra)[inner] & interior
    ns = int(stripes.sum())
    share = ns / float(region.w * region.h)
    if ns == 0:
        return _empty(_NAN, 0, period, 0.0)
    ea = float(np.mean(ra[inner][stripes] ** 2))
    eb = float(np.mean(rb[inner][stripes] ** 2))
    retention = math.sqrt(eb / ea) if ea > 1e-9 else math.nan
    tally = _Tally()
    tally.add(classify(a, b, ra, rb, inner, stripes, max(1.0, period), flip_deg=flip_deg,
                       coherence_threshold=coherence_threshold, energy_floor=energy_floor,
                       sigma_d=sigma_d, sigma_t=sigma_t))
    enough = tally.n_angle >= max(1.0, min_oriented_share * int(interior.sum()),
                                  MIN_ANGLE_SHARE * ns)
    return tally.result(retention, enough, period, share)


def _whole_image(a_full: np.ndarray, b_full: np.ndarray, coherence_threshold: float,
                 flip_deg: float, energy_floor: float, min_oriented_share: float,
                 sigma_d: float, sigma_t: float) -> DirectionalError:
    """Whole-image figures over the strongly oriented pixels, accumulated strip by strip.

    Each strip of ``STRIP_ROWS`` rows is filtered with a margin wide enough for every filter,
    so the result equals filtering the whole image at once (up to float rounding), while
    memory stays at a few strips' worth whatever the image size: linear time, bounded memory.
    """
    h, w = a_full.shape[:2]
    m = int(math.ceil(4 * (sigma_t + sigma_d) + 4 * BAND_SIGMAS[1]))
    n_interior = 0
    ea = eb = 0.0
    tally = _Tally()
    for top in range(0, h, STRIP_ROWS):
        bottom = min(top + STRIP_ROWS, h)
        y0, y1 = max(top - m, 0), min(bottom + m, h)
        a = to_luma(a_full[y0:y1], np.float32)
        b = to_luma(b_full[y0:y1], np.float32)
        inner = (slice(top - y0, bottom - y0), slice(0, w))
        fa = orientation_field(a, sigma_d, sigma_t)
        coh, en = fa.coherence[inner], fa.energy[inner]
        interior = _interior(Roi(0, top, w, bottom - top), w, h, sigma_d, sigma_t)
        mask = (coh > coherence_threshold) & (en > energy_floor) & interior
        n_interior += int(interior.sum())
        if not mask.any():
            continue
        ba, bb = _band_pass(a), _band_pass(b)
        ea += float(np.sum(ba[inner][mask].astype(np.float64) ** 2))
        eb += float(np.sum(bb[inner][mask].astype(np.float64) ** 2))
        tally.add(classify(a, b, ba, bb, inner, mask, sigma_t, flip_deg=flip_deg,
                           coherence_threshold=coherence_threshold,
                           energy_floor=energy_floor, sigma_d=sigma_d, sigma_t=sigma_t))
    n = int(tally.counts.sum())
    if n == 0 or n < min_oriented_share * n_interior:
        return _empty(_NAN, n, n_oriented=tally.n_angle)
    retention = math.sqrt(eb / ea) if ea > 1e-9 else math.nan
    return tally.result(retention, True)  # the share was checked on the stripe pixels above
