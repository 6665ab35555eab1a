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
  the value CompressAI quotes (0.0067 for its quality 3);
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

Everything here imports torch; import this module only when training.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import math
import random
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from codeccmp.errors import UsageError

FORMAT = "codeccmp-checkpoint/1"
METRICS = ("ms-ssim", "mse")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: CompressAI's λ for its zoo qualities 1–8 (loss λ·D + bpp, D as above).
COMPRESSAI_LMBDA: dict[str, dict[int, float]] = {
    "mse": {1: 0.0018, 2: 0.0035, 3: 0.0067, 4: 0.0130, 5: 0.0250, 6: 0.0483, 7: 0.0932,
            8: 0.1800},
    "ms-ssim": {1: 2.40, 2: 4.58, 3: 8.73, 4: 16.64, 5: 31.73, 6: 60.50, 7: 115.37,
                8: 220.00},
}
#: The standard MS-SSIM window and the smallest one chosen automatically for small crops.
MSSSIM_WIN = 11
MSSSIM_MIN_AUTO_WIN = 5
_OWN_MODELS = ("bls2017", "lee2019")


class TrainingError(UsageError):
    """Bad training input (data, crop, checkpoint): one clear line, exit status 2."""


# ------------------------------------------------------------------------------ config


@dataclass
class TrainConfig:
    """Everything one training run needs; ``codeccmp train`` fills it from its options.

    ``steps`` is the total step count: resuming a 300-step checkpoint with ``steps=500``
    runs 200 more. ``lmbda=None`` takes CompressAI's λ for ``quality`` and the metric.
    ``model_kwargs`` overrides constructor sizes (``{"N": 64}``). ``msssim_win=None``
    picks the window automatically (see the module docstring).
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
    seed: int = 0
    cache_mb: int = 2048
    #: Wall-clock budget: stop cleanly (validate, update, save) once it is spent, so a run
    #: on a lent GPU ends with a usable checkpoint instead of being killed mid-step.
    max_minutes: float | None = None


@dataclass
class TrainEvent:
    """What :func:`train` reports to its ``progress`` callback.

    ``kind``: ``start`` (message says what runs where), ``step`` (loss, bpp, distortion
    of that step), ``validation`` (``record``), ``checkpoint`` (message is the path),
    ``info`` (a note worth printing).
    """

    kind: str
    step: int
    total: int
    loss: float | None = None
    bpp: float | None = None
    distortion: float | None = None
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


# ------------------------------------------------------------------------------ models


def _zoo_tables() -> tuple[dict[str, type], dict[str, dict[int, tuple[int, ...]]]]:
    from compressai.zoo.image import cfgs, model_architectures

    archs = {k.replace("_", "-"): v for k, v in model_architectures.items()}
    configs = {k.replace("_", "-"): v for k, v in cfgs.items()}
    return archs, configs


def known_models() -> list[str]:
    """Names ``codeccmp train`` accepts: this plugin's models and CompressAI's zoo."""
    archs, _ = _zoo_tables()
    return [*_OWN_MODELS, *archs]


def parse_model_name(name: str) -> tuple[str, str | None]:
    """``(architecture, metric implied by the name or None)``.

    Accepts an architecture (``bls2017``) or a codec name with a metric suffix
    (``bmshj2018-factorized-mse``), as ``codeccmp codecs`` lists them.
    """
    text = name.strip().lower().replace("_", "-")
    names = known_models()
    if text in names:
        return text, None
    for metric in METRICS:
        suffix = f"-{metric}"
        if text.endswith(suffix) and text[: -len(suffix)] in names:
            return text[: -len(suffix)], metric
    raise TrainingError(f"unknown model {name!r}; trainable: {', '.join(names)}")


def model_class(arch: str) -> type:
    """The ``CompressionModel`` subclass for an architecture name."""
    if arch in _OWN_MODELS:
        from codeccmp_compressai.models import MODELS

        return MODELS[arch]
    archs, _ = _zoo_tables()
    return archs[arch]


def _constructor_names(cls: type) -> list[str]:
    params = inspect.signature(cls.__init__).parameters.values()
    return [
        p.name
        for p in params
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]


def default_config(arch: str, quality: int) -> dict[str, int]:
    """Constructor kwargs: the model's defaults, or ``cfgs[arch][quality]`` for the zoo."""
    if arch in _OWN_MODELS:
        cls = model_class(arch)
        return {
            p.name: int(p.default)
            for p in inspect.signature(cls.__init__).parameters.values()
            if isinstance(p.default, int) and not isinstance(p.default, bool)
        }
    archs, configs = _zoo_tables()
    if quality not in configs[arch]:
        qualities = ", ".join(str(q) for q in sorted(configs[arch]))
        raise TrainingError(f"{arch} has no quality {quality} (qualities: {qualities})")
    names = _constructor_names(archs[arch])
    return {n: int(v) for n, v in zip(names, configs[arch][quality], strict=False)}


