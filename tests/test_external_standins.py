"""VTM, HM and BPG wiring, with stand-in programs that mimic their command lines and files.

The real tools are not packaged here. The stand-ins parse the same arguments the shipped
definitions pass, read and write the same kinds of files (raw 8-bit YUV 4:4:4 for VTM and HM,
PNG for BPG), and code for real: uniform quantisation (step doubling every 6 QP, as in HEVC)
and zlib, so the rate falls as QP rises. They also check what codeccmp must guarantee: the
input has exactly the declared size, the configuration file exists, and the decoder's
directory holds the bitstream and nothing else.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from codeccmp_external.codec import ExternalCodec

from codeccmp.codec import CodecError
from codeccmp.pipeline.ratematch import bits_per_pixel, match_rate
from codeccmp.plugins import load_registry

COMMON = r"""
import os, struct, sys, time, zlib
from array import array
args = sys.argv[1:]
def opt(flag):
    return args[args.index(flag) + 1]
if "--help" in args or args == ["-h"]:
    print("Stand-in Software: Encoder Version 1.0 [Linux]")
    sys.exit(0)
if os.environ.get("STANDIN_LOG"):  # who ran me: the parent's process id
    with open(os.environ["STANDIN_LOG"], "a") as f:
        f.write(f"{os.getppid()}\n")
if os.environ.get("STANDIN_SLEEP"):
    time.sleep(float(os.environ["STANDIN_SLEEP"]))
if os.environ.get("STANDIN_FAIL"):
    print("reading input", file=sys.stderr)
    print("ERROR: stand-in cannot code this", file=sys.stderr)
    sys.exit(3)
def quantise(samples, qp):
    step = 2 ** ((qp - 4) / 6)
    return zlib.compress(array("h", [round(v / step) for v in samples]).tobytes(), 9)
def dequantise(data, qp):
    step = 2 ** ((qp - 4) / 6)
    q = array("h")
    q.frombytes(zlib.decompress(data))
    return bytes(min(255, max(0, round(v * step))) for v in q)
def decoder_checks(bitstream):
    seen = sorted(os.listdir("."))
    if seen != [os.path.basename(bitstream)]:
        sys.exit(f"decoder saw {seen}, not only the bitstream")
"""

# Standard library only, so it can start without site-packages (-S): fast.
VTM_LIKE = COMMON + r"""
if "-i" in args:  # EncoderApp -c CFG -i IN.yuv -b OUT.bin -q QP -wdt W -hgt H ...
    assert os.path.isfile(opt("-c")), "no cfg"
    for a in ("--InputChromaFormat=444", "--InputBitDepth=8", "--ConformanceWindowMode=1"):
        assert a in args, a
    w, h, qp = int(opt("-wdt")), int(opt("-hgt")), int(opt("-q"))
    raw = open(opt("-i"), "rb").read()
    if len(raw) != w * h * 3:
        sys.exit(f"expected {w * h * 3} bytes of YUV 4:4:4, got {len(raw)}")
    with open(opt("-b"), "wb") as f:
        f.write(struct.pack(">HHB", w, h, qp) + quantise(raw, qp))
else:  # DecoderApp -b IN.bin -o OUT.yuv -d 8
    decoder_checks(opt("-b"))
    assert opt("-d") == "8"
    data = open(opt("-b"), "rb").read()
    w, h, qp = struct.unpack_from(">HHB", data)
    with open(opt("-o"), "wb") as f:
        f.write(dequantise(data[5:], qp))
"""

BPG_LIKE = COMMON + r"""
from PIL import Image
if "-q" in args:  # bpgenc -o OUT.bpg -q QP -f 444 -e x265 -c ycbcr -b 8 IN.png
    assert opt("-f") == "444" and opt("-b") == "8" and opt("-c") == "ycbcr"
    img = Image.open(args[-1]).convert("RGB")
    w, h = img.size
    qp = int(opt("-q"))
    with open(opt("-o"), "wb") as f:
        f.write(b"BPG\xfb" + struct.pack(">HHB", w, h, qp) + quantise(img.tobytes(), qp))
