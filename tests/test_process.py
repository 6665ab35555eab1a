"""External programs run in their own process group, and nothing they start outlives them:
not on a timeout, not on Ctrl-C, not when they leave children behind, not when the process
running them is terminated (a sweep's worker), and not after a TOML codec times out."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from codeccmp_external.process import run_program
from procs import alive, group_members, kill_group, python_argv, started

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="process groups are read from Linux's /proc")



def shell(pidfile: Path, *, exit_at_once: bool = False) -> list[str]:
    """A shell that starts ``sleep 987`` (a grandchild of ours) and writes "SHELL SLEEP" pids
    to ``pidfile``; then waits for it, or exits at once leaving it behind."""
    end = "exit 0" if exit_at_once else "wait"
    return ["sh", "-c", f"sleep 987 >/dev/null 2>&1 & echo $$ $! > {pidfile}; {end}"]


def _pids(pidfile: Path) -> tuple[int, int]:
    deadline = time.monotonic() + 30
    while len(text := pidfile.read_text().split() if pidfile.exists() else []) < 2:
        assert time.monotonic() < deadline, "the shell never wrote its pids"
        time.sleep(0.02)
    return int(text[0]), int(text[1])


def _cleanup(pids: tuple[int, int]) -> None:
    kill_group(pids[0])
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pids[1], signal.SIGKILL)


def _all_gone(pids: tuple[int, int]) -> bool:
    """Neither the shell's group nor the sleep (wherever it is) lives any more."""
    deadline = time.monotonic() + 5
    while group_members(pids[0]) or alive(pids[1]):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_output_and_exit_status_come_back_as_subprocess_run_gives_them() -> None:
    r = run_program(["sh", "-c", "cat; echo err >&2; exit 3"], input=b"in\n")
    assert (r.returncode, r.stdout, r.stderr) == (3, b"in\n", b"err\n")
    assert run_program(["sh", "-c", "pwd"], cwd="/").stdout == b"/\n"
    with pytest.raises(OSError):
        run_program(["/nonexistent/program"])


def test_a_program_that_waits_for_its_children_left_nothing_behind() -> None:
    r = run_program(["sh", "-c", "sleep 0.2 & wait; echo done"], timeout=60)
    assert (r.returncode, r.stdout, r.left_behind) == (0, b"done\n", False)
    assert run_program(["true"]).left_behind is False


def test_a_timeout_kills_the_whole_group(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    with pytest.raises(subprocess.TimeoutExpired):
        run_program(shell(pidfile), timeout=0.5)
    pids = _pids(pidfile)
    try:
        assert _all_gone(pids), f"left running: {group_members(pids[0])}"
    finally:
        _cleanup(pids)


def test_children_left_behind_are_killed_when_the_program_exits(tmp_path: Path) -> None:
    pidfile = tmp_path / "pids"
    r = run_program(shell(pidfile, exit_at_once=True), timeout=60)
    pids = _pids(pidfile)
    try:
        assert r.returncode == 0 and r.left_behind  # said, so a caller can refuse the result
        assert _all_gone(pids), f"left running: {group_members(pids[0])}"
    finally:
        _cleanup(pids)


def test_ctrl_c_kills_the_group_and_goes_on(tmp_path: Path) -> None:
    """KeyboardInterrupt while waiting: the group is killed, the interrupt propagates."""
    pidfile = tmp_path / "pids"

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    saved = signal.signal(signal.SIGALRM, interrupt)
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(KeyboardInterrupt):
            run_program(shell(pidfile), timeout=120)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, saved)
    pids = _pids(pidfile)
    try:
        assert _all_gone(pids), f"left running: {group_members(pids[0])}"
    finally:
        _cleanup(pids)


def test_a_terminated_process_takes_its_programs_groups_with_it(tmp_path: Path) -> None:
    """A sweep ends its worker processes with SIGTERM, which skips ``atexit``: the helper's
    SIGTERM handler kills the running program's group, then the process dies of SIGTERM."""
    pidfile = tmp_path / "pids"
    code = ("import sys; from codeccmp_external.process import run_program\n"
            "run_program(sys.argv[1:])")
    with started(python_argv(code, *shell(pidfile)), env=_env()) as proc:
        pids = _pids(pidfile)
        try:
            proc.terminate()
            assert proc.wait(timeout=30) == -signal.SIGTERM
            assert _all_gone(pids), f"left running: {group_members(pids[0])}"
        finally:
            _cleanup(pids)


# SIGTERM delivered just after the program started, before run_program has registered it:
# the child's Popen waits for the shell's pids and then sends its own process SIGTERM.
_LATE_SIGTERM = """
import os, signal, subprocess, sys, time
from codeccmp_external.process import run_program
pidfile = sys.argv[1]

class Late(subprocess.Popen):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        while not os.path.exists(pidfile) or len(open(pidfile).read().split()) < 2:
            time.sleep(0.01)
        os.kill(os.getpid(), signal.SIGTERM)
        for _ in range(3):  # a backward jump: Python runs the handler here at the latest
            pass

subprocess.Popen = Late
run_program(sys.argv[2:])
"""


def test_sigterm_while_a_program_starts_still_takes_its_group(tmp_path: Path) -> None:
    """The handler defers while a start is under way, then the group is killed all the same
    (a busy machine once delivered a sweep's SIGTERM in that window: two processes lived)."""
    pidfile = tmp_path / "pids"
    with started(python_argv(_LATE_SIGTERM, str(pidfile), *shell(pidfile)),
                 env=_env()) as proc:
        pids = _pids(pidfile)
        try:
            assert proc.wait(timeout=30) == -signal.SIGTERM
            assert _all_gone(pids), f"left running: {group_members(pids[0])}"
        finally:
            _cleanup(pids)


def test_a_toml_codec_that_times_out_leaves_no_process(tmp_path: Path,
                                                       rgb_image: np.ndarray) -> None:
    from codeccmp_external.codec import ExternalCodec

    from codeccmp.codec import CodecError
    from codeccmp.plugins import load_registry

    pidfile = tmp_path / "pids"
    config = tmp_path / "hang.toml"
    config.write_text(f'''
[[codec]]
name = "hang"
description = "an encoder whose shell child hangs"
extension = "bin"
timeout = 1
encode = {shell(pidfile)!r}
decode = ["sh", "-c", "cp {{input}} {{output}}"]
input = "png"
output = "png"
[codec.param]
name = "quality"
kind = "integer"
low = 1
high = 100
rate_increases = true
''')
    codec = load_registry([config]).get("hang")
    assert isinstance(codec, ExternalCodec)
    with pytest.raises(CodecError, match="hang encoder at 50 timed out after 1 s"):
        codec.encode(rgb_image, 50)
    pids = _pids(pidfile)
    try:
        assert _all_gone(pids), f"left running: {group_members(pids[0])}"
    finally:
        _cleanup(pids)


def _env() -> dict[str, str]:
    root = Path(__file__).parents[1]
    path = os.pathsep.join([str(root / "src"), str(root / "plugins"),
                            os.environ.get("PYTHONPATH", "")])
    return {**os.environ, "PYTHONPATH": path, "PYTHONUNBUFFERED": "1",
            "PYTHONWARNINGS": "ignore", "PYTHONNOUSERSITE": "1", "_": sys.executable}
