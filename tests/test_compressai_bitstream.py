"""The learned codecs' container: round trips, and every kind of damage rejected cleanly."""

from __future__ import annotations

import pytest
from codeccmp_compressai import bitstream
from codeccmp_compressai.bitstream import Header, pack, unpack

from codeccmp.codec import CodecError


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 16383, 16384, 2**31 - 1, 2**40])
def test_varint_round_trip(value: int) -> None:
    out = bytearray()
    bitstream.write_varint(value, out)
    assert bitstream.read_varint(bytes(out), 0) == (value, len(out))


@pytest.mark.parametrize(
    "header",
    [
        Header(1, "ms-ssim", 3, 576, 720),
        Header(4, "mse", 8, 1, 1),
        Header(7, "ms-ssim", 0, 70, 45, gray=True),
        Header(8, "mse", 12, 4000, 3000, shape=(63, 47), flat=True),
        Header(2, "ms-ssim", 300, 17, 19, shape=(1, 2, 3)),
    ],
)
def test_pack_unpack_round_trip(header: Header) -> None:
    strings = [b"\x00\x01\x02" * 50, b"", b"z" * 200]
    data = pack(header, strings)
    got, got_strings = unpack(data)
    assert got == header
    assert got_strings == strings
    assert bitstream.header_size(data) == len(data) - sum(map(len, strings))


def test_header_is_small() -> None:
    data = pack(Header(1, "ms-ssim", 3, 576, 720), [b"x" * 40000])
    # magic 2 + version 1 + model 1 + flags 1 + quality 1 + H 2 + W 2 + count 1 + length 3
    assert bitstream.header_size(data) == 14


def _valid() -> bytes:
    return pack(Header(2, "ms-ssim", 5, 64, 96), [b"a" * 20, b"bb" * 7])


def test_bad_magic() -> None:
    data = b"XX" + _valid()[2:]
    with pytest.raises(CodecError, match="bad magic"):
        unpack(data)


def test_unknown_version() -> None:
    data = bytearray(_valid())
    data[2] = 99
    with pytest.raises(CodecError, match="version 99"):
        unpack(bytes(data))


def test_reserved_flags() -> None:
    data = bytearray(_valid())
    data[4] |= 0x80
    with pytest.raises(CodecError, match="reserved"):
        unpack(bytes(data))


def test_every_truncation_is_rejected() -> None:
    data = _valid()
    for n in range(len(data)):
        with pytest.raises(CodecError):
            unpack(data[:n])


def test_trailing_bytes_rejected() -> None:
    with pytest.raises(CodecError, match="trailing"):
        unpack(_valid() + b"\x00")


def test_absurd_length_rejected() -> None:
    data = bytearray(_valid()[:9])  # up to the string count
    data += b"\xff" * 12
    with pytest.raises(CodecError):
        unpack(bytes(data))
