"""Reading a weights file and building its model, with one-line errors for bad files.

Checkpoints are read with ``torch.load(..., weights_only=True)`` (no pickled code runs); see
docs/models.md, "Checkpoint formats". torch and compressai are imported inside the
functions only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from codeccmp.codec import CodecError, CodecUnavailable
from codeccmp.errors import UsageError
from codeccmp_compressai import zoo

#: The format tag of codeccmp training checkpoints (written by ``codeccmp train``).
TRAIN_FORMAT = "codeccmp-checkpoint/1"


def read_file(path: Path) -> Any:
    """``torch.load`` with ``weights_only=True``; a file it cannot read is reported as what
    it is (not a checkpoint, or a damaged one), never with torch's own long message."""
    import pickle

    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CodecError(f"weights file not found: {path}") from None
    except pickle.UnpicklingError as exc:
        if "Unsupported global" in str(exc) and _looks_like_checkpoint(path):
            raise CodecError(
                f"cannot load weights file {path}: it holds Python objects other than tensors "
                "and plain data (codeccmp loads checkpoints with weights_only=True for safety)"
            ) from None
        raise CodecError(_not_a_checkpoint(path)) from None
    except Exception:  # torch raises many types for damaged files
        raise CodecError(_not_a_checkpoint(path)) from None


#: How a file saved by ``torch.save`` starts: a zip archive (since PyTorch 1.6), or the
#: legacy format's pickle (protocol 2 opcode).
_CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