else:  # bpgdec -o OUT.png IN.bpg
    decoder_checks(args[-1])
    data = open(args[-1], "rb").read()
    assert data[:4] == b"BPG\xfb"
    w, h, qp = struct.unpack_from(">HHB", data, 4)
    Image.frombytes("RGB", (w, h), dequantise(data[9:], qp)).save(opt("-o"))
"""

KINDS = {
    "vtm": (VTM_LIKE, {"CODECCMP_VTM_ENCODER": "EncoderAppStatic",
                       "CODECCMP_VTM_DECODER": "DecoderAppStatic", "CODECCMP_VTM_CFG": "cfg"}),
    "hm": (VTM_LIKE, {"CODECCMP_HM_ENCODER": "TAppEncoderStatic",
                      "CODECCMP_HM_DECODER": "TAppDecoderStatic", "CODECCMP_HM_CFG": "cfg"}),
    "bpg": (BPG_LIKE, {"CODECCMP_BPGENC": "bpgenc", "CODECCMP_BPGDEC": "bpgdec"}),
}


def install_standin(folder: Path, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Write the stand-in programs for ``kind`` and point the definition's variables at them."""
    source, env = KINDS[kind]
    folder.mkdir(exist_ok=True)
    for var, name in env.items():
        path = folder / name
        if name == "cfg":
            path.write_text("# stand-in configuration\nIntraPeriod : 1\n")
        else:
            fast = " -S" if source is VTM_LIKE else ""
            path.write_text(f"#!{sys.executable}{fast}\n{source}")
            path.chmod(0o755)
        monkeypatch.setenv(var, str(path))


@pytest.fixture(autouse=True)
def no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODECCMP_CONFIG_DIR", str(tmp_path / "config"))


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temporary files in a folder of our own, to see that none remain. (Not for sweeps:
    a process pool's socket path under it would be too long for AF_UNIX.)"""
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    return tmp


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255**2 / mse))


@pytest.mark.parametrize("kind", ["vtm", "hm", "bpg"])
def test_standin_codes_for_real_through_the_shipped_definition(
        kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, isolated: Path,
        rgb_image: np.ndarray) -> None:
    registry = load_registry()
    codec = registry.get(kind)
    assert "not found on PATH" in (codec.availability() or "")
    install_standin(tmp_path / "bin", kind, monkeypatch)
    assert codec.availability() is None
    assert codec.library()["encoder" if kind != "bpg" else "bpgenc"] == "1.0"

    fine, coarse = codec.encode(rgb_image, 16), codec.encode(rgb_image, 34)
    assert fine.nbytes > coarse.nbytes  # the rate falls as QP rises
    recon_fine, recon_coarse = codec.decode(fine.data), codec.decode(coarse.data)
    assert recon_fine.shape == rgb_image.shape
    assert psnr(rgb_image, recon_fine) > psnr(rgb_image, recon_coarse) > 20
    if kind == "bpg":
        assert fine.data[:4] == b"BPG\xfb"
    else:  # raw YUV out: the size travels in front of the tool's own bitstream
        assert fine.data[:4] == bytes([0, 96, 0, 80]) and fine.data[4:8] == bytes([0, 96, 0, 80])
        assert fine.settings["color"] == "bt601-full"
        assert "-wdt" in fine.settings["encode"] and "input.yuv" in fine.settings["encode"]

    if kind == "hm":
        return  # the same stand-in as vtm: its rate search is tested there
    target = bits_per_pixel(coarse.nbytes, 96 * 80) * 1.5
    match = match_rate(codec, rgb_image, target)
    assert match.encoded.nbytes == len(match.encoded.data)
    assert abs(match.bpp - target) / target < 0.25
    assert list(isolated.iterdir()) == []  # every temporary directory is gone


