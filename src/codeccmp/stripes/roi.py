"""Regions of interest: rectangles given as ``x,y,w,h`` or found by the stripe detector."""

from __future__ import annotations

import re
from dataclasses import dataclass

from codeccmp.errors import UsageError

#: How many stripe regions ``--roi auto`` looks for when not told (``--roi-count``).
DEFAULT_ROI_COUNT = 3

_ROI_RE = re.compile(r"^\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*,\s*(-?\d+)\s*$")


@dataclass(frozen=True)
class Roi:
    """A rectangular region of interest in pixel coordinates (x = column, y = row, top-left)."""

    x: int
    y: int
    w: int
    h: int

    @classmethod
    def parse(cls, text: str) -> Roi:
        """Parse ``"x,y,w,h"`` (as given to ``--roi``); raise UsageError on anything else."""
        m = _ROI_RE.match(text or "")
        if m is None:
            raise UsageError(
                f"bad ROI {text!r}: expected four integers 'x,y,w,h' (e.g. '200,110,80,110')"
            )
        x, y, w, h = (int(g) for g in m.groups())
        if w <= 0 or h <= 0:
            raise UsageError(f"bad ROI {text!r}: width and height must be positive")
        if x < 0 or y < 0:
            raise UsageError(f"bad ROI {text!r}: x and y must not be negative")
        return cls(x, y, w, h)

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices, so ``img[roi.slices]`` is the crop (works for HxW and HxWxC)."""
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    def to_dict(self) -> dict[str, int]:
        return {"x": self.x, "y": self.y, "w": self.w, "h": self.h}

    def __str__(self) -> str:
        return f"{self.x},{self.y},{self.w},{self.h}"

    def clip_check(self, width: int, height: int) -> None:
        """Raise UsageError unless the ROI lies entirely inside a ``width`` x ``height`` image.

        We refuse rather than clip: a silently shrunk ROI would make numbers incomparable.
        """
        if self.x < 0 or self.y < 0 or self.x + self.w > width or self.y + self.h > height:
            raise UsageError(f"ROI {self} (x,y,w,h) lies outside the {width}x{height} image")

    def overlaps(self, other: Roi) -> bool:
        """True if the two rectangles share at least one pixel."""
        return not (
            self.x + self.w <= other.x
            or other.x + other.w <= self.x
            or self.y + self.h <= other.y
            or other.y + other.h <= self.y
        )



def default_roi_size(height: int, width: int) -> int:
    """~min(H, W)/6 rounded to a multiple of 8, clamped to [32, 160] (and to the image)."""
    s = int(round(min(height, width) / 6 / 8)) * 8
    s = max(32, min(160, s))
    return max(1, min(s, height, width))
