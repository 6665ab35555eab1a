"""The image files an external tool reads and writes: PNG, PPM, raw YUV and Y4M, 8-bit.

Raw YUV and Y4M need a colour conversion, which codeccmp does itself (both ways) so that
the comparison does not depend on each tool's defaults: ``bt601``/``bt709`` matrices, full
range (0-255 for every component, as CompressAI's benchmark feeds VTM, HM and AV1) or limited
range (Y 16-235, Cb/Cr 16-240). 4:2:0 chroma is the 2x2 box average (centre siting, as in
JPEG and Y4M's ``C420jpeg``) and is brought back by bilinear interpolation (Pillow's
resampling of float images).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from codeccmp.codec import CodecError
from codeccmp_external.formats import RAW

_KR_KB = {"bt601": (0.299, 0.114), "bt709": (0.2126, 0.0722)}
_Y4M_420 = ("420jpeg", "420", "420mpeg2", "420paldv")


def _matrix(color: str) -> np.ndarray:
    kr, kb = _KR_KB[color.split("-")[0]]
    kg = 1.0 - kr - kb
    return np.array([[kr, kg, kb],
                     [-0.5 * kr / (1 - kb), -0.5 * kg / (1 - kb), 0.5],
                     [0.5, -0.5 * kg / (1 - kr), -0.5 * kb / (1 - kr)]])


def _scale(color: str) -> tuple[np.ndarray, np.ndarray]:
    """Per-component gain and offset from (Y in 0..255, C in -127.5..127.5) to code values."""
    if color.endswith("limited"):
        return np.array([219 / 255, 224 / 255, 224 / 255]), np.array([16.0, 128.0, 128.0])
    return np.ones(3), np.array([0.0, 128.0, 128.0])


def rgb_to_ycbcr(rgb: np.ndarray, color: str) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB to float YCbCr code values (not rounded)."""
    gain, offset = _scale(color)
    return rgb.astype(np.float64) @ _matrix(color).T * gain + offset


def ycbcr_to_rgb(ycc: np.ndarray, color: str) -> np.ndarray:
    gain, offset = _scale(color)
    rgb = ((ycc.astype(np.float64) - offset) / gain) @ np.linalg.inv(_matrix(color)).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def _halve(plane: np.ndarray) -> np.ndarray:
    """2x2 means; an odd last row or column is repeated first (so every box is whole)."""
    h, w = plane.shape
    p = np.pad(plane, ((0, h % 2), (0, w % 2)), mode="edge")
    return 0.25 * (p[0::2, 0::2] + p[1::2, 0::2] + p[0::2, 1::2] + p[1::2, 1::2])


