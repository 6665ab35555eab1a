"""The built-in metrics, wrapping :mod:`codeccmp.measure.metrics` and the stripe analysis.

The values are exactly those of the fixed ``psnr``/``ms_ssim``/``ssim`` result fields: these
classes only call the functions there. They import NumPy and the measuring code where they
compute: every run registers them, and completing a ``--metrics`` name needs no NumPy.
"""

from __future__ import annotations

import math

from codeccmp.metric import Metric, ValueRange

#: PSNR of 8-bit images: MSE ≤ 255², so ≥ 0 dB; 0 only for black against white, no target.
POSITIVE = ValueRange(0.0, None, low_inclusive=False)
#: SSIM and MS-SSIM: 1 for identical images; pytorch-msssim's MS-SSIM clamps each scale at
#: 0 (ReLU), and an SSIM at or below 0 (anti-correlated images) is no target for a codec.
SIMILARITY = ValueRange(0.0, 1.0, low_inclusive=False)

#: Luma weights (Kr, Kg, Kb). BT.709 is what CompressAI's ``rgb2ycbcr`` uses
#: (compressai/transforms/functional.py), so ``psnr-y`` agrees with CompressAI-based papers;
#: BT.601 is JPEG/JFIF's and MATLAB's ``rgb2ycbcr`` (without its 16–235 studio range).
BT709 = (0.2126, 0.7152, 0.0722)
BT601 = (0.299, 0.587, 0.114)


class Psnr(Metric):
    name = "psnr"
    description = "PSNR over all channels, peak 255"
    unit = "dB"
    per_roi = True
    packages = ("numpy",)
    value_range = POSITIVE

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        from codeccmp.measure import metrics as m

        return m.psnr(original, reconstruction)


class PsnrY(Metric):
    name = "psnr-y"
    description = "PSNR of full-range luma, BT.709 weights (as CompressAI's rgb2ycbcr)"
    unit = "dB"
    per_roi = True
    packages = ("numpy",)
    value_range = POSITIVE
    weights = BT709

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        import numpy as np

        from codeccmp.measure import metrics as m

        # Unrounded float luma: rounding to 8 bits first would add its own error.
        if original.ndim == 2:
            return m.psnr(original, reconstruction)
        if original.shape != reconstruction.shape:
            raise ValueError(f"shapes differ: {original.shape} vs {reconstruction.shape}")
        # Luma is linear, so its error is the weighted sum of the channel errors; a band of
        # rows at a time, since two float64 luma planes of a 24-MP image took 10 s to fill.
        w = np.asarray(self.weights, dtype=np.float64)
        rows = max(1, (1 << 18) // max(1, original.shape[1]))
        total = 0.0
        for r in range(0, original.shape[0], rows):
            d = original[r:r + rows].astype(np.float64) - reconstruction[r:r + rows]
            e = d @ w
            total += float(np.dot(e.ravel(), e.ravel()))
        mse = total / (original.shape[0] * original.shape[1])
        return math.inf if mse == 0 else 10.0 * math.log10(255.0 ** 2 / mse)


class PsnrY601(PsnrY):
    name = "psnr-y601"
    description = "PSNR of full-range luma, BT.601 weights (JPEG/JFIF, MATLAB rgb2ycbcr)"
    weights = BT601


#: What computes SSIM and MS-SSIM: codeccmp's NumPy code, to pytorch-msssim's float32
#: operations, with SciPy's BLAS for the filter taps (codeccmp.measure.metrics). Neither
#: pytorch-msssim nor torch runs (a standard-codec run never imports them), so their versions
#: do not decide the values; every result's environment records them anyway.
_SSIM_PACKAGES = ("numpy", "scipy")


class Ssim(Metric):
    name = "ssim"
    description = "SSIM, 11-tap Gaussian window, per channel averaged (pytorch-msssim's definition)"
    per_roi = True
    packages = _SSIM_PACKAGES
    value_range = SIMILARITY

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        from codeccmp.measure import metrics as m

        return m.ssim(original, reconstruction)


class MsSsim(Metric):
    name = "ms-ssim"
    description = "MS-SSIM, 5 scales (pytorch-msssim's definition, as CompressAI); sides ≥ 161 px"
    packages = _SSIM_PACKAGES
    value_range = SIMILARITY

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        from codeccmp.measure import metrics as m

        return m.ms_ssim(original, reconstruction)


class MsSsimDb(MsSsim):
    name = "ms-ssim-db"
    description = "MS-SSIM as −10·log10(1 − MS-SSIM), as CompressAI's plots show it"
    unit = "dB"
    value_range = POSITIVE  # −10·log10(1 − MS-SSIM) over MS-SSIM's (0, 1]

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        from codeccmp.measure import metrics as m

        return m.ms_ssim_db(m.ms_ssim(original, reconstruction))


class DeltaTheta(Metric):
    name = "delta-theta"
    description = ("mean orientation error of strongly oriented pixels, whole image "
                   "(compare reports it per stripe ROI)")
    higher_is_better = False
    per_roi = True
    unit = "°"
    packages = ("scipy",)
    value_range = ValueRange(0.0, 90.0)  # the angle between two orientations (mod 180°)

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        import numpy as np

        from codeccmp.stripes import directional_error

        v = directional_error(original, reconstruction).delta_theta_deg
        return None if v is None or not np.isfinite(v) else float(v)


BUILTIN = (Psnr, PsnrY, PsnrY601, Ssim, MsSsim, MsSsimDb, DeltaTheta)
