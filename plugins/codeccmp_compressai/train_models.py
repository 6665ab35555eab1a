"""Models for ``codeccmp train``: names, constructor sizes, building or loading one, device.

One loop serves every learned codec: the two models this plugin defines (``bls2017``,
``lee2019``) and CompressAI's zoo architectures (``bmshj2018-factorized``, ``mbt2018``, ...).

Everything here imports torch; import this module only when training.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn

from codeccmp_compressai.losses import TrainingError
from codeccmp_compressai.train_checkpoints import _read_checkpoint, _weights_from

_OWN_MODELS = ("bls2017", "lee2019")


def _zoo_tables() -> tuple[dict[str, type], dict[str, dict[int, tuple[int, ...]]]]:
    from compressai.zoo.image import cfgs, model_architectures

    archs = {k.replace("_", "-"): v for k, v in model_architectures.items()}
    configs = {k.replace("_", "-"): v for k, v in cfgs.items()}
    return archs, configs


def known_models() -> list[str]:
    """Names ``codeccmp train`` accepts: this plugin's models and CompressAI's zoo."""
    archs, _ = _zoo_tables()
    return [*_OWN_MODELS, *archs]


def parse_model_name(name: str) -> tuple[str, str | None]:
    """``(architecture, metric implied by the name or None)``.

    Accepts an architecture (``bls2017``) or a codec name with a metric suffix
    (``bmshj2018-factorized-mse``), as ``codeccmp codecs`` lists them.
    """
    text = name.strip().lower().replace("_", "-")
    names = known_models()
    if text in names:
        return text, None
    for metric in ("ms-ssim", "mse"):  # the suffixes of codec names
        suffix = f"-{metric}"
        if text.endswith(suffix) and text[: -len(suffix)] in names:
            return text[: -len(suffix)], metric
    raise TrainingError(f"unknown model {name!r}; trainable: {', '.join(names)}")


def model_class(arch: str) -> type:
    """The ``CompressionModel`` subclass for an architecture name."""
    if arch in _OWN_MODELS:
        from codeccmp_compressai.models import MODELS

        return MODELS[arch]
    archs, _ = _zoo_tables()
    return archs[arch]


def _constructor_names(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in params
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def default_config(arch: str, quality: int) -> dict[str, int]:
    """Constructor kwargs: the model's defaults, or ``cfgs[arch][quality]`` for the zoo."""
    if arch in _OWN_MODELS:
        cls = model_class(arch)
        return {
            p.name: int(p.default)
            for p in inspect.signature(cls.__init__).parameters.values()
            if isinstance(p.default, int) and not isinstance(p.default, bool)
        }
    archs, configs = _zoo_tables()
    if quality not in configs[arch]:
        qualities = ", ".join(str(q) for q in sorted(configs[arch]))
        raise TrainingError(f"{arch} has no quality {quality} (qualities: {qualities})")
    names = _constructor_names(archs[arch])
    return {n: int(v) for n, v in zip(names, configs[arch][quality], strict=False)}


def model_config(model: nn.Module, arch: str, fallback: Mapping[str, int]) -> dict[str, int]:
    """Constructor kwargs of a built model (what the checkpoint records as ``config``)."""
    cfg = getattr(model, "config", None)
    if isinstance(cfg, Mapping):
        return {k: int(v) for k, v in cfg.items()}
    out: dict[str, int] = {}
    for name in _constructor_names(type(model)):
        value = getattr(model, name, fallback.get(name))
        if isinstance(value, int):
            out[name] = int(value)
    return out


def downsampling_factor(model: nn.Module) -> int:
    """The multiple the input sides must have (16 or 64 for the models here)."""
    value = getattr(model, "downsampling_factor", None)
    return int(value) if isinstance(value, int) else 64


def build_model(
    arch: str, quality: int, overrides: Mapping[str, int], init: Path | None
) -> tuple[nn.Module, dict[str, int]]:
    """A fresh model (sizes from defaults + overrides) or one loaded from ``init``."""
    cls = model_class(arch)
    if init is not None:
        state_dict, meta = _weights_from(_read_checkpoint(init), init)
        if meta and meta.get("model") not in (None, arch):
            raise TrainingError(f"{init} is a {meta.get('model')} checkpoint, not {arch}")
        try:
            model = cls.from_state_dict(state_dict)
        except Exception as exc:  # KeyError, RuntimeError, ValueError: wrong architecture
            raise TrainingError(f"{init} does not hold a {arch} model: {_short(exc)}") from None
        return model, model_config(model, arch, {})
    config = {**default_config(arch, quality), **{k: int(v) for k, v in overrides.items()}}
    try:
        model = cls(**config)
    except TypeError as exc:
        raise TrainingError(f"bad size options for {arch}: {_short(exc)}") from None
    return model, model_config(model, arch, config)


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text[:240]


def resolve_device(spec: str) -> torch.device:
    """``auto`` → the first CUDA device if torch sees one, else the CPU."""
    value = (spec or "auto").strip().lower()
    if value == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if value == "cpu":
        return torch.device("cpu")
    if value == "cuda" or value.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise TrainingError(f"--device {spec}: torch sees no CUDA device here; use cpu")
        index = value.partition(":")[2] or "0"
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise TrainingError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)"
            )
        return torch.device(f"cuda:{int(index)}")
    raise TrainingError(f"bad --device {spec!r}: use auto, cpu, cuda or cuda:N")