def _looks_like_checkpoint(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(4)
    except OSError:
        return False
    return any(head.startswith(m) for m in _CHECKPOINT_MAGIC)


def check_weights_files(codec: str, weights: Mapping[str, str]) -> None:
    """UsageError for a ``--weights`` entry of ``codec`` whose file does not start as
    ``torch.save`` writes (reads 4 bytes, imports nothing): a mistyped path is found before
    any coding. A damaged checkpoint is found when it is loaded."""
    for key, path in weights.items():
        if key.partition(":")[0].strip().lower() == codec.lower() and \
                not _looks_like_checkpoint(Path(path)):
            raise UsageError(f"--weights {key}: {_not_a_checkpoint(Path(path))}")


def _not_a_checkpoint(path: Path) -> str:
    """One line saying why ``path`` cannot be loaded, in the user's terms."""
    if not _looks_like_checkpoint(path):
        return (f"weights file {path} is not a checkpoint: not a file written by torch.save "
                "(check the path)")
    return (f"weights file {path} is not a readable checkpoint: truncated or corrupt "
            "(an interrupted download or copy?)")


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    return f"{type(exc).__name__}: {first}"[:200]


def _is_state_dict(obj: Any) -> bool:
    import torch

    return (
        isinstance(obj, Mapping)
        and len(obj) > 0
        and all(isinstance(k, str) for k in obj)
        and all(isinstance(v, torch.Tensor) for v in obj.values())
    )


def load_checkpoint(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Read a weights file into ``(state_dict, meta)``.

    Accepts (a) zoo files (old entropy-bottleneck key names are renamed), (b) plain state
    dicts, (c) codeccmp training checkpoints (``format: codeccmp-checkpoint/1``; ``meta`` is
    everything but the weights and optimizer state), and CompressAI's own training
    checkpoints (``{"state_dict": ..., "epoch": ...}``). ``meta`` is empty for (a) and (b).
    """
    zoo.import_compressai()
    from compressai.zoo.pretrained import load_pretrained

    p = Path(path)
    obj = read_file(p)
    meta: dict[str, Any] = {}
    if isinstance(obj, Mapping) and "format" in obj and not _is_state_dict(obj):
        fmt = obj.get("format")
        if fmt != TRAIN_FORMAT:
            raise CodecError(
                f"checkpoint {p} has format {fmt!r}; this codeccmp reads {TRAIN_FORMAT}"
            )
        sd = obj.get("state_dict")
        if not _is_state_dict(sd):
            raise CodecError(f"checkpoint {p} ({TRAIN_FORMAT}) has no state_dict")
        meta = {
            k: v
            for k, v in obj.items()
            if k not in ("state_dict", "rng") and "optim" not in k and "scheduler" not in k
        }
    elif _is_state_dict(obj):
        sd = obj
    elif isinstance(obj, Mapping) and _is_state_dict(obj.get("state_dict")):
        sd = obj["state_dict"]
    else:
        raise CodecError(f"weights file {p} is not a state dict or a known checkpoint format")
    return dict(load_pretrained(dict(sd))), meta


def architecture_class(arch: str) -> type:
    """The model class for an architecture; bls2017/lee2019 come from ``.models`` lazily."""
    zoo.import_compressai()
    if zoo.ARCHS[arch].zoo:
        from compressai.zoo.image import model_architectures

        return model_architectures[arch]
    try:
        from codeccmp_compressai import models as extra
    except ImportError as exc:
        raise CodecUnavailable(f"{arch} architecture not installed ({_short(exc)})") from None
    cls_name = {"bls2017": "Bls2017Model", "lee2019": "Lee2019Model"}[arch]
    cls = getattr(extra, cls_name, None)
    if cls is None:
        raise CodecUnavailable(f"{arch} architecture not installed (no {cls_name})")
    return cls


def _mismatch(arch: str, exc: BaseException, path: Path) -> CodecError:
    """Turn a load_state_dict failure into one readable line, naming the file (a run may
    take several)."""
    text = str(exc)
    parts: list[str] = []
    for label, pattern in (("missing keys", r"Missing key\(s\) in state_dict: (.*)"),
                           ("unexpected keys", r"Unexpected key\(s\) in state_dict: (.*)")):
        m = re.search(pattern, text)
        if m:
            keys = re.findall(r'"([^"]+)"', m.group(1))
            shown = ", ".join(keys[:3]) + (f" (+{len(keys) - 3} more)" if len(keys) > 3 else "")
            parts.append(f"{label} {shown}")
    sizes = re.findall(r"size mismatch for ([^:]+):", text)
    if sizes:
        shown = ", ".join(sizes[:3]) + (f" (+{len(sizes) - 3} more)" if len(sizes) > 3 else "")
        parts.append(f"size mismatch for {shown}")
    if isinstance(exc, KeyError):
        parts.append(f"missing keys {exc.args[0] if exc.args else exc}")
    elif isinstance(exc, ValueError) and not parts and str(exc).strip():
        parts.append(str(exc).strip().splitlines()[0])
    if not parts:
        parts.append(_short(exc))
    return CodecError(f"{path}: state dict does not match {arch}: {'; '.join(parts)}")


def build_model(
    arch: str, metric: str, state_dict: dict[str, Any], meta: Mapping[str, Any], path: Path
) -> Any:
    """Instantiate ``arch`` from a loaded checkpoint, checking it is the right one."""
    model_name = meta.get("model")
    if model_name is not None and model_name != arch:
        raise CodecError(f"checkpoint {path} is for model {model_name}, not {arch}")
    trained_for = meta.get("metric")
    if trained_for is not None and trained_for != metric:
        other = zoo.ARCHS[arch].codec_name(str(trained_for)) if trained_for in zoo.METRICS else arch
        raise CodecError(
            f"checkpoint {path} was trained for {trained_for}, not {metric}; use codec {other}"
        )
    cls = architecture_class(arch)
    config = meta.get("config")
    try:
        if isinstance(config, Mapping) and config:
            model = cls(**config)
            model.load_state_dict(state_dict)
        else:
            model = cls.from_state_dict(state_dict)
    except TypeError as exc:
        raise CodecError(f"checkpoint {path}: bad config for {arch} ({_short(exc)})") from None
    except (KeyError, RuntimeError, ValueError, IndexError, AttributeError) as exc:
        raise _mismatch(arch, exc, path) from None
    # Checkpoints saved before update() have empty CDF tables; fill them (no-op otherwise).
    model.update()
    model.eval()
    return model




def read_meta(path: Path) -> dict[str, Any]:
    """Training-checkpoint metadata for ``codeccmp models list`` (empty for plain weights)."""
    try:
        _, meta = load_checkpoint(path)
    except CodecError:
        return {}
    return meta