def model_config(model: nn.Module, arch: str, fallback: Mapping[str, int]) -> dict[str, int]:
    """Constructor kwargs of a built model (what the checkpoint records as ``config``)."""
    cfg = getattr(model, "config", None)
    if isinstance(cfg, Mapping):
        return {k: int(v) for k, v in cfg.items()}
    out: dict[str, int] = {}
    for name in _constructor_names(type(model)):
        value = getattr(model, name, fallback.get(name))
        if isinstance(value, int):
            out[name] = int(value)
    return out


def downsampling_factor(model: nn.Module) -> int:
    """The multiple the input sides must have (16 or 64 for the models here)."""
    value = getattr(model, "downsampling_factor", None)
    return int(value) if isinstance(value, int) else 64


def _read_checkpoint(path: Path) -> Any:
    if not path.is_file():
        raise TrainingError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        first = (str(exc).strip().splitlines() or [""])[0][:160]
        raise TrainingError(
            f"cannot read checkpoint {path}: {type(exc).__name__}: {first}"
        ) from None


def _weights_from(obj: Any, path: Path) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """``(state_dict, codeccmp metadata)`` from a codeccmp checkpoint, a CompressAI
    training checkpoint or a plain (zoo) state dict."""
    if isinstance(obj, Mapping) and obj.get("format") == FORMAT:
        return dict(obj["state_dict"]), dict(obj)
    if isinstance(obj, Mapping) and isinstance(obj.get("state_dict"), Mapping):
        obj = obj["state_dict"]
    if isinstance(obj, Mapping) and obj and all(isinstance(v, Tensor) for v in obj.values()):
        from compressai.zoo.pretrained import load_pretrained

        return dict(load_pretrained(dict(obj))), {}
    raise TrainingError(f"{path} holds neither a state dict nor a codeccmp checkpoint")


def build_model(
    arch: str, quality: int, overrides: Mapping[str, int], init: Path | None
) -> tuple[nn.Module, dict[str, int]]:
    """A fresh model (sizes from defaults + overrides) or one loaded from ``init``."""
    cls = model_class(arch)
    if init is not None:
        state_dict, meta = _weights_from(_read_checkpoint(init), init)
        if meta and meta.get("model") not in (None, arch):
            raise TrainingError(f"{init} is a {meta.get('model')} checkpoint, not {arch}")
        try:
            model = cls.from_state_dict(state_dict)
        except Exception as exc:  # KeyError, RuntimeError, ValueError: wrong architecture
            raise TrainingError(f"{init} does not hold a {arch} model: {_short(exc)}") from None
        return model, model_config(model, arch, {})
    config = {**default_config(arch, quality), **{k: int(v) for k, v in overrides.items()}}
    try:
        model = cls(**config)
    except TypeError as exc:
        raise TrainingError(f"bad size options for {arch}: {_short(exc)}") from None
    return model, model_config(model, arch, config)


def _short(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text[:240]


def resolve_device(spec: str) -> torch.device:
    """``auto`` → the first CUDA device if torch sees one, else the CPU."""
    value = (spec or "auto").strip().lower()
    if value == "auto":
        return torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    if value == "cpu":
        return torch.device("cpu")
    if value == "cuda" or value.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise TrainingError(f"--device {spec}: torch sees no CUDA device here; use cpu")
        index = value.partition(":")[2] or "0"
        if not index.isdigit() or int(index) >= torch.cuda.device_count():
            raise TrainingError(
                f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s)"
            )
        return torch.device(f"cuda:{int(index)}")
    raise TrainingError(f"bad --device {spec!r}: use auto, cpu, cuda or cuda:N")