def _double(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear, centre-sited, to twice the size, then cropped to ``width`` x ``height``."""
    img = Image.fromarray(plane.astype(np.float32), "F")
    up = img.resize((2 * plane.shape[1], 2 * plane.shape[0]), Image.Resampling.BILINEAR)
    return np.asarray(up, dtype=np.float64)[:height, :width]


def to_planes(rgb: np.ndarray, subsampled: bool, color: str) -> list[np.ndarray]:
    """Y, Cb, Cr uint8 planes (chroma halved, rounded up, when ``subsampled``)."""
    ycc = rgb_to_ycbcr(rgb, color)
    planes = [ycc[..., 0]]
    for c in (1, 2):
        plane = ycc[..., c]
        planes.append(_halve(plane) if subsampled else plane)
    return [np.clip(np.rint(p), 0, 255).astype(np.uint8) for p in planes]


def from_planes(planes: list[np.ndarray], width: int, height: int, color: str) -> np.ndarray:
    full = [planes[0].astype(np.float64)]
    for p in planes[1:]:
        full.append(p.astype(np.float64) if p.shape == (height, width)
                    else _double(p, width, height))
    return ycbcr_to_rgb(np.stack(full, axis=-1), color)


def _plane_sizes(width: int, height: int, subsampled: bool) -> list[tuple[int, int]]:
    cw, ch = ((width + 1) // 2, (height + 1) // 2) if subsampled else (width, height)
    return [(height, width), (ch, cw), (ch, cw)]


def _split(raw: bytes, width: int, height: int, subsampled: bool, what: str) -> list[np.ndarray]:
    sizes = _plane_sizes(width, height, subsampled)
    need = sum(h * w for h, w in sizes)
    if len(raw) < need:
        raise CodecError(f"{what}: {len(raw)} bytes, a {width}x{height} frame needs {need}")
    planes, at = [], 0
    for h, w in sizes:
        planes.append(np.frombuffer(raw, np.uint8, h * w, at).reshape(h, w))
        at += h * w
    return planes


def write_image(path: Path, pixels: np.ndarray, fmt: str, color: str) -> None:
    """Write ``pixels`` (uint8, gray or RGB) as ``fmt`` for an encoder to read."""
    if fmt in ("png", "ppm"):
        mode = "L" if pixels.ndim == 2 else "RGB"
        # A temporary file read once: fast zlib, not small files.
        opts = {"compress_level": 1} if fmt == "png" else {}
        Image.fromarray(pixels, mode).save(path, format=fmt.upper(), **opts)
        return
    subsampled = fmt.endswith("420")
    h, w = pixels.shape[:2]
    data = b"".join(p.tobytes() for p in to_planes(pixels, subsampled, color))
    if fmt.startswith("y4m"):
        chroma = "C420jpeg" if subsampled else "C444"
        rng = "XCOLORRANGE=LIMITED" if color.endswith("limited") else "XCOLORRANGE=FULL"
        data = f"YUV4MPEG2 W{w} H{h} F1:1 Ip A1:1 {chroma} {rng}\nFRAME\n".encode() + data
    path.write_bytes(data)


def read_image(path: Path, fmt: str, color: str,
               size: tuple[int, int] | None = None) -> np.ndarray:
    """Read a decoder's output; raw YUV needs ``size`` (width, height), the others carry it."""
    raw = path.read_bytes()
    if fmt in ("png", "ppm"):
        try:
            with Image.open(io.BytesIO(raw)) as img:
                img.load()
                if img.mode.startswith("I"):  # 16-bit gray: scale, don't clip, to 8 bits
                    wide = np.asarray(img).astype(np.int64)
                    return np.clip((wide + 128) // 257, 0, 255).astype(np.uint8)
                if img.mode not in ("L", "RGB"):
                    img = img.convert("L" if img.mode == "LA" else "RGB")
                return np.asarray(img, dtype=np.uint8).copy()
        except OSError as exc:
            raise CodecError(f"decoded file is not a readable {fmt.upper()}: {exc}") from exc
    if fmt in RAW:
        assert size is not None
        planes = _split(raw, *size, fmt.endswith("420"), "decoded YUV")
        return from_planes(planes, *size, color)
    return _read_y4m(raw, color)


def _read_y4m(raw: bytes, color: str) -> np.ndarray:
    head, sep, rest = raw.partition(b"\n")
    tokens = head.decode("ascii", "replace").split()
    if not sep or not tokens or tokens[0] != "YUV4MPEG2":
        raise CodecError("decoded file is not a Y4M (YUV4MPEG2) stream")
    fields = {t[0]: t[1:] for t in tokens[1:] if t}
    try:
        width, height = int(fields["W"]), int(fields["H"])
    except (KeyError, ValueError):
        raise CodecError(f"Y4M header without a size: {head[:80]!r}") from None
    chroma = fields.get("C", "420jpeg")
    if chroma not in ("444", *_Y4M_420):
        raise CodecError(f"Y4M chroma format C{chroma} is not supported (8-bit 444 or 420 only)")
    frame, sep, data = rest.partition(b"\n")
    if not sep or not frame.startswith(b"FRAME"):
        raise CodecError("Y4M stream has no frame")
    planes = _split(data, width, height, chroma != "444", "decoded Y4M frame")
    return from_planes(planes, width, height, color)
