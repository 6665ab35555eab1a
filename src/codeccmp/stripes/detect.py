"""Stripe-region detection: windows where there are stripes, not merely texture.

A stripe pattern is *periodic* (its local spectrum has one dominant, narrow peak), *consistently
oriented* (the power near that peak's radius lies along one direction, or two for checks) and
has *contrast*. Gravel, foliage, water and branches fail the first test (their power is spread
over many frequencies), a single edge or line fails it too (its power is spread along a line
through the origin, and its maximum sits at the lowest frequencies, not at a period), and text
fails the first or second. The test runs on overlapping tiles; a window is a stripe region when
enough of it (``extent``) is covered by tiles that pass. Images without stripes give no window:
fewer than ``k`` come back, or none.

Everything is one pass of small FFTs over a grid of tiles (linear in the number of pixels,
a few MB of memory at any image size) plus integral images over the tile grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codeccmp.errors import UsageError
from codeccmp.stripes.field import to_luma
from codeccmp.stripes.roi import Roi, default_roi_size

#: Tile side (px) of the local spectrum. 48 px resolves periods up to 12 px with 4 repeats;
#: 32 px tiles let random texture through on kodim12's sea and kodim03's wall
#: (docs/metrics.md).
TILE_PX = 48
#: Tile step (px): tiles overlap by 2/3, and each tile speaks for its central 16 × 16 cell.
TILE_STEP = 16
#: Periods (px) searched for the peak, and the longest accepted as stripes (4 repeats per tile).
SEARCH_PERIODS: tuple[float, float] = (2.5, 24.0)
MAX_STRIPE_PERIOD = TILE_PX / 4
#: Periodicity: share of the tile's gradient power (|f|² × power, periods 2.5-24 px) within
#: 1.5 frequency bins of the peak (and its mirror). Stripes 0.5-0.95, checks ~0.45, gravel
#: and foliage < 0.2 (docs/metrics.md).
MIN_PEAK_SHARE = 0.35
#: Orientation consistency: share of the gradient power at 0.7-1.4 × the peak's radius that
#: lies within 15° of the peak's direction (~0.17 for isotropic texture, ~0.5 for checks).
MIN_CONCENTRATION = 0.5
#: Contrast: RMS amplitude (grey levels) of the peak component.
MIN_AMPLITUDE = 3.0
#: Extent: share of a window's pixels in the stripe mask.
MIN_EXTENT = 0.4
#: Ranking: contrast counts up to this RMS (grey levels); above it stripes are plainly
#: visible, and a window full of stripes should outrank a half-full one of higher contrast
#: (Barbara: the trousers, 19 levels, before the magazine stack, 33 levels but 61 % extent).
AMPLITUDE_CAP = 16.0
#: Said plainly wherever the detector found no stripe region (table, report, JSON).
NO_REGIONS = "no stripe regions found: the stripe analysis found nothing to measure"
_NEAR_BINS = 1.5
_RING = (0.7, 1.4)
_CONC_DEG = 15.0


@dataclass(frozen=True)
class TileMap:
    """Per-tile evidence on the ``TILE_STEP`` grid; tile ``(i, j)`` covers rows
    ``i*step .. i*step+tile`` and speaks for the central cell ``i*step+step .. +2*step``."""

    share: np.ndarray
    concentration: np.ndarray
    amplitude: np.ndarray
    period: np.ndarray
    theta: np.ndarray
    tile: int
    step: int

    @property
    def stripe(self) -> np.ndarray:
        """Boolean map: the tile passes every test."""
        return ((self.share >= MIN_PEAK_SHARE) & (self.concentration >= MIN_CONCENTRATION)
                & (self.amplitude >= MIN_AMPLITUDE) & (self.period <= MAX_STRIPE_PERIOD))


def tile_map(gray: np.ndarray, tile: int = TILE_PX, step: int = TILE_STEP,
             periods: tuple[float, float] = SEARCH_PERIODS) -> TileMap:
    """Local-spectrum evidence for every tile (see the module docstring and ``TileMap``)."""
    from numpy.lib.stride_tricks import sliding_window_view
    from scipy import fft as sfft

    g = np.asarray(gray, dtype=np.float32)
    h, w = g.shape
    ny, nx = (h - tile) // step + 1, (w - tile) // step + 1
    out = {k: np.zeros((max(ny, 0), max(nx, 0)), np.float32)
           for k in ("share", "concentration", "amplitude", "period", "theta")}
    if ny <= 0 or nx <= 0:
        return TileMap(**out, tile=tile, step=step)
    taper = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    fy = np.broadcast_to(np.fft.fftfreq(tile)[:, None], (tile, tile // 2 + 1))
    fx = np.broadcast_to(np.fft.rfftfreq(tile)[None, :], (tile, tile // 2 + 1))
    r = np.hypot(fy, fx)
    # One half-plane of the spectrum: the fx = 0 column holds both +fy and -fy.
    band = (r >= 1.0 / periods[1]) & (r <= 1.0 / periods[0]) & ~((fx == 0) & (fy < 0))
    fyb, fxb, rb = fy[band].astype(np.float32), fx[band].astype(np.float32), r[band]
    r2 = (rb**2).astype(np.float32)
    ang = np.degrees(np.arctan2(fyb, fxb))
    # Peak power -> RMS amplitude: Parseval over a tapered tile, half-plane (docs/metrics.md).
    norm = float(tile * tile * (taper**2).sum())
    views = sliding_window_view(g, (tile, tile))[::step, ::step]
    for i in range(ny):  # one grid row at a time: memory stays at a few MB
        blk = views[i] - views[i].mean(axis=(1, 2), keepdims=True)
        spec = sfft.rfft2(blk * taper)
        p = (spec.real**2 + spec.imag**2)[:, band]
        gp = p * r2
        total = gp.sum(axis=1) + 1e-12
        k = np.argmax(gp, axis=1)
        px, py = fxb[k][:, None], fyb[k][:, None]
        dist = np.minimum(np.hypot(fxb - px, fyb - py), np.hypot(fxb + px, fyb + py)) * tile
        near = dist <= _NEAR_BINS
        out["share"][i] = (gp * near).sum(axis=1) / total
        rp = rb[k]
        ring = (rb >= _RING[0] * rp[:, None]) & (rb <= _RING[1] * rp[:, None])
        dang = np.abs((ang - ang[k][:, None] + 90.0) % 180.0 - 90.0)
        ring_p = (gp * ring).sum(axis=1) + 1e-12
        out["concentration"][i] = (gp * (ring & (dang <= _CONC_DEG))).sum(axis=1) / ring_p
        out["amplitude"][i] = np.sqrt(2.0 * (p * near).sum(axis=1) / norm)
        out["period"][i] = 1.0 / rp
        out["theta"][i] = np.mod(np.degrees(np.arctan2(-fyb[k], fxb[k])) - 90.0, 180.0)
    return TileMap(**out, tile=tile, step=step)


@dataclass(frozen=True)
class RoiScore:
    """Why a window was picked: score = extent × min(amplitude, AMPLITUDE_CAP), and the
    stripes' own figures.

    ``extent``: share of the window's pixels in the stripe mask; ``amplitude``: their median RMS
    contrast (grey levels); ``coherence``: their median orientation concentration;
    ``periodicity``: their median peak share; ``period_px`` and ``theta_deg``: the median
    period and the (axial) mean orientation of the stripe tiles.
    """

    roi: Roi
    score: float
    amplitude: float
    coherence: float
    periodicity: float
    extent: float = math.nan
    period_px: float = math.nan
    theta_deg: float = math.nan

    def to_dict(self) -> dict[str, object]:
        return {"roi": self.roi.to_dict(), "score": self.score, "amplitude": self.amplitude,
                "coherence": self.coherence, "periodicity": self.periodicity,
                "extent": self.extent, "period_px": self.period_px,
                "theta_deg": self.theta_deg}


def _window_sums(values: np.ndarray, size: int) -> np.ndarray:
    """Sum of ``values`` over every ``size``² window (integral image), shape (H-size+1, ...)."""
    ii = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    ii[1:, 1:] = np.cumsum(np.cumsum(values, axis=0), axis=1)
    return ii[size:, size:] - ii[:-size, size:] - ii[size:, :-size] + ii[:-size, :-size]


def score_stripe_rois(
    img: np.ndarray,
    k: int = 3,
    size: int | None = None,
    *,
    min_extent: float = MIN_EXTENT,
    **_ignored: object,
) -> list[RoiScore]:
    """Up to ``k`` non-overlapping ``size``² stripe windows with their evidence, best first.

    Each tile that passes the stripe tests (``TileMap.stripe``) marks its central
    ``TILE_STEP``² cell. Windows on a ``TILE_STEP // 2`` grid are scored by

        score = extent × min(mean amplitude of the stripe cells inside, AMPLITUDE_CAP)

    and kept only where ``extent`` >= ``min_extent``; they are taken greedily, best first,
    skipping any that overlaps one already taken (ties: first in raster order). Keyword
    arguments of the former texture ranking (``stride``, ``sigma_d``...) are accepted and
    ignored.
    """
    g = to_luma(img, np.float32)
    h, w = g.shape
    s = default_roi_size(h, w) if size is None else int(size)
    if s <= 0 or s > h or s > w:
        raise UsageError(f"ROI size {s} does not fit the {w}x{h} image")
    if k <= 0:
        return []
    tm = tile_map(g)
    return _pick(tm, g, s, k, min_extent)


def _pick(tm: TileMap, g: np.ndarray, s: int, k: int, min_extent: float) -> list[RoiScore]:
    h, w = g.shape
    cell = tm.step // 2  # window grid and cell map resolution
    ok = tm.stripe
    ch, cw = -(-h // cell), -(-w // cell)
    cells = np.zeros((ch, cw), bool)
    amp = np.zeros((ch, cw), np.float32)
    off = (tm.tile - tm.step) // 2 // cell  # the central cell of a tile, in cell units
    rep = tm.step // cell
    for di in range(rep):
        for dj in range(rep):
            ys = slice(off + di, off + di + rep * ok.shape[0], rep)
            xs = slice(off + dj, off + dj + rep * ok.shape[1], rep)
            cells[ys, xs] = ok[: cells[ys, xs].shape[0], : cells[ys, xs].shape[1]]
            amp[ys, xs] = tm.amplitude[: amp[ys, xs].shape[0], : amp[ys, xs].shape[1]]
    sc = s // cell  # window side in cells (windows are placed on the cell grid)
    if sc < 1 or not cells.any():
        return []
    # Windows must lie inside the image: top-left cell y*cell + s <= h.
    ny, nx = (h - s) // cell + 1, (w - s) // cell + 1
    count = _window_sums(cells.astype(np.float64), sc)[:ny, :nx]
    extent = count / float(sc * sc)
    amp_sum = _window_sums(np.where(cells, amp, 0.0), sc)[:ny, :nx]
    mean_amp = np.minimum(amp_sum / np.maximum(count, 1.0), AMPLITUDE_CAP)
    score = np.where(extent >= min_extent, extent * mean_amp, -np.inf)
    avail = np.ones(score.shape, bool)
    picked: list[RoiScore] = []
    tries = 0
    while len(picked) < k and tries < 10 * k:
        cand = np.where(avail, score, -np.inf)
        idx = int(np.argmax(cand))
        best = float(cand.flat[idx])
        if not math.isfinite(best) or best <= 0.0:
            break
        gy, gx = divmod(idx, score.shape[1])
        roi = Roi(int(gx * cell), int(gy * cell), s, s)
        # A tile speaks for its central cell but sees 16 px around it, so the cell map bleeds
        # past a pattern's edge: confirm the extent on the pixels (the stripe mask).
        desc = _describe(tm, roi, best, math.nan)
        share = _pixel_extent(g, roi, desc.period_px)
        if share < min_extent:
            # Windows shifted by under a quarter of their side share >= 3/4 of these pixels:
            # skip them too rather than test each (keeps the search to a few ms per window).
            q = max(1, sc // 4)
            avail[max(0, gy - q): gy + q + 1, max(0, gx - q): gx + q + 1] = False
            tries += 1
            continue
        picked.append(RoiScore(roi, share * min(desc.amplitude, AMPLITUDE_CAP),
                               desc.amplitude, desc.coherence, desc.periodicity, share,
                               desc.period_px, desc.theta_deg))
        avail[max(0, gy - sc + 1): gy + sc, max(0, gx - sc + 1): gx + sc] = False
    picked.sort(key=lambda r: -r.score)
    return picked


def _pixel_extent(g: np.ndarray, roi: Roi, period: float) -> float:
    """Share of ``roi``'s pixels in the stripe mask of ``period`` (computed with a margin)."""
    from codeccmp.stripes.error import stripe_mask

    if not math.isfinite(period):
        return 0.0
    m = int(math.ceil(3 * period))
    h, w = g.shape
    y0, y1 = max(roi.y - m, 0), min(roi.y + roi.h + m, h)
    x0, x1 = max(roi.x - m, 0), min(roi.x + roi.w + m, w)
    mask = stripe_mask(np.asarray(g[y0:y1, x0:x1], dtype=np.float64), period)
    return float(mask[roi.y - y0: roi.y - y0 + roi.h, roi.x - x0: roi.x - x0 + roi.w].mean())


