"""Run an external program so that nothing it starts outlives it.

An encoder is often a wrapper (``sh -c "x265 ..."``, a Python script calling ffmpeg): killing
the process ``subprocess.run`` started on a timeout leaves its children running, at full CPU,
after codeccmp has exited. So every program runs as the leader of its own session and process
group, and the whole group is killed (SIGKILL) when

- the timeout runs out (then :class:`subprocess.TimeoutExpired` is raised, as
  ``subprocess.run`` does);
- the wait is interrupted (Ctrl-C's KeyboardInterrupt, or any other exception): the group is
  killed and the exception goes on;
- the program exits but left children behind in its group (``cmd &``);
- this interpreter exits (``atexit``) or is sent SIGTERM while a program runs (a sweep
  terminating its worker processes): see :func:`_install_sigterm`.

Being in its own session also keeps the program out of the terminal's foreground group, so a
Ctrl-C reaches codeccmp alone, which then stops the program itself; the program never sees a
half-delivered SIGINT. A program that calls ``setsid`` itself leaves the group and cannot be
followed (no portable way exists short of cgroups).

Use :func:`run_program` for every external program codeccmp starts (codecs' encoders,
decoders and version probes, metrics computed by external tools).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["ProgramResult", "run_program", "kill_all"]

_lock = threading.RLock()  # re-entrant: the SIGTERM handler may run while it is held
_live: dict[int, subprocess.Popen[bytes]] = {}  # pid (= process group id) -> process
_starting = 0  # programs being started: their pids are not in ``_live`` yet
_sigterm_pending = False  # SIGTERM came while one was starting: die once it is registered
_sigterm_installed = False


class ProgramResult(subprocess.CompletedProcess):
    """``subprocess.CompletedProcess`` plus whether the program left processes of its group
    running when it exited (they were killed): a caller may count that as a misbehaving
    program (a metric's value computed in the background is not what it printed)."""

    def __init__(self, args: Any, returncode: int, stdout: bytes, stderr: bytes, *,
                 left_behind: bool = False) -> None:
        super().__init__(args, returncode, stdout, stderr)
        self.left_behind = left_behind


def run_program(argv: Sequence[str | os.PathLike[str]], *,
                cwd: str | os.PathLike[str] | None = None,
                timeout: float | None = None,
                input: bytes | None = None,  # noqa: A002 - the name subprocess.run uses
                env: Mapping[str, str] | None = None) -> ProgramResult:
    """Run ``argv`` to completion in its own process group and return what it printed.

    Like ``subprocess.run(argv, capture_output=True, stdin=DEVNULL, timeout=timeout)``:
    stdout and stderr come back as bytes in the returned ``CompletedProcess``, a non-zero
    exit status is *not* an error (check ``returncode``), ``input`` (bytes) is fed to stdin
    instead of ``/dev/null``. ``timeout`` is in seconds, ``None`` for none.

    Raises :class:`OSError` when the program cannot start (not found, not executable), and
    :class:`subprocess.TimeoutExpired` (with the output gathered so far) after the timeout,
    once the program's whole process group has been killed and reaped.
    """
    args = [os.fspath(a) for a in argv]
    _install_sigterm()
    proc = _start(args, cwd=cwd, env=None if env is None else dict(env),
                  stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL)
    try:
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, err = _drain(proc)
            raise subprocess.TimeoutExpired(args, timeout or 0.0, out, err) from None
        except BaseException:  # KeyboardInterrupt, SystemExit, anything: stop it first
            _kill_group(proc)
            proc.wait()
            raise
        # The leader has exited; children it left in its group (``cmd &``) go too. The
        # group id cannot be reused while any member lives, so this reaches only those.
        left = _group_alive(proc.pid)
        _signal_group(proc.pid, signal.SIGKILL)
        return ProgramResult(args, proc.returncode, out, err, left_behind=left)
    finally:
        with _lock:
            _live.pop(proc.pid, None)


def _start(args: list[str], **popen: Any) -> subprocess.Popen[bytes]:
    """Start the program in its own session and register it, SIGTERM or not.

    A SIGTERM handled between ``fork`` and the registration would find nothing to kill and
    leave the program running. Blocking the signal meanwhile is no answer (the child would
    inherit the blocked mask through ``exec``), so the handler defers instead while a start
    is under way, and the process dies here, once the program can be killed with the rest.
    """
    global _starting
    with _lock:
        _starting += 1
    proc = None
    try:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True,  # setsid(): pgid == pid
                                **popen)
    finally:
        with _lock:
            if proc is not None:
                _live[proc.pid] = proc
            _starting -= 1
            die = _sigterm_pending and _starting == 0
        if die:  # the handler runs again, in the main thread, and now finds it
            kill_all()
            os.kill(os.getpid(), signal.SIGTERM)
    return proc


def kill_all() -> None:
    """Kill the process group of every program :func:`run_program` is running now."""
    with _lock:
        procs = list(_live.values())
    for proc in procs:
        _kill_group(proc)


def _drain(proc: subprocess.Popen[bytes]) -> tuple[bytes, bytes]:
    """The output left in the pipes of a killed program, and its exit status reaped.

    The pipes close when the group is dead; a grandchild that left the group (``setsid``)
    may hold them open, so the wait is bounded and then the pipes are closed.
    """
    try:
        return proc.communicate(timeout=5.0)
    except subprocess.TimeoutExpired:
        for pipe in (proc.stdout, proc.stderr, proc.stdin):
            if pipe is not None:
                pipe.close()
        proc.wait()
        return b"", b""


def _group_alive(pgid: int) -> bool:
    """Whether a process of the group still runs once its leader has exited.

    Signal 0 also reaches a zombie that its parent has not reaped yet (a child exiting with
    the leader, about to be reaped by init), so a positive answer is confirmed once after a
    short pause: only a process that really outlives the leader counts."""
    for pause in (0.0, 0.05):
        time.sleep(pause)
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
    return _group_has_live_member(pgid)


def _group_has_live_member(pgid: int) -> bool:
    """A member of the group that is not a zombie (Linux's /proc; elsewhere, any member)."""
    proc = "/proc"
    if not os.path.isdir(proc):
        return True
    for entry in os.listdir(proc):
        if not entry.isdigit():
            continue
        try:
            with open(f"{proc}/{entry}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != b"Z":  # state, ppid, pgrp
            return True
    return False


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(pgid, sig)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    _signal_group(proc.pid, signal.SIGKILL)


def _on_sigterm(signum: int, frame: Any) -> None:
    """Kill the running programs' groups, then die of SIGTERM as the default would; while a
    program is being started, only once it is registered (see :func:`_start`)."""
    global _sigterm_pending
    kill_all()
    with _lock:
        if _starting:
            _sigterm_pending = True
            return
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)


def _install_sigterm() -> None:
    """On SIGTERM, kill the programs' groups before dying (once per process).

    A sweep stops its worker processes with SIGTERM, which ends a process without running
    ``atexit``; the programs those workers were running would live on. Installed only from
    the main thread and only over the default action, so an application's own SIGTERM
    handling is left alone.
    """
    global _sigterm_installed
    if _sigterm_installed or threading.current_thread() is not threading.main_thread():
        return
    _sigterm_installed = True
    try:
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main interpreter, say
        pass


atexit.register(kill_all)
