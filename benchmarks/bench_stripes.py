"""The stripe analysis against one AVIF encode of the same image, at 24 megapixels.

    python benchmarks/bench_stripes.py [--image ../shared/datasets/kodak/kodim08.png]
        [--size 6000x4000] [--quality 50] [--repeat 1]

Builds a 6000×4000 image by tiling the source with mirrored copies (so the tiles meet without
seams and the stripes stay stripes), encodes it once with Pillow's AVIF at the plugin's
settings (speed 6, 4:2:0), decodes that, and times, on the original and that reconstruction:

- ``find_stripe_rois`` (k = 3): the detector;
- the per-ROI figures (``directional_error`` and ``spectral_shift_deg``) for each window;
- the whole-image ``directional_error``;

then the same on 1/16 and 1/4 of the area, to show the time per megapixel stays flat (linear in
pixels). Peak memory of the analysis is what ``tracemalloc`` sees numpy allocate, in a
separate untimed run (the two input images, 72 MB each at 24 MP, are not counted). Nothing
here is asserted: it prints.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np
from PIL import Image

SHARED = Path(__file__).resolve().parents[1].parent / "shared"


def tiled(src: np.ndarray, width: int, height: int) -> np.ndarray:
    """``src`` repeated with mirrored neighbours up to ``width`` × ``height``."""
    block = np.concatenate([src, src[:, ::-1]], axis=1)
    block = np.concatenate([block, block[::-1]], axis=0)
    reps = (-(-height // block.shape[0]), -(-width // block.shape[1]), 1)
    return np.ascontiguousarray(np.tile(block, reps)[:height, :width])


def avif_round_trip(img: np.ndarray, quality: int) -> tuple[tuple[float, float], int,
                                                             np.ndarray]:
    """One encode at the plugin's settings (timed: wall and CPU), then a decode (not timed)."""
    with contextlib.suppress(ImportError):
        import pillow_avif  # noqa: F401  (registers AVIF where Pillow lacks it)
    buf = io.BytesIO()
    im = Image.fromarray(img)
    t, c = time.perf_counter(), time.process_time()
    im.save(buf, format="AVIF", quality=quality, speed=6, subsampling="4:2:0")
    enc = (time.perf_counter() - t, time.process_time() - c)
    data = buf.getvalue()
    with Image.open(io.BytesIO(data)) as dec:
        rec = np.asarray(dec.convert("RGB"))
    return enc, len(data), rec


def _timed(fn, *args, **kw):  # noqa: ANN001, ANN002, ANN003, ANN202
    t, c = time.perf_counter(), time.process_time()
    out = fn(*args, **kw)
    return out, time.perf_counter() - t, time.process_time() - c


def analysis(orig: np.ndarray, rec: np.ndarray) -> dict[str, float]:
    """Wall and CPU seconds of each part (CPU: this process, all threads)."""
    from codeccmp.stripes import directional_error, find_stripe_rois, spectral_shift_deg

    def per_roi(rois: list) -> None:  # noqa: ANN001
        for r in rois:
            directional_error(orig, rec, r)
            spectral_shift_deg(orig, rec, r)

    rois, w1, c1 = _timed(find_stripe_rois, orig, k=3)
    _, w2, c2 = _timed(per_roi, rois)
    _, w3, c3 = _timed(directional_error, orig, rec)
    return {"detect": c1, "rois": c2, "whole": c3, "total": c1 + c2 + c3,
            "wall": w1 + w2 + w3, "n_rois": len(rois)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", default=str(SHARED / "datasets" / "kodak" / "kodim08.png"))
    ap.add_argument("--size", default="6000x4000")
    ap.add_argument("--quality", type=int, default=50)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.lower().split("x"))
    with Image.open(args.image) as im:
        src = np.asarray(im.convert("RGB"))
    big = tiled(src, w, h)
    enc, nbytes, rec = avif_round_trip(big, args.quality)
    mp = w * h / 1e6
    print(f"{w}×{h} ({mp:.1f} MP) from {Path(args.image).name}; AVIF q{args.quality} speed 6 "
          f"4:2:0: one encode {enc[1]:.1f} CPU s ({enc[0]:.1f} s wall), "
          f"{8 * nbytes / (w * h):.3f} bpp")
    print("CPU seconds (wall in the last column: a shared machine inflates it):")
    print("| image | MP | detect | ROIs | whole image | total | CPU s/MP | peak MB | windows "
          "| wall s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    totals = {}
    for frac in (4, 2, 1):  # 1/16, 1/4 and all of the area
        hh, ww = h // frac, w // frac
        o, r = big[:hh, :ww], rec[:hh, :ww]
        runs = [analysis(o, r) for _ in range(args.repeat)]
        tracemalloc.start()  # a separate run: tracing slows the timed ones down
        analysis(o, r)
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        tracemalloc.stop()
        med = {k: statistics.median(x[k] for x in runs) for k in runs[0]}
        m = ww * hh / 1e6
        totals[frac] = (med["total"], med["wall"])
        print(f"| {ww}×{hh} | {m:.1f} | {med['detect']:.2f} | {med['rois']:.2f} | "
              f"{med['whole']:.2f} | {med['total']:.2f} | {med['total'] / m:.3f} | "
              f"{peak:.0f} | {int(med['n_rois'])} | {med['wall']:.1f} |")
    print(f"stripe analysis / one AVIF encode at {mp:.0f} MP: {totals[1][0] / enc[1]:.2f}× "
          f"in CPU time, {totals[1][1] / enc[0]:.2f}× in wall time")


if __name__ == "__main__":
    main()
