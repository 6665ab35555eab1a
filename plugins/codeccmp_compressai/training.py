"""Training and fine-tuning learned codecs: the engine behind ``codeccmp train``.

One loop serves every learned codec: the two models this plugin defines (``bls2017``,
``lee2019``) and CompressAI's zoo architectures (``bmshj2018-factorized``, ``mbt2018``, ...),
so fine-tuning a zoo model is the same command as training a new one (``init``).

The recipe is the one of the papers and of CompressAI's example trainer:

- random square crops from a folder of images (no other augmentation), pixel values in
  ``[0, 1]``;
- the rate–distortion loss ``L = λ·D + R`` with ``R`` the estimated bits per pixel
  (``−log2`` of the likelihoods over all latents, divided by the number of pixels) and
  ``D`` either ``1 − MS-SSIM`` (pytorch-msssim, ``data_range=1``) or ``255²·MSE``. So for
  MS-SSIM, λ is "bits per pixel worth one unit of 1 − MS-SSIM"; for MSE the 255² makes λ
  the value CompressAI quotes (0.0067 for its quality 3). ``ms-ssim+orientation``,
  ``ms-ssim+redraw`` and ``ms-ssim+stripe-mse`` add a weighted stripe term,
  ``ms-ssim+redraw+orientation`` two (:mod:`codeccmp_compressai.losses`);
- Adam on all weights except the entropy bottlenecks' quantiles, and a second Adam on the
  auxiliary loss that fits those quantiles (Ballé et al. 2018, Appendix 6.1), which is what
  makes ``update()`` build compact coding tables;
- validation on held-out images with *real* ``compress``/``decompress`` (bytes counted,
  reconstruction decoded from them), never the likelihood estimate;
- checkpoints written atomically, with ``update(force=True)`` first, so every checkpoint
  (periodic or final) compresses as soon as it is loaded.

Five-scale MS-SSIM halves the image four times and needs the side of the smallest scale to
exceed the window, i.e. ``side > (win − 1)·16``: 161 px for the standard 11-px window. With
smaller crops the window shrinks automatically to the largest odd size that fits (7 px at
128², as the shared CPU weights were trained), never below 5 px, so the smallest crop for
MS-SSIM training is 65 px (in practice 80 for bls2017 and 128 for lee2019, whose crops must
be multiples of 16 and 64).

The engine's parts: :mod:`~codeccmp_compressai.losses` (rate, distortion, the orientation
term), :mod:`~codeccmp_compressai.train_data` (images, split, crops),
:mod:`~codeccmp_compressai.train_models` (names, sizes, building, device) and
:mod:`~codeccmp_compressai.train_checkpoints` (reading and writing files); this module holds
the configuration, validation and the loop.

Everything here imports torch; import this module only when training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

# The engine is split along its seams; everything a caller used to find here still is.
from codeccmp_compressai.losses import (  # noqa: F401 - re-exported
    METRICS,
    MSSSIM_MIN_AUTO_WIN,
    MSSSIM_WIN,
    STRIPE_TERMS,
    TrainingError,
    base_metric,
    distortion,
    msssim_window,
    orientation_loss,
    rate_bpp,
)
from codeccmp_compressai.train_checkpoints import (  # noqa: F401 - re-exported
    FORMAT,
    _rng_state,
    _set_rng_state,
    _version,
    load_training_checkpoint,
    save_checkpoint,
)
from codeccmp_compressai.train_data import (  # noqa: F401 - re-exported
    IMAGE_SUFFIXES,
    ImageSplit,
    RandomCrops,
    list_images,
    load_rgb,
    split_images,
)
from codeccmp_compressai.train_models import (  # noqa: F401 - re-exported
    _short,
    build_model,
    default_config,
    downsampling_factor,
    known_models,
    model_class,
    model_config,
    parse_model_name,
    resolve_device,
)
from codeccmp_compressai.train_validation import evaluate  # noqa: F401 - re-exported

#: CompressAI's λ for its zoo qualities 1–8 (loss λ·D + bpp, D as above).
COMPRESSAI_LMBDA: dict[str, dict[int, float]] = {
    "mse": {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932,
            8: 0.1800},
    "ms-ssim": {1: 2.40, 2: 4.58, 3: 8.73, 4: 16.64, 5: 31.73, 6: 60.50, 7: 115.37,
                8: 220.00},
}
#: ``--orientation-weight`` when ``--metric ms-ssim+orientation`` is given without it.
DEFAULT_ORIENTATION_WEIGHT = 1.0
#: ``--stripe-weight`` when ``--metric ms-ssim+redraw`` / ``ms-ssim+stripe-mse`` is given
#: without it.
DEFAULT_STRIPE_WEIGHT = 1.0


# ------------------------------------------------------------------------------ config


@dataclass
class TrainConfig:
    """Everything one training run needs; ``codeccmp train`` fills it from its options.

    ``steps`` is the total step count: resuming a 300-step checkpoint with ``steps=500``
    runs 200 more. ``lmbda=None`` takes CompressAI's λ for ``quality`` and the metric.
    ``model_kwargs`` overrides constructor sizes (``{"N": 64}``). ``msssim_win=None``
    picks the window automatically (see the module docstring). ``orientation_weight`` is
    the ``w`` of ``--metric ms-ssim+orientation`` (default :data:`DEFAULT_ORIENTATION_WEIGHT`;
    an error with any other metric); ``stripe_weight`` likewise the ``w`` of
    ``ms-ssim+redraw`` and ``ms-ssim+stripe-mse``, and ``erase_cost`` the ``e`` of
    ``ms-ssim+redraw`` (default 0). ``striped_crops`` is the share of crops placed on fine
    stripes (``train_data.RandomCrops``; default 0, or the resumed run's).
    """

    model: str
    data: Path
    out: Path
    metric: str | None = None
    lmbda: float | None = None
    steps: int = 1000
    batch: int = 8
    crop: int = 256
    device: str = "auto"
    lr: float = 1e-4
    aux_lr: float = 1e-3
    clip: float = 1.0
    val: Path | None = None
    val_fraction: float = 0.1
    val_every: int = 1000
    val_max: int = 8
    save_every: int | None = None
    resume: Path | None = None
    init: Path | None = None
    quality: int = 3
    model_kwargs: dict[str, int] = field(default_factory=dict)
    msssim_win: int | None = None
    orientation_weight: float | None = None
    stripe_weight: float | None = None
    erase_cost: float | None = None
    striped_crops: float | None = None
    seed: int = 0
    cache_mb: int = 2048
    #: Wall-clock budget: stop cleanly (validate, update, save) once it is spent, so a run
    #: on a lent GPU ends with a usable checkpoint instead of being killed mid-step.
    max_minutes: float | None = None


@dataclass
class TrainEvent:
    """What :func:`train` reports to its ``progress`` callback.

    ``kind``: ``start`` (message says what runs where), ``step`` (loss, bpp, distortion
    and, with the orientation term, ``orientation`` = L_orient of that step), ``validation``
    (``record``), ``checkpoint`` (message is the path),
    ``info`` (a note worth printing).
    """

    kind: str
    step: int
    total: int
    loss: float | None = None
    bpp: float | None = None
    distortion: float | None = None
    orientation: float | None = None
    record: dict[str, Any] | None = None
    message: str = ""


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    checkpoint: Path
    model: str
    metric: str
    lmbda: float
    start_step: int
    steps: int
    losses: list[float]
    validation: list[dict[str, Any]]
    seconds: float

    @property
    def seconds_per_step(self) -> float:
        done = self.steps - self.start_step
        return self.seconds / done if done > 0 else float("nan")


Progress = Callable[[TrainEvent], None]


# ------------------------------------------------------------------------------- train


def _emit(progress: Progress | None, event: TrainEvent) -> None:
    if progress is not None:
        progress(event)


def train(config: TrainConfig, progress: Progress | None = None) -> TrainResult:
    """Train (or resume, or fine-tune) ``config.model`` and write ``config.out``.

    Raises :class:`TrainingError` for bad input before any step runs. On Ctrl-C the
    current state is saved to ``config.out`` and the interrupt propagates.
    """
    arch, implied_metric = parse_model_name(config.model)
    if config.steps < 1 or config.batch < 1:
        raise TrainingError("--steps and --batch must be at least 1")
    if config.val_every < 1:
        raise TrainingError("--val-every must be at least 1")
    if config.resume is not None and config.init is not None:
        raise TrainingError("use --resume or --init, not both")
    device = resolve_device(config.device)

    ckpt: dict[str, Any] | None = None
    if config.resume is not None:
        ckpt = load_training_checkpoint(Path(config.resume))
        if ckpt.get("model") != arch:
            raise TrainingError(
                f"{config.resume} is a {ckpt.get('model')} checkpoint, not {arch}"
            )
    if config.metric is not None and implied_metric == base_metric(config.metric):
        implied_metric = config.metric  # bmshj2018-factorized-ms-ssim + ms-ssim+orientation
    stored = (ckpt.get("train_metric") or ckpt.get("metric")) if ckpt else None
    metric = _choose("metric", config.metric, implied_metric, stored, "ms-ssim")
    if metric not in METRICS:
        raise TrainingError(f"unknown metric {metric!r}: use {', '.join(METRICS)}")
    both = "ms-ssim+redraw+orientation"
    orient_w = _term_option("orientation weight", config.orientation_weight, ckpt,
                            DEFAULT_ORIENTATION_WEIGHT, metric, ("ms-ssim+orientation", both))
    stripe_w = _term_option("stripe weight", config.stripe_weight, ckpt,
                            DEFAULT_STRIPE_WEIGHT, metric,
                            ("ms-ssim+redraw", "ms-ssim+stripe-mse", both))
    erase_cost = _term_option("erase cost", config.erase_cost, ckpt, 0.0, metric,
                              ("ms-ssim+redraw", both), lowest=0.0)
    table = COMPRESSAI_LMBDA[base_metric(metric)]
    lmbda_default = table.get(config.quality, table[3])
    lmbda = float(_choose("λ", config.lmbda, None, ckpt.get("lmbda") if ckpt else None,
                          lmbda_default))
    if not lmbda > 0:
        raise TrainingError("--lmbda must be positive")
    seed = int(ckpt.get("train_config", {}).get("seed", config.seed)) if ckpt else config.seed
    striped = float(_choose("striped crops", config.striped_crops, None,
                            (ckpt.get("train_config") or {}).get("striped_crops")
                            if ckpt else None, 0.0))
    if not 0.0 <= striped <= 1.0:
        raise TrainingError(f"--striped-crops is a share of the crops, 0 to 1; got {striped:g}")

    torch.manual_seed(seed)
    if ckpt is not None:
        cfg = {k: int(v) for k, v in dict(ckpt.get("config") or {}).items()}
        try:
            model = model_class(arch)(**cfg)
            model.load_state_dict(ckpt["state_dict"])
        except Exception as exc:
            raise TrainingError(
                f"{config.resume} does not hold a {arch} model: {_short(exc)}"
            ) from None
        model_cfg = model_config(model, arch, cfg)
    else:
        model, model_cfg = build_model(arch, config.quality, config.model_kwargs, config.init)

    factor = downsampling_factor(model)
    if config.crop < factor or config.crop % factor:
        raise TrainingError(
            f"--crop must be a multiple of {factor} for {arch} (got {config.crop})"
        )
    uses_msssim = base_metric(metric) == "ms-ssim"
    win = msssim_window(config.crop, config.msssim_win) if uses_msssim else MSSSIM_WIN
    split = split_images(config, seed)
    start_step = int(ckpt.get("steps", 0)) if ckpt else 0
    if start_step >= config.steps:
        raise TrainingError(
            f"{config.resume} already has {start_step} steps; ask for more with --steps"
        )

    model = model.to(device).train()
    main_params = [p for n, p in model.named_parameters()
                   if not n.endswith(".quantiles") and p.requires_grad]
    aux_params = [p for n, p in model.named_parameters() if n.endswith(".quantiles")]
    optimizer = torch.optim.Adam(main_params, lr=config.lr)
    aux_optimizer = torch.optim.Adam(aux_params, lr=config.aux_lr) if aux_params else None
    data_gen = torch.Generator().manual_seed(seed + 1)
    validation: list[dict[str, Any]] = []
    if ckpt is not None:
        try:
            optimizer.load_state_dict(ckpt["optimizer"])
            if aux_optimizer is not None and ckpt.get("aux_optimizer"):
                aux_optimizer.load_state_dict(ckpt["aux_optimizer"])
            # The learning rates of this run, not the checkpoint's: resuming with a lower
            # --lr is how a run is annealed.
            for opt, lr in ((optimizer, config.lr), (aux_optimizer, config.aux_lr)):
                for group in opt.param_groups if opt is not None else ():
                    group["lr"] = lr
        except Exception as exc:
            raise TrainingError(f"{config.resume}: optimizer state does not fit: {_short(exc)}") \
                from None
        _set_rng_state(ckpt.get("rng") or {}, data_gen, device)
        validation = list(ckpt.get("validation") or [])

    crops = RandomCrops(split.train, config.crop, data_gen, config.cache_mb * 1024 * 1024,
                        striped=striped)
    val_images = [load_rgb(p) for p in split.val]
    save_every = config.save_every or config.val_every
    train_config = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in asdict(config).items()
        if k not in ("resume",)
    }
    train_config.update(seed=seed, msssim_win=win if uses_msssim else None,
                        orientation_weight=orient_w, stripe_weight=stripe_w,
                        erase_cost=erase_cost, striped_crops=striped)

    def payload(step: int) -> dict[str, Any]:
        model.update(force=True)
        return {
            "format": FORMAT,
            "model": arch,
            # What the model is for (``compare`` matches it to the codec's metric), then the
            # loss it was trained with and its stripe term's weight (None without one).
            "metric": base_metric(metric),
            "train_metric": metric,
            "orientation_weight": orient_w,
            "stripe_weight": stripe_w,
            "erase_cost": erase_cost,
            "lmbda": lmbda,
            "steps": step,
            "config": dict(model_cfg),
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "aux_optimizer": aux_optimizer.state_dict() if aux_optimizer else None,
            "rng": _rng_state(data_gen, device),
            "validation": list(validation),
            "codeccmp_version": _version(),
            "updated": True,
            "train_config": train_config,
        }

    def save(step: int) -> None:
        save_checkpoint(payload(step), Path(config.out))
        _emit(progress, TrainEvent("checkpoint", step, config.steps, message=str(config.out)))

    def validate(step: int) -> None:
        if not val_images:
            return
        record = {"step": step, **evaluate(model, val_images, device)}
        validation.append(record)
        _emit(progress, TrainEvent("validation", step, config.steps, record=record))

    where = f"{device}" + (f", resuming at step {start_step}" if start_step else "")
    _emit(progress, TrainEvent(
        "start", start_step, config.steps,
        message=(f"{arch} {model_cfg} for {metric}, λ={lmbda:g}, on {where}: "
                 f"{len(split.train)} training images ({split.skipped_small} too small, "
                 f"{split.unreadable} unreadable), {len(split.val)} for validation"
                 + (f", MS-SSIM window {win}" if uses_msssim else "")
                 + (f", orientation weight {orient_w:g}" if orient_w is not None else "")
                 + (f", stripe weight {stripe_w:g}" if stripe_w is not None else "")
                 + (f", erase cost {erase_cost:g}" if erase_cost else "")
                 + (f", striped crops {striped:g}" if striped else "")),
    ))
    if not val_images:
        _emit(progress, TrainEvent("info", start_step, config.steps,
                                   message="no held-out images: validation is skipped"))
    if uses_msssim and config.init is None and config.resume is None:
        # Seen here: bls2017 trained on MS-SSIM alone for 9.6k steps came out green-tinted
        # (PSNR 10-12 dB at MS-SSIM 0.65), as the shared weights' README warns.
        _emit(progress, TrainEvent("info", start_step, config.steps, message=(
            "note: MS-SSIM alone barely constrains each channel's mean, so a model trained "
            "on it from scratch drifts in colour; for a usable model, train for MSE first "
            "and fine-tune with --init (as CompressAI did for its zoo)")))

    losses: list[float] = []
    step = start_step
    t0 = time.perf_counter()
    deadline = t0 + 60 * config.max_minutes if config.max_minutes else None
    try:
        while step < config.steps:
            x = crops.batch(config.batch).to(device)
            optimizer.zero_grad(set_to_none=True)
            if aux_optimizer is not None:
                aux_optimizer.zero_grad(set_to_none=True)
            out = model(x)
            bpp = rate_bpp(out["likelihoods"], x.shape[0] * x.shape[2] * x.shape[3])
            dist, orient = distortion(out["x_hat"], x, metric, win,
                                      stripe_w or orient_w or 0.0, erase_cost or 0.0,
                                      orientation_weight=orient_w or 0.0)
            loss = lmbda * dist + bpp
            if not torch.isfinite(loss):
                raise TrainingError(
                    f"the loss became {loss.item()} at step {step + 1}; lower --lr or λ "
                    f"(last checkpoint: {config.out if step > start_step else 'none'})"
                )
            loss.backward()
            if config.clip > 0:
                torch.nn.utils.clip_grad_norm_(main_params, config.clip)
            optimizer.step()
            if aux_optimizer is not None:
                aux_loss = model.aux_loss()
                aux_loss.backward()
                aux_optimizer.step()
            step += 1
            losses.append(float(loss.item()))
            _emit(progress, TrainEvent("step", step, config.steps, loss=losses[-1],
                                       bpp=float(bpp.item()), distortion=float(dist.item()),
                                       orientation=None if orient is None
                                       else float(orient.item())))
            last = step == config.steps or (
                deadline is not None and time.perf_counter() >= deadline)
            if last and step < config.steps:
                _emit(progress, TrainEvent("info", step, config.steps,
                                           message=f"--max-minutes reached at step {step}"))
            if step % config.val_every == 0 or last:
                validate(step)
            if step % save_every == 0 or last:
                save(step)
            if last:
                break
    except KeyboardInterrupt:
        if step > start_step:
            save(step)
        raise
    seconds = time.perf_counter() - t0
    return TrainResult(
        checkpoint=Path(config.out),
        model=arch,
        metric=metric,
        lmbda=lmbda,
        start_step=start_step,
        steps=step,
        losses=losses,
        validation=validation,
        seconds=seconds,
    )


def _term_option(what: str, given: float | None, ckpt: dict[str, Any] | None,
                 default: float, metric: str, metrics: tuple[str, ...],
                 lowest: float | None = None) -> float | None:
    """A stripe term's parameter (``what`` = "stripe weight" is ``--stripe-weight`` and the
    checkpoint's ``stripe_weight``): None unless ``metric`` is one of ``metrics`` (an error
    if it was given anyway), else given, resumed or ``default``; a weight must be positive,
    a parameter with a ``lowest`` value at least that."""
    option, key = "--" + what.replace(" ", "-"), what.replace(" ", "_")
    if metric not in metrics:
        if given is not None:
            raise TrainingError(f"{option} needs --metric {' or '.join(metrics)}")
        return None
    value = float(_choose(what, given, None, ckpt.get(key) if ckpt else None, default))
    if not math.isfinite(value) or (value < lowest if lowest is not None else value <= 0):
        raise TrainingError(f"{option} must be positive" if lowest is None
                            else f"{option} must be at least {lowest:g}")
    return value


def _choose(what: str, given: Any, implied: Any, stored: Any, default: Any) -> Any:
    """The value of ``what``: explicit, implied by the model name, or from the resumed
    checkpoint, which a different explicit value may not contradict."""
    value = given if given is not None else implied
    if implied is not None and given is not None and given != implied:
        raise TrainingError(f"the model name implies {what} {implied}, but {given} was given")
    if stored is not None:
        if value is not None and value != stored:
            raise TrainingError(
                f"the checkpoint was trained with {what} {stored}; resume it with the same {what}"
            )
        return stored
    return value if value is not None else default
