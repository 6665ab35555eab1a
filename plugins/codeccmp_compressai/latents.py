"""The quantized latents behind a learned bitstream, and the entropy-decoding drift check.

The encoder keeps the latents the decoder must recover; decoding the bytes recovers them
again, and any latent that differs is drift: an error, never a result. How the encoder
learns its latents depends on the model (:func:`reference_mode`); see docs/models.md.
The strings CompressAI's ``compress`` returns are flattened here for the bitstream and
nested again for ``decompress``.
"""

from __future__ import annotations

from typing import Any

from codeccmp.codec import CodecError
from codeccmp_compressai import stages, zoo


def reference_mode(model: Any, arch: str) -> str:
    """How the encoder knows which latents the decoder must recover (docs/models.md).

    - ``forward``: models whose eval-mode forward pass quantizes exactly as compress
      does (factorized, hyperprior, mean-scale; bls2017 and lee2019 by their docs; any
      model with ``forward_is_exact = True``);
    - ``autoregressive``: CompressAI's joint autoregressive coder, re-run here so the
      in-loop quantized latents are kept;
    - ``in-memory``: anything else: the strings decoded before packing (checks the
      packing only).
    """
    zoo.import_compressai()
    from compressai.models import (
        FactorizedPrior,
        JointAutoregressiveHierarchicalPriors,
        MeanScaleHyperprior,
        ScaleHyperprior,
    )

    if not stages.has_stages(model):
        return "in-memory"
    t = type(model)
    jar = JointAutoregressiveHierarchicalPriors
    if isinstance(model, jar):
        return "autoregressive" if t.compress is jar.compress else "in-memory"
    for cls in (MeanScaleHyperprior, ScaleHyperprior, FactorizedPrior):
        if (
            isinstance(model, cls)
            and t.forward is cls.forward
            and t.compress is cls.compress
            and t.decompress is cls.decompress
        ):
            return "forward"
    if getattr(model, "forward_is_exact", zoo.ARCHS[arch].forward_exact):
        return "forward"
    return "in-memory"


def compress_autoregressive(model: Any, x: Any, y: Any) -> tuple[dict[str, Any], Any]:
    """CompressAI's ``JointAutoregressiveHierarchicalPriors.compress``, keeping y_hat.

    ``_compress_ar`` writes the quantized latents into the padded ``y_hat`` it is given,
    so running it on our own tensor yields the encoder-side latents for free.
    """
    import torch.nn.functional as F

    z = model.h_a(y)
    z_strings = model.entropy_bottleneck.compress(z)
    z_hat = model.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
    params = model.h_s(z_hat)
    s, kernel_size = 4, 5
    padding = (kernel_size - 1) // 2
    y_height, y_width = z_hat.size(2) * s, z_hat.size(3) * s
    y_hat = F.pad(y, (padding, padding, padding, padding))
    string = model._compress_ar(
        y_hat[0:1], params[0:1], y_height, y_width, kernel_size, padding
    )
    y_hat = F.pad(y_hat, (-padding, -padding, -padding, -padding))
    return {"strings": [[string], z_strings], "shape": z.size()[-2:]}, y_hat


def decoded_latents(model: Any, strings: list[Any], shape: list[int], image_shape: Any) -> Any:
    """What ``decompress`` hands ``g_s``, without running ``g_s``."""
    with stages.skipped_synthesis(model, image_shape) as seen:
        model.decompress(strings, shape)
    if not seen:
        raise CodecError(f"{type(model).__name__}.decompress never reached g_s")
    return seen[0].detach().float().cpu()


def check_drift(decoded: Any, ref: Any, what: str, device: str) -> tuple[int, float]:
    """How many latents the decoder recovered differently, and the largest difference;
    raise when any did.

    Decoded latents are symbols plus the decoder's own means, so floating-point noise in
    those means (another kernel, a GPU) moves them by far less than half a step, while a
    wrong symbol, which is what drift produces, moves one by a whole step or more.
    """
    if decoded is None:
        raise CodecError(f"{what}: the decoder never reached g_s: drift cannot be checked")
    if tuple(decoded.shape) != tuple(ref.shape):
        raise CodecError(f"{what}: decoded latents {tuple(decoded.shape)} differ in shape "
                         f"from the encoder's {tuple(ref.shape)}")
    delta = (decoded - ref).abs()
    differing = int((delta > 0.5).sum())
    max_diff = float(delta.max()) if delta.numel() else 0.0
    if differing:
        raise CodecError(
            f"{what}: entropy decoding drift on {device}: {differing} of {ref.numel()} "
            f"latents decoded differently from what the encoder coded (by up to "
            f"{max_diff:.3g}); not reporting this result"
        )
    return differing, round(max_diff, 6)


def flatten_strings(strings: Any, name: str) -> tuple[list[bytes], bool]:
    """CompressAI gives one list per latent, one bytes per batch item; we code one image."""
    if not isinstance(strings, (list, tuple)) or not strings:
        raise CodecError(f"{name}: compress() returned no strings")
    if all(isinstance(s, (bytes, bytearray)) for s in strings):
        return [bytes(s) for s in strings], True
    out: list[bytes] = []
    for s in strings:
        one = isinstance(s, (list, tuple)) and len(s) == 1
        if not (one and isinstance(s[0], (bytes, bytearray))):
            raise CodecError(f"{name}: compress() returned strings of an unsupported layout")
        out.append(bytes(s[0]))
    return out, False


def nest(strings: list[bytes], flat: bool) -> list[Any]:
    """The strings in the layout ``decompress`` takes (the inverse of flatten_strings)."""
    return list(strings) if flat else [[s] for s in strings]
