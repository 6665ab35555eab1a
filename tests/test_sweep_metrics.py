"""Sweeps and the extra --metrics: averaged over images, in the CSV's mean rows, on the plot."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line
from PIL import Image

from codeccmp.model.results import CodecResult
from codeccmp.sweep.average import SweepPoint, average_points, curve


def _point(image: int, psnr: float, metrics: dict[str, float | None]) -> SweepPoint:
    r = CodecResult("jpeg", "traditional", "ok", bpp=1.0 + image, psnr=psnr, metrics=metrics)
    return SweepPoint(image=image, kind="target", value=1.0, result=r)


def test_extra_metrics_are_averaged_like_psnr() -> None:
    pts = [_point(0, 30.0, {"m": 2.0, "u": None}), _point(1, 34.0, {"m": 5.0, "u": 7.0}),
           _point(2, 38.0, {"m": 11.0, "u": 9.0})]
    (a,) = average_points(pts, {"jpeg": "traditional"}, n_images=3)
    assert a.psnr == pytest.approx(34.0)
    assert a.metrics["m"] == pytest.approx(6.0)  # (2 + 5 + 11) / 3
    assert a.metrics["u"] == pytest.approx(8.0)  # undefined on image 0: the mean of the rest
    assert a.to_dict()["metrics"] == {"m": pytest.approx(6.0), "u": pytest.approx(8.0)}
    assert curve([a], "jpeg", "metric:m") == ([2.0], [pytest.approx(6.0)])


@pytest.fixture
def two_images(tmp_path: Path, rgb_image: np.ndarray) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(rgb_image).save(d / "a.png")
    Image.fromarray(np.ascontiguousarray(rgb_image[::-1, ::-1])).save(d / "b.png")
    return d


def test_sweep_mean_rows_carry_the_mean_of_each_metric(
        cli, tmp_path: Path, two_images: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    from matplotlib import rcParams

    monkeypatch.setitem(rcParams, "svg.fonttype", "none")  # labels as <text>, to read back
    csv_path, js, svg = tmp_path / "s.csv", tmp_path / "s.json", tmp_path / "rd.svg"
    r = cli("sweep", str(two_images), "--bpp", "1,2", "--codecs", "jpeg", "--metrics",
            "psnr-y,psnr", "--csv", str(csv_path), "--json", str(js), "--plot", str(svg),
            "--plot-metric", "psnr-y", "--jobs", "1", "--no-cache", "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    data = json.loads(js.read_text())
    for target in ("1.0", "2.0"):
        per_image = [float(x["metric:psnr-y"]) for x in rows
                     if x["scope"] == "image" and float(x["target_bpp"]) == float(target)]
        (mean_row,) = [x for x in rows
                       if x["scope"] == "mean" and float(x["target_bpp"]) == float(target)]
        assert len(per_image) == 2
        assert float(mean_row["metric:psnr-y"]) == pytest.approx(sum(per_image) / 2)
        # The extra psnr is computed apart from the fixed column, and averaged apart too.
        assert float(mean_row["metric:psnr"]) == pytest.approx(float(mean_row["psnr"]))
    for a in data["averaged"]:
        assert math.isfinite(a["metrics"]["psnr-y"])
    text = svg.read_text()
    assert "psnr-y dB" in text  # the chosen metric's axis label
    assert "PSNR (dB)" not in text  # in place of the default panels


def test_plot_draws_the_chosen_axis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import rcParams

    from codeccmp.render.plots import Series, metric_panel, plot_curves

    monkeypatch.setitem(rcParams, "svg.fonttype", "none")
    s = Series("jpeg", "traditional", [{"bpp": 0.5, "metric:gmsd": 0.1},
                                       {"bpp": 1.0, "metric:gmsd": 0.05}])
    out = tmp_path / "p.svg"
    plot_curves([s], out, panels=[metric_panel("gmsd", "gmsd", False)])
    text = out.read_text()
    assert "gmsd (lower is better)" in text and "better ↓" in text


@pytest.mark.parametrize(("args", "needle"), [
    (["--plot", "PLOT", "--plot-metric", "nosuch"], "unknown metric 'nosuch'"),
    (["--plot-metric", "psnr-y"], "--plot-metric needs --plot"),
])
def test_bad_plot_metric_is_a_usage_error(cli, tmp_path: Path, image_file: Path,  # noqa: ANN001
                                          args: list[str], needle: str) -> None:
    args = [str(tmp_path / "rd.png") if a == "PLOT" else a for a in args]
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", *args, "-q")
    assert r.code == 2 and needle in one_line(r.stderr)
    assert not (tmp_path / "rd.png").exists()


def _curve_points(codec: str, rates: list[float], psnrs: list[float]) -> list:
    from codeccmp.sweep.average import AveragePoint

    return [AveragePoint(codec, "traditional", "target", b, 1, 1, bpp=b, psnr=q,
                         metrics={"psnr": q, "neg": -q}) for b, q in zip(rates, psnrs,
                                                                          strict=True)]


def test_bd_on_an_extra_metric_matches_psnr_and_handles_lower_is_better() -> None:
    from codeccmp.sweep.bd import bd_table

    rates = [0.25, 0.5, 1.0, 2.0]
    pts = [*_curve_points("a", rates, [28.0, 31.0, 34.5, 38.0]),
           *_curve_points("b", [r * 0.8 for r in rates], [28.3, 31.2, 34.6, 38.1])]
    table = bd_table(pts, ["a", "b"], "a", "akima", extra={"psnr": True, "neg": False})
    ref = table["psnr"]["b"]
    assert ref["bd_rate_percent"] < -20  # 20 % fewer bits and a little better
    assert table["metric:psnr"]["b"]["bd_rate_percent"] == pytest.approx(ref["bd_rate_percent"])
    # −PSNR with lower-is-better: the same BD-rate, BD-quality in the metric's own sign.
    neg = table["metric:neg"]["b"]
    assert neg["bd_rate_percent"] == pytest.approx(ref["bd_rate_percent"])
    assert neg["bd_quality"] == pytest.approx(-ref["bd_quality"])


def test_sweep_match_targets_quality_as_compare_does(cli, tmp_path: Path,  # noqa: ANN001
                                                     image_file: Path) -> None:
    csv_path, js = tmp_path / "m.csv", tmp_path / "m.json"
    r = cli("sweep", str(image_file), "--match", "psnr=22,26", "--codecs", "jpeg", "--csv",
            str(csv_path), "--json", str(js), "--jobs", "1", "--no-cache", "--roi", "none",
            "-q")
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    assert data["settings"]["match"] == {"metric": "psnr", "tolerance": 0.25}
    pts = {p["value"]: p for p in data["points"]}
    assert sorted(pts) == [22.0, 26.0] and {p["kind"] for p in pts.values()} == {"match"}
    for value, p in pts.items():
        res = p["result"]
        assert res["within_tolerance"] == (abs(res["psnr"] - value) <= 0.25)
        # The same search as compare --match: the same parameter on the same image.
        out = tmp_path / f"c{value:g}.json"
        c = cli("compare", str(image_file), "--match", f"psnr={value:g}", "--codecs", "jpeg",
                "--json", str(out), "--roi", "none")
        assert c.code == 0, c.stderr
        assert json.loads(out.read_text())["results"][0]["param"] == res["param"]
    assert pts[26.0]["result"]["bpp"] > pts[22.0]["result"]["bpp"]
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert sorted(float(x["target_quality"]) for x in rows if x["scope"] == "mean") == [22, 26]
    assert all(x["target_bpp"] == "" for x in rows)


@pytest.mark.parametrize(("args", "needle"), [
    (["--bpp", "1", "--match", "psnr=30"], "either --bpp"),
    ([], "either --bpp"),
    (["--match", "nosuch=3"], "unknown metric 'nosuch'"),
    (["--match", "psnr=30,abc"], "--match expects numbers"),
    (["--match", "psnr"], "expected METRIC=V1,V2"),
    (["--match", "psnr=30", "--average", "quality"], "--average quality needs --bpp"),
    (["--match", "ms-ssim=0.9,1.5"], "ms-ssim takes values in (0, 1], got 1.5"),
])
def test_bad_sweep_match_is_a_usage_error(cli, image_file: Path, args: list[str],  # noqa: ANN001
                                          needle: str) -> None:
    r = cli("sweep", str(image_file), "--codecs", "jpeg", "--roi", "none", *args, "-q")
    assert r.code == 2 and needle in one_line(r.stderr), r.stderr


def test_an_edited_metric_plugin_is_recomputed_not_read_from_the_cache(
        cli, tmp_path: Path, image_file: Path) -> None:  # noqa: ANN001
    """Cached results are keyed by the source of each --metrics metric's class, as a codec's
    bitstreams are by its: an edited metric file computes other values, so the cached ones
    (whose encodings stay cached) must not come back."""
    plugin = tmp_path / "mymetric.py"

    def sweep(value: float) -> tuple[float, dict]:
        plugin.write_text(
            "from codeccmp import Metric, hookimpl\n\n"
            "class Mine(Metric):\n    name = 'mine'\n    description = 'test'\n"
            f"    def compute(self, original, reconstruction):\n        return {value!r}\n\n"
            "@hookimpl\ndef register_metrics(register):\n    register(Mine())\n")
        js = tmp_path / f"s{value:g}.json"
        r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--metrics",
                "mine", "--plugin", str(plugin), "--cache-dir", str(tmp_path / "cache"),
                "--json", str(js), "--force", "--jobs", "1", "--roi", "none", "-q")
        assert r.code == 0, r.stderr
        data = json.loads(js.read_text())
        (point,) = data["points"]
        return point["result"]["metrics"]["mine"], data["cache"]

    assert sweep(1.0)[0] == 1.0
    again, cache = sweep(2.0)
    assert again == 2.0
    assert cache["result_hits"] == 0 and cache["trial_hits"] > 0  # encodes reused
    assert sweep(2.0)[1]["result_hits"] == 1  # unchanged: from the cache
