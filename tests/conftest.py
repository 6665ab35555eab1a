"""Shared fixtures: paths to ../shared, small synthetic images, an in-process CLI runner."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import hypothesis_profiles  # noqa: F401 - the same Hypothesis examples on every run
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

#: What a terminal or a CI service may set that changes how rich, click and the tools the
#: tests run (lint-imports) print: the tests read plain text at the width a pipe gets, so
#: these are removed for the whole session, before any console is made (``FORCE_COLOR=1``,
#: common in CI logs, put escape codes into every table the tests compare). A test that
#: needs one sets it itself.
_RENDERING = ("FORCE_COLOR", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "COLORTERM",
              "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES", "JUPYTER_COLUMNS",
              "JUPYTER_LINES")
for _var in _RENDERING:
    os.environ.pop(_var, None)

def _short_temporary_folder(longest: int = 40) -> None:
    """Run the session under a folder of its own in ``/tmp`` when the machine's temporary
    folder has a long path (``TMPDIR`` on a cluster node or in a build sandbox).

    A Unix socket's path may not exceed 107 bytes, and the suite starts programs that put
    theirs in the temporary folder: multiprocessing's forkserver (``pymp-*/listener-*``, 32
    characters more), Chromium, Ray. With an 85-character ``TMPDIR`` the sweeps' workers
    could not start (codeccmp then says so and runs the tasks itself, which the tests that
    check the workers took for a failure). Done at import, before pytest makes its own
    temporary folders (under this one) and before any worker process starts (they inherit
    it); the folder is removed when the session ends."""
    import atexit
    import shutil
    import tempfile

    if len(tempfile.gettempdir()) <= longest or not os.access("/tmp", os.W_OK):
        return
    short = tempfile.mkdtemp(prefix="codeccmp-tests-", dir="/tmp")
    os.environ["TMPDIR"] = tempfile.tempdir = short
    atexit.register(shutil.rmtree, short, True)


_short_temporary_folder()


def _torch_caches_of_the_session() -> None:
    """torch makes ``$TMPDIR/torchinductor_$USER`` whenever compressai is imported, which
    every learned-codec test does: it left that folder behind after every run. Here it is a
    folder of the session's, removed at the end (worker processes and the programs tests
    start inherit the variable, and keep the first process's folder)."""
    import atexit
    import shutil
    import tempfile

    if "TORCHINDUCTOR_CACHE_DIR" not in os.environ:
        folder = tempfile.mkdtemp(prefix="codeccmp-tests-inductor-")
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = folder
        atexit.register(shutil.rmtree, folder, True)


_torch_caches_of_the_session()

#: The tests talk to servers on this machine only (a local HTTP server standing in for the
#: weights zoo, chromedriver for the browser tests): with ``http_proxy`` set and no
#: ``no_proxy`` (a machine behind a company proxy), urllib and Selenium sent those requests to
#: the proxy, which refused them. The loopback addresses are added, for the whole session.
for _var in ("no_proxy", "NO_PROXY"):
    _have = [h for h in os.environ.get(_var, "").split(",") if h.strip()]
    os.environ[_var] = ",".join(dict.fromkeys([*_have, "localhost", "127.0.0.1", "::1"]))


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test cleanly when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"{p} not available")
    return p


