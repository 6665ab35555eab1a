"""Stripe analysis: orientation field, stripe-region detection, directional error.

Why this package exists: MS-SSIM-optimised learned codecs at low rates can redraw stripes at
the wrong *orientation*, or wipe thin ones out. PSNR and MS-SSIM barely register that, so we
measure it directly, on regions that really are stripes and at the stripes' own frequency.

- :mod:`.field`: the structure-tensor orientation field and the angle conventions;
- :mod:`.spectral`: the stripes' period, a ring band-pass around it, the angular spectrum;
- :mod:`.detect`: windows that are stripes (periodic, oriented, contrasted, extended);
- :mod:`.classes`: each stripe pixel kept, turned, redrawn or erased;
- :mod:`.error`: the class shares, Δθ and contrast retention on the stripe pixels;
- :mod:`.roi`: the ``Roi`` rectangle.

Only numpy and scipy are imported, and each submodule only when one of its names is first
used, so the CLI stays fast to start and a run without stripe regions loads none of them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeccmp.stripes.classes import CLASSES, ERASED_ENERGY_RATIO, REDRAWN_ENERGY_RATIO
    from codeccmp.stripes.detect import (
        NO_REGIONS,
        RoiScore,
        find_stripe_rois,
        score_stripe_rois,
        tile_map,
    )
    from codeccmp.stripes.error import (
        BAND_SIGMAS,
        DEFAULT_ENERGY_FLOOR,
        DEFAULT_FLIP_DEG,
        DEFAULT_MIN_ORIENTED_SHARE,
        DirectionalError,
        directional_error,
        stripe_mask,
    )
    from codeccmp.stripes.field import (
        DEFAULT_COHERENCE_THRESHOLD,
        DEFAULT_SIGMA_D,
        DEFAULT_SIGMA_T,
        OrientationField,
        angle_diff_deg,
        border_px,
        orientation_field,
        synthetic_grating,
        to_luma,
    )
    from codeccmp.stripes.roi import DEFAULT_ROI_COUNT, Roi, default_roi_size
    from codeccmp.stripes.spectral import (
        angular_spectrum,
        circular_emd_deg,
        dominant_period,
        ring_band_pass,
        spectral_shift_deg,
    )

#: Where each public name lives: the package imports a submodule when one of its names is
#: first asked for (PEP 562), so that ``from codeccmp.stripes.roi import Roi`` or a run
#: with ``--roi none`` does not load the whole analysis and SciPy. Hand-written rather
#: than ``lazy_loader``: a dict and two functions do not earn a dependency.
_WHERE: dict[str, str] = {
    "CLASSES": "classes",
    "ERASED_ENERGY_RATIO": "classes",
    "REDRAWN_ENERGY_RATIO": "classes",
    "NO_REGIONS": "detect",
    "RoiScore": "detect",
    "find_stripe_rois": "detect",
    "score_stripe_rois": "detect",
    "tile_map": "detect",
    "BAND_SIGMAS": "error",
    "DEFAULT_ENERGY_FLOOR": "error",
    "DEFAULT_FLIP_DEG": "error",
    "DEFAULT_MIN_ORIENTED_SHARE": "error",
    "DirectionalError": "error",
    "directional_error": "error",
    "stripe_mask": "error",
    "DEFAULT_COHERENCE_THRESHOLD": "field",
    "DEFAULT_SIGMA_D": "field",
    "DEFAULT_SIGMA_T": "field",
    "OrientationField": "field",
    "angle_diff_deg": "field",
    "border_px": "field",
    "orientation_field": "field",
    "synthetic_grating": "field",
    "to_luma": "field",
    "DEFAULT_ROI_COUNT": "roi",
    "Roi": "roi",
    "default_roi_size": "roi",
    "angular_spectrum": "spectral",
    "circular_emd_deg": "spectral",
    "dominant_period": "spectral",
    "ring_band_pass": "spectral",
    "spectral_shift_deg": "spectral",
}


__all__ = [
    "BAND_SIGMAS",
    "CLASSES",
    "ERASED_ENERGY_RATIO",
    "REDRAWN_ENERGY_RATIO",
    "DEFAULT_COHERENCE_THRESHOLD",
    "DEFAULT_ENERGY_FLOOR",
    "DEFAULT_FLIP_DEG",
    "DEFAULT_MIN_ORIENTED_SHARE",
    "DEFAULT_ROI_COUNT",
    "DEFAULT_SIGMA_D",
    "DEFAULT_SIGMA_T",
    "DirectionalError",
    "NO_REGIONS",
    "OrientationField",
    "Roi",
    "RoiScore",
    "angle_diff_deg",
    "angular_spectrum",
    "border_px",
    "circular_emd_deg",
    "default_roi_size",
    "directional_error",
    "dominant_period",
    "find_stripe_rois",
    "orientation_field",
    "ring_band_pass",
    "score_stripe_rois",
    "spectral_shift_deg",
    "stripe_mask",
    "synthetic_grating",
    "tile_map",
    "to_luma",
]


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` on first use, and keep the name here."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