# ------------------------------------------------------------------------------- data


def list_images(folder: Path) -> list[Path]:
    """Image files under ``folder`` (recursively), sorted for reproducibility."""
    return sorted(
        p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
    )


def _image_size(path: Path) -> tuple[int, int] | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return im.size  # (width, height)
    except Exception:
        return None


def load_rgb(path: Path) -> Tensor:
    """``3×H×W`` uint8 RGB (grayscale replicated, alpha dropped)."""
    import numpy as np
    from PIL import Image

    with Image.open(path) as im:
        arr = np.asarray(im.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()


@dataclass
class ImageSplit:
    """Training and validation files, and what was left out and why."""

    train: list[Path]
    val: list[Path]
    skipped_small: int = 0
    unreadable: int = 0


def split_images(config: TrainConfig, seed: int | None = None) -> ImageSplit:
    """Usable training images (both sides ≥ crop) and held-out validation images.

    Without ``config.val`` a fraction of the folder (at least one image, when there are
    two or more) is held out, chosen by ``seed`` (default ``config.seed``) so that a
    resumed run holds out the same images.
    """
    data = Path(config.data)
    if not data.is_dir():
        raise TrainingError(f"data folder not found: {data}")
    files = list_images(data)
    if not files:
        raise TrainingError(
            f"no images in {data} (looked for {', '.join(s[1:] for s in IMAGE_SUFFIXES)})"
        )
    val: list[Path] = []
    if config.val is not None:
        vdir = Path(config.val)
        if not vdir.is_dir():
            raise TrainingError(f"validation folder not found: {vdir}")
        val = list_images(vdir)
        if not val:
            raise TrainingError(f"no images in validation folder {vdir}")
        held_out = {p.resolve() for p in val}
        files = [f for f in files if f.resolve() not in held_out]  # never train on them
    elif config.val_fraction > 0 and len(files) >= 2:
        order = list(files)
        random.Random(config.seed if seed is None else seed).shuffle(order)
        n_val = min(len(files) - 1, max(1, round(config.val_fraction * len(files))))
        val = sorted(order[:n_val])
        held = set(val)
        files = [f for f in files if f not in held]
    train: list[Path] = []
    small = unreadable = 0
    smallest: tuple[int, int] | None = None
    for f in files:
        size = _image_size(f)
        if size is None:
            unreadable += 1
        elif min(size) < config.crop:
            small += 1
            if smallest is None or min(size) < min(smallest):
                smallest = size
        else:
            train.append(f)
    if not train:
        reason = []
        if small:
            w, h = smallest or (0, 0)
            reason.append(f"{small} smaller than the {config.crop}-px crop (smallest {w}×{h})")
        if unreadable:
            reason.append(f"{unreadable} unreadable")
        raise TrainingError(
            f"no usable training images in {data}: "
            + ("; ".join(reason) or "all were held out for validation")
            + ("; use a smaller --crop" if small else "")
        )
    return ImageSplit(train, val[: max(0, config.val_max)], small, unreadable)


class RandomCrops:
    """Random ``crop``×``crop`` patches from a list of images, deterministic per generator.

    Decoded images are kept in memory up to ``cache_bytes`` (least recently used dropped
    first), so a small folder is decoded once and a large one streams from disk.
    """

    def __init__(
        self, files: list[Path], crop: int, generator: torch.Generator, cache_bytes: int
    ) -> None:
        self.files = files
        self.crop = crop
        self.generator = generator
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, Tensor] = OrderedDict()
        self._cached = 0

    def _image(self, index: int) -> Tensor:
        img = self._cache.get(index)
        if img is not None:
            self._cache.move_to_end(index)
            return img
        img = load_rgb(self.files[index])
        self._cache[index] = img
        self._cached += img.numel()
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            _, old = self._cache.popitem(last=False)
            self._cached -= old.numel()
        return img

    def batch(self, n: int) -> Tensor:
        """``n×3×crop×crop`` float in ``[0, 1]``."""
        g, c = self.generator, self.crop
        picks = torch.randint(len(self.files), (n,), generator=g).tolist()
        out = torch.empty((n, 3, c, c), dtype=torch.float32)
        for i, index in enumerate(picks):
            img = self._image(index)
            top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=g))
            left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=g))
            out[i] = img[:, top : top + c, left : left + c].float().div_(255.0)
        return out


