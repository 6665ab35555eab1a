"""Option parsing shared by the commands: codec lists, weights overrides, run settings."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codeccmp.cli.complete import codec_completions, metric_completions
from codeccmp.codec import RunSettings
from codeccmp.errors import UsageError
from codeccmp.model.codecspec import split_specs

if TYPE_CHECKING:
    from codeccmp.codec import Codec
    from codeccmp.plugins import CodecRegistry

# Options shared by the commands that run codecs: one definition, one help text.
CodecsOpt = Annotated[str | None, typer.Option(
    autocompletion=codec_completions,
    help="Comma-separated codecs (default: every codec usable here), each NAME or "
         "NAME[KEY=VALUE,...] with encoder options, e.g. 'heif,heif[chroma=420],avif[speed=2]' "
         "(quote it for the shell; `codeccmp codecs` lists each codec's options).")]
PluginOpt = Annotated[list[Path] | None, typer.Option(
    "--plugin", metavar="FILE", help="Load a codec plugin from a Python file (repeatable).")]
CodecConfigOpt = Annotated[list[Path] | None, typer.Option(
    "--codec-config", "--metric-config", metavar="FILE",
    help="Load codecs ([[codec]]) and metrics ([[metric]]) defined in a TOML file "
         "(repeatable; see docs/external-codecs.md and docs/metrics.md).")]
MetricsOpt = Annotated[str | None, typer.Option(
    "--metrics", autocompletion=metric_completions,
    help="Extra quality columns, comma-separated (e.g. psnr-y,ssimulacra2); "
         "`codeccmp metrics` lists them. JSON and CSV carry them under 'metrics'.")]
DeviceOpt = Annotated[str, typer.Option(
    help="Device for learned codecs: auto, cpu, cuda or cuda:N.")]
WeightsOpt = Annotated[list[str] | None, typer.Option(
    metavar="CODEC[:QUALITY]=PATH",
    help="Weights for a learned codec: CODEC[:QUALITY]=PATH (repeatable).")]
WeightsDirOpt = Annotated[Path | None, typer.Option(
    help="Directory of weights under the zoo's file names (or CODECCMP_WEIGHTS_DIR).")]
OfflineOpt = Annotated[bool, typer.Option(
    help="Never download weights (or CODECCMP_OFFLINE=1).")]
RoiCountOpt = Annotated[int, typer.Option(help="How many regions 'auto' finds.")]
JumpCheckOpt = Annotated[bool, typer.Option(
    "--jump-check/--no-jump-check",
    help="Look for an encoder's strategy switch next to each rate-matched parameter and note "
         "it (2-5 more encodes a codec; --no-jump-check where an encode takes minutes, as "
         "VTM's or HM's do).")]


def check_roi_count(roi_count: int) -> int:
    """``--roi-count``, the same rule in every command that finds regions (0 once read "No
    stripe regions found" in measure)."""
    if roi_count < 1:
        raise UsageError(f"--roi-count must be at least 1, got {roi_count}")
    return roi_count


def plugin_sources(plugin: list[Path] | None, codec_config: list[Path] | None) -> list[Path]:
    """``--plugin`` and ``--codec-config`` files, in one list for the registry and workers."""
    for path in codec_config or []:
        if path.suffix.lower() != ".toml":
            raise UsageError(f"--codec-config expects a .toml file (codecs and metrics), "
                             f"got {path}")
    return [*(plugin or []), *(codec_config or [])]


def parse_codec_list(text: str | None) -> list[str] | None:
    """``--codecs``: names or specs ``NAME[KEY=VALUE,...]``, split outside the brackets."""
    if text is None:
        return None
    return split_specs(text)


def parse_weights(values: list[str] | None) -> dict[str, str]:
    """``CODEC[:QUALITY]=PATH`` entries into ``{"codec" or "codec:quality": path}``.

    Refused, as ``codeccmp models list`` refuses them: a key given twice, and ``CODEC=PATH``
    (the codec's only checkpoint) beside ``CODEC:QUALITY=PATH`` for the same codec, whose
    file was dropped without a word."""
    out: dict[str, str] = {}
    for v in values or []:
        key, sep, path = v.partition("=")
        key = key.strip()
        if not sep or not key or not path:
            raise UsageError(f"--weights expects CODEC[:QUALITY]=PATH, got {v!r}")
        codec, colon, quality = key.partition(":")
        if colon and not quality.isdigit():
            raise UsageError(f"--weights quality must be an integer, got {quality!r} in {v!r}")
        if key.lower() in (k.lower() for k in out):
            raise UsageError(f"--weights given twice for {key}")
        if Path(path).is_dir():
            raise UsageError(f"--weights {key}: {path} is a folder, not a weights file "
                             "(--weights-dir takes a folder)")
        if not Path(path).is_file():
            raise UsageError(f"weights file not found: {path}")
        out[key] = str(Path(path).resolve())
    for key in out:
        codec, _, quality = key.lower().partition(":")
        if not quality and any(k.lower().startswith(codec + ":") for k in out):
            raise UsageError(f"--weights {codec}=PATH names the model's only checkpoint; "
                             f"do not also give {codec}:QUALITY=PATH")
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
        raise UsageError(f"weights directory not found: {wdir}" if not wdir.exists() else
                         f"--weights-dir {wdir} is a file, not a folder (--weights takes a file)")
    offline = offline or os.environ.get("CODECCMP_OFFLINE", "") not in ("", "0")
    return RunSettings(device=parse_device(device), weights=parse_weights(weights),
                       weights_dir=str(wdir) if wdir else None, offline=offline)


def check_weights_codecs(settings: RunSettings, selected: Sequence[Codec],
                         registry: CodecRegistry, add: str = "add it to --codecs") -> None:
    """Every ``--weights`` entry must name a learned codec being run: a typo or a standard
    codec would otherwise be ignored silently, and the run use other weights. Then each
    codec given weights is configured with the run's settings now, before any coding: what
    a weights file must be is the codec's business, and it refuses one that is not (a text
    file given by mistake) with a UsageError there, not minutes into the run."""
    weights = settings.weights
    if not weights:
        return
    learned = sorted(c.name for c in registry.all() if c.family == "learned")
    running = {c.name.lower() for c in selected if c.family == "learned"}
    for key in weights:
        name = key.partition(":")[0].strip().lower()
        if name in running:
            continue
        if name in {n.lower() for n in learned}:
            raise UsageError(f"--weights {key}: {name} is not among the codecs run here "
                             f"({add})")
        known = ", ".join(learned) if learned else "none installed"
        raise UsageError(f"--weights {key}: {name!r} is not a learned codec; known learned "
                         f"codecs: {known}")
    named = {key.partition(":")[0].strip().lower() for key in weights}
    for c in selected:
        if c.family == "learned" and c.base_name.lower() in named:
            c.configure(settings)
