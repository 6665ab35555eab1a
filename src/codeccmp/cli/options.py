"""Option parsing shared by the commands: codec lists, weights overrides, run settings."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from codeccmp.codec import RunSettings
from codeccmp.errors import UsageError

# Options shared by the commands that run codecs: one definition, one help text.
CodecsOpt = Annotated[str | None, typer.Option(
    help="Comma-separated codec names (default: every codec usable here).")]
PluginOpt = Annotated[list[Path] | None, typer.Option(
    "--plugin", help="Load a codec plugin from a Python file (repeatable).")]
CodecConfigOpt = Annotated[list[Path] | None, typer.Option(
    "--codec-config", help="Load codecs defined in a TOML file (repeatable; see "
    "docs/external-codecs.md).")]
DeviceOpt = Annotated[str, typer.Option(
    help="Device for learned codecs: auto, cpu, cuda or cuda:N.")]
WeightsOpt = Annotated[list[str] | None, typer.Option(
    help="Weights for a learned codec: CODEC[:QUALITY]=PATH (repeatable).")]
WeightsDirOpt = Annotated[Path | None, typer.Option(
    help="Directory of weights under the zoo's file names (or CODECCMP_WEIGHTS_DIR).")]
OfflineOpt = Annotated[bool, typer.Option(
    help="Never download weights (or CODECCMP_OFFLINE=1).")]
RoiCountOpt = Annotated[int, typer.Option(help="How many regions 'auto' finds.")]


def plugin_sources(plugin: list[Path] | None, codec_config: list[Path] | None) -> list[Path]:
    """``--plugin`` and ``--codec-config`` files, in one list for the registry and workers."""
    for path in codec_config or []:
        if path.suffix.lower() != ".toml":
            raise UsageError(f"--codec-config expects a .toml file, got {path}")
    return [*(plugin or []), *(codec_config or [])]


def parse_codec_list(text: str | None) -> list[str] | None:
    if text is None:
        return None
    names = [n.strip() for n in text.split(",")]
    if not all(names):
        raise UsageError(f"--codecs expects comma-separated names, got {text!r}")
    return names


def parse_weights(values: list[str] | None) -> dict[str, str]:
    """``CODEC[:QUALITY]=PATH`` entries into ``{"codec" or "codec:quality": path}``."""
    out: dict[str, str] = {}
    for v in values or []:
        key, sep, path = v.partition("=")
        key = key.strip()
        if not sep or not key or not path:
            raise UsageError(f"--weights expects CODEC[:QUALITY]=PATH, got {v!r}")
        codec, colon, quality = key.partition(":")
        if colon and not quality.isdigit():
            raise UsageError(f"--weights quality must be an integer, got {quality!r} in {v!r}")
        if not Path(path).is_file():
            raise UsageError(f"weights file not found: {path}")
        out[key] = str(Path(path).resolve())
    return out


def parse_device(text: str) -> str:
    t = text.strip().lower()
    if t in ("auto", "cpu", "cuda") or (t.startswith("cuda:") and t[5:].isdigit()):
        return t
    raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, got {text!r}")


def run_settings(device: str, weights: list[str] | None, weights_dir: Path | None,
                 offline: bool) -> RunSettings:
    wdir = weights_dir or (Path(os.environ["CODECCMP_WEIGHTS_DIR"])
                           if os.environ.get("CODECCMP_WEIGHTS_DIR") else None)
    if wdir is not None and not wdir.is_dir():
        raise UsageError(f"weights directory not found: {wdir}")
    offline = offline or os.environ.get("CODECCMP_OFFLINE", "") not in ("", "0")
    return RunSettings(device=parse_device(device), weights=parse_weights(weights),
                       weights_dir=str(wdir) if wdir else None, offline=offline)
