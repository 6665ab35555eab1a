#!/usr/bin/env python
"""Time the orientation term of ``--metric ms-ssim+orientation`` against MS-SSIM, in one run.

What one training step of the shared CPU recipe computes for its distortion: a batch of
``--batch`` crops of ``--crop`` px (default 8 × 128², the 7-px MS-SSIM window that fits them),
forward and backward, median of ``--repeat`` runs after one warm-up:

- ``1 − MS-SSIM`` (pytorch-msssim, what ``--metric ms-ssim`` computes);
- ``L_orient`` (:func:`codeccmp_compressai.losses.orientation_loss`);
- ``L_orient`` built with grouped ``conv2d`` instead of the filter matrices (the obvious
  implementation, kept here only to show why the module uses matrices);
- with ``--step``, a whole training step of ``bmshj2018-factorized`` (N=128, M=192) with
  plain MS-SSIM and with the term, so the term's share of a real step is visible.

Torch runs on ``--threads`` threads (default 1, as the experiment's fine-tunes did). Run from
the repository root::

    python benchmarks/bench_orientation_loss.py [--batch 8] [--crop 128] [--repeat 7] [--step]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable


def median_time(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: filter matrices cached, allocator primed
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--crop", type=int, default=128)
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--step", action="store_true", help="also time whole training steps")
    args = ap.parse_args()

    import torch
    import torch.nn.functional as F
    from codeccmp_compressai import losses
    from pytorch_msssim import ms_ssim

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    win = losses.msssim_window(args.crop)
    x = torch.rand(args.batch, 3, args.crop, args.crop)
    x_hat = (x + 0.05 * torch.randn_like(x)).clamp(0, 1).requires_grad_(True)

    def grouped_tensor(luma: torch.Tensor) -> tuple[torch.Tensor, ...]:
        def sep(v: torch.Tensor, sy: tuple[float, int], sx: tuple[float, int]) -> torch.Tensor:
            ky = torch.tensor(losses._gauss(*sy))
            kx = torch.tensor(losses._gauss(*sx))
            c, ry, rx = v.shape[1], ky.numel() // 2, kx.numel() // 2
            v = F.pad(v, (rx, rx, ry, ry), mode="reflect")
            v = F.conv2d(v, ky.view(1, 1, -1, 1).expand(c, 1, -1, 1), groups=c)
            return F.conv2d(v, kx.view(1, 1, 1, -1).expand(c, 1, 1, -1), groups=c)

        gx = sep(luma, (losses.SIGMA_D, 0), (losses.SIGMA_D, 1))
        gy = sep(luma, (losses.SIGMA_D, 1), (losses.SIGMA_D, 0))
        t = (losses.SIGMA_T, 0)
        j = sep(torch.cat([gx * gx, gy * gy, gx * gy], dim=1), t, t)
        return j[:, 0:1], j[:, 1:2], j[:, 2:3]

    def run_msssim() -> None:
        x_hat.grad = None
        (1 - ms_ssim(x_hat, x, data_range=1.0, win_size=win)).backward()

    def run_orient() -> None:
        x_hat.grad = None
        losses.orientation_loss(x_hat, x).backward()

    def run_orient_conv() -> None:
        x_hat.grad = None
        original = losses.structure_tensor
        losses.structure_tensor = grouped_tensor  # type: ignore[assignment]
        try:
            losses.orientation_loss(x_hat, x).backward()
        finally:
            losses.structure_tensor = original

    rows = [
        ("1 − MS-SSIM", median_time(run_msssim, args.repeat)),
        ("L_orient (filter matrices, as shipped)", median_time(run_orient, args.repeat)),
        ("L_orient (grouped conv2d)", median_time(run_orient_conv, args.repeat)),
    ]
    base = rows[0][1]
    print(f"batch {args.batch} × 3 × {args.crop}², MS-SSIM window {win}, torch "
          f"{torch.__version__}, {args.threads} thread(s), median of {args.repeat}, "
          "forward + backward")
    print("| distortion term | ms | × MS-SSIM |\n| --- | ---: | ---: |")
    for name, t in rows:
        print(f"| {name} | {1000 * t:.1f} | {t / base:.2f} |")

    if args.step:
        from compressai.models import FactorizedPrior

        model = FactorizedPrior(128, 192).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-5)

        def step(metric: str) -> Callable[[], None]:
            def run() -> None:
                opt.zero_grad(set_to_none=True)
                out = model(x)
                bpp = losses.rate_bpp(out["likelihoods"], x.shape[0] * x.shape[2] * x.shape[3])
                d, _ = losses.distortion(out["x_hat"], x, metric, win, 1.0)
                (8.73 * d + bpp).backward()
                opt.step()
            return run

        plain = median_time(step("ms-ssim"), max(1, args.repeat // 2))
        with_term = median_time(step("ms-ssim+orientation"), max(1, args.repeat // 2))
        print(f"\nwhole training step, bmshj2018-factorized N=128 M=192: ms-ssim "
              f"{plain:.3f} s, ms-ssim+orientation {with_term:.3f} s "
              f"(+{100 * (with_term / plain - 1):.1f} %)")


if __name__ == "__main__":
    main()
