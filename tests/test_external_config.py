"""Codecs defined in TOML: loading, validation errors, config locations, colour conversion.

Nothing here needs an external program; the programs are stand-ins or absent on purpose.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from codeccmp_external import formats, pixels, shipped_files
from codeccmp_external.codec import ExternalCodec
from codeccmp_external.config import load_file

from codeccmp.errors import UsageError
from codeccmp.plugins import load_registry

SHIPPED = {"cwebp", "cjxl", "avifenc", "opj", "x265-ffmpeg", "av1-ffmpeg", "bpg", "vtm", "hm"}

MINIMAL = """
[[codec]]
name = "mini"
input = "png"
output = "png"
encode = ["{enc}", "{input}", "{output}", "{param}"]
decode = ["{dec}", "{input}", "{output}"]
[codec.param]
kind = "integer"
low = 0
high = 10
rate_increases = true
[codec.tools]
enc = "codeccmp-no-such-encoder"
dec = { program = "codeccmp-no-such-decoder", env = "CODECCMP_TEST_DEC", hint = "build it" }
"""


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test sees an empty user config directory unless it fills it."""
    d = tmp_path / "config"
    monkeypatch.setenv("CODECCMP_CONFIG_DIR", str(d))
    return d


def write(tmp_path: Path, text: str, name: str = "c.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def test_shipped_definitions_load_and_register_beside_the_pillow_codecs() -> None:
    names = {s.name for f in shipped_files() for s in load_file(f)}
    assert names == SHIPPED
    registry = load_registry()
    for name in SHIPPED:
        assert isinstance(registry.get(name), ExternalCodec)
        assert registry.plugin_of(name) == "external"
    assert {"jpeg", "webp", "avif", "jpeg2000", "jpegxl"} <= set(registry.names())


def test_missing_program_is_a_reason_not_an_error(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    codec = load_registry([write(tmp_path, MINIMAL)]).get("mini")
    reason = codec.availability()
    assert reason == "codeccmp-no-such-encoder not found on PATH"
    monkeypatch.setenv("PATH", str(tmp_path))  # enc found, dec not
    enc = tmp_path / "codeccmp-no-such-encoder"
    enc.write_text("#!/bin/sh\n")
    enc.chmod(0o755)
    assert codec.availability() == ("codeccmp-no-such-decoder not found on PATH "
                                    "(or set CODECCMP_TEST_DEC to its path); build it")
    monkeypatch.setenv("CODECCMP_TEST_DEC", "/nowhere/dec")
    assert codec.availability() == ("CODECCMP_TEST_DEC=/nowhere/dec is not an executable "
                                    "program; build it")
    monkeypatch.setenv("CODECCMP_TEST_DEC", str(enc))
    assert codec.availability() is None


def test_codecs_command_lists_config_codecs_with_their_reason(cli, tmp_path: Path) -> None:
    r = cli("codecs", "--json", "--codec-config", str(write(tmp_path, MINIMAL)))
    assert r.code == 0, r.stderr
    rows = {row["codec"]: row for row in json.loads(r.stdout)}
    assert rows["mini"]["usable"] == "codeccmp-no-such-encoder not found on PATH"
    assert rows["mini"]["plugin"].startswith("config:")
    assert rows["mini"]["parameter"] == "param 0–10"
    for name in ("vtm", "hm", "bpg"):  # never packaged: listed with how to get them
        assert "not found on PATH" in rows[name]["usable"] or rows[name]["usable"] == "yes"


BAD = [
    ("name = [", "not valid TOML"),
    ('[[codec]]\nname = "Bad Name"', "name must be lowercase"),
    (MINIMAL.replace('input = "png"', 'input = "jpeg"'), "input must be one of png, ppm"),
    (MINIMAL.replace("low = 0", "low = 0\nstep = 1"), "param: unknown field(s) step"),
    (MINIMAL.replace('"{param}"]', '"{qp}"]'), "encode: unknown placeholder {qp}"),
    (MINIMAL.replace('decode = ["{dec}", "{input}"', 'decode = ["{dec}", "{param}"'),
     "decode: unknown placeholder {param}"),
    (MINIMAL.replace('decode = ["{dec}", "{input}"', 'decode = ["{dec}", "{width}"'),
     "decode: unknown placeholder {width}"),
    (MINIMAL.replace("high = 10", "high = 0"), "param: low must be below high"),
    (MINIMAL.replace("rate_increases = true\n", ""), "param.rate_increases is required"),
    (MINIMAL.replace("high = 10", "high = 10.5"), "must be integers"),
    (MINIMAL.replace('output = "png"', 'output = "png"\ntimeout = "long"'),
     "timeout must be a int/float"),
    (MINIMAL.replace('output = "png"', 'output = "yuv420"\nsupports_gray = true'),
     "supports_gray needs PNG or PPM"),
    (MINIMAL.replace("[[codec]]", "[codecs]\n[[codec]]"), "unknown top-level key(s) codecs"),
    (MINIMAL + MINIMAL, "codec 'mini' defined twice"),
    ("", "defines no codec"),
]


@pytest.mark.parametrize(("text", "message"), BAD)
def test_bad_definitions_exit_2_with_one_line(cli, tmp_path: Path, text: str,
                                              message: str) -> None:
    path = write(tmp_path, text)
    r = cli("codecs", "--codec-config", str(path))
    assert r.code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert str(path) in lines[0] and message in lines[0], lines[0]


def test_codec_config_must_be_an_existing_toml(cli, tmp_path: Path) -> None:
    r = cli("compare", "x.png", "--bpp", "1", "--codec-config", str(tmp_path / "a.txt"))
    assert r.code == 2 and "--codec-config expects a .toml file" in r.stderr
    r = cli("codecs", "--codec-config", str(tmp_path / "none.toml"))
    assert r.code == 2 and "codec config file not found" in r.stderr


def test_a_config_codec_may_not_take_a_registered_name(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL.replace('name = "mini"', 'name = "webp"'))
    with pytest.raises(UsageError, match="codec name 'webp' registered twice"):
        load_registry([path])


def test_user_config_dir_adds_codecs_and_overrides_shipped_ones(no_user_config: Path) -> None:
    d = no_user_config / "codecs.d"
    d.mkdir(parents=True)
    (d / "mine.toml").write_text(MINIMAL)
    (d / "vtm.toml").write_text(MINIMAL.replace('name = "mini"', 'name = "vtm"')
                                .replace("[[codec]]", '[[codec]]\ndescription = "my VTM"'))
    registry = load_registry()
    assert isinstance(registry.get("mini"), ExternalCodec)
    assert registry.get("vtm").description == "my VTM"
    (d / "broken.toml").write_text("[[codec]]\nname = 3\n")
    with pytest.raises(UsageError, match=re.escape(f"{d / 'broken.toml'}: name must be a str")):
        load_registry()


def test_cache_token_covers_the_definition_and_the_programs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("codeccmp-no-such-encoder", "codeccmp-no-such-decoder"):
        p = tmp_path / name
        p.write_text("#!/bin/sh\necho tool 1.0\n")
        p.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))

    def token(text: str) -> object:
        (spec,) = load_file(write(tmp_path, text))
        return ExternalCodec(spec).cache_token()

    first = token(MINIMAL)
    assert first == token(MINIMAL)
    assert first != token(MINIMAL.replace('"{param}"]', '"-x", "{param}"]'))
    assert first == token(MINIMAL.replace("high = 10", "high = 10\ntypical_bpp = [[5, 1.0]]"))
    (tmp_path / "codeccmp-no-such-encoder").write_text("#!/bin/sh\necho tool 1.1\n")
    second = token(MINIMAL)
    assert first != second
    # An edit of the pixel files' conversions (which decide the decoded pixels) too.
    edited = tmp_path / "pixels.py"
    edited.write_bytes(Path(pixels.__file__).read_bytes() + b"\n# a changed conversion\n")
    monkeypatch.setattr(pixels, "__file__", str(edited))
    assert token(MINIMAL) != second


