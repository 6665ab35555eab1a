"""End to end on a real image with the two real checkpoints in ../shared/weights.

They are bmshj2018-factorized models trained for this project on a CPU (not the zoo's);
their README states the bpp, PSNR and MS-SSIM of real compress/decompress on Barbara with the
image padded to a multiple of 64. We code Barbara through ``--weights`` from the real files,
decode from the bytes alone in a fresh codec, and check those numbers; then again with the
model's own multiple (16), which Barbara's 720x576 needs no padding for, so fewer bytes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from codeccmp_compressai.codecs import LearnedCodec
from conftest import shared_path

from codeccmp.codec import RunSettings

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.slow

# file, codec, README: bpp / PSNR dB / MS-SSIM (padding to 64), and bpp with padding to 16
CASES = [
    ("bmshj2018-factorized-mse-cpu.pth", "mse", 0.535, 25.81, 0.9363, 0.517),
    ("bmshj2018-factorized-ms-ssim-cpu.pth", "ms-ssim", 0.370, 24.73, 0.9525, 0.357),
]


def _quality(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from pytorch_msssim import ms_ssim

    x = torch.from_numpy(a).permute(2, 0, 1)[None].double() / 255
    y = torch.from_numpy(b).permute(2, 0, 1)[None].double() / 255
    psnr = float(10 * torch.log10(1 / ((x - y) ** 2).mean()))
    return psnr, float(ms_ssim(x.float(), y.float(), data_range=1.0))


@pytest.fixture(scope="module")
def barbara() -> np.ndarray:
    from PIL import Image

    return np.array(Image.open(shared_path("images", "barbara.png")).convert("RGB"))


@pytest.mark.parametrize("fname,metric,bpp64,psnr,msssim,bpp16", CASES)
def test_shared_checkpoints_on_barbara(barbara, fname, metric, bpp64, psnr, msssim, bpp16):
    path = shared_path("weights", fname)
    codec_name = "bmshj2018-factorized" + ("-mse" if metric == "mse" else "")
    pixels = barbara.shape[0] * barbara.shape[1]
    for pad, want_bpp in ((64, bpp64), (1, bpp16)):
        settings = RunSettings(device="cpu", weights={codec_name: str(path)}, offline=True,
                               extra={"learned_pad_multiple": pad})
        enc_codec = LearnedCodec("bmshj2018-factorized", metric)
        enc_codec.configure(settings)
        assert enc_codec.availability() is None
        enc = enc_codec.encode(barbara, 0)
        dec_codec = LearnedCodec("bmshj2018-factorized", metric)  # fresh decoder
        dec_codec.configure(settings)
        out = dec_codec.decode(bytes(enc.data))
        bpp = 8 * len(enc.data) / pixels
        got_psnr, got_msssim = _quality(barbara, out)
        assert abs(bpp - want_bpp) < 0.005, (pad, bpp)
        assert abs(got_psnr - psnr) < 0.1, (pad, got_psnr)
        assert abs(got_msssim - msssim) < 0.002, (pad, got_msssim)
        assert enc.settings["weights_source"] == "explicit"
        assert enc.settings["drift_check"] == "forward" and enc.settings["latents"] > 0


def test_compare_command_with_shared_weights(cli, barbara, tmp_path):
    """The whole pipeline: ``codeccmp compare --weights`` picks the learned codecs up."""
    mse = shared_path("weights", "bmshj2018-factorized-mse-cpu.pth")
    ms = shared_path("weights", "bmshj2018-factorized-ms-ssim-cpu.pth")
    out = tmp_path / "r.json"
    r = cli("compare", str(shared_path("images", "barbara.png")), "--bpp", "0.4",
            "--codecs", "bmshj2018-factorized,bmshj2018-factorized-mse",
            "--weights", f"bmshj2018-factorized={ms}",
            "--weights", f"bmshj2018-factorized-mse={mse}",
            "--device", "cpu", "--offline", "--roi", "none", "--json", str(out), "-q")
    assert r.code == 0, r.stderr
    results = {x["codec"]: x for x in json.loads(out.read_text())["results"]}
    assert results["bmshj2018-factorized"]["status"] == "ok"
    assert abs(results["bmshj2018-factorized"]["bpp"] - 0.357) < 0.005
    assert abs(results["bmshj2018-factorized-mse"]["bpp"] - 0.517) < 0.005
    assert results["bmshj2018-factorized-mse"]["settings"]["weights_sha256"].startswith("c6b51f61")
