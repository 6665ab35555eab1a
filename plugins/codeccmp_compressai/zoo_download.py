"""Fetching zoo weights: an atomic, hash-checked download into the torch hub cache.

A failed download is remembered for the rest of the run (:func:`failed_download`), so
:func:`codeccmp_compressai.weights.resolve_codec` reports the file as missing instead of
trying the network again; one that could not reach the server at all marks every later
download as failed too (:func:`network_down`).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from codeccmp.codec import CodecError, CodecUnavailable
from codeccmp.model.digests import file_sha256, remember_sha256
from codeccmp.model.fileio import file_mode

_FAILED_DOWNLOADS: dict[str, str] = {}
#: Set by the first download that could not reach its server at all (not an HTTP error): the
#: rest of the run treats every download as failed rather than waiting on the network again.
_NETWORK_DOWN: str | None = None


def failed_download(url: str) -> str | None:
    """Why the download of ``url`` failed earlier in this run, or None."""
    return _FAILED_DOWNLOADS.get(url)


def network_down() -> str | None:
    """Why no download is tried any more in this run (the server was unreachable), or None."""
    return _NETWORK_DOWN


def forget_failures() -> None:
    """Let the next download try the network again (``weights.clear_caches``)."""
    global _NETWORK_DOWN
    _NETWORK_DOWN = None
    _FAILED_DOWNLOADS.clear()


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
    # Here, not at the top: urllib.request brings http.client and ssl (about 20 ms), which
    # every run would pay for registering the learned codecs.
    import urllib.error
    import urllib.request

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

