"""The learned container's limits and the exact reason each kind of damage is refused with.
Written to kill the mutants that survived ``benchmarks/mutation/run.py bitstream``."""

from __future__ import annotations

import re

import pytest
from codeccmp_compressai import bitstream
from codeccmp_compressai.bitstream import Header, pack, unpack

from codeccmp.codec import CodecError


def _varints(*values: int) -> bytes:
    out = bytearray()
    for v in values:
        bitstream.write_varint(v, out)
    return bytes(out)


def _raw(flags: int = 0, fields: bytes = b"") -> bytes:
    return bitstream.MAGIC + bytes([bitstream.FORMAT_VERSION, 1, flags]) + fields


def _refused(data: bytes, message: str) -> None:
    with pytest.raises(CodecError, match=f"^{re.escape(message)}$"):
        unpack(data)


def test_model_ids_1_to_255_only() -> None:
    for ok in (1, 255):
        assert unpack(pack(Header(ok, "mse", 1, 2, 2), []))[0].model_id == ok
    for bad in (0, 256):
        with pytest.raises(ValueError, match=f"^model id {bad} out of range$"):
            pack(Header(bad, "mse", 1, 2, 2), [])
    with pytest.raises(ValueError, match="^unknown metric 'psnr'$"):
        pack(Header(1, "psnr", 1, 2, 2), [])
    with pytest.raises(ValueError, match="^varints are unsigned$"):
        bitstream.write_varint(-1, bytearray())


def test_the_largest_varint_and_one_too_long() -> None:
    value = 2**64 - 1  # ten bytes, the last at shift 63
    data = _varints(value)
    assert len(data) == 10 and bitstream.read_varint(data, 0) == (value, 10)
    with pytest.raises(CodecError, match="^corrupt learned bitstream: length field too long$"):
        bitstream.read_varint(b"\xff" * 10 + b"\x01", 0)
    with pytest.raises(CodecError,
                       match=re.escape("corrupt learned bitstream: truncated (in a length field)")):
        bitstream.read_varint(b"\x80", 0)


def test_latent_shape_of_eight_dimensions_but_not_nine() -> None:
    h = Header(1, "mse", 1, 2, 2, shape=(1,) * 8)
    assert unpack(pack(h, []))[0].shape == (1,) * 8
    _refused(_raw(bitstream._F_SHAPE, _varints(1, 2, 2, 9, *([1] * 9), 0)),
             "corrupt learned bitstream: latent shape has too many dimensions")


def test_sixty_four_strings_but_not_sixty_five() -> None:
    assert len(unpack(pack(Header(1, "mse", 1, 2, 2), [b"a"] * 64))[1]) == 64
    _refused(_raw(0, _varints(1, 2, 2, 65) + b"\x01a" * 65),
             "corrupt learned bitstream: too many strings")


def test_each_damage_has_its_reason() -> None:
    good = pack(Header(1, "ms-ssim", 3, 8, 8), [b"abc", b"de"])
    _refused(good[:4], "corrupt learned bitstream: only 4 bytes")
    _refused(good[:5], "corrupt learned bitstream: truncated (in a length field)")
    _refused(b"XY" + good[2:], "not a codeccmp learned bitstream (bad magic)")
    _refused(_raw(0x10, _varints(1, 2, 2, 0)), "corrupt learned bitstream: reserved flag bits set")
    _refused(_raw(0, _varints(1, 0, 5, 0)), "corrupt learned bitstream: empty image size")
    _refused(_raw(0, _varints(1, 5, 0, 0)), "corrupt learned bitstream: empty image size")
    _refused(good[:-1], "corrupt learned bitstream: truncated (string shorter than its length)")
    _refused(good + b"\0\0\0", "corrupt learned bitstream: 3 unexpected trailing bytes")
