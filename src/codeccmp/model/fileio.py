"""Writing outputs: whole files only, following the umask, and all of a run's files or none.

- :func:`atomic_write_bytes` writes a temporary file beside the target and renames it into
  place, so a reader never sees half a file. The file gets the permissions any tool's
  output gets (``0666`` less the umask), not ``mkstemp``'s private ``0600``.
- :func:`check_output` checks, before any coding starts, that a target can be written: not
  an existing file without ``--force``, not a directory, under a directory this process can
  create files in. A target that cannot be written is a usage error (one line, exit 2),
  never an internal error after minutes of work.
- :class:`Outputs` makes a run's outputs one unit: every target is checked up front, every
  write while it is active goes to a staging folder beside its target, and only when the
  run finishes are the files moved into place together. An interrupted or failed run leaves
  none of them (and no empty folders), so the same command can simply be run again. A folder
  written whole by one writer (an HTML report) is one output too (``add_tree``): staged
  complete and swapped into place with the files, the folder it replaces (``--force``)
  deleted only once every move has succeeded.
- A stream is not a file to replace: ``-`` is standard output (as for ``cat``, ``jq`` and
  every Unix filter), ``/dev/stdout`` too, and an existing FIFO or device
  (``--json >(jq .)``) is written as it is, without ``--force``. Inside :class:`Outputs`
  what goes to a stream is held until every file is in place, then written.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import os
import shutil
import signal
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from codeccmp.errors import UsageError

#: Prefix of the staging folders :class:`Outputs` creates beside its targets.
STAGE_PREFIX = ".codeccmp-staging-"

_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask (read by setting and restoring it: there is no getter before 3.13)."""
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a new output file gets: ``0666`` less the umask, as ``open()`` would give."""
    return 0o666 & ~_umask()


def _write_new(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` through a temporary file beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp creates 0600; outputs are ordinary files that follow the umask.
        os.fchmod(fd, file_mode())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: The file name that means standard output (and, read, standard input).
STDIO = "-"
_STD_NAMES = {"/dev/stdout": STDIO, "/dev/fd/1": STDIO, "/proc/self/fd/1": STDIO}


def stream_name(path: str | Path | None) -> str | None:
    """``"-"`` for standard output (``-``, ``/dev/stdout``), the path for an existing
    FIFO, socket or device, else ``None`` (a regular file, or one to create)."""
    if path is None:
        return None
    text = str(path)
    if text == STDIO or text in _STD_NAMES:
        return STDIO
    p = Path(text)
    if p.exists() and not p.is_file() and not p.is_dir():
        return text
    return None


def is_stdout(path: str | Path | None) -> bool:
    """Whether ``path`` names standard output."""
    return stream_name(path) == STDIO


def _not_a_stream(path: str | Path, what: str) -> None:
    """A folder output named ``-`` (or ``/dev/stdout``): refused, where it made a folder
    called ``-``; standard output carries one document, not a folder of files."""
    if stream_name(path) is not None:
        raise UsageError(f"{what or 'output folder'} {path}: a folder of files cannot go to "
                         "standard output or a stream; give a folder")


def _write_stream(name: str, data: bytes | memoryview) -> None:
    if name == STDIO:
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    with open(name, "wb") as f:
        f.write(data)


def atomic_write_bytes(path: str | Path, data: bytes | memoryview) -> Path:
    """Write ``data`` to ``path`` whole; into the staging folder while :class:`Outputs` is
    active and ``path`` is one of its targets. Returns ``path`` (the final location).
    A stream (``-``: standard output) is written as it is, once the run's files are in
    place when :class:`Outputs` is active."""
    p = Path(path)
    active = _ACTIVE.get()
    stream = stream_name(path)
    if stream is not None:
        if active is not None and stream in active.streams:
            active.streams[stream] = bytes(data)
        else:
            _write_stream(stream, data)
        return p
    staged = active.staged_path(p) if active is not None else None
    _write_new(staged or p, data)
    return p


def staged_tree(path: str | Path) -> Path | None:
    """The folder to fill for ``path`` when the active :class:`Outputs` has it as a tree
    (``add_tree``); ``None`` when no run stages it (the caller writes it on its own)."""
    active = _ACTIVE.get()
    return active.tree_stage(Path(path)) if active is not None else None


def is_staged(path: str | Path) -> bool:
    """Whether writes to ``path`` go to the active :class:`Outputs`' staging folder."""
    active = _ACTIVE.get()
    return active is not None and active._covers(Path(os.path.abspath(path)))


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> Path:
    return atomic_write_text(path, json.dumps(obj, indent=2, allow_nan=False) + "\n")


