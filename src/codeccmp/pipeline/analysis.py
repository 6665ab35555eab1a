"""Stripe analysis over a comparison: per-ROI directional figures for every codec.

The maths lives in :mod:`codeccmp.stripes`; this module applies it to pipeline results
and aggregates what the tables, montage and report show.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from codeccmp.errors import UsageError
from codeccmp.measure.metrics import ms_ssim, ms_ssim_supported, psnr
from codeccmp.metric import Metric, compute_metrics
from codeccmp.model.results import CodecResult
from codeccmp.stripes import (
    DEFAULT_ROI_COUNT,
    NO_REGIONS,
    Roi,
    angle_diff_deg,
    border_px,
    directional_error,
    find_stripe_rois,
    orientation_field,
    spectral_shift_deg,
)

#: The four class shares (JSON keys), in the order of :data:`codeccmp.stripes.CLASSES`. Each
#: region's sum to 1, so their means over the regions that have stripe pixels do too.
STRIPE_SHARES = ("kept_share", "turned_share", "redrawn_share", "erased_share")


def resolve_rois(pixels: np.ndarray, rois: Sequence[Roi] | str | None,
                 count: int = DEFAULT_ROI_COUNT) -> list[Roi]:
    """``"auto"`` finds up to ``count`` stripe regions (none where there are no stripes); a
    list is checked."""
    if rois is None:
        return []
    h, w = pixels.shape[:2]
    if isinstance(rois, str):
        if rois != "auto":
            raise UsageError(f"--roi expects x,y,w,h or auto, got {rois!r}")
        return find_stripe_rois(pixels, k=count)
    for r in rois:
        r.clip_check(w, h)
    return list(rois)


#: Metrics whose per-ROI value the ROI figures hold already (PSNR the same way; Δθ with
#: the region's surroundings as context, which the ``delta-theta`` metric on a crop lacks).
ROI_BUILTIN = frozenset({"psnr", "delta-theta"})


def roi_metrics(metrics: Sequence[Metric]) -> list[Metric]:
    """The chosen metrics that are also measured inside each ROI: those declaring
    ``per_roi`` (a local measure, meaningful on a region alone), less :data:`ROI_BUILTIN`."""
    return [m for m in metrics if m.per_roi and m.name not in ROI_BUILTIN]


def roi_figures(original: np.ndarray, recon: np.ndarray, roi: Roi,
                metrics: Sequence[Metric] = ()) -> dict[str, Any]:
    """Directional figures plus PSNR and MS-SSIM inside one ROI (a JSON-ready dict), and
    each of ``metrics`` on the region's crop under ``metrics`` (see :func:`roi_metrics`)."""
    sl = roi.slices
    a, b = original[sl], recon[sl]
    d = directional_error(original, recon, roi).to_dict()
    shift = spectral_shift_deg(original, recon, roi)
    entry: dict[str, Any] = {**roi.to_dict(), **d,
                             "spectral_shift_deg": shift if math.isfinite(shift) else None,
                             "psnr": psnr(a, b)}
    if ms_ssim_supported(a.shape):
        entry["ms_ssim"] = ms_ssim(a, b)
    else:
        entry["ms_ssim"] = None
        entry["ms_ssim_note"] = f"ROI {roi.w}×{roi.h} too small for 5-scale MS-SSIM (needs 161)"
    if metrics:
        values, notes = compute_metrics(metrics, a, b)
        entry["metrics"] = values
        if notes:
            entry["metric_notes"] = notes
    return entry


def _mean(values: list[float | None]) -> float | None:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    return float(np.mean(vals)) if vals else None


def analyse_result(original: np.ndarray, result: CodecResult, rois: Sequence[Roi],
                   truth: dict[str, Any] | None = None, metrics: Sequence[Metric] = ()) -> None:
    """Fill ``result.rois`` and ``result.stripes`` from its reconstruction (``metrics``:
    the chosen ones, of which the ``per_roi`` ones are measured in each ROI too)."""
    if not result.ok or result.reconstruction is None:
        return
    recon = result.reconstruction
    local = roi_metrics(metrics)
    result.rois = [roi_figures(original, recon, r, local) for r in rois]
    whole = directional_error(original, recon).to_dict()
    result.stripes = {
        "delta_theta_deg": _mean([e["delta_theta_deg"] for e in result.rois]),
        **{k: _mean([e.get(k) for e in result.rois]) for k in STRIPE_SHARES},
        "turned_deg": _mean([e.get("turned_deg") for e in result.rois]),
        "redrawn_deg": _mean([e.get("redrawn_deg") for e in result.rois]),
        "contrast_retention": _mean([e["contrast_retention"] for e in result.rois]),
        "spectral_shift_deg": _mean([e.get("spectral_shift_deg") for e in result.rois]),
        "regions": len(rois),
        "image": whole,
    }
    if not rois:
        result.stripes["note"] = NO_REGIONS
    if truth is not None:
        result.stripes["truth"] = truth_error(recon, truth)


# ------------------------------------------------------------------- ground-truth charts


def tile_orientation(field_theta: np.ndarray, weights: np.ndarray) -> float:
    """Weighted circular mean of axial angles (doubled-angle averaging), in [0, 180)."""
    t = np.deg2rad(2 * field_theta)
    c, s = float(np.sum(weights * np.cos(t))), float(np.sum(weights * np.sin(t)))
    return math.degrees(math.atan2(s, c)) / 2 % 180


def truth_error(image: np.ndarray, truth: dict[str, Any]) -> dict[str, Any]:
    """Orientation error of ``image`` against the chart's known tile orientations."""
    f = orientation_field(image)
    inset = border_px()
    errors, per_period = [], {}
    for t in truth["tiles"]:
        x, y, w, h = (int(t[k]) for k in ("x", "y", "w", "h"))
        sl = (slice(y + inset, y + h - inset), slice(x + inset, x + w - inset))
        wts = f.coherence[sl] * f.energy[sl]
        if wts.sum() <= 0:
            err = 90.0  # the stripes are gone: no orientation at all
        else:
            err = float(angle_diff_deg(tile_orientation(f.theta[sl], wts), float(t["angle_deg"])))
        errors.append(err)
        per_period.setdefault(str(t.get("period_px", "?")), []).append(err)
    return {
        "mean_abs_error_deg": float(np.mean(errors)),
        "max_abs_error_deg": float(np.max(errors)),
        "per_period_mean_deg": {k: float(np.mean(v)) for k, v in per_period.items()},
        "tiles": len(errors),
    }
