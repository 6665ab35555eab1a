"""Loading and validating input images: every codec sees the same 8-bit pixels."""

from __future__ import annotations

import hashlib
import importlib
import io
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from codeccmp.errors import UsageError

MIN_SIDE = 16


@dataclass(eq=False)  # compared by identity: equality of pixel arrays is not a bool
class SourceImage:
    """An input image reduced to what every codec receives: uint8 L or RGB."""

    pixels: np.ndarray  # (H, W) uint8 or (H, W, 3) uint8
    path: str = ""
    source_mode: str = ""
    source_format: str = ""
    sha256: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_gray(self) -> bool:
        return self.pixels.ndim == 2

    @property
    def num_pixels(self) -> int:
        return self.height * self.width

    def describe(self) -> str:
        kind = "gray" if self.is_gray else "RGB"
        return f"{self.width}×{self.height} {kind}"


def _to_8bit(img: Image.Image, notes: list[str]) -> Image.Image:
    """Reduce any Pillow mode to L or RGB, with a note for every lossy step."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        has_alpha = "transparency" in img.info
        rgb = img.convert("RGBA" if has_alpha else "RGB")
        if has_alpha:
            notes.append("palette transparency dropped")
            rgb = rgb.convert("RGB")
        arr = np.asarray(rgb)
        # A palette of grays is a gray image: code it as one channel.
        if (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all():
            return Image.fromarray(arr[..., 0], "L")
        return rgb
    if mode in ("LA", "La", "PA"):
        notes.append("alpha channel dropped")
        return img.convert("RGB") if mode == "PA" else img.getchannel(0)
    if mode in ("RGBA", "RGBa", "RGBX"):
        if mode != "RGBX":
            notes.append("alpha channel dropped")
        return img.convert("RGB")
    if mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        notes.append(f"{mode} converted to RGB")
        return img.convert("RGB")
    if mode.startswith("I;16") or mode in ("I", "F"):
        arr = np.asarray(img).astype(np.float64)
        if mode.startswith("I;16") or (arr.max() > 255 and arr.max() <= 65535):
            scale = 257.0  # 65535 / 255: the full 16-bit range onto 8 bits
            notes.append("16-bit image reduced to 8 bits")
        else:
            scale = 1.0
            notes.append(f"{mode} image clipped to 8 bits")
        arr8 = np.clip(np.rint(arr / scale), 0, 255).astype(np.uint8)
        return Image.fromarray(arr8, "L")
    notes.append(f"{mode} converted to RGB")
    return img.convert("RGB")


_RAW16 = {"RGB;16B": "RGB;16L", "RGBA;16B": "RGBA;16L"}


def _raw16(tile: tuple) -> bool:
    """A tile (codec, extents, offset, rawmode) decoding 16-bit RGB(A) samples."""
    args = tile[3] if len(tile) > 3 else None
    return isinstance(args, str) and args in _RAW16


def _is_16bit_rgb(img: Image.Image) -> bool:
    return any(_raw16(t) for t in getattr(img, "tile", None) or ())


def _png_16bit_low_bytes(data: bytes, img: Image.Image) -> np.ndarray | None:
    """The low bytes of a 16-bit RGB(A) PNG's samples (uint8, H×W×C); else None.

    Pillow has no 16-bit RGB mode: it decodes such a PNG to 8 bits by keeping each
    sample's high byte. Decoding the same stream a second time with the little-endian
    unpacker yields the low bytes instead (the PNG filtering is identical: both read 48
    or 64 bits per pixel), so Pillow's own decoder gives the whole samples, fast, without
    a second PNG library. Called before ``img.load()``.
    """
    tiles = getattr(img, "tile", None) or []
    if img.format != "PNG" or len(tiles) != 1 or tiles[0][0] != "zip" \
            or not _raw16(tiles[0]):
        return None
    with Image.open(io.BytesIO(data)) as low:
        # A plain tuple before Pillow 11, a named one since: rebuild it either way.
        t = low.tile[0]
        fields = (*t[:3], _RAW16[t[3]], *t[4:])
        low.tile = [fields if type(t) is tuple else type(t)(*fields)]
        low.load()
        return np.asarray(low, dtype=np.uint8)


#: EXIF orientation -> the transpose that displays the image upright: the table of Pillow's
#: ``ImageOps.exif_transpose``, applied here by hand because the conversions to 8 bits
#: above make new images without the EXIF block that function reads.
_ORIENTATIONS = {
    2: (Image.Transpose.FLIP_LEFT_RIGHT, "mirrored left to right"),
    3: (Image.Transpose.ROTATE_180, "rotated 180°"),
    4: (Image.Transpose.FLIP_TOP_BOTTOM, "mirrored top to bottom"),
    5: (Image.Transpose.TRANSPOSE, "mirrored along the main diagonal"),
    6: (Image.Transpose.ROTATE_270, "rotated 90° clockwise"),
    7: (Image.Transpose.TRANSVERSE, "mirrored along the anti-diagonal"),
    8: (Image.Transpose.ROTATE_90, "rotated 90° counter-clockwise"),
}


def _orientation(img: Image.Image) -> int:
    """The EXIF orientation tag (1, upright, when absent or unreadable)."""
    try:
        value = img.getexif().get(0x0112, 1)  # ExifTags.Base.Orientation
    except Exception:  # a damaged EXIF block: the pixels are still good
        return 1
    return value if isinstance(value, int) else 1


#: The Pillow plugins among codeccmp's dependencies that read the formats its own codecs
#: write (HEIF, AVIF where Pillow was built without it, JPEG XL), with the call that
#: registers each (pillow-avif-plugin and pillow-jxl-plugin register on import). Without
#: them a HEIF or JPEG XL file, a source or a decoded image given to ``measure``, was "not
#: an image". Registered only when Pillow alone cannot identify a file, so that a PNG or
#: JPEG source does not pay their imports.
_FORMAT_PLUGINS = {"pillow_heif": "register_heif_opener", "pillow_avif": None,
                   "pillow_jxl": None}
_plugins_registered = False


def _register_format_plugins() -> bool:
    """Register the plugins above (the first call only); whether this call did."""
    global _plugins_registered
    if _plugins_registered:
        return False
    _plugins_registered = True
    for name, register in _FORMAT_PLUGINS.items():
        try:
            module = importlib.import_module(name)
            if register:
                getattr(module, register)()
        except Exception:  # noqa: BLE001, S112 - a missing or broken plugin: that format only
            continue
    return True


def _open(data: bytes) -> Image.Image:
    """Pillow's image for ``data``, with codeccmp's format plugins when Pillow alone does
    not know the format."""
    try:
        return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        if not _register_format_plugins():
            raise
        return Image.open(io.BytesIO(data))


#: The image path that means standard input, as for any Unix filter (``cat a.png | codeccmp
#: compare - --bpp 0.3``); the results record ``-`` as its path and the bytes' sha256.
STDIN = "-"


def _read_stdin() -> bytes:
    if sys.stdin is None or sys.stdin.isatty():
        raise UsageError("image -: standard input is a terminal; pipe an image in "
                         "(… < image.png) or give a file")
    data = sys.stdin.buffer.read()
    if not data:
        raise UsageError("image -: nothing on standard input (it can be read once: give - "
                         "for one image only)")
    return data


def load_image(path: str | Path) -> SourceImage:
    """Open and validate ``path``; raise :class:`UsageError` with one clear line otherwise."""
    p = Path(path)
    if str(path) == STDIN:
        data = _read_stdin()
    else:
        if not p.exists():
            raise UsageError(f"image not found: {p}")
        if p.is_dir():
            raise UsageError(f"expected an image file, got a directory: {p}")
        # Read once: the bytes hashed are the bytes decoded, and decoding from memory leaves
        # no file open behind a failed decode or a multi-frame file (Pillow keeps those open).
        data = p.read_bytes()
    notes: list[str] = []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = _open(data)
            fmt = img.format or ""
            src_mode = img.mode
            low = _png_16bit_low_bytes(data, img)
            img.load()
    except UnidentifiedImageError:
        raise UsageError(f"not an image (or an unsupported format): {p}") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise UsageError(f"cannot read image {p}: {exc}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UsageError(f"image too large: {p}: {exc}") from None
    if getattr(img, "n_frames", 1) > 1:
        notes.append("multi-frame file: first frame used")
    orientation = _orientation(img)
    if low is not None:
        deep = (np.asarray(img, dtype=np.uint16) << 8) | low
        # Rounded like 16-bit gray (v / 257 onto 0..255), not Pillow's truncation (v >> 8).
        img = Image.fromarray(np.clip(np.rint(deep[..., :3] / 257.0), 0, 255).astype(np.uint8),
                              "RGB")
        notes.append("16-bit image reduced to 8 bits")
        if deep.shape[2] == 4:
            notes.append("alpha channel dropped")
    elif _is_16bit_rgb(img):  # a layout _png_16bit_rgb cannot read (interlaced, say)
        notes.append("16-bit image reduced to 8 bits (truncated: its layout could not be "
                     "read at 16 bits)")
    img = _to_8bit(img, notes)
    if orientation in _ORIENTATIONS:
        # Cameras store portraits sideways and set the EXIF tag; every viewer turns them
        # upright, and so does codeccmp: the codecs get the picture the user sees.
        method, words = _ORIENTATIONS[orientation]
        img = img.transpose(method)
        notes.append(f"EXIF orientation {orientation} applied ({words})")
    pixels = np.ascontiguousarray(np.asarray(img, dtype=np.uint8))
    h, w = pixels.shape[:2]
    if h < MIN_SIDE or w < MIN_SIDE:
        raise UsageError(f"image too small: {w}×{h}; codeccmp needs at least {MIN_SIDE}×{MIN_SIDE}")
    return SourceImage(
        pixels=pixels,
        path=str(p),
        source_mode=src_mode,
        source_format=fmt,
        sha256=hashlib.sha256(data).hexdigest(),
        notes=notes,
    )


def from_array(pixels: np.ndarray, name: str = "<array>") -> SourceImage:
    """Wrap an in-memory uint8 array (for the Python API and tests)."""
    arr = np.asarray(pixels)
    if arr.dtype != np.uint8:
        raise UsageError(f"expected uint8 pixels, got {arr.dtype}")
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 3)):
        raise UsageError(f"expected (H, W) or (H, W, 3) pixels, got shape {arr.shape}")
    if min(arr.shape[:2]) < MIN_SIDE:
        raise UsageError(f"image too small: {arr.shape[1]}×{arr.shape[0]}")
    arr = np.ascontiguousarray(arr)
    return SourceImage(
        pixels=arr, path=name, source_mode="L" if arr.ndim == 2 else "RGB",
        sha256=hashlib.sha256(arr.tobytes()).hexdigest(),
    )


def to_rgb(pixels: np.ndarray) -> np.ndarray:
    """Replicate a gray image to three channels (for codecs that only take RGB)."""
    return pixels if pixels.ndim == 3 else np.repeat(pixels[..., None], 3, axis=2)


def to_gray(pixels: np.ndarray) -> np.ndarray:
    """Average three channels back to one, rounding to the nearest 8-bit value.

    In integers: a mean of three integers is never halfway between two, so rounding it is
    (sum + 1) // 3, and the sum fits 16 bits (a float64 mean needed 24 bytes a pixel, 580 MB
    for a 24-megapixel image)."""
    if pixels.ndim == 2:
        return pixels
    total = pixels[..., 0].astype(np.uint16)
    total += pixels[..., 1]
    total += pixels[..., 2]
    total += 1
    total //= 3
    return total.astype(np.uint8)


def save_png(pixels: np.ndarray, path: Path) -> None:
    import io

    from codeccmp.model.fileio import atomic_write_bytes

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())

def pixels_sha256(pixels: np.ndarray) -> str:
    """Hash of the exact pixels (shape and dtype included), the image part of every key."""
    arr = np.ascontiguousarray(pixels)
    h = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(memoryview(arr).cast("B"))
    return h.hexdigest()


def pick_spread(folder: Path, count: int) -> list[Path]:
    """``count`` images spread evenly over the folder's sorted PNGs (kodim01, 04, 07, ...):
    the sample the codec plugins' rate-prior scripts fit their curves on."""
    files = sorted(Path(folder).glob("*.png"))
    if len(files) < count:
        raise SystemExit(f"need {count} PNG images in {folder}, found {len(files)}")
    step = len(files) / count
    return [files[int(i * step)] for i in range(count)]
