"""The codec interface every plugin implements, first-party or not.

A codec turns an 8-bit image into bytes and bytes back into an image. Everything the tool
reports (bpp, quality) is derived from those bytes, so the interface is deliberately narrow:
``encode`` returns the exact bitstream, ``decode`` sees nothing but that bitstream.
"""

from __future__ import annotations

import copy
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # annotations only: `import codeccmp` (the plugin API) loads no NumPy
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
            values = list(self.values)
            if len(values) > 2 and all(isinstance(v, int) for v in values) and \
                    values == list(range(values[0], values[-1] + 1)):
                return f"{self.name} ∈ {{{values[0]}, …, {values[-1]}}}"  # a learned ladder
            return f"{self.name} ∈ {{{', '.join(str(v) for v in values)}}}"
        if self.kind == "integer":
            return f"{self.name} {int(self.low)}–{int(self.high)}"
        unit = " bpp" if self.is_bpp else ""
        return f"{self.name} {self.low:g}–{self.high:g}{unit}"


_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


@dataclass(frozen=True)
class OptionSpec:
    """One encoder option a user may set on the command line as ``NAME[KEY=VALUE]``.

    A codec declares its options so that a typo or an out-of-range value is a usage error
    naming the valid ones, before any coding, instead of a library error minutes later;
    and so ``codeccmp codecs`` can list them. ``kind``:

    - ``"int"`` / ``"float"``: a number in ``[low, high]`` (either bound may be ``None``);
    - ``"bool"``: ``1/0``, ``true/false``, ``yes/no``, ``on/off``;
    - ``"choice"``: one of ``choices`` (strings, compared as written).

    ``default`` is what the codec uses when the option is not given; it is documentation
    (the codec applies it), shown by ``codeccmp codecs`` and in docs/codecs.md.
    """

    name: str
    kind: Literal["int", "float", "bool", "choice"]
    default: Any
    help: str = ""
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] = ()

    def parse(self, text: str) -> Any:
        """The typed value of ``text``; ``ValueError`` with a message naming what is valid."""
        t = text.strip()
        if self.kind == "bool":
            if t.lower() in _TRUE:
                return True
            if t.lower() in _FALSE:
                return False
            raise ValueError(f"{self.name} must be true or false, got {text!r}")
        if self.kind == "choice":
            if t in self.choices:
                return t
            raise ValueError(f"{self.name} must be one of {', '.join(self.choices)}, got {text!r}")
        try:
            value: float = int(t) if self.kind == "int" else float(t)
        except ValueError:
            kind = "an integer" if self.kind == "int" else "a number"
            raise ValueError(f"{self.name} must be {kind} ({self.describe()}), "
                             f"got {text!r}") from None
        if not math.isfinite(value) or (self.low is not None and value < self.low) or (
                self.high is not None and value > self.high):
            raise ValueError(f"{self.name} must be {self.describe()}, got {text!r}")
        return value

    def format(self, value: Any) -> str:
        """The canonical text of a value, as labels and cache keys spell it."""
        if self.kind == "bool":
            return "true" if value else "false"
        if self.kind == "float":
            return f"{float(value):g}"
        return str(value)

    def describe(self) -> str:
        """``speed: 0–10`` style range text, without the default."""
        if self.kind == "choice":
            return "|".join(self.choices)
        if self.kind == "bool":
            return "true|false"
        lo = "" if self.low is None else f"{self.low:g}"
        hi = "" if self.high is None else f"{self.high:g}"
        kind = "integer" if self.kind == "int" else "number"
        return f"{kind} {lo}–{hi}" if lo or hi else kind


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
    #: Whether a run without ``--codecs`` includes this codec. Plugins that wrap a format
    #: another codec already covers (an external ``cwebp`` beside Pillow's ``webp``) or that
    #: take minutes register theirs with ``False``: they run when named.
    in_default_set: bool = True
    param_space: ParamSpace
    #: Encoder options a user may set as ``NAME[KEY=VALUE,...]`` (see :class:`OptionSpec`).
    option_specs: tuple[OptionSpec, ...] = ()
    #: The options this instance was made with (only those the user gave), by key.
    options: Mapping[str, Any] = {}

    @property
    def base_name(self) -> str:
        """The registered name, without the ``[KEY=VALUE]`` options of a configured copy."""
        return self.name.split("[", 1)[0]

    def option(self, key: str) -> Any:
        """The value of option ``key``: the user's, else the declared default."""
        if key in self.options:
            return self.options[key]
        for spec in self.option_specs:
            if spec.name == key:
                return spec.default
        raise KeyError(f"{self.name} declares no option {key!r}")

    def with_options(self, options: Mapping[str, Any], label: str) -> Codec:
        """A copy of this codec using ``options`` (already parsed), named ``label``.

        Options are checked against ``option_specs`` by :mod:`codeccmp.model.codecspec`, which
        calls this; a codec reads them back with :meth:`option` when it encodes. The copy is
        shallow: a codec holding per-instance state that options change must override this.
        """
        clone = copy.copy(self)
        clone.options = dict(options)
        clone.name = label
        return clone

    def configure(self, settings: RunSettings) -> None:  # noqa: B027 - optional hook
        """Receive run options (device, weights) before any encode; default: ignore.

        May raise :class:`~codeccmp.errors.UsageError` for settings that are bad input (a
        ``--weights`` file that is not a checkpoint): the CLI configures the codecs given
        weights before any coding, so the user gets one line and exit 2 at once."""

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
        self.option_specs, self.options = inner.option_specs, inner.options
        self.in_default_set = inner.in_default_set

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
