"""Ctrl-C as a terminal sends it (SIGINT to the whole process group): one line, exit 130,
no traceback from worker processes, no outputs, and the same command then runs as is."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

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
            time.sleep(float(os.environ.get("SLOW_SECONDS", "0")))
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


def _interrupt(world: Path, args: list[str], encodes: int) -> subprocess.CompletedProcess:
    """Start ``codeccmp ARGS`` in its own process group, wait until ``encodes`` encodes are
    under way, then Ctrl-C the group as a terminal would."""
    marker = world / "marker"
    marker.unlink(missing_ok=True)
    env = {**os.environ, "SLOW_MARKER": str(marker), "SLOW_SECONDS": "60",
           "CODECCMP_CACHE_DIR": str(world / "cache")}
    proc = subprocess.Popen([sys.executable, "-m", "codeccmp", *args], cwd=world, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if marker.exists() and len(marker.read_text().split()) >= encodes:
            break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the slow codec never started")
    workers = [int(p) for p in marker.read_text().split()]
    t0 = time.monotonic()
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    elapsed = time.monotonic() - t0
    assert elapsed < 20, f"took {elapsed:.0f} s to stop"
    time.sleep(0.5)
    for pid in set(workers) - {proc.pid}:  # the workers were ended, not left sleeping
        assert not _alive(pid), f"worker {pid} outlived the run"
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (not yet reaped by an init without reaping) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


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
    again = subprocess.run([sys.executable, "-m", "codeccmp", *args], cwd=world, env=env,
                           capture_output=True, text=True, timeout=300)
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
    proc = subprocess.Popen(
        [sys.executable, "-m", "codeccmp", "train", "bls2017", "--data", str(data), "--out",
         str(out), "--steps", "100000", "--batch", "1", "--crop", "80", "--N", "8",
         "--save-every", "1", "--val-every", "100000", "--device", "cpu", "-q"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    deadline = time.monotonic() + 180
    while not out.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert out.exists(), proc.communicate(timeout=5) if proc.poll() is not None else "slow"
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1] == (f"error: interrupted; checkpoint saved to {out} "
                                            f"(continue with --resume {out})")
