"""Optional perceptual metrics (``pip install 'codeccmp[perceptual]'``).

Each wraps a maintained implementation rather than re-deriving it: piq for VIF, FSIM, GMSD,
HaarPSI, LPIPS and DISTS; the ``ssimulacra2`` package (a Python port of libjxl's tool) for
SSIMULACRA2; NVIDIA's ``flip-evaluator`` for FLIP. A metric whose package (or, for LPIPS and
DISTS, network weights) is missing says so in ``availability()`` and is listed, not hidden.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from codeccmp.metric import Metric, MetricUnavailable, ValueRange

if TYPE_CHECKING:  # NumPy is imported where a metric computes: registering these needs none
    import numpy as np

#: Directory in torch-hub layout (``DIR/checkpoints/*.pt[h]``) holding LPIPS/DISTS weights
#: and torchvision's VGG16; codeccmp never downloads them (this machine has no network).
WEIGHTS_ENV = "CODECCMP_METRIC_WEIGHTS"
VGG16 = "vgg16-397923af.pth"


def _tensor(x: np.ndarray):  # -> torch.Tensor, NCHW in [0, 1]
    import numpy as np
    import torch

    t = torch.from_numpy(np.array(x, dtype=np.float32)) / 255.0
    return t[None, None] if x.ndim == 2 else t.permute(2, 0, 1)[None]


def _rgb(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.repeat(x[..., None], 3, axis=2) if x.ndim == 2 else x


class _Piq(Metric):
    """A piq functional metric on [0, 1] tensors with ``data_range=1``."""

    packages = ("piq", "torch")
    function = ""
    rgb_only = False  # replicate gray to 3 channels (FSIM's chromatic term wants RGB)

    def kwargs(self, x: np.ndarray) -> dict:  # noqa: ARG002
        return {}

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        import piq
        import torch

        a, b = original, reconstruction
        if self.rgb_only:
            a, b = _rgb(a), _rgb(b)
        with torch.no_grad():
            # piq's VIF asks (distorted, reference); its other metrics are symmetric.
            v = getattr(piq, self.function)(_tensor(b), _tensor(a), data_range=1.0,
                                            **self.kwargs(a))
        return float(v)


class Vif(_Piq):
    name = "vif"
    # An information ratio: 1 for identical images, above 1 for sharpened ones.
    value_range = ValueRange(0.0, None, low_inclusive=False)
    description = "VIF in the pixel domain (Sheikh & Bovik 2006), piq.vif_p; luma"
    function = "vif_p"
    per_roi = True


class Fsim(_Piq):
    name = "fsim"
    value_range = ValueRange(0.0, 1.0, low_inclusive=False)  # a mean of similarities in (0, 1]
    description = "FSIMc, feature similarity with chroma (Zhang et al. 2011), piq.fsim"
    function = "fsim"

    def kwargs(self, x: np.ndarray) -> dict:
        return {"chromatic": x.ndim == 3}


class Gmsd(_Piq):
    name = "gmsd"
    value_range = ValueRange(0.0, 0.5)  # std. dev. of similarities in (0, 1]: at most 1/2
    description = "gradient magnitude similarity deviation (Xue et al. 2014), piq.gmsd; luma"
    function = "gmsd"
    higher_is_better = False
    per_roi = True


class HaarPsi(_Piq):
    name = "haarpsi"
    value_range = ValueRange(0.0, 1.0, low_inclusive=False)
    description = "Haar wavelet perceptual similarity (Reisenhofer et al. 2018), piq.haarpsi"
    function = "haarpsi"


def _blurs(*planes: np.ndarray) -> list[np.ndarray]:
    """libjxl's σ = 1.5 blur of each plane, with zeros beyond every edge (its recursive
    Gaussian pads with zeros; the ssimulacra2 package reflects at the left and right edges
    instead). In threads: scipy's filters release the GIL, and these five blurs per scale
    are most of the metric's time."""
    from concurrent.futures import ThreadPoolExecutor

    from scipy import ndimage

    def blur(img: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(img, sigma=1.5, truncate=3.33, mode="constant",
                                       cval=0.0, axes=(0, 1))

    with ThreadPoolExecutor(min(len(planes), os.cpu_count() or 1)) as pool:
        return list(pool.map(blur, planes))


def _scale_averages(s2, a: np.ndarray, b: np.ndarray):  # noqa: ANN001, ANN202 - the package's module and MsssimScale
    """One scale's SSIM and edge-difference averages of XYB planes ``a`` and ``b``, a
    channel at a time.

    The package's ``ssim_map`` and ``edge_diff_map`` take all three channels at once and keep
    about 16 full-size temporaries alive (the five blurs, their products, the maps): 5.4 GB at
    24 MP. Each channel's averages depend on that channel only (the blur is spatial, the maps
    are per pixel, the averages per channel), so one channel at a time gives the same numbers
    (to float32 summation order) with a third of the temporaries. Given one channel, the
    package's functions broadcast its averages into every channel's slots: the first 2 (SSIM)
    and 4 (edges) are that channel's.
    """
    one = s2.MsssimScale()
    for c in range(a.shape[2]):
        ac, bc = a[..., c:c + 1].copy(), b[..., c:c + 1].copy()
        mu1, mu2, s11, s22, s12 = _blurs(ac, bc, ac * ac, bc * bc, ac * bc)
        one.avg_ssim[2 * c:2 * c + 2] = s2.ssim_map(mu1, mu2, s11, s22, s12)[:2]
        del s11, s22, s12
        one.avg_edgediff[4 * c:4 * c + 4] = s2.edge_diff_map(ac, mu1, bc, mu2)[:4]
    return one


def ssimulacra2_score(original: np.ndarray, reconstruction: np.ndarray) -> float:
    """SSIMULACRA2 as libjxl's ``tools/ssimulacra2.cc`` computes it, from the ``ssimulacra2``
    package's own pieces (colour conversion, downsampling, the SSIM and edge maps, the
    weights and final mapping).

    Not the package's ``compute_ssimulacra2`` as is: it departs from libjxl in two places, and
    on libjxl's own values (the C++ tool's scores on synthetic images, recorded in the Rust
    port imazen/ssimulacra2, ``src/reference_data.rs``) it is off by up to 635 points
    (``tests/test_metric_references.py``). (1) libjxl tests a scale's size *before*
    downsampling to it, so it measures one more, smaller scale than the package on images
    under 256 px; (2) the package's blur reflects at the left and right edges where libjxl's
    pads with zeros, which moves a Kodak image's score at JPEG quality 10 by 4 points.
    The XYB planes are float32, as libjxl's are: against float64 throughout that moves
    Barbara's score at JPEG quality 30 by 0.0002 and a 6-MP tiling's by 0.0005 (the averages
    are summed one contiguous channel at a time, pairwise: summed across the interleaved
    three-channel maps in float32 they were off by up to 0.3 % at 6 MP, 0.07 points at 24).
    """
    import numpy as np
    from ssimulacra2 import ssimulacra2 as s2

    # The package's own sRGB curve, as a table of the 256 levels: float64 copies and masks
    # of a 24-MP image were a third of the time and most of the peak memory.
    lut = s2.srgb_to_linear(np.arange(256, dtype=np.float64)).astype(np.float32)
    orig, dist = lut[_rgb(original)], lut[_rgb(reconstruction)]
    scales = s2.Msssim()
    for scale in range(s2.kNumScales):
        if orig.shape[0] < 8 or orig.shape[1] < 8:
            break
        if scale:
            orig, dist = s2.downsample(orig, 2, 2), s2.downsample(dist, 2, 2)
        a = s2.make_positive_xyb(s2.linear_rgb_to_xyb(orig)).astype(np.float32)
        b = s2.make_positive_xyb(s2.linear_rgb_to_xyb(dist)).astype(np.float32)
        scales.scales.append(_scale_averages(s2, a, b))
    return float(scales.score())


class Ssimulacra2(Metric):
    name = "ssimulacra2"
    value_range = ValueRange(None, 100.0)  # 100 identical; negative for very poor images
    description = ("SSIMULACRA2 (libjxl's metric; 90 ≈ visually lossless), ssimulacra2 package "
                   "with libjxl's scales and blur edges")
    packages = ("ssimulacra2", "scipy")

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        return ssimulacra2_score(original, reconstruction)


class Flip(Metric):
    name = "flip"
    value_range = ValueRange(0.0, 1.0)  # a mean of per-pixel errors in [0, 1]
    description = "NVIDIA FLIP, LDR mean error at 67 pixels per degree (flip-evaluator)"
    packages = ("flip-evaluator",)
    higher_is_better = False
    per_roi = True

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        import flip_evaluator
        import numpy as np

        ref = _rgb(original).astype(np.float32) / 255.0
        test = _rgb(reconstruction).astype(np.float32) / 255.0
        _, mean, _ = flip_evaluator.evaluate(ref, test, "LDR", applyMagma=False)
        return float(mean)


def weights_dir() -> Path:
    """Where LPIPS/DISTS weights are looked for: $CODECCMP_METRIC_WEIGHTS, else torch
    hub's own cache (``~/.cache/torch/hub``); both in torch-hub layout."""
    env = os.environ.get(WEIGHTS_ENV)
    if env:
        return Path(env)
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "torch")
    return Path(home) / "hub"


