"""measure and report: directional figures end to end, and reports rebuilt from JSON."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line
from PIL import Image

from codeccmp.model.results import SCHEMA, SCHEMA_V1, CodecResult, Comparison
from codeccmp.render.report import roi_finding
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
    assert data["rois"] == [{"x": 48, "y": 48, "w": 96, "h": 96}]
    (res,) = data["results"]
    (roi,) = res["rois"]
    assert roi["period_px"] == pytest.approx(8.0, abs=0.3)
    assert roi["delta_theta_deg"] == pytest.approx(delta, abs=1.0)
    assert roi["turned_share"] == (pytest.approx(0.0, abs=0.02) if delta < 20 else
                                   pytest.approx(1.0, abs=0.02))
    assert roi["kept_share"] + roi["turned_share"] == pytest.approx(1.0, abs=0.02)
    assert roi["ms_ssim"] is None and "too small" in roi["ms_ssim_note"]
    assert res["ms_ssim"] is not None  # the whole 192 px image is large enough
    assert res["stripes_image"]["delta_theta_deg"] == pytest.approx(delta, abs=1.0)
    assert "bpp" not in res  # no rate given, none invented
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


def test_measure_roi_none_skips_the_stripe_analysis(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """``--roi none`` means what it means in compare: no stripe analysis (it was read as
    'auto' and every region was measured)."""
    a = _save(tmp_path / "a.png", synthetic_grating((192, 192), 20.0, 8.0))
    b = _save(tmp_path / "b.png", synthetic_grating((192, 192), 50.0, 8.0))
    js = tmp_path / "m.json"
    r = cli("measure", str(a), str(b), "--roi", "none", "--json", str(js))
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    assert data["rois"] == [] and data["stripe_regions"] == "not measured (--roi none)"
    (res,) = data["results"]
    assert res["rois"] == [] and res["stripes_image"] is None
    assert res["psnr"] > 0 and res["ms_ssim"] is not None
    assert "Δθ" not in r.stdout and "turned" not in r.stdout
    assert "no stripe regions" not in r.stdout.lower()


@pytest.mark.parametrize("command", [["measure", "{a}", "{a}"],
                                     ["compare", "{a}", "--bpp", "1", "--codecs", "jpeg"]])
def test_a_montage_of_no_regions_is_refused_before_any_work(cli, tmp_path: Path,  # noqa: ANN001
                                                            command: list[str]) -> None:
    a = _save(tmp_path / "a.png", synthetic_grating((64, 64), 0, 8))
    m = tmp_path / "m.png"
    r = cli(*[c.format(a=a) for c in command], "--roi", "none", "--montage", str(m))
    assert r.code == 2 and r.stderr.strip() == (
        "error: --montage shows the stripe regions, and --roi none asks for none")
    assert not m.exists() and r.stdout == ""


def _result(codec: str, dtheta: float | None, kept: float, turned: float = 0.0,
            redrawn: float = 0.0, contrast: float = 0.9, turned_deg: float | None = None,
            redrawn_deg: float | None = None) -> CodecResult:
    erased = 1.0 - kept - turned - redrawn
    return CodecResult(codec=codec, family="traditional", status="ok", bpp=0.3, param=1,
                       rois=[{"x": 0, "y": 0, "w": 8, "h": 8, "delta_theta_deg": dtheta,
                              "kept_share": kept, "turned_share": turned,
                              "redrawn_share": redrawn, "erased_share": erased,
                              "turned_deg": turned_deg, "redrawn_deg": redrawn_deg,
                              "contrast_retention": contrast, "psnr": 30.0, "ms_ssim": None,
                              "period_px": 4.0}])


def test_finding_names_who_keeps_and_what_became_of_the_rest() -> None:
    cmp = Comparison(image={"path": "x.png"}, target_bpp=0.3, tolerance=0.1,
                     results=[_result("jpeg", 1.2, 0.97, 0.01), _result("avif", 0.8, 1.0),
                              _result("learned", 40.0, 0.0, 0.0, 0.47, 0.04,
                                      redrawn_deg=68.0),
                              _result("turner", 25.0, 0.2, 0.8, turned_deg=28.0),
                              _result("soft", 1.0, 0.95, contrast=0.5),
                              _result("flat", None, 0.0, contrast=0.02)],
                     rois=[{"x": 0, "y": 0, "w": 8, "h": 8}])
    s = roi_finding(cmp, 0)
    assert s.startswith("`avif` and `jpeg` keep the stripes (≥ 97.0% of stripe pixels kept, "
                        "Δθ ≤ 1.2°)"), s
    assert "kept but blurred: `soft` (contrast at the stripes' period 0.50)" in s
    # where (nearly) all is erased, how much contrast is left (a faint mesh, or flat)
    assert "`flat`: erased 100% (contrast left at their period 0.02)" in s
    assert "`learned`: erased 53%, redrawn 47% at 68°" in s  # mixed: no contrast named
    assert "`turner`: turned 80% by 28°, kept 20%" in s
    # Erased pixels never read as turned: the flat codec's finding names no angle.
    flat = "`flat`: erased 100% (contrast left at their period 0.02)"
    assert f"{flat};" in s or s.endswith(f"{flat}.")


@pytest.mark.parametrize(("kept", "dtheta", "says"), [
    (0.969, 2.44, "(≥ 96.9% of stripe pixels kept, Δθ ≤ 2.5°)"),  # not "≥ 97%", "≤ 2.4°"
    (0.9999, 1.0, "(≥ 99.9% of stripe pixels kept, Δθ ≤ 1.0°)"),  # not "every pixel"
    (1.0, 0.96, "(every stripe pixel kept, Δθ ≤ 1.0°)"),
])
def test_the_findings_bounds_hold_for_the_values_behind_them(kept: float, dtheta: float,
                                                              says: str) -> None:
    """"≥" and "≤" in a finding are bounds on the measured values, not roundings of them: a
    region whose least kept share is 96.9 % is not "≥ 97 %"."""
    cmp = Comparison(image={"path": "x.png"}, target_bpp=0.3, tolerance=0.1,
                     results=[_result("jpeg", dtheta, kept)],
                     rois=[{"x": 0, "y": 0, "w": 8, "h": 8}])
    assert f"keeps the stripes {says}" in roi_finding(cmp, 0)


def test_finding_for_a_region_without_stripes_says_so(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """A region given by hand on flat ground (no period) or on texture without stripe
    pixels keeps the plain "no stripes" sentence, not a class or a missing-result line."""
    img = np.full((128, 192), 120, np.uint8)
    img[:, 64:128] = synthetic_grating((128, 64), 30.0, 6.0)
    # ±1.5 grey levels: a period is found, but no pixel reaches the mask's RMS of 2.
    img[:, 128:] = synthetic_grating((128, 64), 30.0, 6.0, contrast=0.012)
    src = _save(tmp_path / "thirds.png", img)
    rep = tmp_path / "rep"
    r = cli("compare", str(src), "--bpp", "1", "--codecs", "jpeg", "--roi", "8,8,48,48",
            "--roi", "72,40,48,48", "--roi", "144,40,40,48", "--report", str(rep), "-q")
    assert r.code == 0, r.stderr
    cmp = Comparison.load(rep / "results.json")
    nothing = ("No periodic stripe pattern found in this region of the original, so there is "
               "nothing to measure here.")
    assert roi_finding(cmp, 0) == nothing
    assert roi_finding(cmp, 1).startswith("`jpeg` keeps the stripes")
    faint = cmp.results[0].rois[2]
    assert faint["period_px"] is not None and faint["stripe_share"] == 0.0
    assert roi_finding(cmp, 2) == nothing
    e = cmp.results[0].rois[0]
    assert e["kept_share"] is None and e["erased_share"] is None


def test_finding_of_schema_1_results_keeps_its_old_wording() -> None:
    """Old results files (overlapping turned and erased shares) are still explained."""
    r = CodecResult(codec="gone", family="traditional", status="ok", bpp=0.3, param=1,
                    rois=[{"x": 0, "y": 0, "w": 8, "h": 8, "delta_theta_deg": 40.0,
                           "turned_share": 0.6, "erased_share": 0.5,
                           "contrast_retention": 0.2, "psnr": 30.0, "ms_ssim": None}])
    cmp = Comparison(image={"path": "x.png"}, target_bpp=0.3, tolerance=0.1, results=[r],
                     rois=[{"x": 0, "y": 0, "w": 8, "h": 8}], schema=SCHEMA_V1)
    assert roi_finding(cmp, 0).startswith("Erased (wiped out rather than turned")


def test_report_reads_a_schema_1_results_file(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """A results file of schema 1 (``flip_share``, overlapping ``erased_share``) is read:
    its table shows the turned and erased shares it has, redrawn as unknown, and says
    that they overlap; a schema it does not know is refused in one line."""
    roi = {"x": 0, "y": 0, "w": 8, "h": 8, "delta_theta_deg": 36.8, "flip_share": 0.638,
           "erased_share": 0.472, "contrast_retention": 0.2, "psnr": 24.0, "ms_ssim": None,
           "spectral_shift_deg": 11.7, "n_oriented": 40, "period_px": 2.4,
           "stripe_share": 0.8}
    old = {"schema": "codeccmp-results/1", "image": {"path": "x.png", "width": 8,
                                                     "height": 8, "mode": "RGB"},
           "target_bpp": 0.3, "tolerance": 0.1, "settings": {}, "rois": [roi],
           "results": [{"codec": "learned", "family": "learned", "status": "ok",
                        "bpp": 0.3575, "nbytes": 10, "param": 0,
                        "stripes": {"delta_theta_deg": 36.8, "flip_share": 0.638,
                                    "erased_share": 0.472, "regions": 1},
                        "rois": [roi]}]}
    p = tmp_path / "old.json"
    p.write_text(json.dumps(old))
    out = tmp_path / "rep"
    r = cli("report", str(p), "--out", str(out))
    assert r.code == 0, r.stderr
    md = (out / "report.md").read_text()
    assert "| 36.8 | 64% / – / 47% |" in md
    assert "schema 1" in md and "turned and erased overlap" in md
    cmp = Comparison.load(p)
    assert cmp.schema == SCHEMA_V1 and not cmp.stripe_classes
    assert json.loads(cmp.to_json())["schema"] == SCHEMA_V1  # saved again as what it is
    old["schema"] = "codeccmp-results/9"
    p.write_text(json.dumps(old))
    r = cli("report", str(p), "--out", str(tmp_path / "rep9"))
    assert r.code == 2 and "has schema 'codeccmp-results/9'" in r.stderr


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
        assert {"delta_theta_deg", "kept_share", "turned_share", "redrawn_share",
                "erased_share", "contrast_retention", "psnr", "ms_ssim"} <= set(res["rois"][0])
        assert sum(res["rois"][0][k] for k in ("kept_share", "turned_share", "redrawn_share",
                                               "erased_share")) == pytest.approx(1.0)
        assert (rep / res["outputs"]["reconstruction"]).is_file()
    assert data["schema"] == SCHEMA
    # Rebuild from the JSON alone (into another folder), coding nothing again.
    again = tmp_path / "again"
    r = cli("report", str(rep / "results.json"), "--out", str(again))
    assert r.code == 0, r.stderr
    assert (again / "report.md").read_text() == md
    assert (again / "montage.png").is_file()
    # Existing reports are not overwritten unless asked.
    r = cli("report", str(rep / "results.json"))
    assert r.code == 2 and "exists; pass --force" in r.stderr


@pytest.mark.parametrize("with_out", [False, True])
def test_a_json_saved_beside_a_report_rebuilds_it_from_anywhere(
        cli, tmp_path: Path, with_out: bool, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """``--json`` elsewhere than the ``--report`` folder records where the reconstructions
    are as absolute paths (the --out folder's where given): it held the report's relative
    ``recon/jpeg.png``, which `codeccmp report` then looked for beside the JSON. The report's
    own results.json stays relative, so that the folder moves whole."""
    img = np.repeat(synthetic_grating((192, 256), 30.0, 6.0)[..., None], 3, axis=2)
    src = _save(tmp_path / "g.png", img)
    rep, js, out = tmp_path / "rep", tmp_path / "elsewhere" / "r.json", tmp_path / "out"
    js.parent.mkdir()
    args = ["--out", str(out)] if with_out else []
    r = cli("compare", str(src), "--bpp", "0.4", "--codecs", "jpeg,jpeg2000", "--roi",
            "32,32,64,64", "--report", str(rep), "--json", str(js), *args, "-q")
    assert r.code == 0, r.stderr
    inside = json.loads((rep / "results.json").read_text())
    outside = json.loads(js.read_text())
    for a, b in zip(inside["results"], outside["results"], strict=True):
        assert a["outputs"]["reconstruction"] == f"recon/{a['codec']}.png"
        got = Path(b["outputs"]["reconstruction"])
        assert got.is_absolute() and got.is_file()
        assert got.parent == ((out if with_out else rep / "recon").resolve())
        assert Path(b["outputs"]["bitstream"]).is_file()
    monkeypatch.chdir(tmp_path / "elsewhere")
    again = tmp_path / "again"
    r = cli("report", str(js), "--out", str(again))
    assert r.code == 0, r.stderr
    assert "not found" not in r.stderr
    assert (again / "montage.png").is_file()
    assert (again / "report.md").read_text() == (rep / "report.md").read_text()


def test_report_of_bad_json(cli, tmp_path: Path) -> None:  # noqa: ANN001
    p = tmp_path / "x.json"
    p.write_text("{not json")
    r = cli("report", str(p))
    assert r.code == 2 and r.stderr.startswith(f"error: {p} is not valid JSON")
    p.write_text('{"hello": 1}')
    r = cli("report", str(p))
    assert r.code == 2 and "not a codeccmp results file" in r.stderr


def test_measure_several_files_one_row_each_with_rates(cli, tmp_path: Path) -> None:  # noqa: ANN001
    """Three reconstructions, each with its bitstream size: same ROIs for all, bpp beside the
    metrics, one montage with a column each."""
    from scipy import ndimage

    a = synthetic_grating((192, 192), 20.0, 6.0)
    orig = _save(tmp_path / "a.png", a)
    same = _save(tmp_path / "same.png", a)
    turned = _save(tmp_path / "turned.png", synthetic_grating((192, 192), 35.0, 6.0))
    blur = np.clip(np.rint(ndimage.gaussian_filter(a.astype(float), 2.0)), 0, 255)
    blurred = _save(tmp_path / "blurred.png", blur.astype(np.uint8))
    bs = tmp_path / "turned.bin"
    bs.write_bytes(b"x" * 4608)  # 4608 bytes * 8 / 192² = 1.0 bpp
    js, mont = tmp_path / "m.json", tmp_path / "m.png"
    r = cli("measure", str(orig), str(same), str(turned), str(blurred), "--bytes", "2304",
            "--bytes", "4608", "--bytes", "1152", "--json", str(js), "--montage", str(mont))
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    assert len(data["rois"]) >= 1 and data["stripe_regions"] == len(data["rois"])
    res = data["results"]
    assert [Path(x["decoded"]["path"]).name for x in res] == ["same.png", "turned.png",
                                                              "blurred.png"]
    assert [x["bpp"] for x in res] == [0.5, 1.0, 0.25]
    assert [x["bytes"] for x in res] == [2304, 4608, 1152]
    for x in res:
        assert len(x["rois"]) == len(data["rois"])
        assert [{k: e[k] for k in "xywh"} for e in x["rois"]] == data["rois"]
    e_same, e_turn, e_blur = (x["rois"][0] for x in res)
    assert e_same["delta_theta_deg"] == 0.0 and e_same["contrast_retention"] == 1.0
    assert e_turn["delta_theta_deg"] == pytest.approx(15.0, abs=1.0)
    # Blur σ 2 on a 6 px grating: transfer exp(-(2π·2/6)²/2) = 0.11 -> erased.
    assert e_blur["contrast_retention"] == pytest.approx(0.11, abs=0.03)
    assert e_blur["erased_share"] > 0.9
    assert "turned.png" in r.stdout and "1.0000" in r.stdout
    from PIL import Image as _I

    with _I.open(mont) as im:
        assert im.width > 4 * 192  # overview + original + three columns
    # --bitstream: bpp from the file's size.
    r = cli("measure", str(orig), str(turned), "--bitstream", str(bs), "--json", str(js),
            "--force")
    assert r.code == 0, r.stderr
    (x,) = json.loads(js.read_text())["results"]
    assert x["bpp"] == 1.0 and x["bytes"] == 4608 and x["bitstream"] == str(bs)
    # --bpp per file.
    r = cli("measure", str(orig), str(same), str(turned), "--bpp", "0.3", "--bpp", "0.4",
            "--json", str(js), "--force")
    assert r.code == 0, r.stderr
    assert [x["bpp"] for x in json.loads(js.read_text())["results"]] == [0.3, 0.4]


def test_a_gray_file_is_measured_in_gray_and_leaves_the_others_in_colour(
        cli, tmp_path: Path) -> None:  # noqa: ANN001
    """A gray reconstruction among colour ones is measured against the original's gray, and
    says so in its row; the colour ones keep their figures (all were measured in gray as soon
    as one was: PSNR 25.24 → 25.70 dB, and the JSON said nothing)."""
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)
    noisy = np.clip(rgb.astype(int) + rng.integers(-20, 21, rgb.shape), 0, 255).astype(np.uint8)
    orig, colour = _save(tmp_path / "o.png", rgb), _save(tmp_path / "c.png", noisy)
    gray = _save(tmp_path / "g.png", noisy.mean(axis=2).round().astype(np.uint8))

    def results(*files: Path) -> list[dict]:
        r = cli("measure", str(orig), *map(str, files), "--roi", "none", "--json", "-")
        assert r.code == 0, r.stderr
        return json.loads(r.stdout)["results"]

    (alone,) = results(colour)
    with_gray, beside = results(gray, colour)
    assert beside == {**alone, "decoded": beside["decoded"]} and alone["notes"] == []
    assert alone["psnr"] == pytest.approx(psnr_of(rgb, noisy), abs=1e-9)
    assert with_gray["notes"] == ["gray image against a colour original: both measured in "
                                  "gray (channels averaged)"]
    from codeccmp.model.images import to_gray

    assert with_gray["psnr"] == pytest.approx(psnr_of(to_gray(rgb), to_gray(noisy)), abs=1e-9)


def psnr_of(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0 ** 2 / mse)


def test_measure_rate_errors(cli, tmp_path: Path) -> None:  # noqa: ANN001
    a = _save(tmp_path / "a.png", synthetic_grating((64, 64), 0, 8))
    r = cli("measure", str(a), str(a), str(a), "--bpp", "0.3")
    assert r.code == 2 and "--bpp given 1 time(s) for 2 decoded file(s)" in r.stderr
    r = cli("measure", str(a), str(a), "--bpp", "0.3", "--bytes", "10")
    assert r.code == 2 and "--bpp and --bytes cannot be combined" in r.stderr
    r = cli("measure", str(a), str(a), "--bitstream", str(tmp_path / "nope.bin"))
    assert r.code == 2 and "bitstream file not found" in r.stderr
    r = cli("measure", str(a), str(a), "--bytes", "0")
    assert r.code == 2 and "--bytes must be positive" in r.stderr
    r = cli("measure", str(a), str(a), "--roi-count", "0")
    assert r.code == 2 and one_line(r.stderr) == "error: --roi-count must be at least 1, got 0"


def test_measure_and_report_say_when_there_are_no_stripes(cli, tmp_path: Path) -> None:  # noqa: ANN001
    rng = np.random.default_rng(0)
    from scipy import ndimage

    tex = ndimage.gaussian_filter(rng.normal(0, 1, (192, 256)), 1.2)
    img = np.clip(128 + 40 * tex / tex.std(), 0, 255).astype(np.uint8)
    src = _save(tmp_path / "t.png", np.repeat(img[..., None], 3, axis=2))
    js = tmp_path / "m.json"
    r = cli("measure", str(src), str(src), "--json", str(js))
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    assert data["rois"] == [] and data["stripe_regions"].startswith("no stripe regions found")
    assert "No stripe regions found: the stripe analysis found nothing to measure" in r.stdout
    rep = tmp_path / "rep"
    r = cli("compare", str(src), "--bpp", "0.5", "--codecs", "jpeg", "--report", str(rep), "-q")
    assert r.code == 0, r.stderr
    md = (rep / "report.md").read_text()
    assert ("## Stripe regions\n\nNo stripe regions found: the stripe analysis found nothing "
            "to measure.") in md
    assert not (rep / "montage.png").exists()
    res = json.loads((rep / "results.json").read_text())["results"][0]
    assert res["stripes"]["regions"] == 0
    assert res["stripes"]["note"].startswith("no stripe regions found")


def test_captions_and_table_say_what_they_show() -> None:
    from rich.console import Console

    from codeccmp.render.report import montage_caption
    from codeccmp.render.tables import results_table

    r = _result("learned", 40.0, 0.1, 0.2, 0.3, contrast=0.8, turned_deg=25.0,
                redrawn_deg=57.0)
    r.ms_ssim = 0.95
    cap = montage_caption(r, 0)
    assert cap.splitlines() == ["0.300 bpp  MS-SSIM 0.9500 (image)",
                                "ROI: Δθ 40.0°  contrast 0.80",
                                "kept 10%  turned 20% by 25°  redrawn 30% at 57°  erased 40%"]
    # A table over results whose stripe analysis found no region says so under the table.
    r2 = CodecResult(codec="jpeg", family="traditional", status="ok", bpp=0.3, param=1,
                     stripes={"regions": 0, "note": "no stripe regions found: the stripe "
                              "analysis found nothing to measure", "erased_share": None})
    cmp = Comparison(image={"path": "x.png"}, target_bpp=0.3, tolerance=0.1, results=[r2])
    console = Console(width=200, record=True)
    console.print(results_table(cmp))
    text = console.export_text()
    assert "turned / redrawn / erased" in text
    assert "no stripe regions found: the stripe analysis found nothing to measure" in text


@pytest.mark.parametrize(("named", "statuses", "says"), [
    (["c0", "c1[speed=02]"], ["ok", "ok"], "codecs: c0, c1"),  # the results' labels
    (None, ["ok", "skipped", "skipped"],
     "codecs: the default set (2 of them not usable here: listed under the results)"),
    (None, ["ok", "failed"], "codecs: the default set"),
])
def test_the_header_says_which_codecs_were_asked_for(named: list[str] | None,
                                                      statuses: list[str], says: str) -> None:
    """Not "all usable" above a list of skipped codecs: the default set, and where the ones
    that did not run are listed."""
    from codeccmp.render.html import _summary
    from codeccmp.render.report import codecs_text

    results = [CodecResult(f"c{i}", "traditional", s) for i, s in enumerate(statuses)]
    cmp = Comparison(image={"path": "x.png"}, target_bpp=0.3, tolerance=0.1, results=results,
                     settings={"codecs": named} if named else {})
    assert f"codecs: {codecs_text(cmp)}" == says
    assert says in _summary(cmp, [])