@pytest.fixture(autouse=True)
def _apart_from_the_users_files(tmp_path_factory: pytest.TempPathFactory,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own empty result cache and config folder, never the user's, and
    none of the user's codeccmp settings: results cached in ~/.cache/codeccmp (answered
    without an encode) or codec definitions in ~/.config/codeccmp/codecs.d would change
    what a test sees on a developer's machine and not in CI, and sweeps run by tests wrote
    into that cache; nor the user's tool paths (``CODECCMP_CJXL``, ``CODECCMP_VTM_ENCODER``,
    ...). Subprocesses inherit this environment; a test that needs a variable sets it
    itself."""
    home = tmp_path_factory.mktemp("codeccmp-home")
    for var in [v for v in os.environ if v.startswith("CODECCMP_")]:  # tool paths too
        monkeypatch.delenv(var)
    monkeypatch.setenv("CODECCMP_CACHE_DIR", str(home / "cache"))
    monkeypatch.setenv("CODECCMP_CONFIG_DIR", str(home / "config"))


@pytest.fixture(scope="module")
def torch_one_thread():  # noqa: ANN201 - a generator fixture
    """Tiny tensors gain nothing from threads, and on a busy 2-core machine OpenMP threads
    spinning at barriers make them many times slower."""
    torch = pytest.importorskip("torch")
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture
def rgb_image() -> np.ndarray:
    """A 96×80 RGB image with smooth gradients, an edge and a grating: compressible, not flat."""
    h, w = 80, 96
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(2 * np.pi * (x * np.cos(0.5) + y * np.sin(0.5)) / 9)
    g = 255 * x / w
    b = np.where(y > h / 2, 200.0, 40.0)
    return np.clip(np.stack([r, g, b], axis=2), 0, 255).astype(np.uint8)


@pytest.fixture
def gray_image(rgb_image: np.ndarray) -> np.ndarray:
    return rgb_image[..., 0].copy()


@pytest.fixture
def image_file(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    """``rgb_image`` saved as a PNG."""
    from PIL import Image

    p = tmp_path / "img.png"
    Image.fromarray(rgb_image).save(p)
    return p


def one_line(stderr: str) -> str:
    """The one line a usage error prints (never a traceback or an internal error)."""
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr and "internal error" not in stderr
    return lines[0]


def tree(folder: Path) -> list[str]:
    """Every path under ``folder`` (files and folders), relative, sorted."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """Run ``codeccmp ARGS`` in-process; returns exit code, stdout and stderr."""
    monkeypatch.setenv("COLUMNS", "200")

    def run(*args: str) -> CliResult:
        from codeccmp.cli.app import main

        capsys.readouterr()
        try:
            main(list(args), own_process=False)
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = capsys.readouterr()
        return CliResult(code, out.out, out.err)

    return run


def run_subprocess(*args: str, cwd: Path | None = None) -> CliResult:
    """Run the installed console script, as a user would (for traceback-free checks)."""
    from procs import codeccmp_argv, run  # the group killed on a timeout

    proc = run(codeccmp_argv(*args), cwd=cwd or ROOT, timeout=300)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


# --------------------------------------------------------------------------------------
# Learned codecs (codeccmp_compressai): an isolated weights world and tiny seeded models.
# --------------------------------------------------------------------------------------


@pytest.fixture
def learned_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """No real weights anywhere: a private torch hub cache, no env overrides, fresh caches.

    Returns a namespace with ``hub`` (the hub ``checkpoints`` dir, not yet created) and
    ``wdir`` (an empty weights directory).
    """
    from types import SimpleNamespace

    from codeccmp_compressai import weights, zoo

    for var in ("CODECCMP_WEIGHTS_DIR", "CODECCMP_OFFLINE", "CODECCMP_ZOO_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setattr(zoo, "FILE_OVERRIDES", {})
    monkeypatch.setattr(zoo, "ROOT_URL", "http://127.0.0.1:9/unreachable")
    weights.clear_caches()
    wdir = tmp_path / "weights"
    wdir.mkdir()
    yield SimpleNamespace(hub=tmp_path / "torch-home" / "hub" / "checkpoints", wdir=wdir,
                          tmp=tmp_path)
    weights.clear_caches()


def _learned_state(arch: str, seed: int, scale: float) -> dict:
    """A tiny model of ``arch``, seeded, its latent scaled by ``scale`` (more bits when
    larger), ``update()``d, as a state dict."""
    import torch
    from compressai.zoo.image import model_architectures

    torch.manual_seed(seed)
    cls = model_architectures[arch]
    model = cls(8) if arch.startswith("cheng2020") else cls(8, 12)
    # A narrow initial density, so that larger latents really cost more bits.
    eb = model.entropy_bottleneck
    model.entropy_bottleneck = type(eb)(eb.channels, init_scale=2.0)
    with torch.no_grad():
        target = [m for m in model.g_a.modules() if isinstance(m, torch.nn.Conv2d)][-1]
        target.weight.mul_(scale)
        if target.bias is not None:
            target.bias.mul_(scale)
    model.update(force=True)
    return {k: v.clone() for k, v in model.state_dict().items()}


@pytest.fixture(scope="session")
def learned_states():
    """``get(arch, quality)``: a cached tiny state dict; rate grows with ``quality``."""
    cache: dict = {}

    def get(arch: str = "bmshj2018-factorized", quality: int = 1) -> dict:
        key = (arch, quality)
        if key not in cache:
            cache[key] = _learned_state(arch, seed=quality, scale=2.0 ** (quality - 1) * 12)
        return cache[key]

    return get


def learned_to_zoo_keys(state: dict) -> dict:
    """Rename keys back to the zoo files' old layout (EntropyBottleneck ParameterLists)."""
    out = {}
    for k, v in state.items():
        for name in ("biases", "matrices", "factors"):
            k = k.replace(f"entropy_bottleneck.{name}.", f"entropy_bottleneck._{name}.")
        out[k] = v
    return out


@pytest.fixture
def learned_save():
    """``save(path, state, zoo=True)``: write a checkpoint like the zoo's files; returns
    ``(path, sha256)``."""
    import hashlib

    import torch

    def save(path: Path, state: dict, zoo: bool = True) -> tuple[Path, str]:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(learned_to_zoo_keys(state) if zoo else state, path)
        return path, hashlib.sha256(path.read_bytes()).hexdigest()

    return save
