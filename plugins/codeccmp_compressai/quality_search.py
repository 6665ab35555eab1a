"""Rate estimates from a learned model's analysis side, and the search over its qualities.

A learned codec's rate parameter is a discrete quality, one model each. Reaching a target
bpp means ranking the qualities by an estimate (the model's own likelihoods, no entropy
coding, no synthesis) and entropy-coding only the qualities nearest the target for real:
:func:`search_ladder`. Results are always the real bytes; estimates only choose what to code.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from codeccmp.codec import Encoded
from codeccmp_compressai import bitstream, stages
from codeccmp_compressai.latents import reference_mode
from codeccmp_compressai.tensors import torch_module
from codeccmp_compressai.weights import LoadedModel


@dataclass
class Analysis:
    """One image through one quality's analysis side (see :func:`analyse`)."""

    est: float  # estimated bpp
    y: Any  # g_a's output on the device, or None once evicted
    y_s: float  # seconds g_a took: part of the encode time of a compress that reuses y
    ref: Any  # encoder-side quantized latents (CPU float32) for ``forward`` models, or None


def analyse(lm: LoadedModel, x: Any, h: int, w: int) -> Analysis:
    """The forward pass without the synthesis transform: the rate estimate from the
    model's own likelihoods, the analysis output ``y`` (which ``compress`` reuses) and,
    for ``forward`` models, the quantized latents the decoder must recover."""
    torch = torch_module()
    model = lm.model
    t0, y_s = time.perf_counter(), 0.0
    if not stages.has_stages(model):
        out, y, y_hat = model(x), None, None
    else:
        y = model.g_a(x)
        if lm.device.startswith("cuda"):
            torch.cuda.synchronize(lm.device)
        y_s = time.perf_counter() - t0
        with stages.fixed_analysis(model, y), stages.skipped_synthesis(model, x.shape) as seen:
            out = model(x)
        y_hat = seen[0] if seen else None
    bits = 0.0
    for lik in out["likelihoods"].values():
        bits += float(-torch.log2(lik.double()).sum())
    n_latents = len(out["likelihoods"])
    # Header: fixed fields plus about 3 bytes of length per string.
    probe = bitstream.Header(1, lm.metric, 8, h, w)
    header = len(bitstream.pack(probe, [])) + 3 * n_latents
    est = (bits + 8 * header) / (h * w)
    ref = None
    if y_hat is not None and reference_mode(model, lm.arch) == "forward":
        ref = y_hat.detach().float().cpu()
    return Analysis(est, y, y_s, ref)


def search_ladder(qualities: Sequence[int], estimate: Callable[[int], float],
                  encode: Callable[[int], Encoded], pixels: int,
                  target_bpp: float) -> list[Encoded]:
    """Rank qualities by analysis-side estimates, entropy-code only the nearest ones.

    Estimates are computed lazily by the core's ordered search (rate increases with
    quality; it checks the end on the target's side first, so a target beyond the
    ladder costs two analyses), so only a few models are loaded; the one or two
    qualities that bracket the target are coded for real, and neighbours are added
    only while the real rates do not yet bracket the target, so the real-closest
    quality is always among those returned.
    """
    from codeccmp.pipeline.ratematch import bracket_ordered

    qs = sorted(int(q) for q in qualities)
    if len(qs) == 1:
        return [encode(qs[0])]
    lo, hi = bracket_ordered(estimate, qs, target_bpp)
    picks = [i for i in (lo, hi) if 0 <= i < len(qs)]
    real: dict[int, Encoded] = {}

    def code(i: int) -> float:
        if i not in real:
            real[i] = encode(qs[i])
        return 8 * real[i].nbytes / pixels

    for i in picks:
        code(i)
    a, b = min(picks), max(picks)
    while a > 0 and code(a) > target_bpp:
        a -= 1
        code(a)
    while b < len(qs) - 1 and code(b) < target_bpp:
        b += 1
        code(b)
    return [real[i] for i in sorted(real)]
