"""Full-reference quality metrics on 8-bit images.

SSIM and MS-SSIM are pytorch-msssim's (the implementation CompressAI's own evaluation uses),
recomputed here so that a 24-megapixel photograph takes seconds rather than a minute: the
same definition and the same float32 arithmetic in the same order (pixels scaled to [0, 1]
with ``data_range=1``; its 11-tap Gaussian window, sigma 1.5, down the columns then along
the rows over the valid region only; K = (0.01, 0.03); RGB measured per channel and averaged;
MS-SSIM's 5 scales with its weights, its ReLU on each scale and its 2×2 average pooling,
zero padding before an odd side counted in the average). Values agree with the library's to
about 5e-8 on photographs (Barbara) and within 5e-7 on flat images, where σ² is float32
rounding noise, on the development machine; torch picks its convolution kernel per CPU and
version, and under another one flat regions may round a few ulps of σ² apart (3e-5 in SSIM
seen with torch 2.14.1 on an AVX512 CPU). Tests check it, and the library itself, against the
float64 definition within float32's derived error bound (``tests/flat_ssim.py`` for flat
images, ``tests/float32_bounds.py`` for any image), so they hold whatever the kernel.

Why not pytorch-msssim itself: its depthwise ``conv2d`` runs at about 20 million values a
second on a CPU core, it holds a dozen full-size float32 maps at once (gigabytes at camera
resolution), and SSIM and MS-SSIM each redo the same first scale. Here each scale is cut into
tiles of a few megabytes that stay in the processor's cache, buffers are reused from tile to
tile, and one pass yields both SSIM and MS-SSIM. The tiles run on every core only where the
filter's taps release the GIL (see ``_tile_executor``).
"""

from __future__ import annotations

import math
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import numpy as np

from codeccmp.measure import fma

#: pytorch-msssim's default Gaussian window; 5 scales need the shorter side > (11 - 1) * 2**4.
WIN_SIZE = 11
WIN_SIGMA = 1.5
MS_SSIM_MIN_SIDE = (WIN_SIZE - 1) * 2**4 + 1
#: pytorch-msssim's scale weights (from Wang, Simoncelli and Bovik 2003).
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
_K1, _K2 = 0.01, 0.03
_C1 = np.float32(_K1**2)
_C2 = np.float32(_K2**2)

#: Output rows × pixels of one tile (a few megabytes of float32 maps, within the cache).
#: Measured single-threaded on the development machine: 32 × 1024 was among the fastest of
#: 8–64 rows × 256–2048 pixels; the spread was 30%.
#: torch convolves a single-channel float32 input of up to this many values with its native
#: kernel instead of oneDNN's (``ConvParams::use_mkldnn``, "for some case, native is faster").
_NATIVE_CONV_MAX = 20480
TILE_ROWS = 32
TILE_COLS = 1024


#: pytorch-msssim's ``_fspecial_gauss_1d(11, 1.5)`` as torch computes it (its float32
#: ``exp``, divided by the float32 sum), as float32 bit patterns: computed here with NumPy the
#: taps' sum moved, and the taps' sum matters more than the taps (SSIM subtracts μ² from the
#: filtered x², so a window summing to 1 + ε shifts every σ² by about ε·μ²; at ε = 6e-8,
#: NumPy's ``exp`` and sum, SSIM moved by 3e-6). Kept as constants so that measuring never
#: imports torch (a standard-codec run must not pay its 0.5 GB and 1.5 s); a test recomputes
#: them with torch.
_WINDOW_BITS = (0x3A86CAB8, 0x3BF8FF01, 0x3D13758C, 0x3DDFF87F, 0x3E5A1E1F, 0x3E8832B0,
                0x3E5A1E1F, 0x3DDFF87F, 0x3D13758C, 0x3BF8FF01, 0x3A86CAB8)
WINDOW = np.array(_WINDOW_BITS, np.uint32).view(np.float32)


