"""The ``Roi`` rectangle and the detector's default window size, against answers worked out by
hand: ``--roi`` parsing at each limit (0 accepted, -1 and a zero side refused) with the exact
one-line message the user sees, ``clip_check`` on every side, ``overlaps`` for rectangles that
touch (no shared pixel) or share exactly one row/column, and ``default_roi_size`` at its
rounding and clamps. Written against surviving mutants of codeccmp/stripes/roi.py
(benchmarks/mutation/run.py)."""

from __future__ import annotations

import pytest

from codeccmp.errors import UsageError
from codeccmp.stripes import Roi, default_roi_size

EXAMPLE = "(e.g. '200,110,80,110')"


def _message(text: str) -> str:
    with pytest.raises(UsageError) as ei:
        Roi.parse(text)
    return str(ei.value)


def test_parse_accepts_zero_origin_and_one_pixel_sides() -> None:
    # x = y = 0 is the top-left pixel, w = h = 1 a single pixel: both are valid ROIs.
    assert Roi.parse("0,0,1,1") == Roi(0, 0, 1, 1)
    assert Roi.parse("0,7,2,3") == Roi(0, 7, 2, 3)
    assert Roi.parse("7,0,2,3") == Roi(7, 0, 2, 3)
    assert Roi.parse("\t5,6,7,8 ") == Roi(5, 6, 7, 8)


@pytest.mark.parametrize("text", ["1,2,0,4", "1,2,3,0", "1,2,-3,4", "1,2,3,-4"])
def test_parse_refuses_a_side_that_is_not_positive(text: str) -> None:
    assert _message(text) == f"bad ROI {text!r}: width and height must be positive"


@pytest.mark.parametrize("text", ["-1,2,3,4", "1,-2,3,4", "-1,-2,3,4"])
def test_parse_refuses_a_negative_origin(text: str) -> None:
    assert _message(text) == f"bad ROI {text!r}: x and y must not be negative"


@pytest.mark.parametrize("text", ["", "1,2,3", "1;2;3;4", "1,2,3,4,5", "x,2,3,4"])
def test_parse_refuses_what_is_not_four_integers(text: str) -> None:
    want = f"bad ROI {text!r}: expected four integers 'x,y,w,h' {EXAMPLE}"
    assert _message(text) == want


def test_clip_check_message_names_the_roi_and_the_image() -> None:
    with pytest.raises(UsageError) as ei:
        Roi(390, 0, 20, 10).clip_check(400, 300)
    assert str(ei.value) == "ROI 390,0,20,10 (x,y,w,h) lies outside the 400x300 image"


@pytest.mark.parametrize("roi", [Roi(-1, 0, 5, 5), Roi(0, -1, 5, 5), Roi(-3, -3, 4, 4)])
def test_clip_check_refuses_a_negative_origin(roi: Roi) -> None:
    # A Roi built directly (not parsed) can start left of or above the image even though its
    # far edge is inside: only the x < 0 / y < 0 tests catch it.
    with pytest.raises(UsageError, match=r"lies outside the 10x10 image"):
        roi.clip_check(10, 10)


def test_clip_check_accepts_every_roi_that_fits_exactly() -> None:
    for roi in (Roi(0, 0, 10, 8), Roi(9, 7, 1, 1), Roi(0, 7, 10, 1), Roi(9, 0, 1, 8)):
        roi.clip_check(10, 8)  # the last column is 9, the last row 7: no error
    for roi in (Roi(10, 0, 1, 1), Roi(0, 8, 1, 1), Roi(1, 0, 10, 1), Roi(0, 1, 1, 8)):
        with pytest.raises(UsageError):
            roi.clip_check(10, 8)


A = Roi(10, 10, 10, 10)  # columns 10-19, rows 10-19


@pytest.mark.parametrize(
    ("other", "want"),
    [
        (Roi(20, 10, 5, 5), False),  # starts at column 20: touches A's right edge only
        (Roi(19, 10, 5, 5), True),  # shares column 19
        (Roi(5, 10, 5, 5), False),  # columns 5-9: touches A's left edge
        (Roi(5, 10, 6, 5), True),  # columns 5-10: shares column 10
        (Roi(10, 20, 5, 5), False),  # below, touching
        (Roi(10, 19, 5, 5), True),  # shares row 19
        (Roi(10, 5, 5, 5), False),  # above, touching
        (Roi(10, 5, 5, 6), True),  # shares row 10
        (Roi(12, 12, 2, 2), True),  # inside
        (Roi(0, 0, 40, 40), True),  # around
        (Roi(30, 12, 2, 2), False),  # rows overlap, columns do not
        (Roi(12, 30, 2, 2), False),  # columns overlap, rows do not
        (Roi(20, 20, 3, 3), False),  # diagonal corner, touching
        (Roi(19, 19, 3, 3), True),  # shares the corner pixel (19, 19)
    ],
)
def test_overlaps_means_a_shared_pixel(other: Roi, want: bool) -> None:
    assert A.overlaps(other) is want
    assert other.overlaps(A) is want  # symmetric


@pytest.mark.parametrize(
    ("h", "w", "want"),
    [
        (512, 768, 88),  # 512 / 48 = 10.67 -> 11 tiles of 8
        (768, 512, 88),  # the smaller side, whichever it is
        (330, 1000, 56),  # 6.875 -> 7 (rounded, not truncated)
        (300, 1000, 48),  # 6.25 -> 6
        (100, 100, 32),  # 16 -> at least 32
        (192, 192, 32),  # exactly 32
        (960, 2000, 160),  # exactly 160
        (1000, 2000, 160),  # 168 -> at most 160
        (4000, 3000, 160),
        (20, 50, 20),  # 32 does not fit: the image's side
        (50, 20, 20),
        (1, 1, 1),
    ],
)
def test_default_roi_size(h: int, w: int, want: int) -> None:
    assert default_roi_size(h, w) == want
