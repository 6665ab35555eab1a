"""Validation during ``codeccmp train``: real rate and quality on whole held-out images.

Separate from the training loop so that what a checkpoint's validation record means (real
bytes through ``compress``/``decompress``, 8-bit reconstructions, the study's Δθ) reads on
one page. Imports torch; import only when training.
"""

from __future__ import annotations

import contextlib
import math
from typing import Any

import torch
from torch import Tensor, nn

from codeccmp_compressai.losses import TrainingError, msssim_window
from codeccmp_compressai.train_models import downsampling_factor


def _pad(x: Tensor, factor: int) -> Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


@torch.no_grad()
def evaluate(model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, Any]:
    """Real rate and quality on whole images: ``compress`` → bytes → ``decompress``.

    Each image is padded to the model's multiple by replication and cropped back; bpp is
    the entropy-coded payload (all strings, no container header) over the original pixels;
    PSNR and MS-SSIM compare 8-bit RGB (MS-SSIM with the 11-px window, or the largest that
    fits a small image); ``delta_theta_deg`` is the whole-image Δθ of docs/metrics.md, the
    mean over the images where it is defined (NaN if none is).
    """
    import numpy as np
    from pytorch_msssim import ms_ssim

    from codeccmp.stripes import directional_error

    was_training = model.training
    model.eval()
    model.update(force=True)
    factor = downsampling_factor(model)
    bpps: list[float] = []
    psnrs: list[float] = []
    msssims: list[float] = []
    dthetas: list[float] = []
    try:
        for img in images:
            x = img.float().div(255.0).unsqueeze(0).to(device)
            h, w = x.shape[-2:]
            enc = model.compress(_pad(x, factor))
            nbytes = sum(len(s) for group in enc["strings"] for s in group)
            out = model.decompress(enc["strings"], enc["shape"])
            x_hat = out["x_hat"][..., :h, :w].clamp(0, 1).mul(255).round().div(255)
            bpps.append(8.0 * nbytes / (h * w))
            mse = torch.mean((x_hat - x) ** 2).item()
            psnrs.append(10 * math.log10(1.0 / mse) if mse > 0 else float("inf"))
            with contextlib.suppress(TrainingError):
                win = msssim_window(min(h, w), None)
                msssims.append(float(ms_ssim(x_hat, x, data_range=1.0, win_size=win)))
            orig8 = img.permute(1, 2, 0).numpy()
            rec8 = x_hat[0].mul(255).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
            dtheta = directional_error(orig8, rec8).delta_theta_deg
            if dtheta is not None and np.isfinite(dtheta):
                dthetas.append(float(dtheta))
    finally:
        model.train(was_training)
    mean = (lambda v: sum(v) / len(v) if v else float("nan"))  # noqa: E731
    return {
        "bpp": mean(bpps),
        "psnr": mean(psnrs),
        "ms_ssim": mean(msssims),
        "delta_theta_deg": mean(dthetas),
        "images": len(images),
    }
