"""SSIM and MS-SSIM without torch: the same bits as with it, and a standard-codec run that
never imports torch (nor compressai)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from codeccmp.measure import fma, metrics

ROOT = Path(__file__).resolve().parents[1]

# a * w == 2**-24 + 251120 * 2**-71 exactly (A * W = 2**47 + 251120, found by search): added
# to 1.0 its float64 sum rounds to 1 + 2**-24, exactly half-way between the float32 values 1
# and 1 + 2**-23, while the exact sum is above it. A fused multiply-add gives 1 + 2**-23;
# rounding the float64 sum to float32 gives 1 (ties to even).
_A = np.float32(12584048 * 2.0**-24)
_W = np.float32(11183801 * 2.0**-47)


def test_fma_rounds_once_where_double_rounding_would_not() -> None:
    up = np.float32(1 + 2.0**-23)
    assert float(_A) * float(_W) == 2.0**-24 + 251120 * 2.0**-71  # the premise, exactly
    half = np.float32(2.0**-12)  # half * half == 2**-24: an exact tie, to even (1.0)
    a = np.array([_A, -_A, half, np.float32(0.5), _A], np.float32)
    w_ = [_W, _W, half, np.float32(0.25), _W]
    acc = np.array([1, -1, 1, 2, 3], np.float32)
    for i in range(a.size):  # one scalar weight per call, as the window's taps come
        one = acc[i:i + 1]
        fma.fma(a[i:i + 1], np.float32(w_[i]), one)
    # above the tie: up; its mirror: down; an exact tie: to even; exact sums: exact; a tiny
    # product beside 3 (not at a float32 midpoint): 3.
    assert acc.tolist() == [float(up), -float(up), 1.0, 2.125, 3.0]


def _fusing_torch():  # noqa: ANN202
    """torch, where its ``addcmul_`` is a fused multiply-add here; else the test skips (under
    ``ATEN_CPU_CAPABILITY=default`` it is not, and measuring does not use it: tested below)."""
    torch = pytest.importorskip("torch")
    if not metrics.torch_rounds_once(torch):
        pytest.skip("torch's addcmul_ is not a fused multiply-add here")
    return torch


def test_fma_agrees_with_torchs_fused_multiply_add() -> None:
    torch = _fusing_torch()
    rng = np.random.default_rng(3)
    a = rng.random((64, 300), dtype=np.float32) ** 3  # products spanning many binades
    acc = rng.random((64, 300), dtype=np.float32)
    for w in metrics.WINDOW:
        want = torch.from_numpy(acc.copy()).addcmul_(torch.from_numpy(a),
                                                     torch.tensor(w)).numpy()
        fma.fma(a, w, acc)
        assert np.array_equal(acc, want)


_REAL_BLAS_AXPY = metrics._blas_axpy  # before any test patches it


def _use(path: str, monkeypatch, torch) -> None:  # noqa: ANN001
    """Make the fused taps go through one implementation: SciPy's BLAS, torch, or NumPy."""
    axpy = _REAL_BLAS_AXPY()
    if path == "blas" and axpy is None:
        pytest.skip("SciPy's BLAS saxpy is not a fused multiply-add here")
    monkeypatch.setattr(metrics, "_blas_axpy", lambda: axpy if path == "blas" else None)
    monkeypatch.setattr(metrics, "_loaded_torch", lambda: torch if path == "torch" else None)


