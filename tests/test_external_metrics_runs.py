"""Metrics from programs in whole runs: compare (whole image, per ROI, --match), sweep
(averages, BD with lower-is-better, the cache), and the shipped Butteraugli's known answers.

The test metric program and its TOML come from ``test_external_metrics``.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line
from PIL import Image
from test_external_metrics import env, exact, metric_toml, write  # noqa: F401 - env: a fixture
from test_sweep_metrics import two_images  # noqa: F401 - a fixture

from codeccmp.plugins import load_metrics


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(b.astype(np.float64) - a.astype(np.float64)).mean())


def _png(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path))


def test_compare_whole_image_per_roi_and_a_failing_metric(
        cli, tmp_path: Path, image_file: Path, rgb_image: np.ndarray) -> None:  # noqa: ANN001
    f = write(tmp_path, metric_toml(extra="per_roi = true")
              + metric_toml(name="bigroi", extra="per_roi = true\nmin_size = 41")
              + metric_toml(name="broken", mode="fail"))
    out, js = tmp_path / "out", tmp_path / "r.json"
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metric-config",
            str(f), "--metrics", "meandiff,bigroi,broken", "--roi", "8,8,48,40", "--out",
            str(out), "--json", str(js))
    assert r.code == 0, r.stderr  # a failing metric fails no codec
    (res,) = json.loads(js.read_text())["results"]
    recon = _png(out / "jpeg.png")
    whole = exact(rgb_image, recon)
    assert res["status"] == "ok" and res["metrics"]["meandiff"] == pytest.approx(whole,
                                                                               abs=1e-12)
    assert res["metrics"]["broken"] is None
    assert any("metric 'broken'" in n and "exited with status 3" in n for n in res["notes"])
    (roi,) = res["rois"]
    crop = exact(rgb_image[8:48, 8:56], recon[8:48, 8:56])
    assert crop != pytest.approx(whole, abs=1e-3)  # the crop's own value, not the image's
    assert roi["metrics"]["meandiff"] == pytest.approx(crop, abs=1e-12)
    # min_size 41 > the ROI's 40 rows: undefined there, measured on the whole image.
    assert roi["metrics"]["bigroi"] is None and res["metrics"]["bigroi"] == res["metrics"][
        "meandiff"]
    assert "bigroi: undefined for this image (too small)" in roi["metric_notes"]


def test_match_searches_a_lower_is_better_program_metric(
        cli, tmp_path: Path, image_file: Path, rgb_image: np.ndarray) -> None:  # noqa: ANN001
    f = write(tmp_path, metric_toml(name="mad", mode="mad", extra='range = [0, 255]'))
    out, js = tmp_path / "out", tmp_path / "r.json"
    r = cli("compare", str(image_file), "--match", "mad=10", "--codecs", "jpeg",
            "--metric-config", str(f), "--roi", "none", "--out", str(out), "--json", str(js))
    assert r.code == 0, r.stderr
    (res,) = json.loads(js.read_text())["results"]
    value = mad(rgb_image, _png(out / "jpeg.png"))
    assert res["metrics"]["mad"] == pytest.approx(value, abs=1e-12)
    trials = res["trials"]
    assert len(trials) >= 2 and all(t["mad"] is not None for t in trials)
    # The closest value probed, and the search went both ways of the target.
    assert abs(value - 10) == pytest.approx(min(abs(t["mad"] - 10) for t in trials))
    assert min(t["mad"] for t in trials) < 10 < max(t["mad"] for t in trials)
    # Lower is better: the parameter giving the lower MAD is the one with more bytes.
    lo, hi = min(trials, key=lambda t: t["mad"]), max(trials, key=lambda t: t["mad"])
    assert lo["nbytes"] > hi["nbytes"]


def test_sweep_averages_and_bd_of_a_lower_is_better_program_metric(
        cli, tmp_path: Path, two_images: Path, env: Path) -> None:  # noqa: ANN001, F811
    f = write(tmp_path, metric_toml(name="mad", mode="mad"))
    cache, js = tmp_path / "cache", tmp_path / "s.json"
    args = ["sweep", str(two_images), "--bpp", "1,2,3,4", "--codecs", "jpeg,webp",
            "--anchor", "jpeg", "--metric-config", str(f), "--metrics", "mad,psnr",
            "--roi", "none", "-j", "1", "--cache-dir", str(cache), "-q"]
    r = cli(*args, "--json", str(js))
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    # Each average is the mean of the two images' values.
    assert len(data["averaged"]) == 8
    for avg in data["averaged"]:
        vals = [p["result"]["metrics"]["mad"] for p in data["points"]
                if p["result"]["codec"] == avg["codec"] and p["value"] == avg["value"]]
        assert len(vals) == 2 and avg["metrics"]["mad"] == pytest.approx(sum(vals) / 2)
    bd_mad, bd_psnr = data["bd"]["metric:mad"]["webp"], data["bd"]["metric:psnr"]["webp"]
    assert bd_mad["bd_rate_percent"] is not None
    # Lower-is-better handled: BD-quality in MAD's own sign; where WebP needs fewer bits
    # for the same PSNR (negative BD-rate), it has a lower MAD at the same rate, and back.
    if bd_psnr["bd_rate_percent"] < 0 and bd_mad["bd_rate_percent"] < 0:
        assert bd_mad["bd_quality"] < 0
    elif bd_psnr["bd_rate_percent"] > 0 and bd_mad["bd_rate_percent"] > 0:
        assert bd_mad["bd_quality"] > 0
    # The cache knows the program: the same program is a hit, an edited one is measured again.
    again = cli(*args)
    assert again.code == 0 and "16 results from the cache" in again.stderr, again.stderr
    prog = env
    prog.write_text(prog.read_text() + "\n# edited\n")
    edited = cli(*args)
    assert edited.code == 0 and "0 results from the cache" in edited.stderr, edited.stderr


# -- the shipped Butteraugli (Debian's butteraugli) ----------------------------------

needs_butteraugli = pytest.mark.skipif(shutil.which("butteraugli") is None,
                                       reason="butteraugli not installed "
                                              "(apt install butteraugli)")


@pytest.fixture(scope="module")
def barbara_crop() -> np.ndarray:
    """128×128 of Barbara's tablecloth and scarf: stripes, edges and flat parts."""
    root = Path(__file__).resolve().parents[1]
    img = np.asarray(Image.open(root / "samples" / "barbara.png").convert("RGB"))
    return np.ascontiguousarray(img[300:428, 40:168])


