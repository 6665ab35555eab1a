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

Only numpy and scipy are imported, so the CLI stays fast to start.
"""

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
from codeccmp.stripes.roi import Roi, default_roi_size
from codeccmp.stripes.spectral import (
    angular_spectrum,
    circular_emd_deg,
    dominant_period,
    ring_band_pass,
    spectral_shift_deg,
)

__all__ = [
    "BAND_SIGMAS",
    "CLASSES",
    "ERASED_ENERGY_RATIO",
    "REDRAWN_ENERGY_RATIO",
    "DEFAULT_COHERENCE_THRESHOLD",
    "DEFAULT_ENERGY_FLOOR",
    "DEFAULT_FLIP_DEG",
    "DEFAULT_MIN_ORIENTED_SHARE",
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
