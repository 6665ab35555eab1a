"""Full-reference quality metrics on 8-bit images.

SSIM and MS-SSIM come from pytorch-msssim (the implementation CompressAI's own evaluation
uses), on pixels scaled to [0, 1] with ``data_range=1``; RGB images are measured per channel
and averaged, as that library does. torch is imported only when a metric is computed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

#: pytorch-msssim's default Gaussian window; 5 scales need the shorter side > (11 - 1) * 2**4.
WIN_SIZE = 11
MS_SSIM_MIN_SIDE = (WIN_SIZE - 1) * 2**4 + 1


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    _check(a, b)
    d = a.astype(np.float64) - b.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over all channels; ``inf`` for identical images."""
    m = mse(a, b)
    return math.inf if m == 0 else 10.0 * math.log10(peak * peak / m)


def _tensor(x: np.ndarray):  # -> torch.Tensor
    import torch

    t = torch.from_numpy(np.array(x, dtype=np.float32)) / 255.0  # a copy: torch wants it writable
    return t[None, None] if x.ndim == 2 else t.permute(2, 0, 1)[None]


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch single-threaded: on these small convolutions extra threads mostly spin at
    barriers, which made MS-SSIM 4× slower on a busy 2-core machine."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def warm_up() -> None:
    """Import torch and pytorch-msssim now (about a second): see ``Codec.warm_up``."""
    import pytorch_msssim  # noqa: F401


def ms_ssim_supported(shape: tuple[int, ...]) -> bool:
    return min(shape[:2]) >= MS_SSIM_MIN_SIDE


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM (5 scales), or ``None`` when the image is too small for 5 scales."""
    _check(a, b)
    if not ms_ssim_supported(a.shape):
        return None
    from pytorch_msssim import ms_ssim as _ms_ssim

    with _one_thread():
        return float(_ms_ssim(_tensor(a), _tensor(b), data_range=1.0, win_size=WIN_SIZE))


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    _check(a, b)
    if min(a.shape[:2]) < WIN_SIZE:
        return None
    from pytorch_msssim import ssim as _ssim

    with _one_thread():
        return float(_ssim(_tensor(a), _tensor(b), data_range=1.0, win_size=WIN_SIZE))


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM on a log scale, −10·log10(1 − MS-SSIM), as CompressAI's plots show it."""
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)