def _jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@needs_butteraugli
def test_butteraugli_known_answers(barbara_crop: np.ndarray) -> None:
    b = load_metrics().get("butteraugli")
    assert b.availability() is None
    a = barbara_crop
    # Identical images: exactly 0 (the program prints 0.000000).
    assert b.compute(a, a) == 0.0
    # One pixel one level brighter in one channel: far below a visible difference
    # (Butteraugli 1.0 is its "just noticeable" level; this is 0.005 with Debian's build).
    one = a.copy()
    one[64, 64, 1] += 1 if one[64, 64, 1] < 255 else -1
    v1 = b.compute(a, one)
    assert 0 < v1 < 0.1
    # A JPEG ladder is ordered, and quality 10 is plainly visible (> 3).
    q10, q90 = b.compute(a, _jpeg(a, 10)), b.compute(a, _jpeg(a, 90))
    assert q10 > 3 and q10 > q90 > v1
    # Gray images are measured (as RGB with equal channels: the 2017 program reads both).
    g, g10 = a[..., 0].copy(), _jpeg(a, 10)[..., 0].copy()
    rgb = np.repeat(g[..., None], 3, axis=2), np.repeat(g10[..., None], 3, axis=2)
    assert b.compute(g, g10) == b.compute(*rgb)
    # Below 11 px a side the program's answer is meaningless (0, or an abort): undefined.
    assert b.compute(a[:10, :10], 255 - a[:10, :10]) is None
    assert b.compute(a[:11, :11], 255 - a[:11, :11]) > 10
    assert b.library()["butteraugli"]  # a version, or "unknown" off Debian


@needs_butteraugli
def test_butteraugli_in_compare_per_roi(cli, tmp_path: Path, barbara_crop: np.ndarray) -> None:  # noqa: ANN001
    src = tmp_path / "b.png"
    Image.fromarray(barbara_crop).save(src)
    js, out = tmp_path / "r.json", tmp_path / "out"
    r = cli("compare", str(src), "--bpp", "0.5", "--codecs", "jpeg", "--metrics",
            "butteraugli", "--roi", "16,32,64,48", "--json", str(js), "--out", str(out))
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    (res,) = data["results"]
    recon = _png(out / "jpeg.png")
    b = load_metrics().get("butteraugli")
    whole, roi = res["metrics"]["butteraugli"], res["rois"][0]["metrics"]["butteraugli"]
    # The program on the whole pair and on the region's crops (the crop files codeccmp
    # writes): the same numbers, and different ones (a region is not the whole image).
    assert whole == b.compute(barbara_crop, recon) and whole > 1
    assert roi == b.compute(barbara_crop[32:80, 16:80], recon[32:80, 16:80])
    assert roi != whole
    assert data["settings"]["metrics"]["butteraugli"] == b.library()


# -- the documented example: ffmpeg's SSIM, read from stderr by a regex -------------------

def _doc_example(tmp_path: Path) -> Path:
    root = Path(__file__).resolve().parents[1]
    text = (root / "docs" / "metrics.md").read_text()
    block = text.split("<!-- example: ffmpeg-ssim -->\n```toml\n", 1)[1].split("```", 1)[0]
    return write(tmp_path, block, "ffmpeg-ssim.toml")


def test_documented_example_loads_with_every_field(cli, tmp_path: Path) -> None:  # noqa: ANN001
    from codeccmp_external.metric_config import _METRIC_KEYS, _VALUE_KEYS, load_metric_file

    f = _doc_example(tmp_path)
    (spec,) = load_metric_file(f)
    assert set(spec.raw) == _METRIC_KEYS  # "complete (every field there is)"
    assert set(spec.raw["value"]) == _VALUE_KEYS - {"json"}  # json: the alternative to regex
    # The error line the docs quote, for the same file with {input} in its command.
    bad = write(tmp_path, f.read_text().replace('"-i", "{decoded}"', '"-i", "{input}"'),
                "mine.toml")
    r = cli("metrics", "--metric-config", str(bad))
    assert r.code == 2
    assert one_line(r.stderr) == (
        f"error: metric config {bad}: metric 'ffmpeg-ssim': command: unknown placeholder "
        "{input} in '{input}' (known here: decoded, ffmpeg, original, out)")


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="ffmpeg not installed")
def test_documented_example_measures(tmp_path: Path, barbara_crop: np.ndarray) -> None:
    m = load_metrics([_doc_example(tmp_path)]).get("ffmpeg-ssim")
    a = barbara_crop
    assert m.compute(a, a) == 1.0
    q10, q90 = m.compute(a, _jpeg(a, 10)), m.compute(a, _jpeg(a, 90))
    assert 0 < q10 < q90 < 1
    assert m.library()["ffmpeg-ssim"][0].isdigit()  # "5.1.9-0+deb12u1", say
    assert m.compute(a[:7, :7], a[:7, :7]) is None  # min_size = 8
