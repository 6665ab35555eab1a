"""Ctrl-C as a terminal sends it (SIGINT to the whole process group): one line, exit 130,
no traceback from worker processes, no outputs, and the same command then runs as is."""

from __future__ import annotations

import os
import signal
import subprocess
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from procs import alive, codeccmp_argv, group_members, run, started

# A codec that sleeps in encode while SLOW_SECONDS says so, and notes each encode's pid.
SLOW_PLUGIN = textwrap.dedent('''
    import os, struct, time, zlib
    import numpy as np
    from codeccmp import hookimpl
    from codeccmp.codec import Codec, Encoded, ParamSpace

    class Slow(Codec):
        name = "slow"
        description = "sleeps while SLOW_SECONDS says so"
        param_space = ParamSpace("quality", "integer", 1, 100)

        def encode(self, image, param):
            with open(os.environ["SLOW_MARKER"], "a") as f:
                f.write(f"{os.getpid()}\\n")
            # In slices, as a codec's C calls return now and then: a Ctrl-C that lands
            # between Python's last check for signals and one long sleep starting is only
            # handled when that sleep ends (seen: a 60 s wait under load, 1 run in 60).
            end = time.monotonic() + float(os.environ.get("SLOW_SECONDS", "0"))
            while time.monotonic() < end:
                time.sleep(0.05)
            step = 101 - int(param)
            q = (image.astype(np.int32) // step).astype(np.uint8)
            return Encoded(struct.pack(">HHB", *image.shape[:2], step)
                           + zlib.compress(q.tobytes(), 9), param, {})

        def decode(self, data):
            h, w, step = struct.unpack(">HHB", data[:5])
            q = np.frombuffer(zlib.decompress(data[5:]), np.uint8).reshape(h, w, 3)
            return np.clip(q.astype(np.int32) * step + step // 2, 0, 255).astype(np.uint8)

    class Slow2(Slow):
        name = "slow2"

    @hookimpl
    def register_codecs(register):
        register(Slow())
        register(Slow2())
''')


