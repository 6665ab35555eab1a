"""Fused multiply-add in float32: ``acc + w·x`` rounded once, as torch's convolutions round.

SSIM and MS-SSIM here reproduce pytorch-msssim's float32 arithmetic to the bit
(``codeccmp.measure.metrics``), and on x86 torch convolves RGB (and large gray) images with
fused multiply-adds: one rounding per tap, not two. NumPy has none, so this module gives
the operation two ways, the same bits each:

- :func:`scipy_saxpy`: the BLAS ``saxpy`` SciPy ships (OpenBLAS's kernels on x86 with FMA
  and on ARM fuse), loaded without SciPy's linear algebra and used only once
  :func:`fused_block` has checked it, since a BLAS may as well multiply and then add. Some
  fuse only in blocks: OpenBLAS's Haswell and Zen kernels (every AVX2 CPU without AVX-512)
  fuse runs of 32 values and multiply-then-add the rest, so the BLAS is only ever given
  whole runs (:func:`axpy_chunks`);
- :func:`fma`: an exact emulation in NumPy, about 40 times slower, for where there is none.

Why a module of its own: the emulation and the check are numerics that stand apart from
what SSIM computes with them, and are tested apart (``tests/test_metrics_torchless.py``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

#: OpenBLAS computes an axpy of up to 10000 values on the calling thread (its
#: ``interface/axpy.c``); a longer one would start its own threads, whatever the caller
#: already runs, and however SciPy's OpenBLAS was loaded.
AXPY_CHUNK = 10000


#: Run lengths a BLAS kernel may fuse in while the rest of a call is not fused, smallest
#: first (1: every value).
BLOCKS = (1, 8, 16, 32, 64)


def axpy_chunks(axpy: Any, src: np.ndarray, acc: np.ndarray, n: int, w: np.float32,
                offx: int, block: int = 1) -> None:
    """``acc[:n] += w · src[offx:offx + n]``, fused, as saxpy calls of at most
    ``AXPY_CHUNK`` values, each a multiple of ``block`` (what :func:`fused_block` found the
    BLAS fuses). Arguments by position and the weight as a Python float (exact): these
    calls are most of SSIM's work on ordinary images, and a call's overhead (0.6 µs with
    keywords, 0.3 µs by position) is as much as its arithmetic (SSIM + MS-SSIM of Barbara
    68 → 53 ms).

    The fewer than ``block`` values left at the end go to the BLAS too, as the last
    ``block`` values of ``acc[:n]``: those of them already updated are copied first and put
    back after (so each value is updated once, fused). Only where ``n`` is under ``block``
    does :func:`fma` emulate them: a call of it costs about 9 µs, and on OpenBLAS's AVX2
    kernels (``block`` 32) one came with most saxpy calls, a third of SSIM's time there."""
    a = float(w)
    chunk = AXPY_CHUNK - AXPY_CHUNK % block
    for i in range(0, n, chunk):
        m = min(chunk, n - i)
        run = m - m % block
        if run:
            axpy(src, acc, run, a, offx + i, 1, i, 1)
        if run == m:
            continue
        end = i + m
        if end < block:
            fma(src[offx + i + run:offx + end].reshape(1, -1), w,
                acc[i + run:end].reshape(1, -1))
            continue
        start = end - block
        done = acc[start:i + run].copy()  # updated already, by this call or the last
        axpy(src, acc, block, a, offx + start, 1, start, 1)
        acc[start:i + run] = done


def scipy_saxpy() -> Any:
    """SciPy's BLAS ``saxpy`` (unchecked: see :func:`rounds_once`), from
    ``scipy.linalg._fblas`` loaded from its file.

    Importing it by name runs ``scipy.linalg``'s package import first, which loads all of
    SciPy's linear algebra: 50–80 ms, more than a JPEG run's SSIM and MS-SSIM themselves
    (``benchmarks/bench_lean.py``). The extension module needs only NumPy and is loaded
    here on its own (about 10 ms), not entered in ``sys.modules`` (so a later ``import
    scipy.linalg`` elsewhere is unaffected). Where SciPy lays its files out otherwise, the
    ordinary import serves."""
    import importlib.machinery
    import importlib.util

    # SciPy's folder is located, not imported: its ``__init__`` (version checks, test
    # helpers) is a few more milliseconds that a JPEG run would pay for nothing.
    package = importlib.util.find_spec("scipy")
    folders = list(package.submodule_search_locations or []) if package else []
    spec = importlib.machinery.PathFinder.find_spec(
        "_fblas", [os.path.join(f, "linalg") for f in folders])
    if spec is not None and isinstance(spec.loader, importlib.machinery.ExtensionFileLoader):
        try:
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            return module.saxpy
        except ImportError:  # e.g. a platform where only SciPy's import finds its BLAS
            pass
    from scipy.linalg import blas

    return blas.saxpy