# ---------------------------------------------------------------------------- metrics


def msssim_window(side: int, requested: int | None = None) -> int:
    """The MS-SSIM window for images whose smaller side is ``side``.

    Five scales need ``side > (win − 1)·16``. ``requested`` is checked; without it the
    standard 11 px, or the largest odd window that fits, down to 5 px. Raises
    :class:`TrainingError` when nothing fits.
    """
    if requested is not None:
        if requested < 3 or requested % 2 == 0:
            raise TrainingError(f"--msssim-win must be an odd number ≥ 3, not {requested}")
        if side <= (requested - 1) * 16:
            raise TrainingError(
                f"crop {side} is too small for 5-scale MS-SSIM with a {requested}-px window: "
                f"it needs crops larger than {(requested - 1) * 16} px"
            )
        return requested
    largest = (side - 1) // 16 + 1  # largest win with (win - 1)·16 < side
    win = min(MSSSIM_WIN, largest if largest % 2 else largest - 1)
    if win < MSSSIM_MIN_AUTO_WIN:
        need = (MSSSIM_MIN_AUTO_WIN - 1) * 16 + 1
        raise TrainingError(
            f"crop {side} is too small for 5-scale MS-SSIM: a W-px window needs crops larger "
            f"than (W−1)·16 px, i.e. at least {(MSSSIM_WIN - 1) * 16 + 1} px for the standard "
            f"{MSSSIM_WIN}-px window and {need} px for the smallest automatic "
            f"{MSSSIM_MIN_AUTO_WIN}-px one (or force --msssim-win 3, ≥ 33 px)"
        )
    return win


def rate_bpp(likelihoods: Mapping[str, Tensor], num_pixels: int) -> Tensor:
    """Estimated bits per pixel: ``Σ −log2 p`` over every latent, per pixel."""
    total = sum((-torch.log2(lik)).sum() for lik in likelihoods.values())
    return total / num_pixels  # type: ignore[return-value]


def distortion(x_hat: Tensor, x: Tensor, metric: str, win: int) -> Tensor:
    """``1 − MS-SSIM`` or ``255²·MSE`` (the λ conventions in the module docstring)."""
    if metric == "mse":
        return 255.0**2 * torch.mean((x_hat - x) ** 2)
    from pytorch_msssim import ms_ssim

    return 1.0 - ms_ssim(x_hat, x, data_range=1.0, win_size=win)


def _pad(x: Tensor, factor: int) -> Tensor:
    h, w = x.shape[-2:]
    ph, pw = (-h) % factor, (-w) % factor
    if ph or pw:
        x = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
    return x


@torch.no_grad()
def evaluate(model: nn.Module, images: list[Tensor], device: torch.device) -> dict[str, Any]:
    """Real rate and quality on whole images: ``compress`` → bytes → ``decompress``.

    Each image is padded to the model's multiple by replication and cropped back; bpp is
    the entropy-coded payload (all strings, no container header) over the original pixels;
    PSNR and MS-SSIM compare 8-bit RGB (MS-SSIM with the 11-px window, or the largest that
    fits a small image).
    """
    from pytorch_msssim import ms_ssim

    was_training = model.training
    model.eval()
    model.update(force=True)
    factor = downsampling_factor(model)
    bpps: list[float] = []
    psnrs: list[float] = []
    msssims: list[float] = []
    try:
        for img in images:
            x = img.float().div(255.0).unsqueeze(0).to(device)
            h, w = x.shape[-2:]
            enc = model.compress(_pad(x, factor))
            nbytes = sum(len(s) for group in enc["strings"] for s in group)
            out = model.decompress(enc["strings"], enc["shape"])
            x_hat = out["x_hat"][..., :h, :w].clamp(0, 1).mul(255).round().div(255)
            bpps.append(8.0 * nbytes / (h * w))
            mse = torch.mean((x_hat - x) ** 2).item()
            psnrs.append(10 * math.log10(1.0 / mse) if mse > 0 else float("inf"))
            with contextlib.suppress(TrainingError):
                win = msssim_window(min(h, w), None)
                msssims.append(float(ms_ssim(x_hat, x, data_range=1.0, win_size=win)))
    finally:
        model.train(was_training)
    mean = (lambda v: sum(v) / len(v) if v else float("nan"))  # noqa: E731
    return {
        "bpp": mean(bpps),
        "psnr": mean(psnrs),
        "ms_ssim": mean(msssims),
        "images": len(images),
    }


