"""Spectral measures: the stripes' own frequency, a band-pass around it, the angular spectrum.

Stripes are periodic, so their signature is in the Fourier domain: a narrow peak at one
radius (the period) and one direction. This module finds that radius in a region and filters
an image to a narrow ring around it, so that contrast is measured at the stripes' frequency
only: a strong edge next to thin stripes (a muntin beside 3 px slats) puts most of its energy
elsewhere and no longer masks their loss.
"""

from __future__ import annotations

import math

import numpy as np

from codeccmp.stripes.field import to_luma
from codeccmp.stripes.roi import Roi

#: Periods (px) of the stripe band the angular spectrum is taken over: finer than 2.5 px is
#: mostly noise and chroma aliasing, coarser than 24 px is shading rather than stripes.
SPECTRAL_PERIODS: tuple[float, float] = (2.5, 24.0)
SPECTRAL_BINS = 180  # 1° bins over the 180° of axial orientation
#: Half-width (1 sigma, in octaves) of the ring band-pass around the stripes' frequency: at
#: 0.3 a 3 px stripe's band is 2.4-3.7 px, and an octave away (a 6 px pattern) passes 0.4 %.
RING_OCTAVES: float = 0.3


#: Periods searched for a region's stripes: down to 2 px (Nyquist), since real fine stripes go
#: there (Barbara's trousers above the ankle: 2.4 px); the maximum must be inside the band.
PERIOD_SEARCH: tuple[float, float] = (2.0, 24.0)


def dominant_period(gray: np.ndarray, periods: tuple[float, float] = PERIOD_SEARCH,
                    min_repeats: float = 3.0) -> float | None:
    """The period (px) of the strongest periodic component of a region, or None if there is none.

    The Hann-tapered spectrum is weighted by |f|² (the gradient's spectrum, in which an edge
    is flat along its normal and random texture is spread out, while stripes stay a sharp
    peak), summed over directions into a radial profile, and its maximum refined by a
    parabola. Summing over directions makes curved stripes (a scarf's folds) and checks (two
    directions at one period) count as one period. Periods longer than the region's shorter
    side / ``min_repeats`` are not considered: fewer repeats are not a pattern. None when the
    region is flat or the maximum sits at the band's edge (no peak: an edge, a ramp).
    """
    g = np.asarray(gray, dtype=np.float64)
    h, w = g.shape
    longest = min(periods[1], min(h, w) / min_repeats)
    if longest <= periods[0] or g.std() < 1e-6:
        return None
    win = np.outer(np.hanning(h), np.hanning(w))
    p = np.abs(np.fft.rfft2((g - g.mean()) * win)) ** 2
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    r = np.hypot(fy, fx)
    n = max(h, w)
    radial = np.bincount(np.minimum(np.rint(r * n).astype(int), n).ravel(),
                         weights=(p * r**2).ravel(), minlength=n + 1)
    lo, hi = int(math.ceil(n / longest)), int(math.floor(n / periods[0]))
    hi = min(hi, n // 2)
    if hi - lo < 2:
        return None
    k = lo + int(np.argmax(radial[lo:hi + 1]))
    if k in (lo, hi) or radial[k] <= 0:
        return None
    a, b, c = radial[k - 1], radial[k], radial[k + 1]
    denom = a - 2 * b + c
    off = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return float(n / (k + max(-0.5, min(0.5, off))))


def ring_band_pass(gray: np.ndarray, period: float, octaves: float = RING_OCTAVES) -> np.ndarray:
    """``gray`` filtered to a ring of frequencies around 1/``period``, any direction.

    The gain is a Gaussian in log-frequency (``octaves`` = 1 sigma), 1 at the stripes'
    frequency, so a blurred grating of that period comes out scaled by exactly the blur's
    transfer function, and a rotation (same radius) does not change it. The input is mirrored
    before the FFT so the region's edges do not wrap around.
    """
    g = np.asarray(gray, dtype=np.float64)
    h, w = g.shape
    pad = int(min(h - 1, w - 1, math.ceil(3 * period)))
    gp = np.pad(g - g.mean(), pad, mode="reflect") if pad > 0 else g - g.mean()
    hh, ww = gp.shape
    fy = np.fft.fftfreq(hh)[:, None]
    fx = np.fft.rfftfreq(ww)[None, :]
    r = np.hypot(fy, fx)
    with np.errstate(divide="ignore"):
        lr = np.log2(np.where(r > 0, r * period, 1e-12))
    gain = np.exp(-0.5 * (lr / octaves) ** 2)
    out = np.fft.irfft2(np.fft.rfft2(gp) * gain, s=gp.shape)
    return out[pad:pad + h, pad:pad + w]


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
    if roi is not None:  # crop first: converting a 24 MP image per ROI costs seconds
        orig, recon = np.asarray(orig)[roi.slices], np.asarray(recon)[roi.slices]
    a, b = to_luma(orig), to_luma(recon)
    return circular_emd_deg(angular_spectrum(a), angular_spectrum(b))