class _PiqNet(Metric):
    """LPIPS or DISTS from piq: VGG16 features with learned weights, never downloaded."""

    packages = ("piq", "torch", "torchvision")
    higher_is_better = False
    files: tuple[str, ...] = ()
    cls = ""

    def availability(self) -> str | None:
        reason = super().availability()
        if reason:
            return reason
        ckpt = weights_dir() / "checkpoints"
        missing = [f for f in self.files if not (ckpt / f).is_file()]
        if missing:
            return (f"weights missing: put {', '.join(missing)} in {ckpt} "
                    f"(set {WEIGHTS_ENV}=DIR for DIR/checkpoints)")
        return None

    @contextmanager
    def _hub(self):  # noqa: ANN202
        import torch

        before = torch.hub.get_dir()
        torch.hub.set_dir(str(weights_dir()))
        try:
            yield
        finally:
            torch.hub.set_dir(before)

    def compute(self, original, reconstruction):  # noqa: ANN001, ANN201
        reason = self.availability()
        if reason:
            raise MetricUnavailable(reason)
        import piq
        import torch

        with self._hub(), torch.no_grad():
            loss = getattr(piq, self.cls)()
            return float(loss(_tensor(_rgb(reconstruction)), _tensor(_rgb(original))))


class Lpips(_PiqNet):
    name = "lpips"
    value_range = ValueRange(0.0, None)  # a distance
    description = "LPIPS-VGG (Zhang et al. 2018), piq.LPIPS; needs local weights"
    files = ("lpips_weights.pt", VGG16)
    cls = "LPIPS"


class Dists(_PiqNet):
    name = "dists"
    value_range = ValueRange(0.0, None)  # a distance (its structure term can push it past 1)
    description = "DISTS (Ding et al. 2020), piq.DISTS; needs local weights"
    files = ("dists_weights.pt", VGG16)
    cls = "DISTS"


PERCEPTUAL = (Vif, Fsim, Gmsd, HaarPsi, Ssimulacra2, Flip, Lpips, Dists)
