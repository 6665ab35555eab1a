"""measure and report: directional figures end to end, and reports rebuilt from JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.render.report import roi_finding
from codeccmp.results import CodecResult, Comparison
from codeccmp.stripes import synthetic_grating


def _save(path: Path, arr: np.ndarray) -> Path:
    Image.fromarray(arr).save(path)
    return path


@pytest.mark.parametrize("delta", [5.0, 30.0, 90.0])
def test_measure_rotated_grating(cli, tmp_path: Path, delta: float) -> None:  # noqa: ANN001
    a = _save(tmp_path / "a.png", synthetic_grating((192, 192), 20.0, 8.0))
    b = _save(tmp_path / "b.png", synthetic_grating((192, 192), 20.0 + delta, 8.0))
    js = tmp_path / "m.json"
    r = cli("measure", str(a), str(b), "--roi", "48,48,96,96", "--json", str(js))
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    (roi,) = data["rois"]
    assert roi["delta_theta_deg"] == pytest.approx(delta, abs=1.0)
    assert roi["flip_share"] == (pytest.approx(0.0, abs=0.02) if delta < 20 else
                                 pytest.approx(1.0, abs=0.02))
    assert roi["ms_ssim"] is None and "too small" in roi["ms_ssim_note"]
    assert data["ms_ssim"] is not None  # the whole 192 px image is large enough
    assert data["stripes_image"]["delta_theta_deg"] == pytest.approx(delta, abs=1.0)
    assert "Δθ" in r.stdout


def test_measure_errors(cli, tmp_path: Path) -> None:  # noqa: ANN001
    a = _save(tmp_path / "a.png", synthetic_grating((64, 64), 0, 8))
    b = _save(tmp_path / "b.png", synthetic_grating((64, 80), 0, 8))
    r = cli("measure", str(a), str(b))
    assert r.code == 2 and r.stderr.strip() == (
        f"error: sizes differ: {a} is 64×64, {b} is 80×64")
    r = cli("measure", str(a), str(a), "--roi", "60,60,10,10")
    assert r.code == 2 and "lies outside the 64x64 image" in r.stderr
    r = cli("measure", str(a), str(a), "--roi", "1,2,3")
    assert r.code == 2 and "bad ROI '1,2,3'" in r.stderr


def _result(codec: str, dtheta: float, flip: float, erased: float = 0.0) -> CodecResult:
    return CodecResult(codec=codec, family="traditional", status="ok", bpp=0.3, param=1,
                       rois=[{"x": 0, "y": 0, "w": 8, "h": 8, "delta_theta_deg": dtheta,
                              "flip_share": flip, "contrast_retention": 0.9, "psnr": 30.0,
                              "ms_ssim": None, "erased_share": erased}])


def test_finding_names_who_keeps_and_who_turns() -> None:
    cmp = Comparison(image={"path": "x.png"}, target_bpp=0.3, tolerance=0.1,
                     results=[_result("jpeg", 1.2, 0.01), _result("learned", 14.0, 0.35),
                              _result("avif", 0.8, 0.0), _result("blurry", 40.0, 0.6, 0.5)],
                     rois=[{"x": 0, "y": 0, "w": 8, "h": 8}])
    s = roi_finding(cmp, 0)
    assert s.startswith("`avif` and `jpeg` keep the stripes' orientation (Δθ ≤ 1.2°)")
    assert "turned: `learned` by 14.0° (35% of oriented pixels moved > 20°)" in s
    assert "wiped out rather than turned: `blurry` (50% of oriented pixels" in s
    assert "`blurry` by" not in s


def test_compare_report_and_rebuild(cli, tmp_path: Path) -> None:  # noqa: ANN001
    img = np.repeat(synthetic_grating((192, 256), 30.0, 6.0)[..., None], 3, axis=2)
    src = _save(tmp_path / "g.png", img)
    rep = tmp_path / "rep"
    r = cli("compare", str(src), "--bpp", "0.4", "--codecs", "jpeg,jpeg2000", "--roi",
            "32,32,64,64", "--roi", "128,64,64,64", "--report", str(rep), "-q")
    assert r.code == 0, r.stderr
    md = (rep / "report.md").read_text()
    for heading in ("## Results", "## Stripe regions", "### ROI 1: x=32, y=32, 64×64",
                    "### ROI 2", "## Provenance", "![ROI montage](montage.png)"):
        assert heading in md
    assert (rep / "montage.png").is_file()
    data = json.loads((rep / "results.json").read_text())
    assert data["rois"] == [{"x": 32, "y": 32, "w": 64, "h": 64},
                            {"x": 128, "y": 64, "w": 64, "h": 64}]
    for res in data["results"]:
        assert len(res["rois"]) == 2
        assert {"delta_theta_deg", "flip_share", "contrast_retention", "psnr",
                "ms_ssim"} <= set(res["rois"][0])
        assert (rep / res["outputs"]["reconstruction"]).is_file()
    # Rebuild from the JSON alone (into another folder), coding nothing again.
    again = tmp_path / "again"
    r = cli("report", str(rep / "results.json"), "--out", str(again))
    assert r.code == 0, r.stderr
    assert (again / "report.md").read_text() == md
    assert (again / "montage.png").is_file()
    # Existing reports are not overwritten unless asked.
    r = cli("report", str(rep / "results.json"))
    assert r.code == 2 and "exists; pass --force" in r.stderr


def test_report_of_bad_json(cli, tmp_path: Path) -> None:  # noqa: ANN001
    p = tmp_path / "x.json"
    p.write_text("{not json")
    r = cli("report", str(p))
    assert r.code == 2 and r.stderr.startswith(f"error: {p} is not valid JSON")
    p.write_text('{"hello": 1}')
    r = cli("report", str(p))
    assert r.code == 2 and "not a codeccmp results file" in r.stderr
