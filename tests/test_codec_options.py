"""Codec specs NAME[KEY=VALUE,...]: the grammar, typed options, labels, and that each option
really reaches the encoder (checked in the bitstream's own headers)."""

from __future__ import annotations

import io
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis_profiles import examples

from codeccmp.codec import OptionSpec
from codeccmp.errors import UsageError
from codeccmp.measure.metrics import psnr
from codeccmp.model.codecspec import CodecSpec, parse_spec, split_specs
from codeccmp.plugins import load_registry

CHART = Path(__file__).resolve().parents[1] / "samples" / "stripes.png"


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def natural_rgb(h: int = 96, w: int = 128) -> np.ndarray:
    """Smooth colour texture whose channels are correlated, as in photographs."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    base = 128 + 60 * np.sin(x / 7.0) * np.cos(y / 11.0) + rng.normal(0, 6, (h, w))
    rgb = np.stack([base * 1.0, base * 0.85 + 20, base * 0.7 + 30], axis=-1)
    return np.clip(rgb, 0, 255).astype(np.uint8)


# --- grammar ---------------------------------------------------------------------------

def test_specs_split_outside_brackets_only() -> None:
    assert split_specs("heif, heif[chroma=420,preset=slow] ,avif[speed=2]") == [
        "heif", "heif[chroma=420,preset=slow]", "avif[speed=2]"]
    assert parse_spec(" AVIF[ Speed = 2 ] ") == CodecSpec("avif", (("speed", "2"),))


@pytest.mark.parametrize("bad, message", [
    ("jpeg[", "unclosed '\\['"),
    ("jpeg]", "unbalanced '\\]'"),
    ("jpeg,,webp", "comma-separated"),
])
def test_bad_lists(bad: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        split_specs(bad)


@pytest.mark.parametrize("bad, message", [
    ("jpeg[]", "empty"),
    ("jpeg[chroma]", "expected KEY=VALUE"),
    ("jpeg[chroma=]", "expected KEY=VALUE"),
    ("jpeg[chroma=4=4]", "expected KEY=VALUE"),
    ("jpeg[chroma=444]x", "one \\[...\\] at the end"),
    ("jpeg[chroma=444,chroma=420]", "given twice"),
    ("jp eg", "bad codec name"),
])
def test_bad_specs(bad: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        parse_spec(bad)


_word = st.from_regex(r"[a-z0-9][a-z0-9_.\-]{0,8}", fullmatch=True)
_value = st.from_regex(r"[A-Za-z0-9:./+\-]{1,8}", fullmatch=True)


@settings(max_examples=examples(200), deadline=None)  # no wall-clock limit: any machine
@given(name=_word, options=st.dictionaries(_word, _value, max_size=4))
def test_spec_text_round_trips(name: str, options: dict[str, str]) -> None:
    spec = CodecSpec(name, tuple(options.items()))
    assert parse_spec(str(spec)) == spec
    assert split_specs(f"{spec},{spec}") == [str(spec), str(spec)]


# --- typed options ---------------------------------------------------------------------

def test_option_values_are_typed_and_ranged() -> None:
    speed = OptionSpec("speed", "int", 6, low=0, high=10)
    assert speed.parse("02") == 2
    for bad in ("11", "-1", "2.5", "fast"):
        with pytest.raises(ValueError, match="speed must be"):
            speed.parse(bad)
    flag = OptionSpec("mct", "bool", True)
    assert flag.parse("ON") is True and flag.parse("0") is False
    with pytest.raises(ValueError, match="true or false"):
        flag.parse("maybe")
    ratio = OptionSpec("r", "float", 1.0, low=0.0)
    assert ratio.parse("1e-1") == pytest.approx(0.1)
    with pytest.raises(ValueError):
        ratio.parse("nan")


def test_labels_are_canonical_and_name_the_codec(registry) -> None:
    a = registry.get("avif[chroma=420,speed=02]")
    b = registry.get("AVIF[ speed=2 , chroma=420 ]")
    assert a is b and a.name == "avif[speed=2,chroma=420]"  # declared order, typed values
    assert a.base_name == "avif" and a.option("speed") == 2 and a.option("chroma") == "420"
    plain = registry.get("avif")
    assert plain.options == {} and plain.option("speed") == 6  # the registered codec is untouched
    assert registry.plugin_of(a.name) == registry.plugin_of("avif")


def test_unknown_key_and_bad_value_name_the_valid_ones(registry) -> None:
    with pytest.raises(UsageError, match=r"no option 'qp'; valid: speed \(integer 0–10\), "
                                          r"chroma \(420\|422\|444\)"):
        registry.get("avif[qp=3]")
    with pytest.raises(UsageError, match="chroma must be one of 420, 422, 444"):
        registry.get("heif[chroma=411]")
    with pytest.raises(UsageError, match="unknown codec 'nope'"):
        registry.get("nope[x=1]")


# --- each option reaches the bitstream --------------------------------------------------

def _j2k_mct(data: bytes) -> int:
    """The MCT flag of a JPEG 2000 codestream's COD marker segment."""
    i = data.index(b"\xff\x52")  # COD: Lcod(2) Scod(1) progression(1) layers(2) MCT(1)
    return data[i + 8]


