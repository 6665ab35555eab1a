"""Checkpoint I/O for ``codeccmp train``: reading weights in any of the accepted forms,
atomic writes, and the random state that makes ``--resume`` exact.

Everything here imports torch; import this module only when training.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from codeccmp_compressai.losses import TrainingError

FORMAT = "codeccmp-checkpoint/1"


def _read_checkpoint(path: Path) -> Any:
    """The file as ``compare`` reads weights (``checkpoints.read_file``), in its words: torch's
    own message (cut at 160 characters mid-sentence: "Weights only load failed. In PyTorch
    2.6, we changed ...") told a user who gave a wrong path nothing."""
    from codeccmp.codec import CodecError
    from codeccmp_compressai.checkpoints import read_file

    if not path.is_file():
        raise TrainingError(f"checkpoint not found: {path}")
    try:
        return read_file(path)
    except CodecError as exc:
        raise TrainingError(str(exc)) from None


def _weights_from(obj: Any, path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state_dict, codeccmp metadata)`` from a codeccmp checkpoint, a CompressAI
    training checkpoint or a plain (zoo) state dict."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        return dict(obj["state_dict"]), dict(obj)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        from compressai.zoo.pretrained import load_pretrained

        return dict(load_pretrained(dict(obj))), {}
    raise TrainingError(f"{path} holds neither a state dict nor a codeccmp checkpoint")


def save_checkpoint(payload: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to memory, then :func:`codeccmp.model.fileio.atomic_write_bytes` (a
    temporary file beside ``path``, fsync, rename): a reader never sees a half-written
    checkpoint, a crash keeps the previous one, and the file follows the umask."""
    from codeccmp.model.fileio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(dict(payload), buf)
    atomic_write_bytes(Path(path), buf.getbuffer())


def load_training_checkpoint(path: Path) -> dict[str, Any]:
    """A ``codeccmp-checkpoint/1`` dict, or :class:`TrainingError`."""
    obj = _read_checkpoint(Path(path))
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise TrainingError(
            f"{path} is not a codeccmp training checkpoint (to start from plain weights "
            "use --init)"
        )
    return dict(obj)


def _rng_state(data_gen: torch.Generator, device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "data": data_gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], data_gen: torch.Generator,
                   device: torch.device) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "data" in state:
        data_gen.set_state(state["data"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _version() -> str:
    try:
        from codeccmp import __version__

        return str(__version__)
    except Exception:  # pragma: no cover - the package is always importable in practice
        return "unknown"
