"""Time every usable metric on one reconstruction, at the image's size and tiled larger.

    python benchmarks/bench_metrics.py [--image samples/barbara.png] [--sizes 0,1600x1200]
        [--quality 30] [--metrics psnr,ssim,...]

The reconstruction is a Pillow JPEG at ``--quality``. Size 0 is the image itself; WxH tiles
it with mirrored copies (as bench_stripes.py does) and JPEG-codes that. Each metric runs once
untimed on a 64×64 crop (imports, model set-up), then once timed. Prints wall and CPU seconds
(CPU/wall > 1 means it used several cores), seconds per megapixel, and the load average before
and after, since the machine may be shared. Mind memory before asking for 24 megapixels:
piq's FSIM and VIF hold several float32 copies of the image per scale.
"""

from __future__ import annotations

import argparse
import io
import os
import time
from pathlib import Path

import numpy as np
from PIL import Image

from codeccmp.plugins import load_metrics

ROOT = Path(__file__).resolve().parents[1]


def tiled(src: np.ndarray, width: int, height: int) -> np.ndarray:
    block = np.concatenate([src, src[:, ::-1]], axis=1)
    block = np.concatenate([block, block[::-1]], axis=0)
    reps = (-(-height // block.shape[0]), -(-width // block.shape[1]), 1)
    return np.ascontiguousarray(np.tile(block, reps)[:height, :width])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--image", default=str(ROOT / "samples" / "barbara.png"))
    ap.add_argument("--sizes", default="0")
    ap.add_argument("--quality", type=int, default=30)
    ap.add_argument("--metrics", default=None)
    args = ap.parse_args()
    reg = load_metrics()
    metrics = ([reg.get(n) for n in args.metrics.split(",")] if args.metrics else
               [m for m in reg.all() if m.availability() is None])
    src = np.asarray(Image.open(args.image).convert("RGB"))
    for m in metrics:
        m.compute(src[:64, :64], src[:64, :64])
    for size in args.sizes.split(","):
        a = src if size == "0" else tiled(src, *map(int, size.split("x")))
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, "JPEG", quality=args.quality)
        b = np.asarray(Image.open(buf))
        mp = a.shape[0] * a.shape[1] / 1e6
        print(f"{a.shape[1]}×{a.shape[0]} ({mp:.2f} MP), JPEG q {args.quality}; "
              f"load average {os.getloadavg()[0]:.2f}:")
        for m in metrics:
            t, c = time.perf_counter(), time.process_time()
            v = m.compute(a, b)
            s, cpu = time.perf_counter() - t, time.process_time() - c
            print(f"  {m.name:12s} {s:8.3f} s wall {cpu:8.3f} s CPU  {s / mp:7.3f} s/MP  "
                  f"value {v:.4g}", flush=True)
        print(f"  load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
