"""The shipped definitions run against the real tools where they are installed (.ci/run
installs them on Debian); each test skips cleanly when its tool is absent."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from codeccmp.pipeline.ratematch import match_rate
from codeccmp.plugins import load_registry

ROOT = Path(__file__).resolve().parents[1]

# codec: (a low and a high rate parameter, the bitstream's first bytes)
TOOLS = {
    "cwebp": ((10, 90), rb"RIFF....WEBPVP8 "),
    "cjxl": ((20, 90), rb"\xff\x0a|\x00\x00\x00\x0cJXL "),
    "avifenc": ((50, 10), rb"\x00\x00\x00.ftypavif"),
    "opj": ((0.5, 3.0), rb"\xff\x4f\xff\x51"),
    "x265-ffmpeg": ((40, 20), rb"\x00\x00\x00\x01\x40\x01"),  # Annex B start code, VPS
    "av1-ffmpeg": ((50, 20), rb"\x12\x00"),  # temporal delimiter OBU
}


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODECCMP_CONFIG_DIR", str(tmp_path / "config"))


def usable(name: str, registry=None):  # noqa: ANN001, ANN201
    codec = (registry or load_registry()).get(name)
    reason = codec.availability()
    if reason is not None:
        pytest.skip(f"{name}: {reason}")
    return codec


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.mark.parametrize("name", list(TOOLS))
def test_real_tool_round_trip(name: str, rgb_image: np.ndarray) -> None:
    codec = usable(name)
    (low, high), magic = TOOLS[name]
    small, big = codec.encode(rgb_image, low), codec.encode(rgb_image, high)
    assert re.match(magic, small.data, re.S), small.data[:16]
    assert small.nbytes < big.nbytes
    rec_small, rec_big = codec.decode(small.data), codec.decode(big.data)
    assert rec_small.shape == rec_big.shape == rgb_image.shape
    assert psnr(rgb_image, rec_big) > psnr(rgb_image, rec_small) > 18
    assert codec.library() and all(codec.library().values())


def test_opj_hits_the_requested_rate_and_codes_gray(rgb_image: np.ndarray) -> None:
    codec = usable("opj")
    m = match_rate(codec, rgb_image, 1.0)
    assert abs(m.bpp - 1.0) < 0.05
    gray = rgb_image[..., 1].copy()
    enc = codec.encode(gray, 1.0)
    assert codec.decode(enc.data).shape == gray.shape  # PGM in and out: one channel coded


def test_cwebp_agrees_with_pillows_webp(rgb_image: np.ndarray) -> None:
    """The same libwebp settings through two doors: the same rate and quality, within the
    differences between libwebp versions (byte-identical when the versions match)."""
    registry = load_registry()
    ext, pil = usable("cwebp", registry), usable("webp", registry)
    a, b = ext.encode(rgb_image, 60), pil.encode(rgb_image, 60)
    assert abs(a.nbytes - b.nbytes) / b.nbytes < 0.05
    pa, pb = psnr(rgb_image, ext.decode(a.data)), psnr(rgb_image, pil.decode(b.data))
    assert abs(pa - pb) < 0.3
    # Each decoder reads the other's bitstream: the same format.
    assert np.array_equal(pil.decode(a.data), ext.decode(a.data))


def test_compare_with_real_tools_writes_their_bitstreams(cli, tmp_path: Path,
                                                         rgb_image: np.ndarray) -> None:
    from PIL import Image

    registry = load_registry()
    names = [n for n in ("cwebp", "opj", "x265-ffmpeg") if registry.get(n).availability() is None]
    if not names:
        pytest.skip("none of cwebp, opj_compress, ffmpeg+libx265 is installed")
    img = tmp_path / "img.png"
    Image.fromarray(rgb_image).save(img)
    out, js = tmp_path / "out", tmp_path / "r.json"
    r = cli("compare", str(img), "--bpp", "1.0", "--codecs", ",".join(names), "--roi", "none",
            "--out", str(out), "--json", str(js), "-q")
    assert r.code == 0, r.stderr
    for res in json.loads(js.read_text())["results"]:
        codec = registry.get(res["codec"])
        stream = (out / f"{codec.name}.{codec.extension}").read_bytes()
        assert res["status"] == "ok" and res["nbytes"] == len(stream)
        assert res["bpp"] == pytest.approx(8 * len(stream) / (96 * 80))
        assert abs(res["bpp"] - 1.0) < 0.3
        # The saved bitstream alone decodes to the saved reconstruction.
        recon = np.asarray(Image.open(out / f"{codec.name}.png").convert("RGB"))
        assert np.array_equal(codec.decode(stream), recon)


def test_the_documented_example_loads_and_runs(tmp_path: Path, rgb_image: np.ndarray) -> None:
    text = (ROOT / "docs" / "external-codecs.md").read_text()
    block = text.split("<!-- example: cwebp-sharp -->\n```toml\n", 1)[1].split("```", 1)[0]
    config = tmp_path / "sharp.toml"
    config.write_text(block)
    registry = load_registry([config])
    codec = registry.get("cwebp-sharp")
    assert codec.param_space.typical_bpp == ((10, 0.25), (50, 0.8), (90, 2.5))
    codec = usable("cwebp-sharp", registry)
    enc = codec.encode(rgb_image, 70)
    assert "-sharp_yuv" in enc.settings["encode"]
    assert psnr(rgb_image, codec.decode(enc.data)) > 25