# ------------------------------------------------------------------------- checkpoints


def save_checkpoint(payload: Mapping[str, Any], path: Path) -> None:
    """``torch.save`` to memory, then :func:`codeccmp.fileio.atomic_write_bytes` (a
    temporary file beside ``path``, fsync, rename): a reader never sees a half-written
    checkpoint, a crash keeps the previous one, and the file follows the umask."""
    from codeccmp.fileio import atomic_write_bytes

    buf = io.BytesIO()
    torch.save(dict(payload), buf)
    atomic_write_bytes(Path(path), buf.getbuffer())


def load_training_checkpoint(path: Path) -> dict[str, Any]:
    """A ``codeccmp-checkpoint/1`` dict, or :class:`TrainingError`."""
    obj = _read_checkpoint(Path(path))
    if not isinstance(obj, Mapping) or obj.get("format") != FORMAT:
        raise TrainingError(
            f"{path} is not a codeccmp training checkpoint (to start from plain weights "
            "use --init)"
        )
    return dict(obj)


def _rng_state(data_gen: torch.Generator, device: torch.device) -> dict[str, Any]:
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "data": data_gen.get_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: Mapping[str, Any], data_gen: torch.Generator,
                   device: torch.device) -> None:
    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "data" in state:
        data_gen.set_state(state["data"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _version() -> str:
    try:
        from codeccmp import __version__

        return str(__version__)
    except Exception:  # pragma: no cover - the package is always importable in practice
        return "unknown"


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
    metric = _choose(
        "metric", config.metric, implied_metric, ckpt.get("metric") if ckpt else None, "ms-ssim"
    )
    if metric not in METRICS:
        raise TrainingError(f"unknown metric {metric!r}: use ms-ssim or mse")
    lmbda_default = COMPRESSAI_LMBDA[metric].get(config.quality, COMPRESSAI_LMBDA[metric][3])
    lmbda = float(_choose("λ", config.lmbda, None, ckpt.get("lmbda") if ckpt else None,
                          lmbda_default))
    if not lmbda > 0:
        raise TrainingError("--lmbda must be positive")
    seed = int(ckpt.get("train_config", {}).get("seed", config.seed)) if ckpt else config.seed

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
    win = msssim_window(config.crop, config.msssim_win) if metric == "ms-ssim" else MSSSIM_WIN
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

    crops = RandomCrops(split.train, config.crop, data_gen, config.cache_mb * 1024 * 1024)
    val_images = [load_rgb(p) for p in split.val]
    save_every = config.save_every or config.val_every
    train_config = {
        k: (str(v) if isinstance(v, Path) else v)
        for k, v in asdict(config).items()
        if k not in ("resume",)
    }
    train_config.update(seed=seed, msssim_win=win if metric == "ms-ssim" else None)

    def payload(step: int) -> dict[str, Any]:
        model.update(force=True)
        return {
            "format": FORMAT,
            "model": arch,
            "metric": metric,
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
                 + (f", MS-SSIM window {win}" if metric == "ms-ssim" else "")),
    ))
    if not val_images:
        _emit(progress, TrainEvent("info", start_step, config.steps,
                                   message="no held-out images: validation is skipped"))
    if metric == "ms-ssim" and config.init is None and config.resume is None:
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
            dist = distortion(out["x_hat"], x, metric, win)
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
                                       bpp=float(bpp.item()), distortion=float(dist.item())))
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
