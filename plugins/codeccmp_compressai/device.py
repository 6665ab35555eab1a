"""Device selection and the memory check that runs before any work on a large image.

``--device auto|cpu|cuda[:N]``: ``auto`` takes CUDA when torch sees a GPU. Encoding and
decoding always run on the same device. torch is imported only inside functions.
"""

from __future__ import annotations

import os
import re

from codeccmp.codec import CodecError, CodecUnavailable
from codeccmp.errors import UsageError

_DEVICE_RE = re.compile(r"^(auto|cpu|cuda(?::\d+)?)$")

#: Bytes of activations per (channel N x padded pixel). Measured peaks of a forward pass:
#: 4.1-4.8 on the CPU, 3.1-3.3 on an H200 (5.2 for cheng2020-attn) (docs/models.md,
#: "Images: padding, grayscale, memory"). Deliberately generous: the check only refuses
#: images that obviously cannot fit.
_BYTES_PER_CHANNEL_PIXEL = 6.0


def parse_device(text: str) -> str:
    """Validate ``--device`` text (no torch import); bad text is the user's error."""
    value = text.strip().lower()
    if not _DEVICE_RE.match(value):
        raise UsageError(f"bad --device {text!r}: use auto, cpu, cuda or cuda:N")
    return value


def resolve_device(spec: str) -> str:
    """Turn ``auto``/``cuda``/``cuda:N`` into a concrete torch device string.

    A request the machine cannot honour (CUDA absent, index out of range) makes the learned
    codecs unavailable with that reason, rather than silently running elsewhere.
    """
    value = (spec or "auto").strip().lower()
    if not _DEVICE_RE.match(value):
        raise CodecUnavailable(f"bad device {spec!r}: use auto, cpu, cuda or cuda:N")
    if value == "cpu":
        return "cpu"
    import torch

    has_cuda = torch.cuda.is_available()
    if value == "auto":
        if not has_cuda:
            return "cpu"
        value = "cuda:0"  # and on to the settings every CUDA run needs, below
    if not has_cuda:
        raise CodecUnavailable(f"device {value} requested but torch sees no CUDA device")
    index = int(value.split(":", 1)[1]) if ":" in value else 0
    count = torch.cuda.device_count()
    if index >= count:
        raise CodecUnavailable(f"device cuda:{index} requested but only {count} CUDA device(s)")
    # Entropy decoding must see the same scales the encoder saw: cuDNN's autotuned kernels
    # made the same bytes decode to slightly different pixels from run to run.
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    return f"cuda:{index}"


def free_memory_bytes(device: str) -> int | None:
    """Memory available for activations on ``device``, or None when unknown."""
    if device.startswith("cuda"):
        import torch

        free, _total = torch.cuda.mem_get_info(torch.device(device))
        # What the caching allocator holds but does not use is available to us too.
        reserved = torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device)
        return int(free + max(reserved, 0))
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def model_width(model: object) -> int:
    """The model's main channel count (``N``), used for the activation estimate."""
    n = getattr(model, "N", None)
    if isinstance(n, int) and n > 0:
        return n
    import torch

    for p in model.parameters():  # type: ignore[attr-defined]
        if isinstance(p, torch.Tensor) and p.dim() == 4:
            return int(p.shape[0])
    return 192


def estimate_activation_bytes(channels: int, padded_h: int, padded_w: int) -> int:
    """Peak activation memory of one forward/compress/decompress of one image (rough)."""
    return int(_BYTES_PER_CHANNEL_PIXEL * channels * padded_h * padded_w)


def check_memory(model: object, padded_h: int, padded_w: int, device: str, name: str) -> None:
    """Refuse, before any work, an image whose activations obviously cannot fit on ``device``.

    We refuse rather than tile: tiling would either need several bitstreams or a
    tile-aware entropy model, and would change what is being compared.
    """
    need = estimate_activation_bytes(model_width(model), padded_h, padded_w)
    free = free_memory_bytes(device)
    if free is not None and need > free:
        gib = 1024**3
        hint = " (try --device cpu)" if device.startswith("cuda") else ""
        raise CodecError(
            f"{name}: a {padded_w}x{padded_h} (padded) image needs about {need / gib:.1f} GiB "
            f"of activations on {device}, only {free / gib:.1f} GiB free{hint}; "
            "use a smaller image or crop it"
        )
