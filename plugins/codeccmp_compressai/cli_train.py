"""``codeccmp train``: train or fine-tune a learned codec on a folder of images.

Only typer is imported here; torch, compressai and the training engine
(:mod:`codeccmp_compressai.training`) are imported when the command runs, so that
``codeccmp --help`` stays instant.
"""

from __future__ import annotations

import time
from collections import deque
from pathlib import Path
from typing import Any

import typer

from codeccmp.errors import UsageError

HELP = (
    "Train a learned codec (bls2017, lee2019, or any CompressAI zoo architecture) on random "
    "crops of a folder of images, with the rate-distortion loss λ·D + bpp; validate on "
    "held-out images with real bitstreams; write a checkpoint that `compare --weights "
    "MODEL=CKPT` uses as is."
)


def register(app: typer.Typer) -> None:
    """Add the ``train`` command to ``app``."""

    @app.command("train", help=HELP)
    def train_command(
        model: str = typer.Argument(
            ...,
            metavar="MODEL",
            help="bls2017, lee2019, or a zoo architecture (bmshj2018-factorized, mbt2018, ...); "
            "a -mse / -ms-ssim suffix sets the metric",
        ),
        data: Path = typer.Option(..., "--data", help="Folder of training images (searched "
                                  "recursively)."),
        out: Path | None = typer.Option(None, "--out", help="Checkpoint to write (default with "
                                        "--resume: the resumed file)."),
        metric: str | None = typer.Option(None, "--metric", help="ms-ssim (default), mse, "
                                          "ms-ssim+orientation (MS-SSIM plus a term that "
                                          "keeps the stripes' direction), ms-ssim+redraw (a "
                                          "term that charges stripes redrawn at another "
                                          "angle, not erased ones), ms-ssim+stripe-mse "
                                          "(MSE on stripe pixels) or "
                                          "ms-ssim+redraw+orientation (both terms); "
                                          "docs/training.md."),
        orientation_weight: float | None = typer.Option(
            None, "--orientation-weight", help="w of D = (1−MS-SSIM) + w·L_orient with "
            "--metric ms-ssim+orientation (default 1); w_o of ms-ssim+redraw+orientation."),
        stripe_weight: float | None = typer.Option(
            None, "--stripe-weight", help="w of D = (1−MS-SSIM) + w·term with --metric "
            "ms-ssim+redraw, ms-ssim+stripe-mse or ms-ssim+redraw+orientation (default 1)."),
        erase_cost: float | None = typer.Option(
            None, "--erase-cost", help="e of ms-ssim+redraw: what erased stripes cost in its "
            "term, against up to 1 for redrawn ones (default 0)."),
        striped_crops: float | None = typer.Option(
            None, "--striped-crops", help="Share of the crops placed where the images have "
            "fine stripes (0 to 1; default 0: uniform crops)."),
        lmbda: float | None = typer.Option(
            None, "--lmbda", help="λ of λ·D + bpp; D = 1−MS-SSIM or 255²·MSE. Default: "
            "CompressAI's λ for --quality (8.73 / 0.0067 at quality 3)."),
        steps: int = typer.Option(1000, "--steps", help="Total steps (a resumed run "
                                  "continues up to this count)."),
        batch: int = typer.Option(8, "--batch", help="Crops per step."),
        crop: int = typer.Option(256, "--crop", help="Crop side in pixels (a multiple of the "
                                 "model's 16 or 64; > 160 for the standard MS-SSIM window)."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
        lr: float = typer.Option(1e-4, "--lr", help="Adam learning rate."),
        aux_lr: float = typer.Option(1e-3, "--aux-lr", help="Learning rate of the entropy "
                                     "bottlenecks' auxiliary (quantile) loss."),
        clip: float = typer.Option(1.0, "--clip", help="Gradient-norm clipping (0: off)."),
        val: Path | None = typer.Option(None, "--val", help="Folder of validation images "
                                        "(default: hold out --val-fraction of --data)."),
        val_fraction: float = typer.Option(0.1, "--val-fraction", help="Share of --data held "
                                           "out for validation when --val is not given."),
        val_every: int = typer.Option(1000, "--val-every", help="Validate (real bitstreams) "
                                      "every this many steps, and at the end."),
        val_max: int = typer.Option(8, "--val-max", help="At most this many validation "
                                    "images."),
        save_every: int | None = typer.Option(None, "--save-every", help="Checkpoint every "
                                              "this many steps (default: --val-every)."),
        resume: Path | None = typer.Option(None, "--resume", help="Continue a codeccmp "
                                           "checkpoint (weights, optimizers, RNG, step count)."),
        init: Path | None = typer.Option(None, "--init", help="Start from these weights "
                                         "(a zoo file, a state dict or a checkpoint) to "
                                         "fine-tune."),
        quality: int = typer.Option(3, "--quality", help="Zoo architectures: the size of "
                                    "CompressAI's quality (cfgs); all: the default λ."),
        n_filters: int | None = typer.Option(None, "--N", help="Override N (filters)."),
        m_latent: int | None = typer.Option(None, "--M", help="Override M (latent channels)."),
        msssim_win: int | None = typer.Option(None, "--msssim-win", help="MS-SSIM window for "
                                              "training (default: 11, or the largest odd "
                                              "window ≥ 5 that the crop allows)."),
        seed: int = typer.Option(0, "--seed", help="Seed of weights, crops and noise."),
        max_minutes: float | None = typer.Option(
            None, "--max-minutes", help="Stop cleanly (validate, save) after this much "
            "wall-clock time, even before --steps."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing --out file "
                                   "(continuing the --resume file itself needs no --force)."),
    ) -> None:
        if max_minutes is not None and max_minutes <= 0:
            raise UsageError("--max-minutes must be positive")
        if striped_crops is not None and not 0.0 <= striped_crops <= 1.0:
            raise UsageError(f"--striped-crops is a share of the crops, 0 to 1; got "
                             f"{striped_crops:g}")
        if out is None:
            if resume is None:
                raise UsageError("--out is required (the checkpoint to write)")
            out = resume
        from codeccmp.model.fileio import check_output

        # Checked before any training: an existing file is never replaced without --force,
        # except the checkpoint being resumed, which the run continues.
        resuming_in_place = resume is not None and out.resolve() == resume.resolve()
        check_output(out, force or resuming_in_place, "--out")
        overrides = {k: v for k, v in (("N", n_filters), ("M", m_latent)) if v is not None}
        if any(v < 1 for v in overrides.values()):
            raise UsageError("--N and --M must be positive")

        from codeccmp_compressai import training

        config = training.TrainConfig(
            model=model, data=data, out=out, metric=metric, lmbda=lmbda, steps=steps,
            batch=batch, crop=crop, device=device, lr=lr, aux_lr=aux_lr, clip=clip, val=val,
            val_fraction=val_fraction, val_every=val_every, val_max=val_max,
            save_every=save_every, resume=resume, init=init, quality=quality,
            model_kwargs=overrides, msssim_win=msssim_win, seed=seed, max_minutes=max_minutes,
            orientation_weight=orientation_weight, stripe_weight=stripe_weight,
            erase_cost=erase_cost, striped_crops=striped_crops,
        )
        reporter = _Reporter(quiet=quiet)
        before = _stamp(out)
        try:
            with reporter:
                result = training.train(config, progress=reporter)
        except KeyboardInterrupt:
            from codeccmp.cli.app import interrupted

            # Unlike compare and sweep, training saves its state on Ctrl-C: say whether.
            if _stamp(out) != before:
                raise interrupted(f"interrupted; checkpoint saved to {out} (continue with "
                                  f"--resume {out})") from None
            raise interrupted("interrupted before the first step; no checkpoint written"
                              ) from None
        reporter.console.print(
            f"wrote {result.checkpoint}: {result.model}, {result.metric}, λ={result.lmbda:g}, "
            f"{result.steps} steps ({result.seconds_per_step:.3f} s/step this run)"
        )


def _stamp(path: Path) -> tuple[int, int] | None:
    """(mtime, size) of ``path``, or None: whether a checkpoint was written since."""
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


class _Reporter:
    """Turns :class:`~codeccmp_compressai.training.TrainEvent` s into a rich progress bar
    (loss and bpp averaged over the last 50 steps) and one line per validation."""

    def __init__(self, quiet: bool = False, window: int = 50) -> None:
        from rich.console import Console

        # Paths and messages printed as they are: not rich markup or emoji codes.
        self.console = Console(highlight=False, soft_wrap=True, markup=False, emoji=False)
        self.quiet = quiet
        self._loss: deque[float] = deque(maxlen=window)
        self._bpp: deque[float] = deque(maxlen=window)
        self._orient: deque[float] = deque(maxlen=window)
        self._progress: Any = None
        self._task: Any = None
        self._every = 0  # plain-text progress lines when not on a terminal (logs, CI)
        self._t0 = 0.0
        self._s0 = 0

    def __enter__(self) -> _Reporter:
        if not self.quiet and self.console.is_terminal:
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(
                TextColumn("[bold]train"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}  bpp {task.fields[bpp]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=self.console,
            )
            self._progress.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)

    def __call__(self, event: Any) -> None:
        if event.kind == "start":
            self.console.print(event.message)
            if self._progress is not None:
                self._task = self._progress.add_task(
                    "train", total=event.total, completed=event.step, loss="-", bpp="-"
                )
            elif not self.quiet:
                self._every = max(1, (event.total - event.step) // 20)
                self._t0, self._s0 = time.perf_counter(), event.step
        elif event.kind == "step":
            self._loss.append(event.loss)
            self._bpp.append(event.bpp)
            if getattr(event, "orientation", None) is not None:
                self._orient.append(event.orientation)
            if self._progress is not None and self._task is not None:
                self._progress.update(
                    self._task,
                    completed=event.step,
                    loss=f"{sum(self._loss) / len(self._loss):.4f}",
                    bpp=f"{sum(self._bpp) / len(self._bpp):.3f}",
                )
            elif self._every and (event.step % self._every == 0 or event.step == event.total):
                rate = (time.perf_counter() - self._t0) / max(1, event.step - self._s0)
                self.console.print(
                    f"step {event.step}/{event.total}: loss "
                    f"{sum(self._loss) / len(self._loss):.4f}  bpp "
                    f"{sum(self._bpp) / len(self._bpp):.3f}"
                    + (f"  stripe term {sum(self._orient) / len(self._orient):.4f}"
                       if self._orient else "")
                    + f"  ({rate:.2f} s/step)"
                )
        elif event.kind == "validation":
            r = event.record or {}
            self.console.print(
                f"step {r.get('step')}: validation bpp {r.get('bpp', float('nan')):.4f}  "
                f"PSNR {r.get('psnr', float('nan')):.2f} dB  "
                f"MS-SSIM {r.get('ms_ssim', float('nan')):.4f}  "
                f"Δθ {_degrees(r.get('delta_theta_deg'))}  ({r.get('images')} images, "
                "real bitstreams)"
            )
        elif event.kind == "info":
            self.console.print(event.message)


def _degrees(value: float | None) -> str:
    """Δθ as the tables print it: "–" where it is undefined (too few oriented pixels in the
    validation images, docs/metrics.md), not "nan°"."""
    import math

    return "–" if value is None or not math.isfinite(value) else f"{value:.2f}°"
