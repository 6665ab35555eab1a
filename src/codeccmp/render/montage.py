"""ROI montages: the stripes of every codec side by side, enlarged so they stay visible.

One row per ROI: the original crop first, then each codec's crop, each enlarged by an integer
factor with nearest-neighbour (any smoothing filter would blur the very stripes we want to
show, and a non-integer factor would make some stripes wider than others). Every tile carries
its caption in a strip below it (the caller supplies the text: codec, bpp, MS-SSIM, Δθ), so a
tile stays self-explanatory when cropped out of the montage. An overview of the whole image
with the ROIs outlined and numbered sits on the left.

Only Pillow and numpy are used; the module is imported lazily by the report writer.
"""

from __future__ import annotations

import functools
import importlib.util
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from codeccmp.stripes import Roi

__all__ = ["MontageColumn", "MontageLayout", "auto_scale", "layout_montage", "make_montage"]

#: Tiles aim at about this many pixels on their longer side (200-300 px reads well in a report).
TARGET_TILE_PX = 256
PAD = 8  # px between cells and around the canvas
CAPTION_SIZE = 14
TITLE_SIZE = 16
LINE_GAP = 3
OVERVIEW_W = 320
BACKGROUND = (255, 255, 255)
TEXT = (20, 20, 20)
ROI_COLOUR = (255, 215, 0)  # yellow with a black rim reads on light and dark images alike


@dataclass
class MontageColumn:
    """One codec: its decoded image (same size as the original) and one caption per ROI."""

    label: str
    image: np.ndarray
    captions_per_roi: list[str]


@dataclass(frozen=True)
class MontageLayout:
    """Where everything goes; computed before drawing so tests can check the geometry.

    ``tiles[(row, col)]`` is the ``(x, y, w, h)`` box of an enlarged crop on the canvas;
    column 0 is the original. ``scales[row]`` is that row's enlargement factor.
    """

    width: int
    height: int
    overview: tuple[int, int, int, int]
    tiles: dict[tuple[int, int], tuple[int, int, int, int]]
    scales: list[int]
    caption_h: list[int]
    col_x: list[int]
    col_w: list[int]


def auto_scale(roi: Roi, target: int = TARGET_TILE_PX) -> int:
    """Integer enlargement bringing the ROI's longer side closest to ``target`` px (>= 1)."""
    return max(1, round(target / max(roi.w, roi.h)))


#: Characters captions use that Pillow's bundled default font (Aileron) has no glyph for, with
#: ASCII stand-ins used only when no DejaVu font is found.
_ASCII_FALLBACK = {
    "Δθ": "dtheta",
    "Δ": "d",
    "θ": "theta",
    "×": "x",
    "σ": "sigma",
    "λ": "lambda",
    "·": "-",
    "≤": "<=",
    "≥": ">=",
}