# -- colour conversion and file formats ----------------------------------------------------


def test_known_answers_of_the_colour_conversion() -> None:
    white = np.full((1, 1, 3), 255, np.uint8)
    red = np.array([[[255, 0, 0]]], np.uint8)
    assert np.allclose(pixels.rgb_to_ycbcr(white, "bt601-full"), [255, 128, 128])
    assert np.allclose(pixels.rgb_to_ycbcr(white, "bt709-limited"), [235, 128, 128])
    assert np.allclose(pixels.rgb_to_ycbcr(np.zeros((1, 1, 3), np.uint8), "bt601-limited"),
                       [16, 128, 128])
    # BT.601: Y = 0.299 R, Cr = 128 + 127.5 at pure red; BT.709: Y = 0.2126 R.
    assert np.allclose(pixels.rgb_to_ycbcr(red, "bt601-full"), [76.245, 84.97, 255.5], atol=0.01)
    assert np.allclose(pixels.rgb_to_ycbcr(red, "bt709-full")[..., 0], 54.213)


@pytest.mark.parametrize("color", formats.COLOR)
def test_colour_round_trip_is_within_rounding(rgb_image: np.ndarray, color: str) -> None:
    planes = pixels.to_planes(rgb_image, False, color)
    back = pixels.from_planes(planes, rgb_image.shape[1], rgb_image.shape[0], color)
    err = np.abs(back.astype(int) - rgb_image.astype(int)).max()
    assert err <= (2 if color.endswith("full") else 3)


