"""The learned codecs' container: a few header bytes, then the entropy-coded strings.

Every byte here counts toward the reported bpp, so the header holds only what a decoder
cannot know otherwise (docs/models.md, "Bitstream format")::

    magic      2 bytes   b"LC"
    version    1 byte    FORMAT_VERSION
    model id   1 byte    zoo.Arch.model_id
    flags      1 byte    bit 0: metric is ms-ssim (else mse)
                         bit 1: latent shape stored explicitly (not H/f x W/f of the padded size)
                         bit 2: strings are flat (bytes per latent, not a one-item list)
                         bit 3: source image was grayscale (decoder averages the channels back)
                         bits 4-7: reserved, must be 0
    quality    varint
    height     varint    original image size, before padding
    width      varint
    [shape]    varint count, then one varint per dimension   (only if flag bit 1)
    n strings  varint
    strings    n x (varint length, bytes)

Varints are unsigned LEB128 (7 bits per byte, high bit = more). Nothing may follow the last
string. For a 720x576 image this header is 12-14 bytes (about 0.0003 bpp).
"""

from __future__ import annotations

from dataclasses import dataclass

from codeccmp.codec import CodecError

MAGIC = b"LC"
FORMAT_VERSION = 1

_F_MSSSIM = 0x01
_F_SHAPE = 0x02
_F_FLAT = 0x04
_F_GRAY = 0x08
_F_RESERVED = 0xF0


@dataclass(frozen=True)
class Header:
    """The decoded header fields (everything but the strings)."""

    model_id: int
    metric: str
    quality: int
    height: int
    width: int
    #: Latent shape when it is not derivable from the padded size; None when it is.
    shape: tuple[int, ...] | None = None
    gray: bool = False
    flat: bool = False


def write_varint(value: int, out: bytearray) -> None:
    if value < 0:
        raise ValueError("varints are unsigned")
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """Return (value, next position); truncated or absurd varints are a CodecError."""
    value = 0
    shift = 0
    while True:
        if pos >= len(data):
            raise CodecError("corrupt learned bitstream: truncated (in a length field)")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7
        if shift > 63:
            raise CodecError("corrupt learned bitstream: length field too long")


def pack(header: Header, strings: list[bytes]) -> bytes:
    """Serialise the header and the entropy-coded strings (one per latent)."""
    if not 0 < header.model_id < 256:
        raise ValueError(f"model id {header.model_id} out of range")
    if header.metric not in ("ms-ssim", "mse"):
        raise ValueError(f"unknown metric {header.metric!r}")
    flags = 0
    if header.metric == "ms-ssim":
        flags |= _F_MSSSIM
    if header.shape is not None:
        flags |= _F_SHAPE
    if header.flat:
        flags |= _F_FLAT
    if header.gray:
        flags |= _F_GRAY
    out = bytearray(MAGIC)
    out.append(FORMAT_VERSION)
    out.append(header.model_id)
    out.append(flags)
    write_varint(header.quality, out)
    write_varint(header.height, out)
    write_varint(header.width, out)
    if header.shape is not None:
        write_varint(len(header.shape), out)
        for d in header.shape:
            write_varint(int(d), out)
    write_varint(len(strings), out)
    for s in strings:
        write_varint(len(s), out)
        out += s
    return bytes(out)


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Parse a bitstream; bad magic, unknown versions, truncation or trailing bytes raise."""
    if len(data) < 5:
        raise CodecError(f"corrupt learned bitstream: only {len(data)} bytes")
    if data[:2] != MAGIC:
        raise CodecError("not a codeccmp learned bitstream (bad magic)")
    if data[2] != FORMAT_VERSION:
        raise CodecError(
            f"learned bitstream format version {data[2]} is not supported "
            f"(this codeccmp reads version {FORMAT_VERSION})"
        )
    model_id, flags = data[3], data[4]
    if flags & _F_RESERVED:
        raise CodecError("corrupt learned bitstream: reserved flag bits set")
    pos = 5
    quality, pos = read_varint(data, pos)
    height, pos = read_varint(data, pos)
    width, pos = read_varint(data, pos)
    if height == 0 or width == 0:
        raise CodecError("corrupt learned bitstream: empty image size")
    shape: tuple[int, ...] | None = None
    if flags & _F_SHAPE:
        ndim, pos = read_varint(data, pos)
        if ndim > 8:
            raise CodecError("corrupt learned bitstream: latent shape has too many dimensions")
        dims = []
        for _ in range(ndim):
            d, pos = read_varint(data, pos)
            dims.append(d)
        shape = tuple(dims)
    count, pos = read_varint(data, pos)
    if count > 64:
        raise CodecError("corrupt learned bitstream: too many strings")
    strings: list[bytes] = []
    for _ in range(count):
        n, pos = read_varint(data, pos)
        if pos + n > len(data):
            raise CodecError(
                "corrupt learned bitstream: truncated (string shorter than its length)"
            )
        strings.append(bytes(data[pos : pos + n]))
        pos += n
    if pos != len(data):
        raise CodecError(f"corrupt learned bitstream: {len(data) - pos} unexpected trailing bytes")
    header = Header(
        model_id=model_id,
        metric="ms-ssim" if flags & _F_MSSSIM else "mse",
        quality=quality,
        height=height,
        width=width,
        shape=shape,
        gray=bool(flags & _F_GRAY),
        flat=bool(flags & _F_FLAT),
    )
    return header, strings


def header_size(data: bytes) -> int:
    """Bytes of ``data`` that are not entropy-coded payload (header and length fields)."""
    _, strings = unpack(data)
    return len(data) - sum(len(s) for s in strings)