def _nearest_existing(p: Path) -> Path:
    """``p`` or its closest ancestor that exists."""
    p = Path(os.path.abspath(p))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_dir_writable(target: Path, what: str, folder: Path | None = None) -> Path:
    """The existing ancestor folder files for ``target`` will be created under (that of
    ``folder`` when given: the target is a folder to create), checked."""
    base = _nearest_existing(target.parent if folder is None else folder)
    if not base.is_dir():
        raise UsageError(f"cannot write {what} {target}: {base} is not a directory")
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write {what} {target}: {base} is not writable")
    _probe(base, target, what)
    return base


def _probe(base: Path, target: Path, what: str) -> None:
    """Create (and remove) a staging folder in ``base``, as the run will, before any work.

    ``os.access`` says yes to root everywhere and knows nothing of read-only mounts or
    pseudo file systems (``/proc``, ``/sys``): only creating something shows that the
    staging folder, and so the output, can be made there."""
    try:
        Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=base)).rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise UsageError(f"cannot write {what} {target}: cannot create files in {base} "
                         f"({reason})") from None


def check_output(path: str | Path, force: bool, what: str = "") -> Path:
    """Check that ``path`` can be written as a file; raise :class:`UsageError` if not.

    Refuses to replace an existing file unless the user said ``--force``.
    """
    p = Path(path)
    label = what or "output"
    if p.is_dir():
        raise UsageError(f"{p} is a directory (expected a file for the {label})")
    if p.exists() and not force:
        raise UsageError(f"{p} exists; pass --force to overwrite it")
    _check_dir_writable(p, label)
    return p


def check_writable(path: str | Path, force: bool) -> Path:
    """Refuse to replace an existing file unless the user said ``--force`` (see
    :func:`check_output`, which this is)."""
    return check_output(path, force)


