"""Seeded, untrained quality ladders for every learned architecture, made in seconds.

``benchmarks/cuda_check.py`` needs every learned architecture on a device with several
qualities whose real rates bracket the targets (the rate search and a sweep have something
to choose), without downloading the zoo and without days of training. Untrained models do
not give that by themselves: their analysis outputs are near zero and their entropy
models' initial densities are wide, so every seed codes an image at about the same rate,
in no particular order. So each quality here is the *same* seeded model with two changes
that alter no shape and no amount of computation:

- the entropy bottleneck's initial density is narrow (``init_scale``), so a zero latent
  costs almost nothing and the rate is set by the latents' size;
- the output convolution of ``g_a`` is multiplied by a scale, found per quality so that the
  model's own estimate (−Σ log2 p over the likelihoods of an eval-mode forward pass) on a
  crop of the image meets that quality's rate. Rate grows with the scale, so the ladder's
  rates grow with quality, as a trained ladder's do.

Only timings, memory and bitstream determinism mean anything with these models; their
pictures are noise. The checkpoints are plain ``state_dict``\\ s saved after
``update(force=True)``, named ``<arch>-ms-ssim-<quality>.pth`` so a ``--weights-dir``
finds them as it finds any user's.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

#: Every learned architecture codeccmp registers, cheapest first.
ARCHS = ("bls2017", "bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean",
         "mbt2018", "lee2019", "cheng2020-anchor", "cheng2020-attn")
#: Architectures whose latents are decoded one position after another (a context model):
#: slow on any device, since CompressAI's coder loops over positions in Python.
AUTOREGRESSIVE = frozenset({"mbt2018", "lee2019", "cheng2020-anchor", "cheng2020-attn"})
#: Architectures whose entropy model is a fixed table per channel (a factorized prior): the
#: decoder computes no float from the bitstream before entropy decoding, so a stream coded
#: on one device must decode to the same latents on any other.
FACTORIZED = frozenset({"bls2017", "bmshj2018-factorized"})
SIZES = ("tiny", "zoo")
#: The entropy bottleneck's initial density width; narrow, so zeros are nearly free. At the
#: zoo's sizes (192 latent channels) 0.5 made an all-zero latent cost 1.2 bpp on Barbara,
#: 0.02 makes it 0.14 bpp (measured with ``rate_curve``).
_INIT_SCALE = 0.02
#: log2 of the scales tried when mapping scale to rate.
_LOG2_SCALES = tuple(range(-2, 13))


def build_model(arch: str, size: str, seed: int) -> Any:
    """A seeded, untrained model of ``arch``: ``zoo`` is the zoo's configuration for its
    lowest qualities (the papers' defaults for ``bls2017`` and ``lee2019``), ``tiny`` has 8
    channels (seconds on a CPU, for tests)."""
    import torch
    from codeccmp_compressai import zoo

    zoo.import_compressai()
    from codeccmp_compressai.models import Bls2017Model, Lee2019Model
    from compressai.zoo.image import cfgs, model_architectures

    if size not in SIZES:
        raise ValueError(f"size must be one of {SIZES}, not {size!r}")
    torch.manual_seed(seed)
    tiny = size == "tiny"
    if arch == "bls2017":
        model = Bls2017Model(N=8) if tiny else Bls2017Model()
    elif arch == "lee2019":
        model = Lee2019Model(N=8, M=12) if tiny else Lee2019Model()
    elif tiny:
        cls = model_architectures[arch]
        model = cls(8) if arch.startswith("cheng2020") else cls(8, 12)
    else:
        model = model_architectures[arch](*cfgs[arch][1])
    eb = model.entropy_bottleneck
    model.entropy_bottleneck = type(eb)(eb.channels, init_scale=_INIT_SCALE)
    return model.eval()


def output_conv(model: Any) -> Any:
    """The convolution whose output is (up to an identity path) ``g_a``'s: the last
    convolution that is a direct child of ``g_a`` (cheng2020-attn ends with an attention
    block whose own convolutions only gate)."""
    import torch

    convs = [m for m in model.g_a.children() if isinstance(m, torch.nn.Conv2d)]
    if not convs:
        convs = [m for m in model.g_a.modules() if isinstance(m, torch.nn.Conv2d)]
    return convs[-1]


def estimated_bpp(model: Any, x: Any) -> float:
    """The model's own rate estimate for ``x`` (1, 3, H, W): −Σ log2 p / pixels."""
    import torch

    with torch.inference_mode():
        out = model(x)
    bits = sum(float(-torch.log2(lik.double()).sum()) for lik in out["likelihoods"].values())
    return bits / (x.shape[2] * x.shape[3])


def _scaled(model: Any, scale: float) -> Any:
    """A copy of ``model`` with ``g_a``'s output multiplied by ``scale``."""
    import copy

    import torch

    m = copy.deepcopy(model)
    conv = output_conv(m)
    with torch.no_grad():
        conv.weight.mul_(scale)
        if conv.bias is not None:
            conv.bias.mul_(scale)
    return m


def rate_curve(model: Any, x: Any) -> list[tuple[float, float]]:
    """(log2 scale, estimated bpp) over :data:`_LOG2_SCALES`."""
    return [(k, estimated_bpp(_scaled(model, 2.0**k), x)) for k in _LOG2_SCALES]


def scale_for(curve: list[tuple[float, float]], rate: float) -> float:
    """The scale whose estimated rate is ``rate``, interpolated in log-log between the two
    tried scales around it (the curve is made increasing first: a random model's estimate
    can dip by a little where latents cross a quantization boundary)."""
    ks = [k for k, _ in curve]
    logs = []
    best = -math.inf
    for _, r in curve:
        best = max(best, math.log2(max(r, 1e-9)))
        logs.append(best)
    target = math.log2(rate)
    if target <= logs[0]:
        return 2.0 ** ks[0]
    for i in range(1, len(ks)):
        if logs[i] >= target:
            lo, hi = logs[i - 1], logs[i]
            t = 0.0 if hi == lo else (target - lo) / (hi - lo)
            return 2.0 ** (ks[i - 1] + t * (ks[i] - ks[i - 1]))
    return 2.0 ** ks[-1]


def make_ladder(arch: str, size: str, rates: list[float], x: Any, dest: Path,
                seed: int = 1, device: str = "cpu") -> list[dict[str, Any]]:
    """Write one checkpoint per rate (quality 1 = the lowest) into ``dest`` and describe
    them: quality, path, sha256, scale, and the estimate on ``x`` the scale was fitted to.
    The fitting runs on ``device`` (a GPU makes it seconds at the zoo's sizes); the files
    hold CPU tensors, as any checkpoint does."""
    import torch

    base = build_model(arch, size, seed).to(device)
    x = x.to(device)
    curve = rate_curve(base, x)
    rates = reachable(curve, sorted(rates))
    dest.mkdir(parents=True, exist_ok=True)
    out = []
    for q, rate in enumerate(rates, start=1):
        scale = scale_for(curve, rate)
        model = _scaled(base, scale)
        model.update(force=True)
        path = dest / f"{arch}-ms-ssim-{q}.pth"
        torch.save({k: v.detach().cpu().clone() for k, v in model.state_dict().items()}, path)
        out.append({
            "quality": q,
            "path": str(path),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "scale": round(scale, 6),
            "fitted_bpp": round(rate, 4),
            "estimated_bpp": round(estimated_bpp(model, x), 4),
        })
    return out


def reachable(curve: list[tuple[float, float]], rates: list[float]) -> list[float]:
    """``rates`` (sorted), or as many rates spread geometrically over the part of their
    span the model can reach: an untrained model cannot code below what its all-zero
    latent costs, nor above what its largest scale gives, and rates clamped to one end
    would make several qualities one model (a ladder whose rates do not grow)."""
    floor = min(r for _, r in curve[:2]) * 1.15
    ceiling = max(r for _, r in curve) / 1.15
    low, high = max(rates[0], floor), min(rates[-1], ceiling)
    if (low, high) == (rates[0], rates[-1]):
        return rates
    if high <= low:
        raise ValueError(f"the model reaches only {floor / 1.15:.3g}-{ceiling * 1.15:.3g} bpp")
    return geometric_rates(low, high, len(rates))


def geometric_rates(low: float, high: float, count: int) -> list[float]:
    """``count`` rates from ``low`` to ``high``, each a constant factor above the last."""
    if count == 1:
        return [math.sqrt(low * high)]
    return [low * (high / low) ** (i / (count - 1)) for i in range(count)]


def calibration_tensor(rgb: Any, side: int = 256) -> Any:
    """The centre ``side``×``side`` crop of an (H, W, 3) uint8 image (all of it when
    smaller, replicate-padded to a multiple of 64) as a (1, 3, h, w) float tensor: rates are
    fitted on it, since a forward pass per tried scale on the whole image would cost more
    than the check itself on a CPU."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    h, w = rgb.shape[:2]
    top, left = max(0, (h - side) // 2), max(0, (w - side) // 2)
    crop = np.ascontiguousarray(rgb[top:top + side, left:left + side])
    x = torch.from_numpy(crop).permute(2, 0, 1).unsqueeze(0).float() / 255.0
    ch, cw = crop.shape[:2]
    ph, pw = -(-ch // 64) * 64, -(-cw // 64) * 64
    if (ph, pw) != (ch, cw):
        x = F.pad(x, (0, pw - cw, 0, ph - ch), mode="replicate")
    return x
