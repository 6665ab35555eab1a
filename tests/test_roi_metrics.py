"""Metrics that declare ``per_roi`` are measured on each ROI's crop too (JSON and report)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.measure.metrics import psnr

ROI = (16, 8, 64, 56)  # x, y, w, h inside conftest's 96×80 image


def test_per_roi_metrics_are_measured_on_the_crop(cli, tmp_path: Path,  # noqa: ANN001
                                                  image_file: Path) -> None:
    js, out, rep = tmp_path / "r.json", tmp_path / "out", tmp_path / "rep"
    r = cli("compare", str(image_file), "--bpp", "1.5", "--codecs", "jpeg", "--roi",
            ",".join(map(str, ROI)), "--metrics", "psnr-y,ssim,ms-ssim,delta-theta",
            "--json", str(js), "--out", str(out), "--quiet")
    assert r.code == 0, r.err
    (res,) = json.loads(js.read_text())["results"]
    entry = res["rois"][0]
    # psnr-y and ssim are local; ms-ssim needs 161 px; PSNR and Δθ have their own fields.
    assert set(entry["metrics"]) == {"psnr-y", "ssim"}
    x, y, w, h = ROI
    crop = (slice(y, y + h), slice(x, x + w))
    a = np.asarray(Image.open(image_file).convert("RGB"))[crop]
    b = np.asarray(Image.open(res["outputs"]["reconstruction"]).convert("RGB"))[crop]
    luma = np.array([0.2126, 0.7152, 0.0722])
    want = psnr(a.astype(np.float64) @ luma, b.astype(np.float64) @ luma)
    assert entry["metrics"]["psnr-y"] == pytest.approx(want, abs=1e-9)
    assert abs(entry["metrics"]["psnr-y"] - res["metrics"]["psnr-y"]) > 0.05  # not the image's
    assert cli("report", str(js), "--out", str(rep)).code == 0
    roi_section = (rep / "report.md").read_text().split("### ROI 1", 1)[1]
    assert "| codec | bpp | PSNR dB | MS-SSIM | psnr-y | ssim | Δθ ° |" in roi_section
    assert f" {entry['metrics']['psnr-y']:.2f} | {entry['metrics']['ssim']:.4f} |" in roi_section
