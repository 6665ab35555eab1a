"""Where a learned model's weights come from, and loading them exactly once per run.

Resolution order for one (model, metric, quality) (docs/models.md, "Weights"):

1. ``--weights CODEC[:QUALITY]=PATH`` (``settings.weights``);
2. a weights directory (``--weights-dir`` or ``CODECCMP_WEIGHTS_DIR``) holding the zoo's own
   file name, or ``<model>-<metric>-<quality>.pth[.tar]``;
3. the torch hub cache, ``torch.hub.get_dir()/checkpoints/<zoo file name>``, so an existing
   CompressAI cache is reused;
4. a download from the zoo URL with a sha256-prefix check into that cache, unless offline
   (``--offline`` or ``CODECCMP_OFFLINE=1``).

Files found under a zoo name (steps 2-4) are checked against the hash prefix in that name
when first loaded; explicit files and plain names are the user's own and only hashed for
provenance. Loaded models are cached per (file, device) for the life of the process.

The download itself is :mod:`codeccmp_compressai.zoo_download`; reading a file and building
its model, :mod:`codeccmp_compressai.checkpoints`.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeccmp.codec import CodecError, CodecUnavailable, RunSettings
from codeccmp.errors import UsageError
from codeccmp.model.digests import file_sha256, forget_sha256
from codeccmp_compressai import zoo, zoo_download
from codeccmp_compressai.checkpoints import build_model, load_checkpoint
from codeccmp_compressai.zoo_download import DownloadError, download, rich_progress_download

SOURCES = ("explicit", "weights-dir", "hub-cache", "download")

_KEY_RE = re.compile(r"^([a-z0-9][a-z0-9._-]*)(?::(\d+))?$")
_TRUE = {"1", "true", "yes", "on"}


# --------------------------------------------------------------------------- options


def parse_weights_option(values: Iterable[str]) -> dict[str, str]:
    """Parse repeated ``--weights CODEC[:QUALITY]=PATH`` into ``{"codec[:q]": path}``.

    Codec names are not checked here (other plugins may take weights too); the syntax,
    the file's existence, duplicates, and mixing ``CODEC=`` with ``CODEC:Q=`` for the
    same codec are.
    """
    result: dict[str, str] = {}
    for raw in values:
        key, sep, path = raw.partition("=")
        key = key.strip().lower()
        path = path.strip()
        m = _KEY_RE.match(key)
        if not sep or not path or not m:
            raise UsageError(
                f"bad --weights {raw!r}: expected CODEC=PATH or CODEC:QUALITY=PATH "
                "(for example bmshj2018-factorized:3=weights.pth.tar)"
            )
        if key in result:
            raise UsageError(f"--weights given twice for {key}")
        p = Path(path).expanduser()
        if p.is_dir():
            raise UsageError(f"--weights {key}: {path} is a folder, not a weights file "
                             "(--weights-dir takes a folder)")
        if not p.is_file():
            raise UsageError(f"--weights {key}: file not found: {path}")
        result[key] = str(p)
    for key in result:
        codec, _, q = key.partition(":")
        if not q and any(k.startswith(codec + ":") for k in result):
            raise UsageError(
                f"--weights {codec}=PATH names the model's only checkpoint; "
                f"do not also give {codec}:QUALITY=PATH"
            )
    return result


def is_offline(settings: RunSettings | None = None) -> bool:
    """``--offline`` or ``CODECCMP_OFFLINE=1``."""
    if settings is not None and settings.offline:
        return True
    return os.environ.get("CODECCMP_OFFLINE", "").strip().lower() in _TRUE


def weights_dir(settings: RunSettings | None = None) -> Path | None:
    """``--weights-dir``, else ``CODECCMP_WEIGHTS_DIR``, else None."""
    value = (settings.weights_dir if settings is not None else None) or os.environ.get(
        "CODECCMP_WEIGHTS_DIR"
    )
    return Path(value).expanduser() if value else None


def hub_checkpoints_dir() -> Path:
    """torch hub's checkpoint cache: ``torch.hub.get_dir()/checkpoints``.

    Once torch is imported we ask it (that honours ``torch.hub.set_dir``); before, we apply
    the same rule torch does (``$TORCH_HOME/hub``, ``TORCH_HOME`` defaulting to
    ``$XDG_CACHE_HOME/torch``, that to ``~/.cache``), so listing codecs needs no torch.
    """
    import sys

    if "torch" in sys.modules:
        import torch.hub

        return Path(torch.hub.get_dir()) / "checkpoints"
    home = os.getenv("TORCH_HOME") or os.path.join(
        os.getenv("XDG_CACHE_HOME", "~/.cache"), "torch"
    )
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def pull_command(arch: str, metric: str) -> str:
    return f"codeccmp models pull {zoo.ARCHS[arch].codec_name(metric)}"


# --------------------------------------------------------------------------- resolution


@dataclass(frozen=True)
class Resolution:
    """Where one quality's weights come from, or why they cannot be had."""

    arch: str
    metric: str
    quality: int
    #: "explicit" | "weights-dir" | "hub-cache" | "download" | "missing"
    source: str
    #: The local file (for "download": where it will be saved).
    path: Path | None = None
    url: str | None = None
    #: The file name looked for (zoo name, or the plain name for unpublished models).
    filename: str | None = None
    #: sha256 prefix the file must have (zoo names only).
    expected_prefix: str | None = None
    #: Why it is missing, for "missing".
    reason: str = ""

    @property
    def local(self) -> bool:
        return self.source in ("explicit", "weights-dir", "hub-cache")