def test_jpeg2000_uses_the_colour_transform_for_rgb(registry) -> None:
    img = natural_rgb()
    on, off = registry.get("jpeg2000"), registry.get("jpeg2000[mct=false]")
    enc_on, enc_off = on.encode(img, 0.6), off.encode(img, 0.6)
    assert _j2k_mct(enc_on.data) == 1 and _j2k_mct(enc_off.data) == 0
    assert enc_on.settings["mct"] == 1 and enc_off.settings["user_options"] == {"mct": False}
    # Correlated channels: the transform buys quality at the same rate.
    gain = psnr(img, on.decode(enc_on.data)) - psnr(img, off.decode(enc_off.data))
    assert gain > 0.3, gain
    gray = registry.get("jpeg2000").encode(img[..., 0].copy(), 0.6)
    assert _j2k_mct(gray.data) == 0  # one component: nothing to transform


def test_jpeg2000_on_barbara_matches_openjpeg_practice(registry) -> None:
    """Why the colour transform is on: 25.0 dB without it, 28.0 dB with it, at 0.3 bpp
    (OpenJPEG's `opj_compress` turns it on for RGB input)."""
    from conftest import shared_path

    from codeccmp.model.images import load_image
    from codeccmp.pipeline.ratematch import match_rate

    img = load_image(shared_path("images", "barbara.png")).pixels
    got = {}
    for spec in ("jpeg2000", "jpeg2000[mct=false]"):
        codec = registry.get(spec)
        rm = match_rate(codec, img, 0.3)
        assert abs(rm.bpp - 0.3) < 0.003
        got[spec] = psnr(img, codec.decode(rm.encoded.data))
    assert got["jpeg2000"] == pytest.approx(28.01, abs=0.05)
    assert got["jpeg2000[mct=false]"] == pytest.approx(25.03, abs=0.05)


def test_jpeg_chroma_option(registry) -> None:
    from PIL import Image, JpegImagePlugin

    img = natural_rgb()
    for spec, sampling in (("jpeg", 2), ("jpeg[chroma=444]", 0), ("jpeg[chroma=422]", 1)):
        enc = registry.get(spec).encode(img, 75)
        with Image.open(io.BytesIO(enc.data)) as im:
            assert JpegImagePlugin.get_sampling(im) == sampling, spec


def _box(data: bytes, kind: bytes) -> bytes:
    i = data.index(kind)
    (size,) = struct.unpack(">I", data[i - 4:i])
    return data[i + 4:i - 4 + size]


def test_avif_chroma_defaults_to_444(registry) -> None:
    img = natural_rgb()
    for spec, sub in (("avif", (0, 0)), ("avif[chroma=420]", (1, 1))):
        av1c = _box(registry.get(spec).encode(img, 60).data, b"av1C")
        assert ((av1c[2] >> 3) & 1, (av1c[2] >> 2) & 1) == sub, spec


def test_heif_chroma_and_preset(registry) -> None:
    heif = registry.get("heif")
    if heif.availability():
        pytest.skip(heif.availability())
    img = natural_rgb()
    for spec, fmt in (("heif", 3), ("heif[chroma=420]", 1)):
        hvcc = _box(registry.get(spec).encode(img, 60).data, b"hvcC")
        assert hvcc[16] & 3 == fmt, spec  # chromaFormat: 1 = 4:2:0, 3 = 4:4:4
    fast = registry.get("heif[preset=ultrafast]").encode(img, 60)
    assert fast.settings["enc_params"]["preset"] == "ultrafast"


def test_webp_method_and_jxl_effort_reach_the_encoder(registry) -> None:
    img = natural_rgb()
    m0 = registry.get("webp[method=0]").encode(img, 75)
    m6 = registry.get("webp").encode(img, 75)
    assert m0.settings["method"] == 0 and m6.settings["method"] == 6 and m0.data != m6.data
    jxl = registry.get("jpegxl[effort=1]")
    if not jxl.availability():
        assert jxl.encode(img, 80).settings["effort"] == 1


# --- from the command line --------------------------------------------------------------

def test_compare_puts_two_settings_side_by_side(tmp_path: Path, cli) -> None:
    out = tmp_path / "r.json"
    res = cli("compare", str(CHART), "--bpp", "0.5", "--roi", "none",
              "--codecs", "jpeg2000,jpeg2000[mct=0],jpeg2000[mct=false]", "--json", str(out))
    assert res.code == 0, res.stderr
    rows = json.loads(out.read_text())["results"]
    assert [r["codec"] for r in rows] == ["jpeg2000", "jpeg2000[mct=false]"]  # one label each
    assert rows[1]["settings"]["user_options"] == {"mct": False}
    assert "jpeg2000[mct=false]" in res.stdout


@pytest.mark.parametrize("codecs, message", [
    ("jpeg[qualty=3]", "codec jpeg has no option 'qualty'; valid: chroma"),
    ("webp[method=9]", "method must be integer 0–6"),
    ("jpeg[chroma=444", "unclosed '['"),
])
def test_bad_specs_are_usage_errors(codecs: str, message: str) -> None:
    from conftest import run_subprocess

    res = run_subprocess("compare", str(CHART), "--bpp", "0.3", "--codecs", codecs)
    assert res.code == 2
    assert res.stderr.count("\n") == 1 and message in res.stderr, res.stderr


def test_sweep_labels_and_anchor_by_spec(tmp_path: Path, cli) -> None:
    out = tmp_path / "s.json"
    res = cli("sweep", str(CHART), "--bpp", "0.5,1", "--roi", "none", "--no-cache", "-q",
              "--codecs", "jpeg2000,jpeg2000[mct=0]", "--anchor", "JPEG2000[ MCT=false ]",
              "--json", str(out))
    assert res.code == 0, res.stderr
    data = json.loads(out.read_text())
    assert data["anchor"] == "jpeg2000[mct=false]"
    assert [c["name"] for c in data["codecs"]] == ["jpeg2000", "jpeg2000[mct=false]"]
    assert set(data["bd"]["psnr"]) == {"jpeg2000"}