def fused_block(axpy: Any, weights: Sequence[np.float32]) -> int | None:
    """The smallest run length in ``BLOCKS`` such that ``axpy`` rounds once on every run of
    a multiple of it (:func:`rounds_once`), or ``None`` where none does."""
    for block in BLOCKS:
        if rounds_once(axpy, weights, block):
            return block
    return None


def rounds_once(axpy: Any, weights: Sequence[np.float32], block: int = 1) -> bool:
    """Whether ``axpy(x, y, n, a, offx, 1, offy, 1)`` (BLAS ``saxpy``'s arguments by
    position) computes ``y[offy:offy + n] += a·x[offx:offx + n]`` in place, rounded once,
    for every weight in ``weights`` and every ``n`` a multiple of ``block``: checked against
    :func:`fma` (exact by construction) on lengths that reach the kernels' blocks and
    tails, at offsets that move the data off the kernels' alignment, and on inputs where a
    product rounded first, or a sum rounded twice, gives another float32."""
    rng = np.random.default_rng(20261206)
    lengths = (1, 5, 16, 33, 255, 1024, 8191, AXPY_CHUNK) if block == 1 else \
        (block, 3 * block, 33 * block, AXPY_CHUNK - AXPY_CHUNK % block)
    for size in lengths:
        for w, (offx, offy) in zip(weights, [(0, 0), (1, 5), (7, 3), (13, 8)] * 2,
                                   strict=False):
            x = rng.random(size + offx, dtype=np.float32) ** 3  # products over many binades
            y = rng.random(size + offy, dtype=np.float32)
            want = y.copy()
            fma(x[offx:].reshape(1, -1), w, want[offy:].reshape(1, -1))
            got = axpy(x, y, size, float(w), offx, 1, offy, 1)
            if got is not y and not np.shares_memory(got, y) or not np.array_equal(got, want):
                return False
        # 1 + a·w with a·w just above 2**-24: once rounded 1 + 2**-23; rounded twice, 1
        tie_a, tie_w = np.float32(12584048 * 2.0**-24), np.float32(11183801 * 2.0**-47)
        got = axpy(np.full(size, tie_a, np.float32), np.ones(size, np.float32), size,
                   float(tie_w), 0, 1, 0, 1)
        if not np.all(got == np.float32(1 + 2.0**-23)):
            return False
    return True


#: Bits of a float64 below float32's precision (52 − 23), and their pattern at a midpoint
#: between two float32 values (for normal numbers; the maps hold none smaller).
_LOW_BITS = np.uint64((1 << 29) - 1)
_HALF_BITS = np.uint64(1 << 28)

def fma(a: np.ndarray, w: np.float32, acc: np.ndarray,
        work: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> None:
    """``acc = a * w + acc`` in float32 rounded once, as a fused multiply-add rounds
    (``acc`` contiguous). ``work``: arrays of ``acc``'s shape to compute in (float64,
    float64, uint64), for a caller that calls often and keeps them.

    The product of two float32 values is exact in float64 (24 + 24 significant bits ≤ 53);
    their float64 sum is rounded, and rounding that to float32 again is wrong only where the
    float64 sum fell exactly half-way between two float32 values while the exact sum was
    not (double rounding). Those places (about one value in 2^28) are found by their bits,
    and the exact remainder of the sum (Knuth's TwoSum) decides which way they go."""
    p_out, s_out, low_out = (None, None, None) if work is None else work
    p = np.multiply(a, np.float64(w), out=p_out, dtype=np.float64)
    s = np.add(p, acc, out=s_out)
    low = np.bitwise_and(s.view(np.uint64), _LOW_BITS, out=low_out)
    ties = np.flatnonzero(low == _HALF_BITS)
    if ties.size:
        pt, st, old = p.ravel()[ties], s.ravel()[ties], acc.ravel()[ties].astype(np.float64)
        bb = st - pt
        err = (pt - (st - bb)) + (old - bb)  # TwoSum: pt + old == st + err exactly
        s.ravel()[ties] = np.where(err == 0, st, np.nextafter(st, np.copysign(np.inf, err)))
    np.copyto(acc, s, casting="same_kind")