def _plain_in_dir(directory: Path | None, arch: str, metric: str) -> dict[int, Path]:
    """``<arch>-<metric>-<q>.pth[.tar]`` files in the weights dir, by quality."""
    found: dict[int, Path] = {}
    if directory is None or not directory.is_dir():
        return found
    pattern = zoo.plain_filename_re(arch, metric)
    for entry in sorted(directory.iterdir()):
        m = pattern.match(entry.name)
        if m and entry.is_file():
            found.setdefault(int(m.group(1)), entry)
    return found


def resolve_codec(arch: str, metric: str, settings: RunSettings) -> dict[int, Resolution]:
    """Resolve every quality a codec could offer under ``settings`` (nothing is loaded).

    ``--weights CODEC=PATH`` without a quality makes that file the codec's only model,
    labelled quality 0.
    """
    codec = zoo.ARCHS[arch].codec_name(metric)
    explicit = {k.lower(): v for k, v in (settings.weights or {}).items()}
    if codec in explicit:
        return {0: _explicit(arch, metric, 0, explicit[codec])}
    per_quality: dict[int, str] = {}
    for key, path in explicit.items():
        name, _, q = key.partition(":")
        if name == codec and q.isdigit():
            per_quality[int(q)] = path
    directory = weights_dir(settings)
    plain = _plain_in_dir(directory, arch, metric)
    qualities = sorted(set(zoo.ARCHS[arch].qualities) | set(per_quality) | set(plain))
    offline = is_offline(settings)
    hub: Path | None = None
    out: dict[int, Resolution] = {}
    for q in qualities:
        if q in per_quality:
            out[q] = _explicit(arch, metric, q, per_quality[q])
            continue
        zname = zoo.zoo_filename(arch, metric, q)
        prefix = zoo.hash_prefix(zname) if zname else None
        if directory is not None and zname and (directory / zname).is_file():
            out[q] = Resolution(arch, metric, q, "weights-dir", directory / zname, None, zname,
                                prefix)
            continue
        if q in plain:
            out[q] = Resolution(arch, metric, q, "weights-dir", plain[q], None, plain[q].name)
            continue
        if zname is None:
            out[q] = Resolution(arch, metric, q, "missing", filename=f"{arch}-{metric}-{q}.pth",
                                reason="no published weights")
            continue
        if hub is None:
            hub = hub_checkpoints_dir()
        if (hub / zname).is_file():
            out[q] = Resolution(arch, metric, q, "hub-cache", hub / zname, None, zname, prefix)
            continue
        url = zoo.zoo_url(arch, metric, q)
        if offline:
            out[q] = Resolution(arch, metric, q, "missing", hub / zname, url, zname, prefix,
                                reason="offline")
        elif failed := zoo_download.failed_download(str(url)) or zoo_download.network_down():
            out[q] = Resolution(arch, metric, q, "missing", hub / zname, url, zname, prefix,
                                reason=failed)
        else:
            out[q] = Resolution(arch, metric, q, "download", hub / zname, url, zname, prefix)
    return out


def _explicit(arch: str, metric: str, quality: int, path: str) -> Resolution:
    p = Path(path).expanduser()
    if not p.is_file():
        return Resolution(arch, metric, quality, "missing", p, filename=p.name,
                          reason=f"--weights file not found: {p}")
    return Resolution(arch, metric, quality, "explicit", p, filename=p.name)


def missing_reason(arch: str, metric: str, resolutions: Mapping[int, Resolution]) -> str:
    """One line for ``availability()`` when no quality can be had."""
    a = zoo.ARCHS[arch]
    codec = a.codec_name(metric)
    if not a.zoo:
        return (
            f"no published weights; train one with `codeccmp train {a.name} ...` and give it "
            f"with --weights {codec}=PATH or as {a.name}-{metric}-<quality>.pth in the "
            "weights dir"
        )
    res = list(resolutions.values())
    explicit_missing = [r for r in res if r.reason.startswith("--weights")]
    if explicit_missing:
        return explicit_missing[0].reason
    names = [r.filename for r in res if r.filename]
    first = names[0] if names else f"{arch}-{metric}-*.pth.tar"
    more = f" (and {len(names) - 1} more)" if len(names) > 1 else ""
    why = next((r.reason for r in res if r.reason and r.reason != "offline"), "")
    how = why or "offline"
    return (
        f"weights missing ({how}): expected {first}{more}, or {a.name}-{metric}-<quality>.pth, "
        f"in the weights dir or the torch hub cache; fetch with "
        f"`{pull_command(arch, metric)}`, or give a file with --weights {codec}=PATH"
    )


