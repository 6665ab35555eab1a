"""Lee, Cho & Beack (2019), "Context-adaptive entropy model for end-to-end optimized image
compression" (ICLR 2019, arXiv:1809.10452).

The model predicts a Gaussian with its own **mean and scale** for every latent element
``ŷ_i`` (Section 3) from two contexts:

- a *bit-consuming* context ``c'_i``: side information ``ẑ`` (a hyperprior, Ballé et al.
  2018) sent in the bitstream and expanded by the hyper-synthesis ``h_s``;
- a *bit-free* context ``c''_i``: the already-decoded neighbours of ``ŷ_i``, read through a
  causally masked window, so it costs nothing to transmit.

Both contexts are read over the same 4×4 window (three rows above the current element and
the current row; two columns to its left, one to its right), the window the authors' test
code (``CA_Entropy_Model``) extracts with its ``extractor_prime`` / ``extractor_doubleprime``.
The estimator ``f`` maps the concatenated windows to ``(μ, σ)``, with ``σ = exp(·)`` as in
that code.

Transforms (the paper's implementation details): ``g_a`` is four 5×5 stride-2 convolutions with GDN
between them (``N`` filters, ``M`` latent channels), ``g_s`` mirrors it with IGDN; ``h_a``
is 3×3 stride 1 then two 5×5 stride 2 (ReLU), ``h_s`` mirrors it and outputs ``M``
channels, the ``c'`` map.

Quantisation follows the paper: ``ŷ = round(y)`` (uniform noise in training) and ``ŷ`` is
coded under the discretised ``N(μ, σ²)``, ``P(ŷ) = Φ((ŷ−μ+½)/σ) − Φ((ŷ−μ−½)/σ)``. CompressAI's
Gaussian conditional only codes zero-mean tables, so its models round ``y − μ`` instead and
reconstruct ``round(y − μ) + μ``, which changes the decoded latent and makes the forward pass
differ from what a decoder sees. :class:`MeanOffsetGaussianConditional` keeps the paper's
``ŷ``: it codes ``ŷ − round(μ)`` with tables built for the fractional part of ``μ`` (in
1/16 steps) as well as the scale. The forward pass in eval mode therefore reconstructs
exactly what :meth:`Lee2019Model.decompress` does, and the encoder computes every ``(μ, σ)``
with the same calls, in the same order, as the decoder, so both sides pick the same tables.

Departures from the paper (also in ``docs/models.md``):

- ``ẑ`` uses CompressAI's non-parametric factorized :class:`EntropyBottleneck` instead of the
  paper's per-channel zero-mean Gaussian (a more flexible density; the usual auxiliary loss
  trains its quantiles).
- The widths of ``f`` are not stated in a form the test code confirms; we use a 4×4 layer
  (the window) then 1×1 layers of ``10M/3``, ``8M/3`` and ``2M`` channels with leaky ReLU,
  the widths of Minnen et al. 2018's entropy-parameter network.
- Only the base model is implemented; the paper's "hybrid" high-rate variant (extra
  channels with a scale-only hyperprior) is not.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn as nn
import torch.nn.functional as F
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck, GaussianConditional
from compressai.layers import GDN, MaskedConv2d
from compressai.models import CompressionModel
from torch import Tensor

from .bls2017 import check_state_dict

#: The causal window: ``KERNEL`` × ``KERNEL`` with the current element at row 3, column 2.
KERNEL = 4
#: ``F.pad`` order (left, right, top, bottom) that puts the current element at (3, 2).
_WINDOW_PAD = (2, 1, 3, 0)
#: ``σ = exp(s)``; ``s`` is capped so that an untrained network cannot overflow to ``inf``
#: (σ beyond the largest coding table, 256, is coded with that table anyway).
_LOG_SCALE_MAX = 10.0
#: Coding tables of :class:`MeanOffsetGaussianConditional`, by (scale table, steps, ...).
_TABLES: dict[tuple[Any, ...], tuple[Tensor, Tensor, Tensor]] = {}


def _conv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.Conv2d:
    return nn.Conv2d(in_ch, out_ch, kernel, stride=stride, padding=kernel // 2)


def _deconv(in_ch: int, out_ch: int, kernel: int = 5, stride: int = 2) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(
        in_ch, out_ch, kernel, stride=stride, padding=kernel // 2, output_padding=stride - 1
    )


def _window_pad(t: Tensor) -> Tensor:
    return F.pad(t, _WINDOW_PAD)


class MeanOffsetGaussianConditional(GaussianConditional):
    """A :class:`GaussianConditional` that codes ``round(y)`` under ``N(μ, σ²)``, μ real.

    The coding tables cover every pair (scale of the scale table, mean offset
    ``d ∈ {0, 1/K, …, ½}``, ``K = mean_steps``). With ``f = μ − round(μ)``, the symbol
    ``s·(ŷ − round(μ))``, ``s = sign(f)``, is coded with the table nearest to ``(σ, |f|)``:
    the Gaussian is symmetric about its mean, so mirroring the symbol covers negative
    offsets with half the tables. Likelihoods for training are the exact discretised
    Gaussian of the paper (Section 3).
    """

    mean_steps: int = 16

    def update(self) -> None:
        """Build the (scale × mean offset) tables; they depend on nothing learned, so
        they are computed once per process for a given scale table and reused."""
        key = (
            tuple(self.scale_table.tolist()),
            self.mean_steps,
            self.tail_mass,
            self.entropy_coder_precision,
        )
        tables = _TABLES.get(key)
        if tables is None:
            tables = self._build_tables()
            _TABLES[key] = tables
        device = self.scale_table.device
        cdf, offset, length = (t.clone().to(device) for t in tables)
        self._quantized_cdf, self._offset, self._cdf_length = cdf, offset, length

    def _build_tables(self) -> tuple[Tensor, Tensor, Tensor]:
        multiplier = float(-self._standardized_quantile(self.tail_mass / 2))
        steps = self.mean_steps
        n_scales = int(self.scale_table.numel())
        n_offsets = steps // 2 + 1
        scales = self.scale_table.detach().cpu().double().repeat_interleave(n_offsets)
        offsets = (torch.arange(n_offsets, dtype=torch.float64) / steps).repeat(n_scales)
        # One extra symbol on each side covers the shift of the mean by up to ½.
        center = torch.ceil(scales * multiplier).int() + 1
        length = 2 * center + 1
        max_length = int(length.max().item())
        k = torch.arange(max_length)[None, :] - center[:, None]
        values = (k.double() - offsets[:, None]).abs()
        s = scales[:, None]
        pmf = self._standardized_cumulative((0.5 - values) / s) - self._standardized_cumulative(
            (-0.5 - values) / s
        )
        lower_tail = self._standardized_cumulative((-center - 0.5 - offsets) / scales)
        upper_tail = self._standardized_cumulative((-center - 0.5 + offsets) / scales)
        tail = (lower_tail + upper_tail)[:, None]
        cdf = self._pmf_to_cdf(pmf.float(), tail.float(), length, max_length)
        return cdf, -center, length + 2

    @property
    def _n_offsets(self) -> int:
        return self.mean_steps // 2 + 1

    def build_indexes(self, scales: Tensor, means: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """Table index per element: scale bucket × (mean_steps/2 + 1) + |offset| bucket."""
        # Same buckets as GaussianConditional.build_indexes (the number of table scales
        # below σ), in one searchsorted instead of one comparison per table entry: this
        # runs once per latent position in the autoregressive loop.
        bounded = self.lower_bound_scale(scales).contiguous()
        table = self.scale_table[:-1].to(bounded.dtype).contiguous()
        scale_index = torch.searchsorted(table, bounded.reshape(-1)).reshape(bounded.shape).int()
        if means is None:
            return scale_index * self._n_offsets
        frac = (means - torch.round(means)).abs()
        offset_index = torch.round(frac * self.mean_steps).clamp_(0, self._n_offsets - 1)
        return scale_index * self._n_offsets + offset_index.int()

    @staticmethod
    def to_symbols(values: Tensor, means: Tensor) -> Tensor:
        """Integer symbols for integer ``values``: ``sign(f)·(values − round(μ))``."""
        rounded = torch.round(means)
        sign = torch.where(means < rounded, -1.0, 1.0)
        return (sign * (values - rounded)).int()

    @staticmethod
    def from_symbols(symbols: Tensor, means: Tensor) -> Tensor:
        """The inverse of :meth:`to_symbols`."""
        rounded = torch.round(means)
        sign = torch.where(means < rounded, -1.0, 1.0)
        return rounded + sign * symbols.to(means.dtype)

    def likelihood(self, values: Tensor, scales: Tensor, means: Tensor) -> Tensor:
        """``P(values)`` under the discretised ``N(means, scales²)``, lower-bounded."""
        lik = self._likelihood(values, scales, means)
        if self.use_likelihood_bound:
            lik = self.likelihood_lower_bound(lik)
        return lik

    def forward(  # type: ignore[override]
        self,
        inputs: Tensor,
        scales: Tensor,
        means: Tensor | None = None,
        training: bool | None = None,
    ) -> tuple[Tensor, Tensor]:
        """Noise in training, plain rounding otherwise: ``ŷ`` does not depend on ``μ``."""
        if training is None:
            training = self.training
        outputs = self.quantize(inputs, "noise" if training else "dequantize")
        if means is None:
            means = torch.zeros_like(inputs)
        return outputs, self.likelihood(outputs, scales, means)


class Lee2019Model(CompressionModel):
    """The context-adaptive entropy model of Lee et al. (ICLR 2019), base configuration.

    Args:
        N: filters of the transforms and channels of the hyper-latent ``z``.
        M: channels of the latent ``y`` (192 in the authors' test code for the base
            model).
    """

    #: Height and width must be multiples of this: ``y`` is at 1/16, ``z`` at 1/64.
    downsampling_factor: int = 64

    def __init__(self, N: int = 192, M: int = 192, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        N, M = int(N), int(M)
        if N < 1 or M < 1:
            raise ValueError("N and M must be positive")
        self.N, self.M = N, M
        hidden0, hidden1 = max(1, M * 10 // 3), max(1, M * 8 // 3)

        self.g_a = nn.Sequential(
            _conv(3, N), GDN(N), _conv(N, N), GDN(N), _conv(N, N), GDN(N), _conv(N, M)
        )
        self.g_s = nn.Sequential(
            _deconv(M, N),
            GDN(N, inverse=True),
            _deconv(N, N),
            GDN(N, inverse=True),
            _deconv(N, N),
            GDN(N, inverse=True),
            _deconv(N, 3),
        )
        self.h_a = nn.Sequential(
            _conv(M, N, 3, 1), nn.ReLU(), _conv(N, N), nn.ReLU(), _conv(N, N)
        )
        self.h_s = nn.Sequential(
            _deconv(N, N), nn.ReLU(), _deconv(N, N), nn.ReLU(), _conv(N, M, 3, 1)
        )
        self.entropy_bottleneck = EntropyBottleneck(N)

        # f, first layer: one 4×4 window over [ŷ (masked), c'], split in two so that the
        # c' half is computed once for the whole image and only the ŷ half runs in the
        # autoregressive decoding loop. The sum equals a convolution of the concatenation.
        self.context_prediction = MaskedConv2d(M, hidden0, kernel_size=KERNEL, padding=0)
        self.context_prediction.mask.fill_(1.0)
        self.context_prediction.mask[:, :, KERNEL - 1, 2:] = 0.0
        self.hyper_context = nn.Conv2d(M, hidden0, kernel_size=KERNEL, bias=False)
        self.entropy_parameters = nn.Sequential(
            nn.LeakyReLU(),
            nn.Conv2d(hidden0, hidden1, 1),
            nn.LeakyReLU(),
            nn.Conv2d(hidden1, 2 * M, 1),
        )
        self.gaussian_conditional = MeanOffsetGaussianConditional(None)
        self._tables_cache: tuple[Any, ...] | None = None

    @property
    def config(self) -> dict[str, int]:
        """Constructor arguments, recorded in checkpoints."""
        return {"N": self.N, "M": self.M}

    # -- the entropy model --------------------------------------------------------------

    @staticmethod
    def _scales(log_scales: Tensor) -> Tensor:
        return torch.exp(torch.clamp(log_scales, max=_LOG_SCALE_MAX))

    def _gaussian_params(self, y_hat: Tensor, c_prime: Tensor) -> tuple[Tensor, Tensor]:
        """``(μ, σ)`` for every element at once (training and evaluation)."""
        ctx = self.context_prediction(_window_pad(y_hat)) + self.hyper_context(
            _window_pad(c_prime)
        )
        means, log_scales = self.entropy_parameters(ctx).chunk(2, 1)
        return means, self._scales(log_scales)

    def _params_at(
        self, y_pad: Tensor, hyper: Tensor, weight: Tensor, bias: Tensor | None, h: int, w: int
    ) -> tuple[Tensor, Tensor]:
        """``(μ, σ)`` of element (h, w) from the decoded part of ``ŷ`` (one 4×4 window).

        The encoder and the decoder both call exactly this, on bitwise-identical inputs,
        so they choose the same coding tables.
        """
        window = y_pad[:, :, h : h + KERNEL, w : w + KERNEL]
        ctx = F.conv2d(window, weight, bias) + hyper[:, :, h : h + 1, w : w + 1]
        means, log_scales = self.entropy_parameters(ctx).chunk(2, 1)
        return means.reshape(-1), self._scales(log_scales).reshape(-1)

    def _coding_tables(self) -> tuple[list[list[int]], list[int], list[int]]:
        """The CDF tables as Python lists, trimmed to their lengths (cached)."""
        gc = self.gaussian_conditional
        if gc._quantized_cdf.numel() == 0:
            raise ValueError("the entropy model has no coding tables: call update() first")
        key = (gc._quantized_cdf.data_ptr(), gc._quantized_cdf._version, gc._cdf_length._version)
        if self._tables_cache is None or self._tables_cache[0] != key:
            lengths = gc._cdf_length.reshape(-1).int().tolist()
            rows = gc._quantized_cdf.tolist()
            cdfs = [row[:n] for row, n in zip(rows, lengths, strict=True)]
            offsets = gc._offset.reshape(-1).int().tolist()
            self._tables_cache = (key, cdfs, lengths, offsets)
        return self._tables_cache[1], self._tables_cache[2], self._tables_cache[3]

    def _check_size(self, x: Tensor) -> None:
        f = self.downsampling_factor
        if x.dim() != 4 or x.size(-1) % f or x.size(-2) % f:
            raise ValueError(f"lee2019 needs B×3×H×W inputs with H and W multiples of {f}")

    # -- CompressAI model API -----------------------------------------------------------

    def forward(self, x: Tensor) -> dict[str, Any]:
        """Training pass (uniform noise for rounding) or evaluation pass (rounding, exactly what the
        decoder reconstructs)."""
        self._check_size(x)
        y = self.g_a(x)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        c_prime = self.h_s(z_hat)
        mode = "noise" if self.training else "dequantize"
        y_hat = self.gaussian_conditional.quantize(y, mode)
        means, scales = self._gaussian_params(y_hat, c_prime)
        y_likelihoods = self.gaussian_conditional.likelihood(y_hat, scales, means)
        x_hat = self.g_s(y_hat)
        return {"x_hat": x_hat, "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    @torch.no_grad()
    def compress(self, x: Tensor) -> dict[str, Any]:
        """Entropy-code ``x``: ``strings = [y strings, z strings]``, ``shape`` = z's (h, w)."""
        self._check_size(x)
        cdfs, lengths, offsets = self._coding_tables()
        y = self.g_a(x)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
        hyper = self.hyper_context(_window_pad(self.h_s(z_hat)))
        y_hat = torch.round(y)
        y_strings = [
            self._encode_one(y_hat[i : i + 1], hyper[i : i + 1], cdfs, lengths, offsets)
            for i in range(y.size(0))
        ]
        return {"strings": [y_strings, z_strings], "shape": z.size()[-2:]}

    def _encode_one(
        self,
        y_hat: Tensor,
        hyper: Tensor,
        cdfs: list[list[int]],
        lengths: list[int],
        offsets: list[int],
    ) -> bytes:
        weight = self.context_prediction.weight * self.context_prediction.mask
        bias = self.context_prediction.bias
        height, width = y_hat.shape[-2:]
        # Filled element by element, exactly as the decoder fills it.
        y_pad = torch.zeros_like(_window_pad(y_hat))
        symbols: list[int] = []
        indexes: list[int] = []
        gc = self.gaussian_conditional
        for h in range(height):
            for w in range(width):
                means, scales = self._params_at(y_pad, hyper, weight, bias, h, w)
                value = y_hat[0, :, h, w]
                symbols.extend(gc.to_symbols(value, means).tolist())
                indexes.extend(gc.build_indexes(scales, means).tolist())
                y_pad[0, :, h + _WINDOW_PAD[2], w + _WINDOW_PAD[0]] = value
        encoder = BufferedRansEncoder()
        encoder.encode_with_indexes(symbols, indexes, cdfs, lengths, offsets)
        return encoder.flush()

    @torch.no_grad()
    def decompress(self, strings: list[list[bytes]], shape: Any) -> dict[str, Tensor]:
        """Decode :meth:`compress`'s output, element by element in raster order."""
        if not isinstance(strings, (list, tuple)) or len(strings) != 2:
            raise ValueError("lee2019 expects two lists of strings (y, then z)")
        cdfs, lengths, offsets = self._coding_tables()
        z_hat = self.entropy_bottleneck.decompress(strings[1], tuple(shape))
        hyper = self.hyper_context(_window_pad(self.h_s(z_hat)))
        height, width = z_hat.size(2) * 4, z_hat.size(3) * 4
        top, left = _WINDOW_PAD[2], _WINDOW_PAD[0]
        y_pad = hyper.new_zeros(
            (z_hat.size(0), self.M, height + top + _WINDOW_PAD[3], width + left + _WINDOW_PAD[1])
        )
        weight = self.context_prediction.weight * self.context_prediction.mask
        bias = self.context_prediction.bias
        gc = self.gaussian_conditional
        channels = list(range(self.M))
        for i, string in enumerate(strings[0]):
            decoder = RansDecoder()
            decoder.set_stream(string)
            y_i, hyper_i = y_pad[i : i + 1], hyper[i : i + 1]
            for h in range(height):
                for w in range(width):
                    means, scales = self._params_at(y_i, hyper_i, weight, bias, h, w)
                    idx = gc.build_indexes(scales, means).tolist()
                    values = decoder.decode_stream(
                        channels,
                        [cdfs[j] for j in idx],
                        [lengths[j] for j in idx],
                        [offsets[j] for j in idx],
                    )
                    decoded = torch.tensor(values, dtype=means.dtype, device=means.device)
                    y_i[0, :, h + top, w + left] = gc.from_symbols(decoded, means)
        y_hat = y_pad[:, :, top : top + height, left : left + width]
        x_hat = self.g_s(y_hat).clamp_(0, 1)
        return {"x_hat": x_hat}

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, Tensor]) -> Lee2019Model:
        """Build the model whose sizes fit ``state_dict`` (N from ``g_a.0``, M from
        ``g_a.6``) and load it; :class:`ValueError` if it is another architecture."""
        first, last = state_dict.get("g_a.0.weight"), state_dict.get("g_a.6.weight")
        if (
            first is None
            or last is None
            or first.ndim != 4
            or tuple(first.shape[1:]) != (3, 5, 5)
            or "hyper_context.weight" not in state_dict
        ):
            raise ValueError(
                "these weights are not a lee2019 model (no 5×5 analysis g_a.0/g_a.6 "
                "with a hyper_context layer)"
            )
        net = cls(N=int(first.size(0)), M=int(last.size(0)))
        check_state_dict(net, state_dict, "lee2019")
        net.load_state_dict(state_dict)
        return net