def test_a_failing_tool_fails_alone_with_its_stderr(cli, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    isolated: Path, rgb_image: np.ndarray) -> None:
    install_standin(tmp_path / "bin", "vtm", monkeypatch)
    monkeypatch.setenv("STANDIN_FAIL", "1")
    codec = load_registry().get("vtm")
    with pytest.raises(CodecError, match=r"vtm encoder at 30 failed \(exit 3\): reading input "
                                         r"\| ERROR: stand-in cannot code this"):
        codec.encode(rgb_image, 30)
    assert list(isolated.iterdir()) == []

    from PIL import Image

    img = tmp_path / "img.png"
    Image.fromarray(rgb_image).save(img)
    out = tmp_path / "r.json"
    r = cli("compare", str(img), "--bpp", "1", "--codecs", "vtm,jpeg", "--roi", "none",
            "--json", str(out), "-q")
    assert r.code == 1  # a requested codec failed; the other still ran
    results = {x["codec"]: x for x in json.loads(out.read_text())["results"]}
    assert results["jpeg"]["status"] == "ok"
    assert results["vtm"]["status"] == "failed"
    assert "ERROR: stand-in cannot code this" in results["vtm"]["reason"]


def test_timeout_kills_the_call_and_cleans_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              isolated: Path, rgb_image: np.ndarray) -> None:
    install_standin(tmp_path / "bin", "bpg", monkeypatch)
    text = (Path(__file__).parents[1] / "plugins" / "codeccmp_external" / "codecs" /
            "bpg.toml").read_text()
    config = tmp_path / "slow.toml"
    config.write_text(text.replace('name = "bpg"', 'name = "bpg-slow"')
                      .replace("timeout = 600", "timeout = 0.5"))
    codec = load_registry([config]).get("bpg-slow")
    assert isinstance(codec, ExternalCodec)
    monkeypatch.setenv("STANDIN_SLEEP", "5")
    with pytest.raises(CodecError, match="bpg-slow encoder at 30 timed out after 0.5 s"):
        codec.encode(rgb_image, 30)
    assert list(isolated.iterdir()) == []


def test_cache_token_follows_the_cfg_file_and_the_binary(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    install_standin(tmp_path / "bin", "vtm", monkeypatch)

    def token() -> object:
        return load_registry().get("vtm").cache_token()

    first = token()
    assert first == token()
    (tmp_path / "bin" / "cfg").write_text("IntraPeriod : 1\nQP : 32\n")
    second = token()
    assert second != first
    with open(tmp_path / "bin" / "EncoderAppStatic", "a") as f:
        f.write("\n# rebuilt\n")
    assert token() != second


def test_sweep_workers_load_codec_config_files(cli, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch,
                                               rgb_image: np.ndarray) -> None:
    """--codec-config travels to the sweep's worker processes (--jobs 2)."""
    from PIL import Image

    install_standin(tmp_path / "bin", "bpg", monkeypatch)
    text = (Path(__file__).parents[1] / "plugins" / "codeccmp_external" / "codecs" /
            "bpg.toml").read_text()
    config = tmp_path / "mine.toml"
    config.write_text(text.replace('name = "bpg"', 'name = "my-bpg"'))
    img = tmp_path / "images"  # two images: two tasks, so two worker processes
    img.mkdir()
    Image.fromarray(rgb_image).save(img / "a.png")
    Image.fromarray(rgb_image[::-1]).save(img / "b.png")
    out, log = tmp_path / "s.json", tmp_path / "ppids.txt"
    monkeypatch.setenv("STANDIN_LOG", str(log))
    r = cli("sweep", str(img), "--bpp", "1", "--codecs", "my-bpg", "--codec-config",
            str(config), "--jobs", "2", "--roi", "none", "--cache-dir", str(tmp_path / "c"),
            "--json", str(out), "-q")
    assert r.code == 0, r.stderr
    text = out.read_text()
    statuses = re.findall(r'"status": "(\w+)"', text)
    assert '"my-bpg"' in text and statuses and set(statuses) == {"ok"}, statuses
    # The encoders ran under worker processes, not under this one (which would also work,
    # as the executor's fallback for codecs a worker cannot rebuild).
    import os

    parents = set(log.read_text().split())
    assert parents and str(os.getpid()) not in parents
