"""Training losses: rate, MS-SSIM / MSE distortion and the directional-fidelity term.

The rate–distortion loss is ``λ·D + R``, with ``R`` the estimated bits per pixel and ``D``
one of (see docs/training.md for the λ conventions):

- ``mse``: ``255²·MSE``;
- ``ms-ssim``: ``1 − MS-SSIM`` (pytorch-msssim, ``data_range=1``);
- ``ms-ssim+orientation``: ``(1 − MS-SSIM) + w·L_orient`` with :func:`orientation_loss`;
- ``ms-ssim+redraw``: ``(1 − MS-SSIM) + w·L_redraw`` with :func:`redraw_loss`, the
  orientation term gated by the oriented structure the reconstruction draws, so that erased
  stripes cost nothing and redrawn ones ``sin²Δθ``: erasing becomes cheaper than redrawing;
- ``ms-ssim+stripe-mse``: ``(1 − MS-SSIM) + w·L_smse`` with :func:`stripe_mse_loss`, MSE on
  the original's stripe pixels (the alternative tried for the same aim);
- ``ms-ssim+redraw+orientation``: ``(1 − MS-SSIM) + w·L_redraw + w_o·L_orient``, both terms
  (the redraw term stops the redrawing, the orientation term's charge on erased stripes holds
  on to the ones a model can afford).

``L_orient`` is the differentiable twin of the Δθ of docs/metrics.md ("Directional error"):
the same luma, the same structure tensor (derivative-of-Gaussian gradients at σ_d = 0.7 px,
tensor smoothed at σ_t = 3 px), the same "strongly oriented" pixels of the *original*
(coherence > 0.5, energy > 16 grey levels²/px², away from the 8-px border) and the same
weight, the original's coherence × energy. Only the per-pixel error differs: instead of
``|θ_recon − θ_orig|`` (wrapped at 180°, with a kink at 0 and at 90° and undefined where
the reconstruction is flat), it is ``(1 − cos 2Δθ)/2 = sin²Δθ``, computed from the tensors'
double-angle vectors ``(J11 − J22, 2·J12)`` without any angle: a cosine between two 2-vectors.
The double angle makes θ and θ + 180° the same vector, so the wrap costs nothing; the loss is
smooth everywhere, and where the reconstruction erased the stripes (its vector ≈ 0) the
error is ½, as for a 45° turn, so erasing is not a way out.

Everything here imports torch; import this module only when training.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping

import torch
from torch import Tensor

from codeccmp.errors import UsageError

METRICS = ("ms-ssim", "mse", "ms-ssim+orientation", "ms-ssim+redraw", "ms-ssim+stripe-mse",
           "ms-ssim+redraw+orientation")
#: The standard MS-SSIM window and the smallest one chosen automatically for small crops.
MSSSIM_WIN = 11
MSSSIM_MIN_AUTO_WIN = 5

# The orientation field of docs/metrics.md (codeccmp.stripes' defaults, repeated here so that
# importing the training engine does not pull in scipy; tests check they agree).
SIGMA_D = 0.7
SIGMA_T = 3.0
COHERENCE_THRESHOLD = 0.5
ENERGY_FLOOR = 16.0  # grey levels² per px², on 0–255 luma
BORDER_PX = math.ceil(2 * (SIGMA_T + SIGMA_D))
#: Regularises the reconstruction's double-angle vector where it vanishes (grey levels²/px²,
#: a sixteenth of the weakest vector the mask admits: 0.5 · 16 = 8).
_EPS = 0.5
#: The gate of :func:`redraw_loss`: oriented structure in the reconstruction counts in full
#: once its anisotropy reaches this share of the original's (the classes' "redrawn" share).
REDRAW_KAPPA = 0.25
_LUMA = (0.299, 0.587, 0.114)


class TrainingError(UsageError):
    """Bad training input (data, crop, checkpoint, loss): one clear line, exit status 2.

    Defined in this module, the one the rest of the training engine builds on, and
    re-exported by :mod:`codeccmp_compressai.training`.
    """


def base_metric(metric: str) -> str:
    """The metric a model trained with ``metric`` is *for*: ``ms-ssim+orientation`` is an
    MS-SSIM model (what ``compare`` and the checkpoint's ``metric`` call it)."""
    return "ms-ssim" if metric.startswith("ms-ssim") else metric


def msssim_window(side: int, requested: int | None = None) -> int:
    """The MS-SSIM window for images whose smaller side is ``side``.

    Five scales need ``side > (win − 1)·16``. ``requested`` is checked; without it the
    standard 11 px, or the largest odd window that fits, down to 5 px. Raises
    :class:`TrainingError` when nothing fits.
    """
    if requested is not None:
        if requested < 3 or requested % 2 == 0:
            raise TrainingError(f"--msssim-win must be an odd number ≥ 3, not {requested}")
        if side <= (requested - 1) * 16:
            raise TrainingError(
                f"crop {side} is too small for 5-scale MS-SSIM with a {requested}-px window: "
                f"it needs crops larger than {(requested - 1) * 16} px"
            )
        return requested
    largest = (side - 1) // 16 + 1  # largest win with (win - 1)·16 < side
    win = min(MSSSIM_WIN, largest if largest % 2 else largest - 1)
    if win < MSSSIM_MIN_AUTO_WIN:
        need = (MSSSIM_MIN_AUTO_WIN - 1) * 16 + 1
        raise TrainingError(
            f"crop {side} is too small for 5-scale MS-SSIM: a W-px window needs crops larger "
            f"than (W−1)·16 px, i.e. at least {(MSSSIM_WIN - 1) * 16 + 1} px for the standard "
            f"{MSSSIM_WIN}-px window and {need} px for the smallest automatic "
            f"{MSSSIM_MIN_AUTO_WIN}-px one (or force --msssim-win 3, ≥ 33 px)"
        )
    return win


def rate_bpp(likelihoods: Mapping[str, Tensor], num_pixels: int) -> Tensor:
    """Estimated bits per pixel: ``Σ −log2 p`` over every latent, per pixel."""
    total = sum((-torch.log2(lik)).sum() for lik in likelihoods.values())
    return total / num_pixels  # type: ignore[return-value]


# ----------------------------------------------------------------------- orientation


def _gauss(sigma: float, order: int) -> list[float]:
    """1-D Gaussian (order 0) or its derivative (order 1), radius ⌊4σ + ½⌋ as scipy's."""
    r = int(4.0 * sigma + 0.5)
    g = [math.exp(-0.5 * (t / sigma) ** 2) for t in range(-r, r + 1)]
    total = sum(g)
    g = [v / total for v in g]
    return g if order == 0 else [-t / sigma**2 * v for t, v in zip(range(-r, r + 1), g,
                                                                     strict=True)]


@functools.lru_cache(maxsize=32)
def _filter_matrix(n: int, sigma: float, order: int, device: torch.device,
                   dtype: torch.dtype) -> Tensor:
    """``n×n`` matrix ``M`` with ``x @ M`` = correlation of ``x``'s last axis with the
    Gaussian (derivative), mirrored at the ends (scipy's ``mode="reflect"``).

    Why a dense matrix rather than a convolution: on the CPU a single-channel ``conv1d``
    /``conv2d`` (and its backward) is slow, while a 128×128 matrix product is one BLAS
    call; for the 128-px training crops this makes the whole term several times faster
    (benchmarks/bench_orientation_loss.py). The work per pixel grows with the side, so for
    crops of many hundreds of pixels a convolution would win again.
    """
    k = _gauss(sigma, order)
    r = len(k) // 2
    m = torch.zeros(n, n, dtype=torch.float64)
    for j in range(n):
        for t in range(-r, r + 1):
            i = j + t
            while i < 0 or i > n - 1:  # half-sample symmetric, as scipy's "reflect"
                i = -i - 1 if i < 0 else 2 * n - 1 - i
            m[i, j] += k[t + r]
    return m.to(device=device, dtype=dtype)


def _sep(x: Tensor, sy: tuple[float, int], sx: tuple[float, int]) -> Tensor:
    """Separable Gaussian (derivative) filtering of ``…×H×W``: ``My^T · x · Mx``."""
    h, w = x.shape[-2:]
    my = _filter_matrix(h, *sy, x.device, x.dtype)
    mx = _filter_matrix(w, *sx, x.device, x.dtype)
    return torch.matmul(my.T, torch.matmul(x, mx))


def structure_tensor(luma: Tensor, sigma_d: float = SIGMA_D,
                     sigma_t: float = SIGMA_T) -> tuple[Tensor, Tensor, Tensor]:
    """``(J11, J22, J12)`` of ``N×1×H×W`` luma: the smoothed products of the gradients.

    Same construction as :func:`codeccmp.stripes.orientation_field` (scipy there), so the
    angle and coherence it implies match the metric's away from the border.
    """
    gx = _sep(luma, (sigma_d, 0), (sigma_d, 1))
    gy = _sep(luma, (sigma_d, 1), (sigma_d, 0))
    t = (sigma_t, 0)
    j = _sep(torch.cat([gx * gx, gy * gy, gx * gy], dim=1), t, t)
    return j[:, 0:1], j[:, 1:2], j[:, 2:3]


def _luma255(x: Tensor) -> Tensor:
    """BT.601 luma of ``N×3×H×W`` RGB in [0, 1], on the metric's 0–255 scale."""
    r, g, b = _LUMA
    return 255.0 * (r * x[:, 0:1] + g * x[:, 1:2] + b * x[:, 2:3])


def _oriented_pixels(x_hat: Tensor, x: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor,
                                                        Tensor, Tensor]:
    """The pieces every stripe term shares: ``(o1, o2, |v_x|, weight, r1, r2)`` over the
    inner pixels, ``v = (J11 − J22, 2·J12)`` the double-angle vectors of the original
    (``o``) and the reconstruction (``r``), ``weight`` the original's coherence × energy on
    its strongly oriented pixels and 0 elsewhere. Only ``r1``/``r2`` carry gradients."""
    if x_hat.shape != x.shape or x.dim() != 4 or x.shape[1] != 3:
        raise TrainingError(f"the stripe terms need two N×3×H×W batches, got "
                            f"{tuple(x_hat.shape)} and {tuple(x.shape)}")
    b = BORDER_PX
    if min(x.shape[-2:]) <= 2 * b:
        raise TrainingError(f"the stripe terms need images larger than {2 * b} px")
    inner = (slice(None), slice(None), slice(b, -b), slice(b, -b))
    with torch.no_grad():  # the original only sets the mask and the weights
        j11, j22, j12 = (j[inner] for j in structure_tensor(_luma255(x.detach())))
        o1, o2, e_o = j11 - j22, 2.0 * j12, j11 + j22
        mag_o = torch.sqrt(o1 * o1 + o2 * o2)  # = λ1 − λ2 = coherence · energy
        oriented = (mag_o > COHERENCE_THRESHOLD * e_o) & (e_o > ENERGY_FLOOR)
        weight = torch.where(oriented, mag_o, torch.zeros_like(mag_o))
    j11, j22, j12 = (j[inner] for j in structure_tensor(_luma255(x_hat)))
    return o1, o2, mag_o, weight, j11 - j22, 2.0 * j12


def orientation_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """Coherence-weighted ``sin²Δθ`` between the orientation fields of ``x`` and ``x_hat``.

    ``x`` is the original, ``x_hat`` the reconstruction, both ``N×3×H×W`` RGB in [0, 1]
    (gray images: replicate to three channels). Returns a scalar in [0, 1]: 0 when the
    reconstruction's stripes run exactly as the original's (or the original has no strongly
    oriented pixel), 1 when every one of them is turned by 90°, ½ where they are erased.
    Gradients flow to ``x_hat`` only: the mask and the weights are the original's.
    """
    o1, o2, mag_o, weight, r1, r2 = _oriented_pixels(x_hat, x)
    total = weight.sum()
    if not total > 0:
        return (x_hat * 0.0).sum()  # zero, still part of the graph
    cos2 = (o1 * r1 + o2 * r2) / (mag_o.clamp_min(1e-12) * torch.sqrt(r1 * r1 + r2 * r2
                                                                         + _EPS**2))
    return (weight * (1.0 - cos2)).sum() / (2.0 * total)


def redraw_loss(x_hat: Tensor, x: Tensor, erase_cost: float = 0.0) -> Tensor:
    """``sin²Δθ`` where the reconstruction draws oriented structure, nothing where it draws
    none (``--metric ms-ssim+redraw``).

    Per strongly oriented pixel of the original, the orientation term's ``sin²Δθ`` times a
    gate on how much oriented structure the reconstruction has there, ``ρ = |v_x̂| / |v_x|``
    (anisotropy ``λ1 − λ2`` against the original's)::

        g(ρ) = ρ·√(1 + κ²) / √(ρ² + κ²),   κ = ¼

    so ``g(1) = 1``, ``g(ρ) ≈ ρ/κ`` for faint structure and ``g → √(1 + κ²) ≈ 1.03`` for
    strong. Averaged with the original's coherence × energy, the weights of Δθ. Known answers:
    stripes kept at their angle cost 0 at any contrast, stripes erased cost 0, stripes turned
    by Δθ at the original's contrast cost ``sin²Δθ`` (as :func:`orientation_loss`), at half
    its contrast (``ρ = ¼``) ``0.73·sin²Δθ``.

    Why: the orientation term gives an erased pixel ½, as much as a 45° turn, so a model that
    cannot afford the stripes gains little by erasing them. Here the MS-SSIM term alone
    pays for erasing, and this one only for drawing something else in their place, so
    erasing becomes the cheaper failure, as it is for an MSE model. ``κ = ¼`` is the share
    of the original's energy at which the stripe classes call new structure "redrawn":
    structure that faint is charged in proportion, not in full, so noise on a flattened
    patch costs next to nothing. The product form avoids the gate's own angle: the cost is
    ``|v_x|·(|v_x̂| − v_x̂·v̂_x) / (2·√(|v_x̂|² + κ²|v_x|²))·√(1 + κ²)``, smooth away from
    ``v_x̂ = 0`` where it is 0. Gradients reach ``x_hat`` only.

    ``erase_cost`` ``e`` (``--erase-cost``, default 0) adds ``e·(1 − min(g(ρ_∥), 1))``,
    ``ρ_∥ = max(v_x̂·v̂_x, 0) / |v_x|`` the reconstruction's anisotropy along the original's
    direction: erased stripes then cost ``e``, stripes kept at half their contrast
    (``ρ_∥ = ¼``) ``0.27·e``, kept ones 0, and a same-contrast 90° turn ``1 + e``. With ``e``
    below ½ (what the orientation term charges for erasing) missing stripes still cost less
    than redrawn ones, but MS-SSIM is no longer the only thing that holds on to the stripes a
    model can afford. The same gate, not the linear share ``1 − ρ_∥``: the linear form kept
    pulling contrast up to the original's everywhere, and in a 100-step run (w 4, e ¼) it
    sharpened the whole image into noise (held-out PSNR 23.1 dB against 26.2 dB).
    """
    o1, o2, mag_o, weight, r1, r2 = _oriented_pixels(x_hat, x)
    total = weight.sum()
    if not total > 0:
        return (x_hat * 0.0).sum()
    # |v_x̂| smoothed at 0 (its kink would give an erased pixel a gradient in every
    # direction); −_EPS makes an exactly flat reconstruction cost exactly 0.
    mag_r = torch.sqrt(r1 * r1 + r2 * r2 + _EPS**2) - _EPS
    along = (o1 * r1 + o2 * r2) / mag_o.clamp_min(1e-12)
    k = REDRAW_KAPPA
    cost = (mag_r - along).clamp_min(0.0) * math.sqrt(1.0 + k * k) / torch.sqrt(
        mag_r * mag_r + (k * mag_o) ** 2 + 1e-12) / 2.0
    if erase_cost:
        par = along.clamp_min(0.0)
        kept = par * math.sqrt(1.0 + k * k) / torch.sqrt(par * par + (k * mag_o) ** 2 + 1e-12)
        cost = cost + erase_cost * (1.0 - kept.clamp_max(1.0))
    return (weight * cost).sum() / total


def stripe_mse_loss(x_hat: Tensor, x: Tensor) -> Tensor:
    """MSE on the original's stripe pixels, relative to what erasing them costs
    (``--metric ms-ssim+stripe-mse``, the alternative to :func:`redraw_loss`).

    ``Σ w·(ŷ − y)² / Σ w·(y − G_σt∗y)²`` on the luma, ``w`` the original's coherence ×
    energy on its strongly oriented pixels (the weights of Δθ), ``G_σt∗y`` the original
    smoothed at σ_t = 3 px (the local mean of its stripes). So 0 for a perfect copy, 1 for
    a reconstruction that replaces the stripes by that local mean (erased), and about 2 for
    stripes redrawn at another angle with the original's contrast (their error adds to the
    missing stripes'): MSE's own reason for blurring rather than inventing, applied only
    where the original has stripes. Unlike :func:`redraw_loss` it depends on the phase: a
    grating shifted by half a period costs about 4.
    """
    _, _, _, weight, _, _ = _oriented_pixels(x_hat, x)
    total_w = weight.sum()
    if not total_w > 0:
        return (x_hat * 0.0).sum()
    b = BORDER_PX
    inner = (slice(None), slice(None), slice(b, -b), slice(b, -b))
    y = _luma255(x.detach())
    with torch.no_grad():
        local = (y - _sep(y, (SIGMA_T, 0), (SIGMA_T, 0)))[inner]
        erase_cost = (weight * local * local).sum()
    err = (_luma255(x_hat) - y)[inner]
    return (weight * err * err).sum() / erase_cost.clamp_min(1e-12)


#: The stripe terms of the ``ms-ssim+…`` metrics: ``D = (1 − MS-SSIM) + w·term``.
STRIPE_TERMS = {"ms-ssim+orientation": orientation_loss, "ms-ssim+redraw": redraw_loss,
                "ms-ssim+stripe-mse": stripe_mse_loss}


def distortion(x_hat: Tensor, x: Tensor, metric: str, win: int, weight: float = 0.0,
               erase_cost: float = 0.0,
               orientation_weight: float = 0.0) -> tuple[Tensor, Tensor | None]:
    """``(D, stripe term or None)``: ``1 − MS-SSIM``, ``255²·MSE`` or
    ``(1 − MS-SSIM) + w·term`` for the metrics of :data:`STRIPE_TERMS` (the λ conventions
    in the module docstring); for ``ms-ssim+redraw+orientation`` ``w`` weighs the redraw
    term, ``orientation_weight`` the orientation term, and the term returned is their
    weighted sum."""
    if metric == "mse":
        return 255.0**2 * torch.mean((x_hat - x) ** 2), None
    from pytorch_msssim import ms_ssim

    d = 1.0 - ms_ssim(x_hat, x, data_range=1.0, win_size=win)
    if metric == "ms-ssim":
        return d, None
    if metric == "ms-ssim+redraw+orientation":
        term = weight * redraw_loss(x_hat, x, erase_cost) \
            + orientation_weight * orientation_loss(x_hat, x)
        return d + term, term
    if metric in STRIPE_TERMS:
        term = (redraw_loss(x_hat, x, erase_cost) if metric == "ms-ssim+redraw"
                else STRIPE_TERMS[metric](x_hat, x))
        return d + weight * term, term
    raise TrainingError(f"unknown metric {metric!r}: use {', '.join(METRICS)}")
