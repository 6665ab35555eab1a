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
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeccmp.codec import CodecError, CodecUnavailable, RunSettings
from codeccmp.errors import UsageError
from codeccmp.fileio import file_mode, file_sha256, forget_sha256, remember_sha256
from codeccmp_compressai import zoo

#: The format tag of codeccmp training checkpoints (written by ``codeccmp train``).
TRAIN_FORMAT = "codeccmp-checkpoint/1"

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
        elif url in _FAILED_DOWNLOADS or _NETWORK_DOWN:
            out[q] = Resolution(arch, metric, q, "missing", hub / zname, url, zname, prefix,
                                reason=_FAILED_DOWNLOADS.get(str(url)) or str(_NETWORK_DOWN))
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
        f"weights missing ({how}): expected {first}{more} in the weights dir or the torch hub "
        f"cache; fetch with `{pull_command(arch, metric)}`"
    )


# --------------------------------------------------------------------------- hashing


_LOCK = threading.RLock()


# --------------------------------------------------------------------------- download

_FAILED_DOWNLOADS: dict[str, str] = {}
#: Set by the first download that could not reach its server at all (not an HTTP error): the
#: rest of the run treats every download as failed rather than waiting on the network again.
_NETWORK_DOWN: str | None = None


class DownloadError(CodecUnavailable):
    """The zoo file could not be fetched (network); the codec is reported unavailable."""


ProgressCallback = Callable[[int, "int | None"], None]


def download(
    url: str,
    dest: Path,
    expected_prefix: str | None,
    progress: ProgressCallback | None = None,
    timeout: float = 30.0,
) -> Path:
    """Fetch ``url`` into ``dest`` atomically, checking the sha256 prefix from the name.

    The bytes go to a temporary file in the destination directory and are renamed into
    place only once the hash matches, so an interrupted or wrong download never leaves a
    file that a later run would trust. A file lock keeps parallel runs from fetching the
    same file twice.
    """
    from filelock import FileLock

    dest.parent.mkdir(parents=True, exist_ok=True)
    lock_path = Path(str(dest) + ".lock")
    try:
        with FileLock(str(lock_path)):
            return _download_locked(url, dest, expected_prefix, progress, timeout)
    finally:
        # filelock leaves its (empty) file behind on POSIX; nothing of ours should stay in
        # the torch hub cache. A process waiting on the old file at this moment may then
        # download in parallel with a new one: harmless, each writes its own temporary
        # file and the renames are atomic.
        with contextlib.suppress(OSError):
            lock_path.unlink()


def _download_locked(url: str, dest: Path, expected_prefix: str | None,
                     progress: ProgressCallback | None, timeout: float) -> Path:
    """:func:`download`'s work, with the file lock held."""
    global _NETWORK_DOWN
    if dest.is_file() and (
        expected_prefix is None or file_sha256(dest).startswith(expected_prefix)
    ):
        return dest
    fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    os.fchmod(fd, file_mode())  # a downloaded checkpoint is an ordinary file, not 0600
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        try:
            with (
                urllib.request.urlopen(url, timeout=timeout) as resp,
                os.fdopen(fd, "wb") as out,
            ):
                length = resp.headers.get("Content-Length")
                total = int(length) if length and length.isdigit() else None
                done = 0
                if progress:
                    progress(0, total)
                while True:
                    chunk = resp.read(1 << 16)
                    if not chunk:
                        break
                    out.write(chunk)
                    h.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", None) or exc
            msg = f"download of {dest.name} from {url} failed: {reason}"
            _FAILED_DOWNLOADS[url] = msg
            if not isinstance(exc, urllib.error.HTTPError):
                # Other files were never tried: say why, without naming this one.
                _NETWORK_DOWN = f"zoo server unreachable: {reason}"
            raise DownloadError(msg) from exc
        digest = h.hexdigest()
        if expected_prefix and not digest.startswith(expected_prefix):
            raise CodecError(
                f"downloaded {dest.name} has sha256 {digest[:16]}..., expected a hash "
                f"starting {expected_prefix}: file discarded (corrupt transfer or wrong "
                "server)"
            )
        os.replace(tmp, dest)
        remember_sha256(dest, digest)
        return dest
    finally:
        tmp.unlink(missing_ok=True)


def rich_progress_download(url: str, dest: Path, expected_prefix: str | None) -> Path:
    """:func:`download` with a rich progress bar on stderr, when stderr is a terminal.

    Used by automatic downloads in the middle of a comparison; if the caller already shows a
    live display that rich refuses to share, the download proceeds without a bar.
    """
    from rich.console import Console
    from rich.errors import LiveError
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TransferSpeedColumn,
    )

    console = Console(stderr=True)
    if not console.is_terminal:
        return download(url, dest, expected_prefix)
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=console,
        transient=True,
    )
    try:
        bar.start()
    except LiveError:
        return download(url, dest, expected_prefix)
    try:
        task = bar.add_task(f"downloading {dest.name}", total=None)

        def cb(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        return download(url, dest, expected_prefix, cb)
    finally:
        bar.stop()


# --------------------------------------------------------------------------- loading


def _torch_load(path: Path) -> Any:
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
    obj = _torch_load(p)
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


def _mismatch(arch: str, exc: BaseException) -> CodecError:
    """Turn a load_state_dict failure into one readable line."""
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
    return CodecError(f"state dict does not match {arch}: {'; '.join(parts)}")


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
        raise _mismatch(arch, exc) from None
    # Checkpoints saved before update() have empty CDF tables; fill them (no-op otherwise).
    model.update()
    model.eval()
    return model


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
        if res.url in _FAILED_DOWNLOADS:
            raise DownloadError(_FAILED_DOWNLOADS[res.url] + hint)
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
    global _NETWORK_DOWN
    with _LOCK:
        _NETWORK_DOWN = None
        _MODELS.clear()
        _LOAD_ERRORS.clear()
        forget_sha256()
        _FAILED_DOWNLOADS.clear()
        LOAD_COUNTS.clear()


def read_meta(path: Path) -> dict[str, Any]:
    """Training-checkpoint metadata for ``codeccmp models list`` (empty for plain weights)."""
    try:
        _, meta = load_checkpoint(path)
    except CodecError:
        return {}
    return meta
