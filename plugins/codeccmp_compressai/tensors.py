"""Images to and from a learned model's tensors: the checks on what a learned codec takes,
replicate padding to the model's multiple, and the uint8 image the decoder gives back.

torch is imported inside the functions only, so importing this module costs nothing.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from typing import Any

import numpy as np

from codeccmp.codec import CodecError
from codeccmp_compressai import device as devices
from codeccmp_compressai import zoo
from codeccmp_compressai.weights import LoadedModel


def torch_module() -> Any:
    import torch

    return torch


def as_rgb(image: np.ndarray) -> tuple[np.ndarray, bool]:
    """``image`` as (H, W, 3) uint8, and whether it was gray (its one channel repeated)."""
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise CodecError(f"learned codecs take uint8 images, not {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2), True
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise CodecError(f"learned codecs take (H, W, 3) or (H, W) images, not {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise CodecError("empty image")
    return arr, False


def model_multiple(lm: LoadedModel) -> int:
    """What the model's input sides must be a multiple of."""
    f = getattr(lm.model, "downsampling_factor", None)
    return int(f) if f else zoo.ARCHS[lm.arch].multiple


def padded_tensor(rgb: np.ndarray, lm: LoadedModel, pad_multiple: int, name: str) -> Any:
    """(1, 3, Hp, Wp) float tensor in [0, 1] on the device, replicate-padded to a multiple of
    both the model's multiple and ``pad_multiple``; refused when it would not fit in memory."""
    torch = torch_module()
    import torch.nn.functional as F

    h, w = rgb.shape[:2]
    f = math.lcm(model_multiple(lm), pad_multiple)
    hp, wp = -(-h // f) * f, -(-w // f) * f
    devices.check_memory(lm.model, hp, wp, lm.device, name)
    if not (rgb.flags.writeable and rgb.flags.c_contiguous):
        rgb = np.array(rgb, order="C")  # torch warns on read-only arrays
    x = torch.from_numpy(rgb).to(lm.device)
    x = x.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
    if (hp, wp) != (h, w):
        x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
    return x


def to_uint8(x_hat: Any, h: int, w: int) -> np.ndarray:
    """The decoder's output cropped to (h, w), as an (h, w, 3) uint8 array."""
    x = x_hat[0, :, :h, :w].clamp(0, 1).mul(255.0).round().to(dtype=torch_module().uint8)
    return np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy())


def image_digest(rgb: np.ndarray) -> str:
    """A key for an image's pixels and shape (the analysis cache's)."""
    h = hashlib.blake2b(rgb.tobytes(), digest_size=16)
    h.update(repr(rgb.shape).encode())
    return h.hexdigest()


def to_output(rgb: np.ndarray, gray: bool) -> np.ndarray:
    """The decoded image in the input's form: a gray input gets its channels averaged back."""
    if not gray:
        return rgb
    return np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)


class quiet:  # noqa: N801 - used as a context manager, like contextlib's
    """Silence CompressAI's "inference on GPU is not recommended" warning: the table says
    which device ran, and the user chose it."""

    def __enter__(self) -> None:
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.filterwarnings("ignore", message="Inference on GPU is not recommended")

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)
