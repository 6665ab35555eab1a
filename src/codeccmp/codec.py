"""The codec interface every plugin implements, first-party or not.

A codec turns an 8-bit image into bytes and bytes back into an image. Everything the tool
reports (bpp, quality) is derived from those bytes, so the interface is deliberately narrow:
``encode`` returns the exact bitstream, ``decode`` sees nothing but that bitstream.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Family = Literal["learned", "traditional"]
Param = int | float


class CodecError(Exception):
    """A codec could not do what was asked; the comparison reports it and moves on."""


class CodecUnavailable(CodecError):
    """The codec cannot run here (missing library, weights or device); reported as skipped."""


@dataclass(frozen=True)
class ParamSpace:
    """The rate parameter a codec exposes, and how it relates to the rate.

    ``kind``:
      - ``"integer"``: every integer in ``[low, high]`` (JPEG quality 1..100);
      - ``"continuous"``: any float in ``[low, high]`` (a requested bpp for JPEG 2000);
      - ``"discrete"``: only the values in ``values`` (the qualities of a learned model).

    ``rate_increases`` says whether a larger parameter gives more bits; the rate search
    relies on that monotonicity. ``is_bpp`` marks parameters that *are* a target rate
    (JPEG 2000's rate control), so the search can start at the target itself.

    ``typical_bpp`` (optional, integer and discrete spaces) is the codec's typical rate
    curve on natural photos: parameter value -> bpp, sparse points allowed (the search
    interpolates log(bpp) linearly in the parameter between them). It changes no bitstream
    and, where the rate is monotone in the parameter, not the value chosen either, only how
    many real encodes the rate search needs: the search shifts this curve to fit the
    image's probes and asks it where the target lies. Given as a mapping
    or as pairs; stored as a sorted tuple of ``(value, bpp)`` pairs so the space stays
    hashable.
    """

    name: str
    kind: Literal["integer", "continuous", "discrete"]
    low: float = 0.0
    high: float = 0.0
    values: tuple[Param, ...] = ()
    rate_increases: bool = True
    is_bpp: bool = False
    typical_bpp: Mapping[Param, float] | tuple[tuple[Param, float], ...] | None = None

    def __post_init__(self) -> None:
        if self.kind == "discrete" and not self.values:
            raise ValueError("a discrete parameter space needs values")
        if self.kind != "discrete" and not self.low < self.high:
            raise ValueError("low must be below high")
        if self.typical_bpp is not None:
            pairs = (self.typical_bpp.items() if isinstance(self.typical_bpp, Mapping)
                     else self.typical_bpp)
            points = tuple(sorted((value, float(bpp)) for value, bpp in pairs))
            if not points or not all(bpp > 0 and math.isfinite(bpp) for _, bpp in points):
                raise ValueError("typical_bpp needs at least one point, all rates positive")
            if len({value for value, _ in points}) != len(points):
                raise ValueError("typical_bpp gives a parameter value twice")
            object.__setattr__(self, "typical_bpp", points)

    def candidates(self) -> list[Param]:
        """All values, in increasing rate order (only for integer and discrete spaces)."""
        if self.kind == "discrete":
            vals: list[Param] = sorted(self.values)
        elif self.kind == "integer":
            vals = list(range(int(self.low), int(self.high) + 1))
        else:
            raise ValueError("a continuous space has no finite candidate list")
        return vals if self.rate_increases else vals[::-1]

    def describe(self) -> str:
        if self.kind == "discrete":
            return f"{self.name} ∈ {{{', '.join(str(v) for v in self.values)}}}"
        if self.kind == "integer":
            return f"{self.name} {int(self.low)}–{int(self.high)}"
        unit = " bpp" if self.is_bpp else ""
        return f"{self.name} {self.low:g}–{self.high:g}{unit}"


@dataclass
class Encoded:
    """One real bitstream and how it was made."""

    data: bytes
    param: Param
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def nbytes(self) -> int:
        return len(self.data)


@dataclass
class RunSettings:
    """Per-run options a codec may need; simple codecs ignore them.

    ``extra`` carries plugin-specific options (for example the learned plugin's weights
    overrides) without widening this type for every plugin.
    """

    device: str = "auto"
    weights: dict[str, str] = field(default_factory=dict)
    weights_dir: str | None = None
    offline: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class Codec(ABC):
    """Base class for all codecs.

    Images are ``numpy.uint8`` arrays, ``(H, W)`` for grayscale or ``(H, W, 3)`` for RGB.
    A codec with ``supports_gray = False`` never sees a 2-D array: the pipeline replicates
    grayscale to three channels and averages the decoded channels back, and says so.
    """

    #: Unique, lowercase, shell-friendly name (``jpeg``, ``bmshj2018-factorized``).
    name: str = ""
    family: Family = "traditional"
    #: One line for ``codeccmp codecs``.
    description: str = ""
    #: File extension for the bitstream when saved with ``--out`` (no dot).
    extension: str = "bin"
    supports_gray: bool = True
    param_space: ParamSpace

    def configure(self, settings: RunSettings) -> None:  # noqa: B027 - optional hook
        """Receive run options (device, weights) before any encode; default: ignore."""

    def availability(self) -> str | None:
        """``None`` when usable here, else a one-line reason (shown by ``codeccmp codecs``)."""
        return None

    def warm_up(self) -> None:  # noqa: B027 - optional hook
        """Import now what ``encode`` and ``decode`` will import (default: nothing).

        The pipeline calls it on a background thread, for the codecs that are available,
        while other codecs run: a learned codec's imports (torch, compressai) take seconds
        that would otherwise sit on the critical path. It runs concurrently with other
        codecs' ``encode``: do imports and nothing that changes state ``encode`` reads.
        Failures are ignored here; the same import fails again, and is reported, in
        ``encode``.
        """

    def library(self) -> dict[str, str]:
        """Name and version of what does the coding, recorded for provenance."""
        return {}

    def device(self) -> str:
        """Where the coding runs; traditional codecs run on the CPU."""
        return "cpu"

    def cache_token(self) -> object:
        """Anything else that changes this codec's bitstreams, for the sweep's result cache.

        Name, class, library versions, parameter space, device and weights files are already
        part of the cache key; return JSON-able data for anything beyond them (a model file
        the codec finds by itself, an environment variable it reads), or ``None``.
        """
        return None

    @abstractmethod
    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        """Encode ``image`` at rate parameter ``param`` and return the exact bytes."""

    @abstractmethod
    def decode(self, data: bytes) -> np.ndarray:
        """Decode from ``data`` alone (a fresh decoder, no state from ``encode``)."""

    def match_rate(
        self, image: np.ndarray, target_bpp: float
    ) -> Sequence[Encoded] | None:
        """Optionally propose encodings near ``target_bpp`` more cheaply than a blind search.

        Return the real encodings tried (the rate search keeps the closest), or ``None`` to
        use the generic bisection. Learned codecs use this to rank qualities by their
        forward-pass likelihoods and entropy-code only the closest ones.
        """
        return None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class WrappedCodec(Codec):
    """A codec that forwards everything to ``inner``; subclasses override what they change.

    The sweep wraps codecs to add a cache or to pin a parameter; forwarding in one place
    keeps such wrappers from silently dropping a hook the wrapped codec implements.
    """

    def __init__(self, inner: Codec) -> None:
        self.inner = inner
        self.name, self.family, self.description = inner.name, inner.family, inner.description
        self.extension, self.supports_gray = inner.extension, inner.supports_gray

    @property
    def param_space(self) -> ParamSpace:  # type: ignore[override]
        return self.inner.param_space

    def configure(self, settings: RunSettings) -> None:
        self.inner.configure(settings)

    def availability(self) -> str | None:
        return self.inner.availability()

    def warm_up(self) -> None:
        self.inner.warm_up()

    def library(self) -> dict[str, str]:
        return self.inner.library()

    def device(self) -> str:
        return self.inner.device()

    def cache_token(self) -> object:
        return self.inner.cache_token()

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        return self.inner.encode(image, param)

    def decode(self, data: bytes) -> np.ndarray:
        return self.inner.decode(data)

    def match_rate(self, image: np.ndarray, target_bpp: float) -> Sequence[Encoded] | None:
        return self.inner.match_rate(image, target_bpp)