@pytest.fixture
def world(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    (tmp_path / "slow.py").write_text(SLOW_PLUGIN)
    Image.fromarray(rgb_image).save(tmp_path / "img.png")
    return tmp_path


def _interrupt(world: Path, args: list[str], encodes: int,
               gaps: tuple[float, ...] = ()) -> subprocess.CompletedProcess:
    """Start ``codeccmp ARGS`` in its own process group, wait until ``encodes`` encodes are
    under way, then Ctrl-C the group as a terminal would (again after each of ``gaps``
    seconds: a double Ctrl-C). The group is killed on the way out, whatever happened."""
    marker = world / "marker"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "SLOW_MARKER": str(marker), "SLOW_SECONDS": "60",
           "CODECCMP_CACHE_DIR": str(world / "cache")}
    with started(codeccmp_argv(*args), cwd=world, env=env, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True) as proc:
        deadline = time.monotonic() + 240  # generous: a busy machine starts torch slowly
        while time.monotonic() < deadline:
            if marker.exists() and len(marker.read_text().split()) >= encodes:
                break
            if proc.poll() is not None:
                break
            time.sleep(0.1)
        else:
            pytest.fail("the slow codec never started")
        workers = [int(p) for p in marker.read_text().split()]
        t0 = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)
        for gap in gaps:
            time.sleep(gap)
            os.killpg(proc.pid, signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        elapsed = time.monotonic() - t0
        assert elapsed < 20, f"took {elapsed:.0f} s to stop"
        time.sleep(0.5)
        for pid in set(workers) - {proc.pid}:  # the workers were ended, not left sleeping
            assert not alive(pid), f"worker {pid} outlived the run"
        return subprocess.CompletedProcess(args, proc.returncode, out, err)


def test_ctrl_c_in_a_sweep_with_workers(world: Path) -> None:
    args = ["sweep", "img.png", "--bpp", "1", "--codecs", "slow,slow2", "--plugin",
            "slow.py", "--roi", "none", "-j", "2", "--json", "s.json", "--csv", "s.csv",
            "-q"]
    r = _interrupt(world, args, encodes=2)
    assert r.returncode == 130
    assert r.stderr.strip().splitlines() == ["error: interrupted; no output written"], r.stderr
    assert not (world / "s.json").exists() and not (world / "s.csv").exists()
    assert not [p for p in world.iterdir() if p.name.startswith(".codeccmp")]
    # The same command runs again without --force.
    env = {**os.environ, "SLOW_MARKER": str(world / "marker"), "SLOW_SECONDS": "0",
           "CODECCMP_CACHE_DIR": str(world / "cache")}
    again = run(codeccmp_argv(*args), cwd=world, env=env, timeout=300)
    assert again.returncode == 0, again.stderr
    assert (world / "s.json").is_file() and (world / "s.csv").is_file()


def test_ctrl_c_in_compare(world: Path) -> None:
    args = ["compare", "img.png", "--bpp", "1", "--codecs", "slow", "--plugin", "slow.py",
            "--roi", "none", "--json", "r.json", "--out", "out"]
    r = _interrupt(world, args, encodes=1)
    assert r.returncode == 130
    assert "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1] == "error: interrupted; no output written"
    assert not (world / "r.json").exists() and not (world / "out").exists()


def test_ctrl_c_in_train_says_where_the_checkpoint_is(tmp_path: Path) -> None:
    """Training, unlike compare and sweep, saves its state on Ctrl-C: the one line says so."""
    pytest.importorskip("codeccmp_compressai")
    pytest.importorskip("torch")
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)).save(
            data / f"{i}.png")
    out = tmp_path / "ckpt.pth"
    # Steps enough to be mid-run when Ctrl-C comes (it is sent at the first checkpoint,
    # step 1), few enough to end on their own; and the group is killed on the way out.
    argv = codeccmp_argv("train", "bls2017", "--data", str(data), "--out", str(out),
                         "--steps", "3000", "--batch", "1", "--crop", "80", "--N", "8",
                         "--save-every", "1", "--val-every", "100000", "--device", "cpu",
                         "-q")
    with started(argv, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True) as proc:
        deadline = time.monotonic() + 240  # generous: a busy machine imports torch slowly
        while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert out.exists(), proc.communicate(timeout=5) if proc.poll() is not None else "slow"
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"error: interrupted; checkpoint saved to {out} "
                                            f"(continue with --resume {out})")


@pytest.mark.parametrize("gap", [0.005, 0.02, 0.05])
def test_a_double_ctrl_c_is_as_quiet_as_one(world: Path, gap: float) -> None:
    """Two Ctrl-Cs 5–50 ms apart (an impatient user, ``timeout -s INT``): the second comes
    while the run is stopping and must not print a traceback from the interpreter's exit."""
    args = ["sweep", "img.png", "--bpp", "1", "--codecs", "slow,slow2", "--plugin",
            "slow.py", "--roi", "none", "-j", "2", "--json", "s.json", "-q"]
    r = _interrupt(world, args, encodes=2, gaps=(gap,))
    assert r.returncode == 130
    assert r.stderr.strip().splitlines() == ["error: interrupted; no output written"], r.stderr
    assert not (world / "s.json").exists()


def test_only_the_first_ctrl_c_interrupts() -> None:
    """The handler behind the one-line exit: the first SIGINT raises KeyboardInterrupt, a
    second one during the clean-up does nothing, and one during the exit that follows is
    ignored (it raised inside ``threading._shutdown`` and printed "Exception ignored")."""
    from codeccmp.cli.app import _sigint_seen

    saved = signal.signal(signal.SIGINT, signal.default_int_handler)  # even in a background job
    try:
        cleaned = False
        with _sigint_seen() as seen:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(5)  # interrupted: the handler runs at once
                pytest.fail("the first Ctrl-C did not interrupt")
            except KeyboardInterrupt:
                _press_again("the second Ctrl-C interrupted the clean-up")
                cleaned = True
        assert seen.seen and cleaned
        _press_again("a Ctrl-C during the exit raised")
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, saved)