def check_output_dir(path: str | Path, what: str = "") -> Path:
    """Check that ``path`` is, or can be created as, a folder files can be written into."""
    p = Path(path)
    label = what or "output folder"
    if p.exists() and not p.is_dir():
        raise UsageError(f"{label} {p} exists and is not a directory")
    if p.is_dir():
        if not os.access(p, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write into {label} {p}: not writable")
        _probe(p, p, label)
        return p
    _check_dir_writable(p, label, folder=p)
    return p


# --------------------------------------------------------------------------- Outputs

_ACTIVE: contextvars.ContextVar[Outputs | None] = contextvars.ContextVar(
    "codeccmp_outputs", default=None)


class Outputs:
    """The output files of one run, written all together or not at all.

    ``add_file`` / ``add_dir`` check a target at once (raise :class:`UsageError`); inside
    ``with outputs:`` every :func:`atomic_write_bytes` to a registered file, or to any file
    under a registered folder, goes to a staging folder created beside the target (on the
    same file system, so the final move is a rename). Leaving the block normally moves
    every staged file into place; leaving it by an exception (a failure, Ctrl-C) deletes
    the staging folders and nothing else. Ctrl-C is held off during the moves themselves.
    ``add_tree`` registers a folder that replaces its target whole (:func:`staged_tree`
    gives the empty folder to fill); it commits and rolls back with the files.
    """

    def __init__(self, force: bool = False) -> None:
        self.force = force
        self.files: set[Path] = set()
        self.dirs: list[Path] = []
        self.trees: set[Path] = set()
        #: Streams (``-`` or a FIFO/device) and what to write to each at commit.
        self.streams: dict[str, bytes | None] = {}
        self._stages: dict[Path, Path] = {}  # existing base folder -> its staging folder
        self._tree_stages: dict[Path, Path] = {}  # tree target -> its own staging folder
        self._lock = threading.Lock()
        self._token: contextvars.Token | None = None
        #: Where each registered target really is (symlinks and ``..`` resolved) ->
        #: (kind, option, the path as given), to refuse two outputs in one place.
        self._places: dict[str, tuple[str, str, str]] = {}

    # -- registration (before any work) ---------------------------------------------------

    def _claim(self, given: str | Path, kind: str, what: str) -> None:
        """Refuse a target that is, or lies inside, another output of this run.

        ``--json x.png --montage x.png`` would write both to one file and lose the first;
        compared as the system will resolve them (``a/../x.png``, a symlink to ``x.png``).
        Two options naming one folder of files (``--out D --report D``) are fine: their
        files are checked one by one. One option registering a file twice is one output."""
        real = os.path.realpath(given)
        label = what or "output"
        for other, (okind, owhat, ogiven) in self._places.items():
            same = other == real
            if same and kind == okind and (kind == "dir" or owhat == label):
                continue
            inside = (kind == "tree" and other.startswith(real + os.sep)) or \
                     (okind == "tree" and real.startswith(other + os.sep))
            if same or inside:
                raise UsageError(f"{label} {given} and {owhat} {ogiven} are the same "
                                 f"{'place' if inside else 'file'}: give each output its own")
        self._places.setdefault(real, (kind, label, str(given)))

    def add_file(self, path: str | Path, what: str = "") -> Path:
        stream = stream_name(path)
        if stream is not None:
            if stream == STDIO and STDIO in self.streams:
                raise UsageError(f"{what or 'output'} -: standard output is taken by another "
                                 "output already; give only one of them as -")
            self.streams[stream] = None
            return Path(stream)
        p = Path(os.path.abspath(path))
        check_output(p, self.force, what)
        self._claim(path, "file", what)
        self.files.add(p)
        return p

    def add_dir(self, path: str | Path, what: str = "") -> Path:
        """Every file written under ``path`` is an output (checked as it is written)."""
        _not_a_stream(path, what)
        p = Path(os.path.abspath(path))
        check_output_dir(p, what)
        self._claim(path, "dir", what)
        self.dirs.append(p)
        return p

    def add_tree(self, path: str | Path, what: str = "") -> Path:
        """A folder written whole by one writer, replacing an existing one only with
        ``force``; fill it through :func:`staged_tree` while the run is active."""
        _not_a_stream(path, what)
        p = Path(os.path.abspath(path))
        label = what or "output folder"
        if p.exists() and not p.is_dir():
            raise UsageError(f"{label} {p} exists and is not a directory")
        if p.exists() and not self.force:
            raise UsageError(f"{p} exists; pass --force to overwrite it")
        if p in self.files or p in self.dirs or any(p in f.parents for f in self.files):
            raise UsageError(f"{label} {p} must be a folder of its own")
        _check_dir_writable(p, label)
        self._claim(path, "tree", what)
        self.trees.add(p)
        return p

    def _covers(self, p: Path) -> bool:
        return p in self.files or any(d in p.parents for d in self.dirs)

    def tree_stage(self, path: Path) -> Path | None:
        """The empty folder to fill for the registered tree ``path`` (``None``: not one)."""
        p = Path(os.path.abspath(path))
        if p not in self.trees:
            return None
        base = _nearest_existing(p.parent)
        with self._lock:
            old = self._tree_stages.pop(p, None)
            stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=base))
            self._tree_stages[p] = stage
        if old is not None:  # written twice: the second one counts
            shutil.rmtree(old, ignore_errors=True)
        tree = stage / "tree"
        tree.mkdir()
        return tree

    def staged_path(self, path: Path) -> Path | None:
        """Where a write to ``path`` goes while staging (``None``: not one of ours)."""
        p = Path(os.path.abspath(path))
        if not self._covers(p):
            return None
        if p.is_dir():
            raise UsageError(f"{p} is a directory (expected a file)")
        if p.exists() and not self.force and p not in self.files:
            raise UsageError(f"{p} exists; pass --force to overwrite it")
        base = _nearest_existing(p.parent)
        with self._lock:
            stage = self._stages.get(base)
            if stage is None:
                stage = Path(tempfile.mkdtemp(prefix=STAGE_PREFIX, dir=base))
                self._stages[base] = stage
        return stage / p.relative_to(base)

    # -- the transaction ------------------------------------------------------------------

    def __enter__(self) -> Outputs:
        self._token = _ACTIVE.set(self)
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if self._token is not None:
            _ACTIVE.reset(self._token)
            self._token = None
        if exc_type is None:
            self.commit()
            streams, self.streams = self.streams, {k: None for k in self.streams}
            for name, data in streams.items():  # last: nothing after them can fail
                if data is not None:
                    _write_stream(name, data)
        else:
            self.discard()

    def discard(self) -> None:
        """Delete every staged file (the targets are untouched)."""
        with self._lock:
            stages = [*self._stages.values(), *self._tree_stages.values()]
            self._stages, self._tree_stages = {}, {}
        for stage in stages:
            shutil.rmtree(stage, ignore_errors=True)

    def commit(self) -> list[Path]:
        """Move every staged file and folder into place; on a failure, put everything back
        as it was (the old versions kept aside until every move succeeded)."""
        moved: list[tuple[Path, Path | None]] = []  # (target, its old version kept aside)
        made: list[Path] = []
        with _sigint_held():
            try:
                for base, stage in list(self._stages.items()):
                    backup = stage.with_name(stage.name + ".old")
                    for staged in _files_under(stage):
                        target = base / staged.relative_to(stage)
                        made += _make_parents(target.parent)
                        old = None
                        if target.exists():
                            old = backup / staged.relative_to(stage)
                            old.parent.mkdir(parents=True, exist_ok=True)
                            os.replace(target, old)
                        moved.append((target, old))  # before the move, as for folders
                        os.replace(staged, target)
                for target, stage in list(self._tree_stages.items()):
                    made += _make_parents(target.parent)
                    old = None
                    if target.exists():
                        old = stage.with_name(stage.name + ".old")
                        os.replace(target, old)
                    moved.append((target, old))  # before the move: a half-done one undone too
                    os.replace(stage / "tree", target)
            except BaseException:
                for target, old in reversed(moved):
                    with contextlib.suppress(OSError):
                        if target.is_dir() and not target.is_symlink():
                            shutil.rmtree(target)
                        elif target.exists() or target.is_symlink():
                            target.unlink()
                        if old is not None:
                            os.replace(old, target)
                for d in reversed(made):
                    with contextlib.suppress(OSError):
                        d.rmdir()
                raise
            finally:
                for stage in [*self._stages.values(), *self._tree_stages.values()]:
                    shutil.rmtree(stage, ignore_errors=True)
                    shutil.rmtree(stage.with_name(stage.name + ".old"), ignore_errors=True)
                self._stages, self._tree_stages = {}, {}
        return [t for t, _ in moved]


def _files_under(folder: Path) -> Iterator[Path]:
    for root, _dirs, names in os.walk(folder):
        for n in sorted(names):
            yield Path(root) / n


def _make_parents(folder: Path) -> list[Path]:
    """Create ``folder`` and missing parents; the ones created, outermost first."""
    missing: list[Path] = []
    p = folder
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir()
    return list(reversed(missing))


@contextlib.contextmanager
def _sigint_held() -> Iterator[None]:
    """Hold Ctrl-C off for the few renames of a commit (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
