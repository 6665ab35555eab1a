"""Ballé, Laparra & Simoncelli (2017), "End-to-end optimized image compression" (ICLR 2017).

The model follows tensorflow-compression's reference implementation (``models/bls2017.py``),
which its authors describe as a close approximation of the paper:

- analysis ``g_a``: 9×9 convolution, stride 4, GDN; 5×5, stride 2, GDN; 5×5, stride 2
  (no bias, no GDN). The paper (Section 2) has a GDN after every stage; the
  reference drops the last one and the last bias, and so do we.
- synthesis ``g_s``: the mirror image, 5×5 up 2, IGDN; 5×5 up 2, IGDN; 9×9 up 4 to three
  channels.
- the latent ``y`` has as many channels as the transforms have filters (``N``), and is
  coded with a factorized (per-channel, spatially i.i.d.) density. The paper used a
  piecewise-linear density per channel; the reference and CompressAI's
  :class:`~compressai.entropy_models.EntropyBottleneck` use the more flexible
  "deep factorized" density of Ballé et al. 2018 (Appendix 6.1), so we do as well.

Inputs are RGB in ``[0, 1]`` (the reference scales 8-bit inputs by 1/255 itself). Spatial
sizes must be multiples of :attr:`Bls2017Model.downsampling_factor` (16): three stages of
stride 4·2·2.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
from compressai.entropy_models import EntropyBottleneck
from compressai.layers import GDN
from compressai.models import CompressionModel
from torch import Tensor

#: Entropy-model buffers whose size is only known after ``update()``; CompressAI resizes
#: them on load, so their shapes are not compared.
_RESIZABLE = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table")


def check_state_dict(net: nn.Module, state_dict: dict[str, Tensor], name: str) -> None:
    """Raise one readable :class:`ValueError` if ``state_dict`` does not fit ``net``.

    ``load_state_dict`` would say the same in a page of key names; a user who passed the
    weights of another architecture needs one line naming the model and a few keys.
    """
    expected = net.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    misshapen = [
        k
        for k, v in expected.items()
        if k in state_dict
        and not k.endswith(_RESIZABLE)
        and tuple(getattr(state_dict[k], "shape", ())) != tuple(v.shape)
    ]
    problems = []
    for label, keys in (("missing", missing), ("unexpected", unexpected),
                        ("wrong shape", misshapen)):
        if keys:
            more = f" (+{len(keys) - 3} more)" if len(keys) > 3 else ""
            problems.append(f"{label}: {', '.join(keys[:3])}{more}")
    if problems:
        raise ValueError(f"these weights are not a {name} model: " + "; ".join(problems))


def _conv(in_ch: int, out_ch: int, kernel: int, stride: int, bias: bool = True) -> nn.Conv2d:
    """'Same' zero-padded strided correlation, as ``SignalConv2D(padding="same_zeros")``."""
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, bias=bias)


def _deconv(in_ch: int, out_ch: int, kernel: int, stride: int) -> nn.ConvTranspose2d:
    """Up-sampling convolution whose output is exactly ``stride`` times the input size."""
    return nn.ConvTranspose2d(
        in_ch,
        out_ch,
        kernel,
        stride=stride,
        padding=kernel // 2,
        output_padding=stride - 1,
    )


class Bls2017Model(CompressionModel):
    """The ICLR 2017 model: three GDN stages and a factorized entropy model.

    Args:
        N: number of filters of every stage, and of latent channels (the reference's
            ``--num_filters``, default 128; the paper used 128 for grayscale and 192 for
            RGB images).
    """

    #: The input height and width must be multiples of this (stride 4 × 2 × 2).
    downsampling_factor: int = 16

    def __init__(self, N: int = 128, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        N = int(N)
        if N < 1:
            raise ValueError("N must be positive")
        self.N = N
        self.g_a = nn.Sequential(
            _conv(3, N, 9, 4),
            GDN(N),
            _conv(N, N, 5, 2),
            GDN(N),
            _conv(N, N, 5, 2, bias=False),
        )
        self.g_s = nn.Sequential(
            _deconv(N, N, 5, 2),
            GDN(N, inverse=True),
            _deconv(N, N, 5, 2),
            GDN(N, inverse=True),
            _deconv(N, 3, 9, 4),
        )
        self.entropy_bottleneck = EntropyBottleneck(N)

    @property
    def config(self) -> dict[str, int]:
        """Constructor arguments, recorded in checkpoints."""
        return {"N": self.N}

    def forward(self, x: Tensor) -> dict[str, Any]:
        """Training/evaluation pass: additive uniform noise in training (Section 3),
        rounding to the nearest integer (about the bottleneck's medians) in eval mode."""
        y = self.g_a(x)
        y_hat, y_likelihoods = self.entropy_bottleneck(y)
        x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods}}

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """Entropy-code ``x`` (``B×3×H×W``, H and W multiples of 16): one string per image."""
        y = self.g_a(x)
        y_strings = self.entropy_bottleneck.compress(y)
        return {"strings": [y_strings], "shape": y.size()[-2:]}

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Any) -> dict[str, Tensor]:
        """Decode what :meth:`compress` produced; ``shape`` is the latent's ``(h, w)``."""
        if not isinstance(strings, (list, tuple)) or len(strings) != 1:
            raise ValueError("bls2017 expects one list of strings (the latent y)")
        y_hat = self.entropy_bottleneck.decompress(strings[0], tuple(shape))
        x_hat = self.g_s(y_hat).clamp_(0, 1)
        return {"x_hat": x_hat}

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Tensor]) -> Bls2017Model:
        """Build the model whose size fits ``state_dict`` and load it.

        Raises :class:`ValueError` with one readable line when the weights belong to
        another architecture (a missing or misshapen tensor).
        """
        weight = state_dict.get("g_a.0.weight")
        if weight is None or weight.ndim != 4 or tuple(weight.shape[1:]) != (3, 9, 9):
            raise ValueError(
                "these weights are not a bls2017 model (no 9×9 first analysis layer g_a.0)"
            )
        net = cls(N=int(weight.size(0)))
        check_state_dict(net, state_dict, "bls2017")
        net.load_state_dict(state_dict)
        return net