@functools.lru_cache(maxsize=1)
def _font_file() -> str | None:
    """A TrueType font with Greek and math glyphs (Δθ, σ, ×): DejaVu Sans.

    matplotlib (a dependency) ships it, so it is always there in a normal install; a system
    copy is the second choice. None means "use Pillow's default" (and ASCII stand-ins).
    """
    candidates: list[Path] = []
    spec = importlib.util.find_spec("matplotlib")
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            candidates.append(Path(loc) / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf")
    candidates += [
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/dejavu/DejaVuSans.ttf"),
        Path("/Library/Fonts/DejaVuSans.ttf"),
    ]
    for c in candidates:
        if c.is_file():
            return str(c)
    return None


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    path = _font_file()
    if path is not None:
        try:
            return ImageFont.truetype(path, size)
        except OSError:
            pass
    # Pillow >= 10.1 ships a TrueType default font (Aileron) when FreeType is available.
    return ImageFont.load_default(size=size)


def _glyph_safe(text: str) -> str:
    if _font_file() is not None:
        return text
    for k, v in _ASCII_FALLBACK.items():
        text = text.replace(k, v)
    return text


def _line_h(font: ImageFont.FreeTypeFont | ImageFont.ImageFont) -> int:
    bbox = font.getbbox("Ag|Δθ")
    return int(bbox[3]) + LINE_GAP


def _wrap(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: int) -> list[str]:
    """Split on newlines, then wrap each line on spaces to fit ``width`` px."""
    out: list[str] = []
    for para in text.split("\n"):
        words = para.split(" ")
        line = ""
        for word in words:
            trial = word if not line else f"{line} {word}"
            if line and font.getlength(trial) > width:
                out.append(line)
                line = word
            else:
                line = trial
        out.append(line)
    return out


def _to_rgb(img: np.ndarray, what: str) -> np.ndarray:
    a = np.asarray(img)
    if a.dtype != np.uint8:
        raise ValueError(f"{what}: expected an 8-bit image (uint8), got {a.dtype}")
    if a.ndim == 2:
        return np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim == 3 and a.shape[2] == 1:
        return np.repeat(a, 3, axis=2)
    if a.ndim == 3 and a.shape[2] in (3, 4):
        return a[:, :, :3]
    raise ValueError(f"{what}: expected HxW or HxWx3, got shape {a.shape}")


def _captions(rows: Sequence[Roi], columns: Sequence[MontageColumn]) -> list[list[str]]:
    """Caption text per (row, col): column 0 describes the ROI, the others are the caller's."""
    out: list[list[str]] = []
    for i, roi in enumerate(rows):
        row = [f"original · ROI {i + 1}\n{roi.x},{roi.y}  {roi.w}×{roi.h} px"]
        row += [f"{c.label}\n{c.captions_per_roi[i]}" for c in columns]
        out.append([_glyph_safe(t) for t in row])
    return out


def layout_montage(
    original_shape: tuple[int, ...],
    rows: Sequence[Roi],
    columns: Sequence[MontageColumn],
    scale: int | None = None,
) -> MontageLayout:
    """Compute the montage geometry (see ``MontageLayout``) without drawing anything."""
    h, w = original_shape[:2]
    font = _font(CAPTION_SIZE)
    title = _font(TITLE_SIZE)
    scales = [int(scale) if scale else auto_scale(r) for r in rows]
    ncols = 1 + len(columns)
    col_w = [0] * ncols
    for r, s in zip(rows, scales, strict=True):
        for c in range(ncols):
            col_w[c] = max(col_w[c], r.w * s)
    col_w = [max(cw, 160) for cw in col_w]  # room for a caption even on a tiny ROI
    caps = _captions(rows, columns)
    line_h = _line_h(font)
    caption_h = [
        max(len(_wrap(t, font, col_w[c])) for c, t in enumerate(row)) * line_h + 2 * LINE_GAP
        for row in caps
    ]

    ov_w = min(OVERVIEW_W, w)
    ov_h = max(1, round(h * ov_w / w))
    ov_box = (PAD, PAD + _line_h(title), ov_w, ov_h)
    left = PAD + ov_w + 2 * PAD
    col_x = [left + sum(col_w[:c]) + PAD * c for c in range(ncols)]
    tiles: dict[tuple[int, int], tuple[int, int, int, int]] = {}
    y = PAD
    for i, (r, s) in enumerate(zip(rows, scales, strict=True)):
        for c in range(ncols):
            tw, th = r.w * s, r.h * s
            tiles[(i, c)] = (col_x[c] + (col_w[c] - tw) // 2, y, tw, th)
        y += r.h * s + caption_h[i] + PAD
    width = col_x[-1] + col_w[-1] + PAD
    height = max(y, ov_box[1] + ov_h + PAD + 2 * line_h + PAD)
    return MontageLayout(width, height, ov_box, tiles, scales, caption_h, col_x, col_w)


def _draw_overview(
    canvas: Image.Image, original: np.ndarray, rows: Sequence[Roi], box: tuple[int, int, int, int]
) -> None:
    x0, y0, ow, oh = box
    h, w = original.shape[:2]
    thumb = Image.fromarray(original).resize((ow, oh), Image.Resampling.LANCZOS)
    canvas.paste(thumb, (x0, y0))
    d = ImageDraw.Draw(canvas)
    title = _font(TITLE_SIZE)
    d.text((x0, PAD), _glyph_safe(f"{w}×{h}, ROIs numbered"), font=title, fill=TEXT)
    sx, sy = ow / w, oh / h
    font = _font(CAPTION_SIZE)
    for i, r in enumerate(rows):
        bx0, by0 = x0 + round(r.x * sx), y0 + round(r.y * sy)
        bx1, by1 = x0 + round((r.x + r.w) * sx) - 1, y0 + round((r.y + r.h) * sy) - 1
        d.rectangle([bx0 - 1, by0 - 1, bx1 + 1, by1 + 1], outline=(0, 0, 0), width=4)
        d.rectangle([bx0, by0, bx1, by1], outline=ROI_COLOUR, width=2)
        label = str(i + 1)
        lb = d.textbbox((0, 0), label, font=font)
        lw, lh = lb[2] - lb[0] + 6, lb[3] - lb[1] + 6
        # Badge just inside the top-left corner, kept on the thumbnail.
        tx = min(max(bx0 + 2, x0), x0 + ow - lw)
        ty = min(max(by0 + 2, y0), y0 + oh - lh)
        d.rectangle([tx, ty, tx + lw, ty + lh], fill=(0, 0, 0))
        d.text((tx + 3 - lb[0], ty + 3 - lb[1]), label, font=font, fill=ROI_COLOUR)


def make_montage(
    original: np.ndarray,
    rows: list[Roi],
    tiles: list[MontageColumn],
    out_path: str | os.PathLike[str],
    scale: int | None = None,
) -> Path:
    """Draw the ROI montage and write it atomically to ``out_path``; returns the path.

    ``rows``: the ROIs (one montage row each). ``tiles``: one ``MontageColumn`` per codec, with
    an image the size of ``original`` and one caption per ROI. ``scale``: a fixed integer
    enlargement for every row; by default each row gets ``auto_scale`` (tiles ~256 px).
    Gray (HxW) and RGB images may be mixed; the canvas is RGB. The format follows the suffix
    (PNG unless Pillow knows the suffix).
    """
    orig = _to_rgb(original, "original")
    h, w = orig.shape[:2]
    if not rows:
        raise ValueError("a montage needs at least one ROI")
    if scale is not None and int(scale) < 1:
        raise ValueError(f"scale must be a positive integer, got {scale!r}")
    for r in rows:
        r.clip_check(w, h)
    images = []
    for col in tiles:
        img = _to_rgb(col.image, col.label)
        if img.shape[:2] != (h, w):
            raise ValueError(
                f"{col.label}: image is {img.shape[1]}×{img.shape[0]}, original is {w}×{h}"
            )
        if len(col.captions_per_roi) != len(rows):
            raise ValueError(
                f"{col.label}: {len(col.captions_per_roi)} captions for {len(rows)} ROIs"
            )
        images.append(img)

    lay = layout_montage(orig.shape, rows, tiles, scale)
    canvas = Image.new("RGB", (lay.width, lay.height), BACKGROUND)
    _draw_overview(canvas, orig, rows, lay.overview)
    d = ImageDraw.Draw(canvas)
    font = _font(CAPTION_SIZE)
    line_h = _line_h(font)
    caps = _captions(rows, tiles)
    sources = [orig, *images]
    for i, r in enumerate(rows):
        s = lay.scales[i]
        for c, src in enumerate(sources):
            x, y, tw, th = lay.tiles[(i, c)]
            crop = src[r.slices]
            big = np.repeat(np.repeat(crop, s, axis=0), s, axis=1)  # exact nearest-neighbour
            canvas.paste(Image.fromarray(np.ascontiguousarray(big)), (x, y))
            ty = y + th + LINE_GAP
            for k, line in enumerate(_wrap(caps[i][c], font, lay.col_w[c])):
                # First line (what the tile is) in full black, the figures in dark grey.
                fill = TEXT if k == 0 else (60, 60, 60)
                d.text((lay.col_x[c], ty + k * line_h), line, font=font, fill=fill)
    ov = lay.overview
    scale_note = ", ".join(f"ROI {i + 1} ×{s}" for i, s in enumerate(lay.scales))
    note = _glyph_safe(f"nearest-neighbour enlargement: {scale_note}")
    note_lines = _wrap(note, font, ov[2])
    for k, line in enumerate(note_lines[:2]):
        d.text((ov[0], ov[1] + ov[3] + PAD + k * line_h), line, font=font, fill=(90, 90, 90))
    return _save_atomic(canvas, Path(out_path))


def _save_atomic(img: Image.Image, path: Path) -> Path:
    """Encode in memory, then write whole (see :func:`codeccmp.model.fileio.atomic_write_bytes`):
    a reader (a browser showing the report, a concurrent run) never sees a half-written file,
    and a staged run (:class:`codeccmp.model.fileio.Outputs`) writes it with its other outputs."""
    import io

    from codeccmp.model.fileio import atomic_write_bytes

    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return atomic_write_bytes(path, buf.getbuffer())