def threads() -> int:
    """Worker threads for the metrics: the cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _check(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape != b.shape:
        raise ValueError(f"images differ in shape: {a.shape} vs {b.shape}")


def mse(a: np.ndarray, b: np.ndarray) -> float:
    """Mean squared error, exact: squared differences of 8-bit values summed as integers,
    a band of rows at a time (no float64 copies of camera-sized images)."""
    _check(a, b)
    if a.dtype != np.uint8 or b.dtype != np.uint8:
        d = np.asarray(a, np.float64) - np.asarray(b, np.float64)
        return float(np.mean(d * d))
    if a.size == 0:
        return math.nan
    rows = max(1, (1 << 20) // max(1, a[0].size))
    total = 0
    for r in range(0, a.shape[0], rows):
        d = a[r:r + rows].astype(np.int32)
        d -= b[r:r + rows]
        np.square(d, out=d)  # at most 255² per value: no overflow in int32
        total += int(d.sum(dtype=np.int64))
    return total / a.size


def psnr(a: np.ndarray, b: np.ndarray, peak: float = 255.0) -> float:
    """PSNR in dB over all channels; ``inf`` for identical images."""
    m = mse(a, b)
    return math.inf if m == 0 else 10.0 * math.log10(peak * peak / m)


def ms_ssim_supported(shape: tuple[int, ...]) -> bool:
    return min(shape[:2]) >= MS_SSIM_MIN_SIDE


def ssim_supported(shape: tuple[int, ...]) -> bool:
    return min(shape[:2]) >= WIN_SIZE


def ms_ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """MS-SSIM (5 scales), or ``None`` when the image is too small for 5 scales."""
    return ssim_ms_ssim(a, b, want_ssim=False)[1]


def ssim(a: np.ndarray, b: np.ndarray) -> float | None:
    """SSIM, or ``None`` when a side is shorter than the 11-pixel window."""
    return ssim_ms_ssim(a, b, want_ms_ssim=False)[0]


def ssim_ms_ssim(a: np.ndarray, b: np.ndarray, want_ssim: bool = True,
                 want_ms_ssim: bool = True) -> tuple[float | None, float | None]:
    """(SSIM, MS-SSIM) of two 8-bit images (H, W) or (H, W, C), sharing the first scale:
    SSIM is MS-SSIM's first-scale SSIM. Either is ``None`` when not wanted or when the
    image is too small for it."""
    _check(a, b)
    want_ms_ssim = want_ms_ssim and ms_ssim_supported(a.shape)
    want_ssim = want_ssim and ssim_supported(a.shape)
    if not (want_ssim or want_ms_ssim):
        return None, None
    channels = 1 if a.ndim == 2 else a.shape[2]
    x, y = _planar(a), _planar(b)
    levels = len(MS_SSIM_WEIGHTS) if want_ms_ssim else 1
    cs_levels: list[np.ndarray] = []
    with _torch_one_thread(), _tile_executor(channels > 1 or x.size > _NATIVE_CONV_MAX) as pool:
        for level in range(levels):
            ssim_c, cs_c = _scale(x, y, channels, pool)
            if level == 0:
                ssim_value = float(ssim_c.mean()) if want_ssim else None
            if level < levels - 1:
                cs_levels.append(np.maximum(cs_c, 0.0))
                x, y = _pool(x, channels, pool), _pool(y, channels, pool)
    if not want_ms_ssim:
        return ssim_value, None
    factors = [*cs_levels, np.maximum(ssim_c, 0.0)]
    per_channel = np.prod([f ** w for f, w in zip(factors, MS_SSIM_WEIGHTS, strict=True)],
                          axis=0)
    return ssim_value, float(per_channel.mean())


class _CallingThread(Executor):
    """``map`` on the calling thread, lazily, in order (what ``_scale`` and ``_pool`` use)."""

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any],  # type: ignore[override]
            timeout: float | None = None, chunksize: int = 1) -> Iterator[Any]:
        return map(fn, *iterables)


def _tile_executor(fused: bool) -> Executor:
    """Where the tiles run: on a thread per core where the taps release the GIL (torch's
    ``addcmul_``, the exact emulation's NumPy loops), else on the calling thread.

    SciPy's ``saxpy`` is an f2py wrapper, and f2py holds the GIL through the call unless
    told otherwise: two threads of back-to-back calls take as long, in wall and in CPU time,
    as one doing them all. With it, tile threads only take turns, and the hand-overs cost
    more than the NumPy parts between the calls gain (Barbara: 58 ms on two threads, 46 ms
    on the calling thread; a 2000×2000 pair 470 against 460 ms; ``benchmarks/README.md``).
    The calling thread also keeps its scratch buffers from one call to the next, where a
    new pool's threads fault their pages in again. Resolving the BLAS here also resolves it
    before any tile thread needs it."""
    if fused and _blas_axpy() is not None or threads() == 1:
        return _CallingThread()
    return ThreadPoolExecutor(threads(), thread_name_prefix="codeccmp-ssim")


def _loaded_torch() -> Any:
    """torch if something in this process imported it already (a learned codec, a
    torch-based metric), else ``None``: measuring never imports it (half a gigabyte and
    1.5 s that a standard-codec run must not pay), but where it is loaded and SciPy's BLAS
    failed its check, its fused multiply-add is faster than ``fma.fma``'s exact emulation
    (MS-SSIM + SSIM of a 720×576 pair: 0.1 s against 0.75 s on the development VM), with
    the same bits."""
    return sys.modules.get("torch")


@contextmanager
def _torch_one_thread() -> Iterator[None]:
    """torch (where loaded) single-threaded inside each tile (the tile workers inherit this
    setting): the tiles already use every core, and torch's own threads on top of them
    would only spin at barriers."""
    torch = _loaded_torch()
    if torch is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _planar(a: np.ndarray) -> np.ndarray:
    """(H, W·C) view of an (H, W[, C]) image: channels stay interleaved, no copy."""
    a = np.ascontiguousarray(a)
    return a.reshape(a.shape[0], -1)


def _scale(x: np.ndarray, y: np.ndarray, channels: int,
           pool: Executor) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel means of the SSIM and contrast-structure maps at one scale (valid
    region: (H − 10) × (W − 10))."""
    h, w = x.shape[0], x.shape[1] // channels
    oh, ow = h - (WIN_SIZE - 1), w - (WIN_SIZE - 1)
    tiles = [(r, c, min(TILE_ROWS, oh - r), min(TILE_COLS, ow - c))
             for r in range(0, oh, TILE_ROWS) for c in range(0, ow, TILE_COLS)]
    # Which convolution torch picks for each of pytorch-msssim's two passes: oneDNN (fused
    # multiply-adds) for RGB (grouped) and for gray inputs of more than 20480 values;
    # below that, for gray, its native im2col + GEMM (multiply, then add). See _correlate.
    fused = (channels > 1 or h * w > _NATIVE_CONV_MAX,
             channels > 1 or oh * w > _NATIVE_CONV_MAX)
    sums = np.zeros((2, channels))
    for part in pool.map(lambda t: _tile(x, y, channels, *t, fused), tiles):
        sums += part
    sums /= oh * ow
    return sums[0], sums[1]


def _tile(x: np.ndarray, y: np.ndarray, ch: int, r: int, c: int, nr: int, nc: int,
          fused: tuple[bool, bool]) -> np.ndarray:
    """Sums over one tile's nr × nc output pixels of the SSIM and cs maps, per channel.

    Every float32 operation is pytorch-msssim's, in its order (``_ssim``), so that flat
    regions, where σ² = E[x²] − μ² cancels to rounding noise and that noise is the same at
    every pixel instead of averaging out, round as they do there: computed any other way,
    SSIM on a photograph with a clear sky moved by 1e-5 (which is also how far
    pytorch-msssim's float32 is from the float64 value there)."""
    halo = WIN_SIZE - 1
    rows, cols = slice(r, r + nr + halo), slice(c * ch, (c + nc + halo) * ch)
    maps = _scratch(0, (5, nr + halo, (nc + halo) * ch))
    a, b, xx, yy, xy = maps
    _to_unit(x[rows, cols], out=a)
    _to_unit(y[rows, cols], out=b)
    np.multiply(a, a, out=xx)
    np.multiply(b, b, out=yy)
    np.multiply(a, b, out=xy)
    down = _correlate(maps, nr, 1, 1, _scratch(1, (5, nr, maps.shape[2])), fused[0])
    mu1, mu2, xx, yy, xy = _correlate(down, nc * ch, ch, 2, _scratch(2, (5, nr, nc * ch)),
                                      fused[1])
    mu1_sq = np.multiply(mu1, mu1, out=_scratch(3, mu1.shape))
    mu2_sq = np.multiply(mu2, mu2, out=_scratch(4, mu1.shape))
    mu1_mu2 = np.multiply(mu1, mu2, out=mu1)
    sigma1_sq = np.subtract(xx, mu1_sq, out=xx)
    sigma2_sq = np.subtract(yy, mu2_sq, out=yy)
    sigma12 = np.subtract(xy, mu1_mu2, out=xy)
    # cs = (2 σxy + C2) / (σx² + σy² + C2)
    cs = np.multiply(sigma12, np.float32(2), out=sigma12)
    cs += _C2
    den = np.add(sigma1_sq, sigma2_sq, out=sigma1_sq)
    den += _C2
    cs /= den
    # SSIM = (2 μx μy + C1) / (μx² + μy² + C1) · cs
    lum = np.multiply(mu1_mu2, np.float32(2), out=mu1_mu2)
    lum += _C1
    den = np.add(mu1_sq, mu2_sq, out=mu1_sq)
    den += _C1
    lum /= den
    lum *= cs
    # Down the rows in float32 first (contiguous, fast; 32 terms), then per channel in float64.
    out = np.empty((2, ch))
    out[0] = lum.sum(axis=0).reshape(nc, ch).sum(axis=0, dtype=np.float64)
    out[1] = cs.sum(axis=0).reshape(nc, ch).sum(axis=0, dtype=np.float64)
    return out


_local = threading.local()


def _scratch(slot: int, shape: tuple[int, ...], dtype: type = np.float32) -> np.ndarray:
    """A work array (float32 unless told) of this thread, reused from tile to tile: a fresh
    array of a megabyte comes from ``mmap`` and costs a page fault per 4 KiB on first touch,
    which took as long as the arithmetic."""
    bufs = _local.__dict__.setdefault("bufs", {})
    n = math.prod(shape)
    buf = bufs.get(slot)
    if buf is None or buf.size < n or buf.dtype != dtype:
        buf = bufs[slot] = np.empty(n, dtype)
    return buf[:n].reshape(shape)


def _to_unit(block: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``block`` as float32 in [0, 1]: 8-bit values rounded as torch's
    ``float32(x) / 255.0`` (one correctly rounded division); float32 copied as it is."""
    if block.dtype == np.uint8:
        return np.divide(block, np.float32(255.0), out=out, dtype=np.float32)
    out[...] = block
    return out


def _correlate(maps: np.ndarray, n: int, step: int, axis: int, out: np.ndarray,
               fused: bool) -> np.ndarray:
    """The window along ``axis`` over the valid region into ``out``: ``n`` outputs, taps
    ``step`` values apart (1 down the rows; the channel count along a row of interleaved
    channels).

    Tap by tap from the first, each a fused multiply-add or, not ``fused``, a product then
    a sum: the order and rounding of the convolution that torch runs inside pytorch-msssim
    (see ``_scale``), so the filtered maps are the same to the bit on x86. NumPy has no
    fused multiply-add: the BLAS ``saxpy`` that SciPy ships where it is one (checked once,
    ``_blas_axpy``), else torch's ``addcmul_`` where torch is loaded and fuses
    (``_fused_torch``), else ``fma.fma``: the
    same bits each, at 0.1 ns, 0.1 ns and about 5 ns a value."""
    axpy = _blas_axpy() if fused else None
    if axpy is not None and maps.ndim == 3 and maps.flags.c_contiguous \
            and out.flags.c_contiguous and axis in (1, 2):
        return _correlate_blas(maps, n, step, axis, out, axpy)
    torch = _fused_torch() if fused else None
    if torch is not None:
        src, dst, win = torch.from_numpy(maps), torch.from_numpy(out), _torch_window(torch)
        torch.mul(src.narrow(axis, 0, n), win[0], out=dst)
        for k in range(1, WIN_SIZE):
            dst.addcmul_(src.narrow(axis, k * step, n), win[k])
        return out

    def tap(k: int) -> np.ndarray:
        index = [slice(None)] * maps.ndim
        index[axis] = slice(k * step, k * step + n)
        return maps[tuple(index)]

    np.multiply(tap(0), WINDOW[0], out=out)
    if not fused:
        tmp = _scratch(5, out.shape)
        for k in range(1, WIN_SIZE):
            out += np.multiply(tap(k), WINDOW[k], out=tmp)
        return out
    for m in range(out.shape[0]):  # one map at a time: float64 scratch of one map's size
        work = (_scratch(6, out[m].shape, np.float64), _scratch(7, out[m].shape, np.float64),
                _scratch(8, out[m].shape, np.uint64))
        for k in range(1, WIN_SIZE):
            fma.fma(tap(k)[m], WINDOW[k], out[m], work)
    return out


def _correlate_blas(maps: np.ndarray, n: int, step: int, axis: int, out: np.ndarray,
                    axpy: Any) -> np.ndarray:
    """``_correlate``'s fused taps as one ``saxpy`` (y += w·x, a fused multiply-add per
    value) per map and tap over the maps' flat memory. Down the rows a tap is a contiguous
    block; along a row it is the whole block shifted by ``k·step`` values, computed at full
    width and cut to the ``n`` outputs after (an output's taps never cross its row's end,
    so the values computed past it are never read)."""
    block = _axpy_block()
    for m in range(maps.shape[0]):
        src = maps[m].reshape(-1)
        if axis == 1:
            acc = out[m].reshape(-1)
            np.multiply(src[:acc.size], WINDOW[0], out=acc)
            for k in range(1, WIN_SIZE):
                fma.axpy_chunks(axpy, src, acc, acc.size, WINDOW[k],
                                k * step * maps.shape[2], block)
        else:
            wide = _scratch(9, (maps.shape[1], maps.shape[2]))
            acc = wide.reshape(-1)
            np.multiply(src, WINDOW[0], out=acc)
            for k in range(1, WIN_SIZE):
                fma.axpy_chunks(axpy, src, acc, acc.size - k * step, WINDOW[k], k * step,
                                block)
            out[m] = wide[:, :n]
    return out


_AXPY: Any = None  # resolved on first use: (a checked saxpy, its block), or False
_AXPY_LOCK = threading.Lock()


def prepare() -> None:
    """Do now what the first SSIM or MS-SSIM would do first: load SciPy's BLAS and check
    its ``saxpy`` (``_blas_axpy``), about 30 ms on the development VM. The run's warm-up
    thread calls it while the codecs code (``codeccmp.pipeline.warmup``)."""
    _blas_axpy()


def _blas_axpy() -> Any:
    """SciPy's BLAS ``saxpy``, if it computes ``y + a·x`` rounded once (a fused
    multiply-add, as OpenBLAS's kernels on x86 with FMA and ARM do), at least on runs of
    ``_axpy_block()`` values, else ``None``.

    Checked once (``fma.fused_block``, with the window's taps as weights)."""
    global _AXPY
    with _AXPY_LOCK:  # once, even when the first tiles of two threads ask together
        if _AXPY is None:
            _AXPY = _checked_saxpy() or False
    return _AXPY[0] if _AXPY else None


def _axpy_block() -> int:
    """The run length the checked saxpy fuses in (1: every value; 32 with OpenBLAS's
    Haswell and Zen kernels, which multiply and then add the rest of a call)."""
    return _AXPY[1] if _AXPY else 1


def _checked_saxpy() -> tuple[Any, int] | None:
    try:
        axpy = fma.scipy_saxpy()
    except Exception:  # no SciPy BLAS here: the exact emulation serves
        return None
    block = fma.fused_block(axpy, WINDOW[:6])
    return None if block is None else (axpy, block)


def _fused_torch() -> Any:
    """torch, where something loaded it and its ``addcmul_`` rounds once (checked once, as
    SciPy's ``saxpy`` is), else ``None``. Under ``ATEN_CPU_CAPABILITY=default`` (or on a CPU
    without AVX2) torch's kernels multiply and then add: taken as they were, SSIM then
    depended on whether a learned codec had loaded torch (0.90034679 against 0.90036174 on
    one tile's values)."""
    global _TORCH_FUSED
    torch = _loaded_torch()
    if torch is None:
        return None
    with _AXPY_LOCK:
        if _TORCH_FUSED is None or _TORCH_FUSED[0] is not torch:
            _TORCH_FUSED = (torch, torch_rounds_once(torch))
        return torch if _TORCH_FUSED[1] else None


def torch_rounds_once(torch: Any) -> bool:
    """Whether ``torch``'s ``addcmul_`` with a 0-d float32 weight, as ``_correlate`` calls
    it, is a fused multiply-add (``fma.rounds_once``, the window's taps as weights)."""
    def axpy(x: np.ndarray, y: np.ndarray, n: int, a: float, offx: int, incx: int,
             offy: int, incy: int) -> np.ndarray:
        torch.from_numpy(y[offy:offy + n]).addcmul_(torch.from_numpy(x[offx:offx + n]),
                                                    torch.tensor(np.float32(a)))
        return y

    with torch.no_grad():
        return fma.rounds_once(axpy, WINDOW[:6])


_TORCH_FUSED: tuple[Any, bool] | None = None  # (the torch checked, whether it fuses)


def _torch_window(torch: Any) -> tuple[Any, ...]:
    """``WINDOW`` as 0-d float32 tensors for ``addcmul_`` (made once)."""
    global _TORCH_WINDOW
    if _TORCH_WINDOW is None:
        _TORCH_WINDOW = tuple(torch.from_numpy(WINDOW.copy()).unbind())
    return _TORCH_WINDOW


_TORCH_WINDOW: tuple[Any, ...] | None = None

def _pool(x: np.ndarray, ch: int, pool: Executor) -> np.ndarray:
    """pytorch-msssim's downsampling, ``avg_pool2d(kernel_size=2, padding=side % 2)``:
    a zero row (column) before an odd side, the zeros counted in the average; sums in
    torch's order, so the result is the same to the bit. Input (H, W·C) 8-bit or float32."""
    h, w = x.shape[0], x.shape[1] // ch
    ph, pw = h % 2, w % 2
    oh, ow = (h + ph) // 2, (w + pw) // 2
    out = np.empty((oh, ow * ch), np.float32)
    band = max(1, (1 << 18) // max(1, ow * ch))

    def run(i0: int) -> None:
        i1 = min(oh, i0 + band)
        r0, r1 = 2 * i0 - ph, 2 * i1 - ph
        src = np.zeros((r1 - r0, (2 * ow) * ch), np.float32)
        lo = max(r0, 0)
        _to_unit(x[lo:r1], out=src[lo - r0:, pw * ch:])
        v = src.reshape(i1 - i0, 2, ow, 2, ch)
        acc = v[:, 0, :, 0] + v[:, 0, :, 1]
        acc += v[:, 1, :, 0]
        acc += v[:, 1, :, 1]
        acc /= np.float32(4.0)
        out[i0:i1] = acc.reshape(i1 - i0, ow * ch)

    list(pool.map(run, range(0, oh, band)))
    return out


def ms_ssim_db(value: float | None) -> float | None:
    """MS-SSIM on a log scale, −10·log10(1 − MS-SSIM), as CompressAI's plots show it."""
    if value is None:
        return None
    return math.inf if value >= 1.0 else -10.0 * math.log10(1.0 - value)
