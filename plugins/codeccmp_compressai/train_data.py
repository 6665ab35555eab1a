"""Training data for ``codeccmp train``: the image list, the held-out split, random crops.

Everything here imports torch; import this module only when training.
"""

from __future__ import annotations

import random
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import torch
from torch import Tensor

from codeccmp_compressai.losses import TrainingError


class SplitSettings(Protocol):
    """The fields of ``training.TrainConfig`` that the split reads. A protocol rather than
    the config class itself, so this module does not import the training loop that
    imports it (no import cycle between the two)."""

    data: Path
    val: Path | None
    val_fraction: float
    seed: int
    crop: int

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


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


def split_images(config: SplitSettings, seed: int | None = None) -> ImageSplit:
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
        if val:  # what the rest went to: a folder of two gave one to each and named one
            reason.append(f"{len(val)} held out for validation")
        raise TrainingError(
            f"no usable training images in {data}: "
            + ("; ".join(reason) or "all were held out for validation")
            + ("; use a smaller --crop" if small else "")
        )
    return ImageSplit(train, val[: max(0, config.val_max)], small, unreadable)


class RandomCrops:
    """Random ``crop``×``crop`` patches from a list of images, deterministic per generator.

    Decoded images (and, with ``striped``, their crop scores) are kept in memory up to
    ``cache_bytes`` (least recently used dropped first), so a small folder is decoded once
    and a large one streams from disk.

    ``striped`` (``--striped-crops``): the share of crops placed where an image has fine
    stripes rather than uniformly: such a crop's top-left corner is drawn with probability
    proportional to the crop's mean :func:`stripe_strength`. Photographs hold few 2–8 px
    stripes (CBSD68's crops rarely do), so a stripe term sees them in few batches; this aims
    the batches at them. With ``striped=0`` the draws are exactly those of uniform crops.
    """

    def __init__(
        self, files: list[Path], crop: int, generator: torch.Generator, cache_bytes: int,
        striped: float = 0.0,
    ) -> None:
        self.files = files
        self.crop = crop
        self.generator = generator
        self.cache_bytes = cache_bytes
        self.striped = striped
        self._cache: OrderedDict[int, Tensor] = OrderedDict()
        self._cached = 0
        self._scores: dict[int, Tensor | None] = {}

    def _image(self, index: int) -> Tensor:
        img = self._cache.get(index)
        if img is not None:
            self._cache.move_to_end(index)
            return img
        img = load_rgb(self.files[index])
        self._cache[index] = img
        self._cached += img.numel()
        self._evict()
        return img

    def _evict(self) -> None:
        """Drop the least recently used images (and their crop scores) beyond the budget."""
        while self._cached > self.cache_bytes and len(self._cache) > 1:
            index, old = self._cache.popitem(last=False)
            self._cached -= old.numel()
            scores = self._scores.pop(index, None)
            if scores is not None:
                self._cached -= scores.numel() * scores.element_size()

    def _crop_scores(self, index: int, img: Tensor) -> Tensor | None:
        """Every top-left corner's crop mean of :func:`stripe_strength` (flattened), or
        ``None`` where the image has no stripes (its crops are then uniform)."""
        if index not in self._scores:  # kept with the image, within the same budget
            scores = crop_scores(stripe_strength(img), self.crop)
            self._scores[index] = scores
            if scores is not None:
                self._cached += scores.numel() * scores.element_size()
                self._evict()
        return self._scores[index]

    def batch(self, n: int) -> Tensor:
        """``n×3×crop×crop`` float in ``[0, 1]``."""
        g, c = self.generator, self.crop
        picks = torch.randint(len(self.files), (n,), generator=g).tolist()
        out = torch.empty((n, 3, c, c), dtype=torch.float32)
        for i, index in enumerate(picks):
            img = self._image(index)
            scores = None
            if self.striped > 0 and float(torch.rand((), generator=g)) < self.striped:
                scores = self._crop_scores(index, img)
            if scores is not None:
                corner = int(torch.multinomial(scores, 1, generator=g))
                top, left = divmod(corner, img.shape[2] - c + 1)
            else:
                top = int(torch.randint(img.shape[1] - c + 1, (1,), generator=g))
                left = int(torch.randint(img.shape[2] - c + 1, (1,), generator=g))
            out[i] = img[:, top : top + c, left : left + c].float().div_(255.0)
        return out


#: Fine stripes: the luma less its Gaussian blur at this scale (px) keeps periods up to
#: about 2π·2 ≈ 12 px, the detector's range (docs/metrics.md), and drops coarse structure.
STRIPE_BAND_SIGMA = 2.0


def stripe_strength(img: Tensor) -> np.ndarray:
    """Per pixel, the coherence × energy of the fine band's structure tensor where it is
    strongly oriented (coherence > ½, energy > 16 grey levels², the stripe terms'
    thresholds), else 0. ``img``: 3×H×W uint8."""
    from scipy import ndimage

    from codeccmp.stripes.field import orientation_field, to_luma

    luma = to_luma(img.permute(1, 2, 0).numpy())
    band = luma - ndimage.gaussian_filter(luma, STRIPE_BAND_SIGMA, mode="reflect")
    f = orientation_field(band)
    strong = (f.coherence > 0.5) & (f.energy > 16.0)
    return np.where(strong, f.coherence * f.energy, 0.0)


def crop_scores(strength: np.ndarray, crop: int) -> Tensor | None:
    """The mean of ``strength`` over every ``crop``×``crop`` window, by top-left corner
    (row-major, flattened), as weights for :func:`torch.multinomial`; ``None`` when no
    window holds any."""
    s = np.pad(np.cumsum(np.cumsum(strength, axis=0), axis=1), ((1, 0), (1, 0)))
    box = s[crop:, crop:] - s[:-crop, crop:] - s[crop:, :-crop] + s[:-crop, :-crop]
    box = np.maximum(box, 0.0)  # cancellation in the sums must not make a weight negative
    if not box.any():
        return None
    return torch.from_numpy(box.ravel().copy())