@pytest.mark.parametrize("fmt", ["yuv444", "yuv420", "y4m444", "y4m420", "png", "ppm"])
def test_file_formats_round_trip(tmp_path: Path, rgb_image: np.ndarray, fmt: str) -> None:
    img = rgb_image[:79, :95]  # odd sizes: 4:2:0 chroma rounds up
    path = tmp_path / f"x.{formats.FORMATS[fmt]}"
    pixels.write_image(path, img, fmt, "bt709-limited")
    if fmt == "yuv420":
        assert path.stat().st_size == 79 * 95 + 2 * 40 * 48
    back = pixels.read_image(path, fmt, "bt709-limited", (95, 79))
    assert back.shape == img.shape
    err = np.abs(back.astype(int) - img.astype(int))
    if fmt in ("png", "ppm"):
        assert err.max() == 0
    elif fmt.endswith("444"):
        assert err.max() <= 3
    else:  # chroma at half resolution: the red grating (period 9 px) blurs
        assert err.mean() < 8


def test_420_is_exact_on_flat_colour_and_close_on_smooth_images(rgb_image: np.ndarray) -> None:
    flat = np.empty((7, 9, 3), np.uint8)
    flat[...] = (200, 30, 90)
    planes = pixels.to_planes(flat, True, "bt601-full")
    assert [p.shape for p in planes] == [(7, 9), (4, 5), (4, 5)]
    back = pixels.from_planes(planes, 9, 7, "bt601-full")
    assert np.abs(back.astype(int) - flat).max() <= 1
    smooth = rgb_image.copy()
    smooth[..., 0] = smooth[..., 1]  # no grating: gradients and one edge
    back = pixels.from_planes(pixels.to_planes(smooth, True, "bt601-full"), 96, 80, "bt601-full")
    err = np.abs(back.astype(int) - smooth.astype(int))
    assert np.median(err) <= 1 and err[:38].max() <= 3  # away from the edge at row 40


def test_y4m_header_says_what_codeccmp_wrote(tmp_path: Path, rgb_image: np.ndarray) -> None:
    path = tmp_path / "x.y4m"
    pixels.write_image(path, rgb_image, "y4m420", "bt601-full")
    head = path.read_bytes().split(b"\n", 2)
    assert head[0] == b"YUV4MPEG2 W96 H80 F1:1 Ip A1:1 C420jpeg XCOLORRANGE=FULL"
    assert head[1] == b"FRAME" and len(head[2]) == 96 * 80 + 2 * 48 * 40


def test_a_16_bit_png_from_a_decoder_is_scaled_to_8_bits(tmp_path: Path) -> None:
    from PIL import Image

    wide = np.array([[0, 257, 32896, 65535]], np.uint16)  # 0, 1, 128, 255 in 8 bits
    path = tmp_path / "d.png"
    Image.fromarray(wide).save(path)
    assert Image.open(path).mode.startswith("I")
    assert pixels.read_image(path, "png", "bt601-full").tolist() == [[0, 1, 128, 255]]


def test_make_priors_writes_one_typical_bpp_line_into_the_definition(tmp_path: Path) -> None:
    from codeccmp_external.make_priors import grid, write

    assert grid(0, 63, 8) == [0, 9, 18, 27, 36, 45, 54, 63]
    path = tmp_path / "cwebp.toml"
    path.write_text((Path(pixels.__file__).parent / "codecs" / "cwebp.toml").read_text())
    (spec,) = load_file(path)
    codec = ExternalCodec(spec)
    write(path, codec, [[0, 0.1], [100, 3.0]], "first")
    write(path, codec, [[0, 0.2], [50, 0.9], [100, 4.0]], "second")  # replaces, not adds
    text = path.read_text()
    assert text.count("typical_bpp = ") == 1 and "# typical_bpp: second" in text
    (spec,) = load_file(path)
    assert spec.param_space.typical_bpp == ((0, 0.2), (50, 0.9), (100, 4.0))


def test_shipped_definitions_run_only_when_named(tmp_path: Path, no_user_config: Path) -> None:
    """A plain run keeps to the first-party codecs; shipped external ones (mostly the same
    formats through other programs) join when named; a user's own definition joins always."""
    from codeccmp.pipeline.compare import select_codecs

    registry = load_registry([write(tmp_path, MINIMAL)])
    default = {c.name for c in select_codecs(registry, None)}
    assert {"jpeg", "webp", "mini"} <= default
    assert not default & {"cwebp", "cjxl", "avifenc", "opj", "av1-ffmpeg", "vtm"}
    assert [c.name for c in select_codecs(registry, ["cwebp"])] == ["cwebp"]
