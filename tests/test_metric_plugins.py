"""Metrics as plugins: the documented example, the built-ins, --metrics and codeccmp metrics."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.errors import UsageError
from codeccmp.plugins import load_metrics

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def metric_example_source() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), flags=re.S)
    (block,) = [b for b in blocks if "def register_metrics" in b]
    return block


@pytest.fixture
def mae_plugin(tmp_path: Path) -> Path:
    p = tmp_path / "codeccmp_mae.py"
    p.write_text(metric_example_source())
    return p


@pytest.fixture
def image_file(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    p = tmp_path / "in.png"
    Image.fromarray(rgb_image).save(p)
    return p


def test_docs_metric_example_runs_through_compare(cli, mae_plugin: Path, image_file: Path,  # noqa: ANN001
                                                  tmp_path: Path) -> None:
    r = cli("metrics", "--plugin", str(mae_plugin), "--json")
    assert r.code == 0, r.stderr
    rows = {x["metric"]: x for x in json.loads(r.stdout)}
    assert rows["mae"]["better"] == "lower" and rows["mae"]["usable"] == "yes"
    assert rows["psnr"]["plugin"] != rows["mae"]["plugin"]
    out, js = tmp_path / "out", tmp_path / "r.json"
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics",
            "mae,psnr,ssim,ms-ssim-db", "--plugin", str(mae_plugin), "--out", str(out),
            "--json", str(js), "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    res = json.loads(js.read_text())["results"][0]
    recon = np.asarray(Image.open(out / "jpeg.png")).astype(float)
    orig = np.asarray(Image.open(image_file)).astype(float)
    # Known answer from the decoded file; the built-ins equal the fixed fields.
    assert res["metrics"]["mae"] == pytest.approx(np.abs(orig - recon).mean(), rel=1e-12)
    assert res["metrics"]["psnr"] == res["psnr"]
    assert res["metrics"]["ssim"] == res["ssim"]
    assert res["metrics"]["ms-ssim-db"] == res["ms_ssim_db"]
    settings = json.loads(js.read_text())["settings"]["metrics"]
    assert settings["mae"] == {"numpy": np.__version__}
    assert "mae" in r.stdout  # a table column


def test_psnr_y_uses_the_documented_luma_weights() -> None:
    reg = load_metrics()
    a = np.full((8, 8, 3), 100, np.uint8)
    b = a.copy()
    b[..., 1] += 10  # error only in green: luma error = Kg * 10
    for name, kg in (("psnr-y", 0.7152), ("psnr-y601", 0.587)):
        want = 10 * math.log10(255**2 / (kg * 10) ** 2)
        assert reg.get(name).compute(a, b) == pytest.approx(want, rel=1e-12)
    gray = np.full((8, 8), 50, np.uint8)
    assert reg.get("psnr-y").compute(gray, gray + 5) == pytest.approx(
        10 * math.log10(255**2 / 25))


def test_unknown_or_empty_metric_is_a_usage_error(cli, image_file: Path) -> None:  # noqa: ANN001
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics",
            "psnr,nope")
    assert r.code == 2
    assert "unknown metric 'nope'" in r.stderr and "ms-ssim" in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics", "psnr,,")
    assert r.code == 2 and "--metrics" in r.stderr


def test_failing_metric_fails_alone(tmp_path: Path, image_file: Path, cli) -> None:  # noqa: ANN001
    p = tmp_path / "bad_metric.py"
    p.write_text(
        "from codeccmp import hookimpl\nfrom codeccmp.metric import Metric\n"
        "class Bad(Metric):\n    name = 'bad'\n"
        "    def compute(self, a, b):\n        raise ValueError('boom')\n"
        "@hookimpl\ndef register_metrics(register):\n    register(Bad())\n")
    js = tmp_path / "r.json"
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics",
            "bad,psnr-y", "--plugin", str(p), "--json", str(js), "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    res = json.loads(js.read_text())["results"][0]
    assert res["status"] == "ok"
    assert res["metrics"]["bad"] is None and res["metrics"]["psnr-y"] > 20
    assert any("bad: ValueError: boom" in n for n in res["notes"])


def test_duplicate_metric_name_is_a_clear_error(tmp_path: Path) -> None:
    p = tmp_path / "dup.py"
    p.write_text(
        "from codeccmp import hookimpl\nfrom codeccmp.metric import Metric\n"
        "class P(Metric):\n    name = 'psnr'\n"
        "@hookimpl\ndef register_metrics(register):\n    register(P())\n")
    with pytest.raises(UsageError, match="metric name 'psnr' registered twice"):
        load_metrics([p])


def test_lpips_without_weights_says_so(cli, tmp_path: Path, image_file: Path,  # noqa: ANN001
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CODECCMP_METRIC_WEIGHTS", str(tmp_path / "none"))
    m = load_metrics().get("lpips")
    reason = m.availability()
    assert reason is not None
    if "package" not in reason:  # piq/torchvision present: the weights are what is missing
        assert reason.startswith("weights missing") and str(tmp_path / "none") in reason
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics", "lpips")
    assert r.code == 2 and "metric lpips is not usable here" in r.stderr


def test_sweep_csv_and_json_carry_the_metrics(cli, tmp_path: Path, image_file: Path) -> None:  # noqa: ANN001
    csv_path, js = tmp_path / "s.csv", tmp_path / "s.json"
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics",
            "psnr-y,psnr", "--csv", str(csv_path), "--json", str(js), "--jobs", "1",
            "--no-cache", "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    header, row = csv_path.read_text().splitlines()[:2]
    cols = dict(zip(header.split(","), row.split(","), strict=True))
    point = json.loads(js.read_text())["points"][0]["result"]
    assert float(cols["metric:psnr-y"]) == point["metrics"]["psnr-y"]
    assert float(cols["metric:psnr"]) == float(cols["psnr"])


@pytest.mark.parametrize("name", ["vif", "fsim", "gmsd", "haarpsi", "ssimulacra2", "flip"])
def test_perceptual_metrics_rank_more_noise_worse(name: str) -> None:
    m = load_metrics().get(name)
    if m.availability():
        pytest.skip(m.availability())
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:96, :96]
    a = np.stack([(128 + 90 * np.sin(xx / 3 + c)) for c in range(3)], -1).astype(np.uint8)
    a = np.ascontiguousarray(a)

    def noisy(s: float) -> np.ndarray:
        return np.clip(a + rng.normal(0, s, a.shape), 0, 255).astype(np.uint8)

    same, light, heavy = m.compute(a, a), m.compute(a, noisy(4)), m.compute(a, noisy(30))
    assert m.better(light, heavy), (light, heavy)
    assert m.better(same, light) or same == pytest.approx(light, abs=1e-6), (same, light)
    perfect = {"vif": 1.0, "fsim": 1.0, "gmsd": 0.0, "haarpsi": 1.0, "ssimulacra2": 100.0,
               "flip": 0.0}[name]
    assert same == pytest.approx(perfect, abs=1e-4)
