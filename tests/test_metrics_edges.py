"""Edges of codeccmp.measure.metrics the known-answer tests do not reach: float and mixed inputs to
MSE, empty images, PSNR's peak, the size limits of SSIM and MS-SSIM, which of the two a
caller asked for, and the worker count. Written against surviving mutants of metrics.py
(benchmarks/mutation/run.py); each value here is worked out by hand."""

from __future__ import annotations

import math
import os

import numpy as np
import pytest

from codeccmp.measure import metrics


def test_mse_of_float_and_mixed_inputs_is_exact() -> None:
    a = np.array([[0.5, 1.25], [3.0, 250.5]])
    b = np.array([[0, 1], [3, 255]], np.uint8)
    want = (0.5**2 + 0.25**2 + 0 + 4.5**2) / 4
    assert metrics.mse(a, b) == want
    assert metrics.mse(b, a) == want
    assert metrics.mse(a.astype(np.float32), b.astype(np.float32)) == want
    assert metrics.mse(b.astype(np.int16), b) == 0.0
    # 0 - 255 in uint8 arithmetic would wrap; the float path must not.
    assert metrics.mse(np.zeros((1, 2), np.uint16), np.full((1, 2), 255, np.uint16)) == 255**2


def test_mse_and_psnr_of_an_empty_image_are_nan() -> None:
    e = np.zeros((0, 7, 3), np.uint8)
    assert math.isnan(metrics.mse(e, e))
    assert math.isnan(metrics.psnr(e, e))


def test_psnr_peak() -> None:
    a = np.full((8, 8), 10, np.uint8)
    assert metrics.psnr(a, a + 2) == pytest.approx(10 * math.log10(255**2 / 4))
    assert metrics.psnr(a, a + 2, peak=2.0) == pytest.approx(0.0, abs=1e-12)
    assert metrics.psnr(a, a + 1, peak=10.0) == pytest.approx(20.0)


def test_size_limits_of_ssim_and_ms_ssim() -> None:
    assert metrics.MS_SSIM_MIN_SIDE == 161
    assert metrics.ms_ssim_supported((161, 161))
    assert metrics.ms_ssim_supported((161, 900, 3))
    assert not metrics.ms_ssim_supported((160, 900, 3))
    assert not metrics.ms_ssim_supported((900, 160))
    assert metrics.ssim_supported((11, 11))
    assert metrics.ssim_supported((11, 40, 3))
    assert not metrics.ssim_supported((10, 40))
    assert not metrics.ssim_supported((40, 10, 3))
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (11, 13), dtype=np.uint8)
    s = metrics.ssim(a, a)
    assert s == pytest.approx(1.0, abs=1e-6)  # one window position: still measured
    assert metrics.ssim(a[:10], a[:10]) is None


def test_only_what_was_asked_for_is_computed() -> None:
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (170, 180, 3), dtype=np.uint8)
    b = np.clip(a.astype(np.int16) + rng.integers(-20, 21, a.shape), 0, 255).astype(np.uint8)
    both = metrics.ssim_ms_ssim(a, b)
    assert None not in both and both[0] != both[1]
    assert metrics.ssim_ms_ssim(a, b, want_ssim=False) == (None, both[1])
    assert metrics.ssim_ms_ssim(a, b, want_ms_ssim=False) == (both[0], None)
    assert metrics.ssim_ms_ssim(a, b, want_ssim=False, want_ms_ssim=False) == (None, None)
    assert metrics.ssim(a, b) == both[0] and metrics.ms_ssim(a, b) == both[1]
    small = a[:160]
    assert metrics.ssim_ms_ssim(small, b[:160])[1] is None
    assert metrics.ssim_ms_ssim(small, b[:160])[0] == metrics.ssim(small, b[:160])


def test_threads_are_the_cores_this_process_may_use() -> None:
    assert metrics.threads() == len(os.sched_getaffinity(0)) >= 1


def test_mse_of_a_single_row_and_a_single_column() -> None:
    a = np.array([[0, 10, 20, 30]], np.uint8)
    assert metrics.mse(a, a + 2) == 4.0
    assert metrics.mse(a.T, (a + 3).T) == 9.0