def _press_again(failure: str) -> None:
    try:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
    except KeyboardInterrupt:  # caught here: it must fail this test, not stop pytest
        pytest.fail(failure)


def _forkserver_in(pgid: int) -> bool:
    for pid in group_members(pgid):
        try:
            if b"multiprocessing.forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return True
        except OSError:
            pass
    return False


@pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="reads Linux's /proc")
def test_ctrl_c_while_the_workers_forkserver_starts(world: Path) -> None:
    """The forkserver imports torch before it ignores Ctrl-C itself; a Ctrl-C in those
    seconds printed its KeyboardInterrupt traceback (or, once it survived, a worker started
    after the run had gone printed FileNotFoundError): one line, whatever the moment."""
    args = ["sweep", "img.png", "--bpp", "1", "--codecs", "slow,slow2", "--plugin",
            "slow.py", "--roi", "none", "-j", "2", "--json", "s.json", "-q"]
    env = {**os.environ, "SLOW_MARKER": str(world / "marker"), "SLOW_SECONDS": "60",
           "CODECCMP_CACHE_DIR": str(world / "cache")}
    with started(codeccmp_argv(*args), cwd=world, env=env, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True) as proc:
        deadline = time.monotonic() + 240
        while not _forkserver_in(proc.pid):
            assert proc.poll() is None and time.monotonic() < deadline, "no forkserver"
            time.sleep(0.01)
        time.sleep(0.5)  # into its preload: numpy, then torch (seconds)
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert err.strip().splitlines() == ["error: interrupted; no output written"], err


def test_an_interrupted_pool_is_closed_before_the_exit() -> None:
    """An interrupted lane ends its pool's worker and the pool's manager thread before the
    run returns: a manager thread still closing its wake-up pipe when the interpreter exits
    races the exit's own wake-up through that pipe (CPython 3.11), which printed "OSError:
    [Errno 9] Bad file descriptor" under the one line of a double Ctrl-C."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from codeccmp.sweep.lanes import end_pool

    pool = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))
    workers = []
    try:
        fut = pool.submit(time.sleep, 60)
        deadline = time.monotonic() + 60
        while not fut.running() and time.monotonic() < deadline:
            time.sleep(0.01)
        workers = list(pool._processes.values())
        manager = pool._executor_manager_thread
        assert fut.running() and workers and manager is not None and manager.is_alive()
        end_pool(pool, interrupted=True)
        assert not manager.is_alive(), "the pool's manager thread outlived the interrupted lane"
        assert not any(p.is_alive() for p in workers), "the worker outlived the lane"
    finally:
        for p in workers or list((pool._processes or {}).values()):
            p.kill()
        pool.shutdown(wait=False, cancel_futures=True)


def test_a_lane_interrupted_while_waited_for_still_counts_as_running() -> None:
    """The run waits for its lanes through ``Lane.wait``. A Ctrl-C that lands in that wait
    must leave the lane counted as running until it really finishes: ``Thread.join``
    interrupted so marks a running thread as stopped (CPython before 3.13), and the run then
    exited while a lane was still closing its pool."""
    from codeccmp.sweep.lanes import Lane

    release = threading.Event()
    lane = Lane(lambda: release.wait(30), "test-lane")
    saved = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    try:
        lane.start()
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            while not lane.wait(0.2):
                pass
        assert lane.running(), "a Ctrl-C during the wait made the lane count as finished"
        release.set()
        assert lane.wait(10) and not lane.running()
    finally:
        timer.cancel()
        release.set()
        signal.signal(signal.SIGINT, saved)
        lane.thread.join(10)
