"""The metric interface: what a quality-metric plugin provides.

A metric compares an original with a reconstruction (both ``numpy.uint8``, ``(H, W)`` or
``(H, W, 3)``, same shape) and returns one number. The built-in PSNR, SSIM and MS-SSIM enter
through the same hook (``register_metrics``) as any third-party metric, so ``--metrics`` and
``--match`` treat them all alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from codeccmp import installed

if TYPE_CHECKING:  # annotations only (see codeccmp.codec)
    import numpy as np


class MetricUnavailable(RuntimeError):
    """Raised by ``compute`` when the metric cannot run here (its library or weights are
    missing); ``availability()`` should have said so first."""


@dataclass(frozen=True)
class ValueRange:
    """The values a metric can take, so a target outside them (``--match ms-ssim=1.5``) is a
    usage error rather than a search that can only end at the edge. ``None`` = unbounded."""

    low: float | None = None
    high: float | None = None
    low_inclusive: bool = True
    high_inclusive: bool = True

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value < self.low
                                     or (value == self.low and not self.low_inclusive)):
            return False
        return not (self.high is not None
                    and (value > self.high or (value == self.high and not self.high_inclusive)))

    def __str__(self) -> str:
        lo = "(-inf" if self.low is None else "([" [self.low_inclusive] + f"{self.low:g}"
        hi = "inf)" if self.high is None else f"{self.high:g}" + ")]"[self.high_inclusive]
        return f"{lo}, {hi}"


class Metric:
    """Base class of a full-reference quality metric.

    Subclasses set the class attributes and implement :meth:`compute`. Import heavy
    libraries inside ``compute`` (never at module level): ``codeccmp --help`` stays instant.
    """

    #: Unique lowercase name used in ``--metrics`` and ``--match`` (e.g. ``ms-ssim``).
    name: str = ""
    #: One line for ``codeccmp metrics``.
    description: str = ""
    #: ``True`` when a larger value means a better reconstruction (PSNR), ``False`` for a
    #: distance (GMSD, LPIPS, Δθ). ``--match`` and the tables use it.
    higher_is_better: bool = True
    #: Meaningful on a stripe region alone (the directional figures, SSIM-like local
    #: measures), as opposed to needing the whole image (MS-SSIM's 5 scales need ≥ 161 px).
    #: When chosen (``--metrics``, ``--match``), such a metric is also measured on each ROI's
    #: crop: ``rois[i].metrics`` in the JSON, a column of the report's ROI tables.
    per_roi: bool = False
    #: The values the metric can take (MS-SSIM ``(0, 1]``, PSNR ``(0, inf)``); unbounded
    #: by default. ``--match`` refuses a target outside it.
    value_range: ValueRange = ValueRange()
    #: Unit shown in table headers ("dB", "°", or "").
    unit: str = ""
    #: Distribution names whose versions decide the values, for provenance.
    packages: Sequence[str] = ()

    def availability(self) -> str | None:
        """``None`` if usable here, else a one-line reason (package or weights missing)."""
        for p in self.packages:
            if installed.version(p) is None:
                return f"needs the {p} package (pip install 'codeccmp[perceptual]')"
        return None

    def library(self) -> Mapping[str, str]:
        """``{"package": "version"}`` of what computes the value (recorded in results)."""
        out: dict[str, str] = {}
        for p in self.packages:
            out[p] = installed.version(p) or "missing"
        return out

    def compute(self, original: np.ndarray, reconstruction: np.ndarray) -> float | None:
        """The metric's value, or ``None`` when it is undefined for this image (too small
        for its scales). Raise :class:`MetricUnavailable` when it cannot run here."""
        raise NotImplementedError

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is a better reconstruction than ``b``."""
        return a > b if self.higher_is_better else a < b

    def label(self) -> str:
        """Column header: the name, with its unit when it has one."""
        return f"{self.name} {self.unit}" if self.unit else self.name


def compute_metrics(metrics: Sequence[Metric], original: np.ndarray,
                    reconstruction: np.ndarray) -> tuple[dict[str, float | None], list[str]]:
    """Each metric's value on one reconstruction, and notes for those that could not run.

    A metric that fails (missing library, an exception) gives ``None`` and a note; it never
    fails the codec: the reconstruction is still good, only that column is empty.
    """
    values: dict[str, float | None] = {}
    notes: list[str] = []
    for m in metrics:
        try:
            v = m.compute(original, reconstruction)
            values[m.name] = None if v is None else float(v)
            if v is None:
                notes.append(f"{m.name}: undefined for this image (too small)")
        except Exception as exc:  # one metric failing leaves the rest of the row intact
            values[m.name] = None
            notes.append(f"{m.name}: {type(exc).__name__}: {exc}".strip())
    return values, notes
