"""Starting processes from tests so that none outlives its test.

Every child runs in its own session (its own process group), and the group is killed with
SIGKILL in a ``finally`` whatever happened: a failed assertion, a timeout, pytest's own
Ctrl-C. Python children get Python's usual SIGINT handler explicitly: a child inherits an
*ignored* SIGINT (pytest started from a background job, ``nohup``), and Python then leaves
it ignored, so a test that sends SIGINT would wait for nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

# ``python -m codeccmp`` with SIGINT -> KeyboardInterrupt, as in a terminal's foreground job.
_CODECCMP = ("import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler);"
             " sys.argv[0] = 'codeccmp'; runpy.run_module('codeccmp', run_name='__main__')")
_PYTHON = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"


def codeccmp_argv(*args: str) -> list[str]:
    """``python -m codeccmp ARGS``, with Python's SIGINT handler whatever was inherited."""
    return [sys.executable, "-c", _CODECCMP, *args]


def python_argv(code: str, *args: str, flags: Sequence[str] = ()) -> list[str]:
    """``python FLAGS -c CODE ARGS``, with Python's SIGINT handler whatever was inherited."""
    return [sys.executable, *flags, "-c", _PYTHON + code, *args]


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


@contextlib.contextmanager
def started(argv: Sequence[str], **popen: Any) -> Iterator[subprocess.Popen]:
    """``Popen(argv)`` in a new process group; the group is killed and reaped on leaving."""
    proc = subprocess.Popen(list(argv), start_new_session=True, **popen)
    try:
        yield proc
    finally:
        kill_group(proc.pid)  # the child and whatever it started (workers, programs)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.communicate(timeout=10)
        for pipe in (proc.stdin, proc.stdout, proc.stderr):
            if pipe is not None:
                pipe.close()
        proc.wait()


def run(argv: Sequence[str], *, timeout: float, **popen: Any) -> subprocess.CompletedProcess:
    """Like ``subprocess.run(argv, capture_output=True, text=True, timeout=...)``, but the
    child's whole process group is killed on a timeout (and on any other way out)."""
    with started(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                 **popen) as proc:
        out, err = proc.communicate(timeout=timeout)
        return subprocess.CompletedProcess(list(argv), proc.returncode, out, err)


def group_members(pgid: int) -> list[int]:
    """Live (not zombie) processes whose process group is ``pgid`` (Linux ``/proc``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2:].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie not yet reaped by an init that never reaps is gone)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


@contextlib.contextmanager
def short_tempdir(prefix: str) -> Iterator[Path]:
    """A new folder with a short path, removed afterwards, for programs that put Unix
    sockets in their temporary folder (Chromium's profile lock, Ray's object store).

    A socket's path may not exceed 107 bytes: under pytest's temporary folders, themselves
    under a long ``TMPDIR``, Chromium's lock was 110 bytes and the browser never started
    (and Ray's store from a 46-character ``TMPDIR`` on). ``/tmp`` where it is writable,
    else the system's temporary folder."""
    base = "/tmp" if os.path.isdir("/tmp") and os.access("/tmp", os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