def status_line(arch: str, metric: str, resolutions: Mapping[int, Resolution]) -> str:
    """Where a codec's weights are, in a few words (the weights line of ``codeccmp codecs -v``):
    ``on disk``, what a run would download, or why there are none."""
    local = [q for q, r in resolutions.items() if r.local]
    fetch = [q for q, r in resolutions.items() if r.source == "download"]
    if not local and not fetch:
        missing = [r for r in resolutions.values() if r.source == "missing"]
        why = next((r.reason for r in missing if r.reason), None)
        return f"missing ({why})" if why else "missing"
    explicit = {q: r for q, r in resolutions.items() if r.source == "explicit"}
    if not fetch and explicit and len(explicit) == len(local):  # which file --weights gave
        if len(explicit) == 1:
            return f"from --weights: {next(iter(explicit.values())).path}"
        return f"from --weights for quality {_qualities(explicit)}"
    if not fetch:
        return "on disk"
    pull = pull_command(arch, metric)
    if not local:
        return f"not on disk: downloaded on first use, or now with `{pull}`"
    return (f"on disk for quality {_qualities(local)}; {_qualities(fetch)} downloaded on "
            f"first use (`{pull}`)")


def _qualities(qs: Iterable[int]) -> str:
    return ", ".join(str(q) for q in sorted(qs))


# --------------------------------------------------------------------------- loading


_LOCK = threading.RLock()


@dataclass
class LoadedModel:
    """A model ready to code on one device, and its provenance."""

    model: Any
    arch: str
    metric: str
    path: Path
    sha256: str
    device: str
    meta: dict[str, Any] = field(default_factory=dict)


_MODELS: dict[tuple[str, str, str, str], LoadedModel] = {}
_LOAD_ERRORS: dict[tuple[str, str, str, str], CodecError] = {}
#: How many times each file was read from disk (tests check "at most once per run").
LOAD_COUNTS: dict[str, int] = {}


def get_model(res: Resolution, device: str, *, progress: bool = True) -> LoadedModel:
    """The model for a resolution on ``device``: downloaded if needed, loaded once, cached."""
    if res.source == "missing" or res.path is None:
        raise CodecUnavailable(missing_reason(res.arch, res.metric, {res.quality: res}))
    path = res.path
    if res.source == "download":
        assert res.url is not None
        hint = f"; fetch it later with `{pull_command(res.arch, res.metric)}`"
        failed = zoo_download.failed_download(res.url)
        if failed is not None:
            raise DownloadError(failed + hint)
        try:
            if progress:
                rich_progress_download(res.url, path, res.expected_prefix)
            else:
                download(res.url, path, res.expected_prefix)
        except DownloadError as exc:
            raise DownloadError(f"{exc}{hint}") from None
    key = (str(path.resolve()), device, res.arch, res.metric)
    with _LOCK:
        cached = _MODELS.get(key)
        if cached is not None:
            return cached
        if key in _LOAD_ERRORS:
            raise _LOAD_ERRORS[key]
        try:
            loaded = _load(res, path, device)
        except CodecError as exc:
            _LOAD_ERRORS[key] = exc
            raise
        _MODELS[key] = loaded
        return loaded


def _load(res: Resolution, path: Path, device: str) -> LoadedModel:
    """Hash-check, read and build one weights file (callers hold the lock and cache)."""
    digest = file_sha256(path)
    if res.expected_prefix and not digest.startswith(res.expected_prefix):
        raise CodecError(
            f"weights file {path} has sha256 {digest[:16]}..., but its zoo name expects "
            f"{res.expected_prefix}: corrupt or not the zoo's file; delete it and run "
            f"`{pull_command(res.arch, res.metric)}`"
        )
    state_dict, meta = load_checkpoint(path)
    resolved = str(path.resolve())
    LOAD_COUNTS[resolved] = LOAD_COUNTS.get(resolved, 0) + 1
    model = build_model(res.arch, res.metric, state_dict, meta, path)
    model = model.to(device)
    return LoadedModel(model, res.arch, res.metric, path, digest, device, meta)


def clear_caches() -> None:
    """Forget loaded models, hashes and failed downloads (tests; long-lived processes)."""
    with _LOCK:
        zoo_download.forget_failures()
        _MODELS.clear()
        _LOAD_ERRORS.clear()
        forget_sha256()
        LOAD_COUNTS.clear()