@pytest.mark.parametrize("path", ["blas", "numpy"])
@pytest.mark.parametrize("shape", [(170, 203, 3), (180, 171), (40, 1100), (12, 30, 3)])
def test_every_path_gives_the_bits_of_the_torch_path(shape, path, monkeypatch) -> None:  # noqa: ANN001
    """Measuring uses SciPy's BLAS, torch where something already loaded it, or NumPy; a
    run's figures must not depend on which codecs came with it or on what is installed."""
    torch = _fusing_torch()
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    a[: shape[0] // 3] = 200  # a flat band: σ² is rounding noise there, the hard case
    b = np.clip(a.astype(int) + rng.integers(-9, 10, shape), 0, 255).astype(np.uint8)
    _use("torch", monkeypatch, torch)
    with_torch = metrics.ssim_ms_ssim(a, b)
    x, y = metrics._planar(a), metrics._planar(b)
    ch = 1 if a.ndim == 2 else 3
    with ThreadPoolExecutor(1) as pool:  # and the maps themselves, to the bit
        torch_maps = metrics._scale(x, y, ch, pool)
        _use(path, monkeypatch, torch)
        assert metrics.ssim_ms_ssim(a, b) == with_torch
        assert all(np.array_equal(u, v) for u, v in
                   zip(torch_maps, metrics._scale(x, y, ch, pool), strict=True))


@pytest.mark.parametrize("path", ["blas", "numpy"])
def test_tiles_use_threads_only_where_the_taps_release_the_gil(path, monkeypatch) -> None:  # noqa: ANN001
    """SciPy's saxpy (an f2py wrapper) holds the GIL: with it, tile threads only took turns
    and were slower than the calling thread alone. The exact emulation's NumPy loops release
    it, and there the tiles run on a thread per core."""
    _use(path, monkeypatch, None)
    monkeypatch.setattr(metrics, "threads", lambda: 2)
    where: set[str] = set()
    tile = metrics._tile

    def recorded(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        where.add(threading.current_thread().name)
        return tile(*args, **kwargs)

    monkeypatch.setattr(metrics, "_tile", recorded)
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    metrics.ssim_ms_ssim(a, a // 2)
    if path == "blas":
        assert where == {threading.current_thread().name}
    else:
        assert where and all(name.startswith("codeccmp-ssim") for name in where)


def _saxpy_from(op):  # noqa: ANN001, ANN202
    """A stand-in BLAS ``saxpy`` (arguments by position) doing ``op(x, y, a)`` on the runs."""
    def axpy(x, y, n, a, offx, incx, offy, incy):  # noqa: ANN001, ANN202, ARG001
        op(x[offx:offx + n], y[offy:offy + n], np.float32(a))
        return y
    return axpy


def _fused(x, y, a) -> None:  # noqa: ANN001
    fma.fma(x.reshape(1, -1), a, y.reshape(1, -1))


def _product_then_sum(x, y, a) -> None:  # noqa: ANN001
    y += np.multiply(x, a)


def _fused_in_runs_of_32(x, y, a) -> None:  # noqa: ANN001
    """As OpenBLAS's Haswell and Zen kernels: runs of 32 fused, the rest not."""
    run = x.size - x.size % 32
    _fused(x[:run], y[:run], a)
    _product_then_sum(x[run:], y[run:], a)


def test_a_blas_that_rounds_twice_is_not_used() -> None:
    """The check that decides whether SciPy's saxpy may serve: an axpy that rounds the
    product before adding (no fused multiply-add), or one that rounds the float64 sum to
    float32 (double rounding), is refused; an exact one is taken; one that fuses runs of 32
    values only is taken for those runs."""
    def double_rounding(x, y, a) -> None:  # noqa: ANN001
        y[...] = (x.astype(np.float64) * float(a) + y).astype(np.float32)

    w = metrics.WINDOW[:6]
    assert fma.fused_block(_saxpy_from(_product_then_sum), w) is None
    assert fma.fused_block(_saxpy_from(double_rounding), w) is None
    assert fma.fused_block(_saxpy_from(_fused), w) == 1
    assert fma.fused_block(_saxpy_from(_fused_in_runs_of_32), w) == 32


@pytest.mark.parametrize("n", [1, 31, 32, 33, 95, 9984, 9990, 10000, 10031, 19990, 20000])
def test_axpy_chunks_hands_the_blas_whole_runs_and_updates_each_value_once(n: int) -> None:
    """Every call a BLAS that fuses in runs of 32 gets is a multiple of 32 long, and the
    result is the exact emulation's: the tail is the last 32 values, those of them updated
    already put back after (were they not, they would be updated twice); under 32 values
    the emulation does it all. Lengths around the 10000-value chunks, offsets off both."""
    rng = np.random.default_rng(n)
    offx = 7
    src = rng.random(n + offx + 3, dtype=np.float32) ** 3
    acc = rng.random(n + 5, dtype=np.float32)
    w = metrics.WINDOW[3]
    want = acc.copy()
    fma.fma(src[offx:offx + n].reshape(1, -1), w, want[:n].reshape(1, -1))
    lengths: list[int] = []
    runs = _saxpy_from(_fused_in_runs_of_32)

    def recorded(x, y, m, a, ox, ix, oy, iy):  # noqa: ANN001, ANN202
        lengths.append(m)
        return runs(x, y, m, a, ox, ix, oy, iy)

    fma.axpy_chunks(recorded, src, acc, n, w, offx, 32)
    assert np.array_equal(acc, want)
    assert all(m % 32 == 0 for m in lengths) and (lengths or n < 32)


def test_a_blas_that_fuses_in_runs_gives_the_same_bits(monkeypatch) -> None:  # noqa: ANN001
    """OpenBLAS's kernels on every AVX2 CPU without AVX-512 fuse runs of 32 values only: the
    BLAS is given whole runs only, with the bits of the emulation alone (given the whole
    call, such a BLAS moved them: the test of the split itself), at about the time of the
    AVX-512 kernels (Barbara: 0.045 s against 0.36 s for the emulation alone,
    ``benchmarks/README.md``)."""
    rng = np.random.default_rng(11)
    a = rng.integers(0, 256, (170, 203, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
    monkeypatch.setattr(metrics, "_loaded_torch", lambda: None)
    monkeypatch.setattr(metrics, "_AXPY", False)
    alone = metrics.ssim_ms_ssim(a, b)
    runs = _saxpy_from(_fused_in_runs_of_32)
    monkeypatch.setattr(metrics, "_AXPY", (runs, 32))
    assert metrics.ssim_ms_ssim(a, b) == alone
    monkeypatch.setattr(metrics, "_AXPY", (runs, 1))  # the whole call to such a BLAS
    assert metrics.ssim_ms_ssim(a, b) != alone


#: The pair the probes below measure, built the same way here and in their processes.
_PAIR = """
import numpy as np
rng = np.random.default_rng(11)
a = rng.integers(0, 256, (170, 203, 3), dtype=np.uint8)
b = np.clip(a.astype(int) + rng.integers(-9, 10, a.shape), 0, 255).astype(np.uint8)
"""


def _probe(code: str, **env: str) -> list[str]:
    """What ``_PAIR`` + ``code`` prints, run in a process of its own with ``env`` added."""
    from procs import python_argv, run

    env = {**os.environ, **env, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    r = run(python_argv(_PAIR + code), timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-2000:]
    return r.stdout.split()


def _bits_without_blas_or_torch() -> tuple[str, str]:
    """SSIM and MS-SSIM of ``_PAIR`` here, by the exact emulation alone."""
    pair: dict = {}
    exec(_PAIR, pair)  # noqa: S102 - the probes' own pair
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(metrics, "_loaded_torch", lambda: None)
        mp.setattr(metrics, "_AXPY", False)
        return tuple(map(repr, metrics.ssim_ms_ssim(pair["a"], pair["b"])))  # type: ignore[return-value]


def test_openblas_avx2_kernels_serve_in_runs_with_the_same_bits() -> None:
    """The real kernels of an AVX2 CPU (OpenBLAS's Haswell ones, chosen by
    ``OPENBLAS_CORETYPE``; they run on any CPU with AVX2, AVX-512 ones too): found to fuse in
    runs of 32, and measuring with them gives the bits it gives without any BLAS."""
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    if " avx2" not in flags or " fma" not in flags:
        pytest.skip("no AVX2 and FMA on this CPU: OpenBLAS's Haswell kernels cannot run")
    used, block, ssim, ms_ssim = _probe(
        "from codeccmp.measure import metrics\n"
        "print(metrics._blas_axpy() is not None, metrics._axpy_block(),\n"
        "      *map(repr, metrics.ssim_ms_ssim(a, b)))\n", OPENBLAS_CORETYPE="Haswell")
    if used == "False":
        pytest.skip("SciPy's BLAS here is not OpenBLAS with AVX2 kernels that fuse")
    assert (ssim, ms_ssim) == _bits_without_blas_or_torch()
    assert int(block) in fma.BLOCKS


def test_a_torch_that_does_not_fuse_is_not_used() -> None:
    """Under ``ATEN_CPU_CAPABILITY=default`` torch's ``addcmul_`` multiplies, then adds
    (x86-64's baseline has no fused multiply-add): where torch is loaded, measuring must
    still give the bits it gives without torch, so it checks torch as it checks the BLAS."""
    pytest.importorskip("torch")
    fuses, unused, ssim, ms_ssim = _probe(
        "import torch\nfrom codeccmp.measure import metrics\n"
        "metrics._blas_axpy = lambda: None  # the BLAS aside: torch or the emulation\n"
        "print(metrics.torch_rounds_once(torch), metrics._fused_torch() is None,\n"
        "      *map(repr, metrics.ssim_ms_ssim(a, b)))\n", ATEN_CPU_CAPABILITY="default")
    if fuses == "True":
        pytest.skip("torch fuses even at its default capability on this CPU")
    assert unused == "True"
    assert (ssim, ms_ssim) == _bits_without_blas_or_torch()


_FBLAS_PROBE = """
import sys
import numpy as np
from codeccmp.measure import metrics
a = np.random.default_rng(0).integers(0, 256, (200, 180, 3), dtype=np.uint8)
metrics.ssim_ms_ssim(a, a[::-1].copy())
print("axpy", metrics._blas_axpy() is not None, "linalg", "scipy.linalg" in sys.modules,
      "scipy", "scipy" in sys.modules)
"""


def test_blas_saxpy_comes_without_scipys_linear_algebra() -> None:
    """The checked saxpy is SciPy's, loaded on its own: ``scipy.linalg``'s package import
    (50–80 ms, more than a JPEG run's metrics) stays out of a measuring process, and so
    does SciPy's own ``__init__`` (its folder is located, not imported)."""
    import importlib.machinery

    import scipy
    from scipy.linalg import blas

    if fma.fused_block(blas.saxpy, metrics.WINDOW[:6]) is None:
        pytest.skip("SciPy's BLAS saxpy is not a fused multiply-add here")
    if importlib.machinery.PathFinder.find_spec(
            "_fblas", [os.path.join(os.path.dirname(scipy.__file__), "linalg")]) is None:
        pytest.skip("this SciPy keeps no linalg/_fblas extension: its package import serves "
                    "(the next test)")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run([sys.executable, "-c", _FBLAS_PROBE], capture_output=True, text=True,
                       env=env, timeout=120)
    assert r.stdout.split() == ["axpy", "True", "linalg", "False", "scipy", "False"], \
        r.stderr[-2000:]


def test_scipys_package_import_serves_where_its_files_differ(monkeypatch) -> None:  # noqa: ANN001
    """Where the extension module is not found beside ``scipy/linalg/``, the ordinary
    ``scipy.linalg.blas`` is used (and still checked by ``fma.rounds_once``)."""
    import importlib.machinery

    from scipy.linalg import blas

    monkeypatch.setattr(importlib.machinery.PathFinder, "find_spec",
                        classmethod(lambda cls, name, path=None, target=None: None))
    assert fma.scipy_saxpy() is blas.saxpy


def test_scipys_package_import_serves_where_the_extension_alone_fails(monkeypatch) -> None:  # noqa: ANN001
    """Where the extension module is found but cannot load on its own (a platform whose
    BLAS only SciPy's ``__init__`` makes findable), the ordinary import serves too."""
    import importlib.util

    from scipy.linalg import blas

    def refuse(spec):  # noqa: ANN001, ANN202
        if spec.name == "_fblas":
            raise ImportError("libopenblas.so: cannot open shared object file")
        return real(spec)

    real = importlib.util.module_from_spec
    monkeypatch.setattr(importlib.util, "module_from_spec", refuse)
    assert fma.scipy_saxpy() is blas.saxpy


PROBE = """
import sys
from codeccmp.cli.app import main
try:
    main(sys.argv[1:], own_process=False)
except SystemExit as exc:
    print("exit", exc.code)
print("heavy", sorted(m for m in ("torch", "compressai", "pytorch_msssim", "torchvision")
                      if m in sys.modules))
"""


@pytest.mark.parametrize("extra", [["--roi", "none"], ["--metrics", "psnr-y,ssim"]])
def test_standard_codec_run_never_imports_torch(tmp_path: Path, extra: list[str]) -> None:
    """The run's own process, torch importable (the test is about not importing it): a
    JPEG-only compare with stripes, MS-SSIM, SSIM and the report written."""
    pytest.importorskip("torch")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src"), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    r = subprocess.run(
        [sys.executable, "-c", PROBE, "compare", str(ROOT / "samples" / "barbara.png"),
         "--bpp", "0.3", "--codecs", "jpeg", "--json", str(tmp_path / "r.json"), *extra],
        capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert "exit 0" in r.stdout, r.stderr[-2000:]
    assert "heavy []" in r.stdout, r.stdout[-500:]
    # The provenance names what computed each value, not a library the run never loaded.
    import json

    recorded = json.loads((tmp_path / "r.json").read_text())["settings"]["metrics"]
    for name, library in recorded.items():
        assert not {"torch", "pytorch-msssim"} & set(library), (name, library)