def _describe(tm: TileMap, roi: Roi, score: float, extent: float) -> RoiScore:
    """The median figures of the stripe tiles whose central cell lies in ``roi``."""
    half = (tm.tile - tm.step) // 2
    ys = (np.arange(tm.share.shape[0]) * tm.step + half)
    xs = (np.arange(tm.share.shape[1]) * tm.step + half)
    iy = (ys >= roi.y) & (ys + tm.step <= roi.y + roi.h)
    ix = (xs >= roi.x) & (xs + tm.step <= roi.x + roi.w)
    sel = np.ix_(iy, ix)
    ok = tm.stripe[sel]
    if not ok.any():
        return RoiScore(roi, score, math.nan, math.nan, math.nan, extent)
    t = np.radians(2.0 * tm.theta[sel][ok])
    theta = math.degrees(math.atan2(float(np.sin(t).sum()), float(np.cos(t).sum()))) / 2 % 180
    return RoiScore(roi, score, float(np.median(tm.amplitude[sel][ok])),
                    float(np.median(tm.concentration[sel][ok])),
                    float(np.median(tm.share[sel][ok])), extent,
                    float(np.median(tm.period[sel][ok])), theta)


def find_stripe_rois(img: np.ndarray, k: int = 3, size: int | None = None,
                     **kwargs: object) -> list[Roi]:
    """Up to ``k`` stripe windows, best first; fewer, or none, where there are no stripes.

    See ``score_stripe_rois`` for the ranking and the module docstring for the tests a
    region must pass; docs/metrics.md has the thresholds and the measurements behind them.
    """
    return [r.roi for r in score_stripe_rois(img, k, size, **kwargs)]
