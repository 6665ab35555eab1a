"""Run a model's analysis and synthesis halves apart.

CompressAI models offer ``forward``, ``compress`` and ``decompress``, each running the whole
model; none runs only up to the latents. The codec needs exactly that, twice:

- the rate estimate and the encoder-side quantized latents come from ``forward`` *without*
  the synthesis transform ``g_s`` (about half of a forward pass on the CPU, wasted there);
- ``compress`` after that estimate need not run the analysis transform ``g_a`` again.

Every CompressAI image model, and this plugin's ``bls2017`` and ``lee2019``, call
``self.g_a(x)`` once and hand the quantized latents to ``self.g_s(y_hat)`` once, so these
context managers swap the ``forward`` of those two submodules on the instance for the
duration of one call and put it back afterwards, even on error. Models without ``g_a`` /
``g_s`` are run whole (``has_stages`` says which).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any


def has_stages(model: Any) -> bool:
    """True when ``model`` has the ``g_a`` / ``g_s`` submodules the helpers below need."""
    import torch.nn as nn

    return isinstance(getattr(model, "g_a", None), nn.Module) and isinstance(
        getattr(model, "g_s", None), nn.Module
    )


@contextlib.contextmanager
def _instance_forward(module: Any, forward: Any) -> Iterator[None]:
    if "forward" in vars(module):
        raise RuntimeError(f"{type(module).__name__}.forward is already replaced")
    module.forward = forward
    try:
        yield
    finally:
        del module.forward


@contextlib.contextmanager
def fixed_analysis(model: Any, y: Any) -> Iterator[None]:
    """``model.g_a`` returns ``y`` (computed earlier for the same input) without recomputing."""
    with _instance_forward(model.g_a, lambda *args, **kwargs: y):
        yield


@contextlib.contextmanager
def skipped_synthesis(model: Any, image_shape: Any) -> Iterator[list[Any]]:
    """``model.g_s`` records the latents it is given and returns zeros of ``image_shape``
    instead of synthesising: the caller wants the likelihoods and latents, not ``x_hat``."""
    seen: list[Any] = []

    def record(y_hat: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(y_hat)
        return y_hat.new_zeros(tuple(image_shape))

    with _instance_forward(model.g_s, record):
        yield seen


@contextlib.contextmanager
def synthesis_input(model: Any) -> Iterator[list[Any]]:
    """Record the latents ``model.g_s`` is given, letting it run (a forward pre-hook)."""
    seen: list[Any] = []

    def hook(module: Any, args: tuple[Any, ...]) -> None:
        if args:
            seen.append(args[0])

    handle = model.g_s.register_forward_pre_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()
