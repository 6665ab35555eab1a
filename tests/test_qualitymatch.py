"""Matching at equal quality: compare --match METRIC=VALUE."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.measure.metrics import psnr
from codeccmp.metric import Metric
from codeccmp.model.results import Comparison
from codeccmp.pipeline.qualitymatch import QualityTarget, match_quality


class _Jpeg(Codec):
    name, family, extension = "j", "traditional", "jpg"
    param_space = ParamSpace("quality", "integer", 1, 95)

    def encode(self, image, param):  # noqa: ANN001, ANN201
        buf = io.BytesIO()
        Image.fromarray(image).save(buf, "JPEG", quality=int(param))
        return Encoded(buf.getvalue(), param, {})

    def decode(self, data):  # noqa: ANN001, ANN201
        return np.asarray(Image.open(io.BytesIO(data)))


class _Psnr(Metric):
    name = "psnr"

    def compute(self, a, b):  # noqa: ANN001, ANN201
        return psnr(a, b)


class _Mae(Metric):
    name, higher_is_better = "mae", False

    def compute(self, a, b):  # noqa: ANN001, ANN201
        return float(np.abs(a.astype(float) - b.astype(float)).mean())


@pytest.mark.parametrize(("metric", "value"), [(_Psnr(), 22.0), (_Mae(), 14.0), (_Psnr(), 19.5)])
def test_search_finds_the_closest_quality_of_all(rgb_image: np.ndarray, metric: Metric,
                                                 value: float) -> None:
    codec = _Jpeg()

    def measure(enc: Encoded) -> float:
        return metric.compute(rgb_image, codec.decode(enc.data))

    qm = match_quality(codec, rgb_image, QualityTarget(metric, value, 0.5), measure)
    every = {q: measure(codec.encode(rgb_image, q)) for q in range(1, 96)}
    best = min(every, key=lambda q: abs(every[q] - value))
    # Known answer by brute force (JPEG quality is monotone here up to ties).
    assert abs(qm.value - value) == pytest.approx(abs(every[best] - value))
    assert len(qm.trials) <= 12  # a search, not a scan of 95 values
    assert qm.deviation == pytest.approx(qm.value - value)


def test_cli_match_records_and_flags(cli, tmp_path: Path, rgb_image: np.ndarray) -> None:  # noqa: ANN001
    img = tmp_path / "in.png"
    Image.fromarray(rgb_image).save(img)
    js = tmp_path / "r.json"
    r = cli("compare", str(img), "--match", "psnr=31", "--codecs", "jpeg,webp",
            "--json", str(js), "--roi", "none", "-q")
    assert r.code == 0, r.stderr
    d = json.loads(js.read_text())
    assert d["target_bpp"] is None and d["settings"]["match"]["metric"] == "psnr"
    for res in d["results"]:
        assert res["metrics"]["psnr"] == res["psnr"]  # the match value is the measured one
        assert res["within_tolerance"] == (abs(res["psnr"] - 31) <= 0.25)
        assert res["target_bpp"] is None and res["bpp"] > 0
    assert "at psnr 31" in r.stdout
    # The table's own PSNR dB column shows the matched metric; no second "psnr" column
    # repeating it (JSON keeps metrics["psnr"]). psnr-y is a column of its own.
    head = next(ln for ln in r.stdout.splitlines() if "codec" in ln)
    assert "PSNR dB" in head and " psnr " not in head, r.stdout
    r3 = cli("compare", str(img), "--match", "psnr=31", "--codecs", "jpeg", "--metrics",
             "psnr-y", "--roi", "none", "-q")
    head = next(ln for ln in r3.stdout.splitlines() if "codec" in ln)
    assert " psnr-y " in head and " psnr " not in head, r3.stdout
    # Δ target: the quality reached minus the target, at a fixed precision one finer than
    # the tolerance (±0.25 → two decimals) in every row.
    for res in d["results"]:
        row = next(ln for ln in r.stdout.splitlines() if ln.startswith(f"│ {res['codec']} "))
        assert f" {res['psnr'] - 31:+.2f} " in row, row
    cmp = Comparison.load(js)  # a --match file loads back
    assert cmp.target_bpp is None and len(cmp.results) == 2
    # An unreachable quality is flagged, with a note naming the miss.
    r = cli("compare", str(img), "--match", "psnr=80", "--codecs", "jpeg", "--json",
            str(tmp_path / "r2.json"), "--roi", "none", "-q")
    res = json.loads((tmp_path / "r2.json").read_text())["results"][0]
    assert res["status"] == "ok" and res["within_tolerance"] is False
    assert "achieved psnr" in r.stderr


@pytest.mark.parametrize(("args", "message"), [
    (("--bpp", "1", "--match", "psnr=30"), "either --bpp"),
    ((), "either --bpp"),
    (("--match", "psnr"), "expected METRIC=VALUE"),
    (("--match", "psnr=x"), "not a number"),
    (("--match", "nope=1"), "unknown metric 'nope'"),
    (("--match", "psnr=30", "--match-tolerance", "0"), "must be positive"),
    # Targets outside the metric's values: each metric declares its range.
    (("--match", "ms-ssim=1.5"), "ms-ssim takes values in (0, 1], got 1.5"),
    (("--match", "ms-ssim=95"), "ms-ssim takes values in (0, 1], got 95"),
    (("--match", "ssim=0"), "ssim takes values in (0, 1], got 0"),
    (("--match", "psnr=-3"), "psnr takes values in (0, inf), got -3"),
    (("--match", "psnr-y=0"), "psnr-y takes values in (0, inf), got 0"),
    (("--match", "ms-ssim-db=-1"), "ms-ssim-db takes values in (0, inf), got -1"),
    (("--match", "delta-theta=91"), "delta-theta takes values in [0, 90], got 91"),
])
def test_match_usage_errors(cli, tmp_path: Path, rgb_image: np.ndarray,  # noqa: ANN001
                            args: tuple[str, ...], message: str) -> None:
    img = tmp_path / "in.png"
    Image.fromarray(rgb_image).save(img)
    r = cli("compare", str(img), "--codecs", "jpeg", *args)
    assert r.code == 2 and message in r.stderr, r.stderr


def test_quality_search_holds_no_trial_reconstructions(rgb_image: np.ndarray) -> None:
    """Each trial's reconstruction is measured and dropped: at 24 megapixels each is 72 MB,
    and a search makes several."""
    import weakref

    from codeccmp.model.images import from_array
    from codeccmp.pipeline.compare import CompareOptions, run_codec

    alive: list[int] = []
    made: list[weakref.ref] = []

    class Tracked(_Jpeg):
        def decode(self, data):  # noqa: ANN001, ANN201
            alive.append(sum(r() is not None for r in made))
            out = np.array(super().decode(data))
            made.append(weakref.ref(out))
            return out

    res = run_codec(Tracked(), from_array(rgb_image, "t"),
                    CompareOptions(0.0, match=QualityTarget(_Psnr(), 22.0, 0.5), rois=None))
    assert res.ok and len(res.trials) >= 3
    assert max(alive) == 0, alive  # no earlier reconstruction outlived its measurement


def test_every_first_party_metric_declares_a_range_its_values_lie_in(
        rgb_image: np.ndarray) -> None:
    """The ranges refuse --match targets, so a range too narrow would refuse real values:
    each usable metric's value on an identical and a degraded pair must lie inside it
    (open ends taken as closed: a value may reach its bound, a target may not)."""
    from codeccmp.metric import ValueRange
    from codeccmp.plugins import load_metrics

    rng = np.random.default_rng(3)
    noisy = np.clip(rgb_image.astype(int) + rng.integers(-40, 41, rgb_image.shape), 0,
                    255).astype(np.uint8)
    registry = load_metrics()
    for metric in registry.all():
        if registry.plugin_of(metric.name).startswith("codeccmp_metrics"):
            assert metric.value_range != ValueRange(), f"{metric.name} declares no range"
        if metric.availability() is not None:
            continue
        for pair in [(rgb_image, noisy), (rgb_image, rgb_image)]:
            try:
                v = metric.compute(*pair)
            except Exception:  # a metric that cannot run here (weights): not this test's
                continue
            if v is not None and np.isfinite(v):
                # float32 metrics land a few ulps past their bound (piq's HaarPSI of identical
                # images: 1 + 2.4e-6): 1e-5 of slack, 40 float32 ulps at 1.
                r = metric.value_range
                assert r.low is None or v >= r.low - 1e-5, (metric.name, v, str(r))
                assert r.high is None or v <= r.high + 1e-5, (metric.name, v, str(r))


@pytest.mark.parametrize(("tolerance", "decimals"), [
    (0.0025, 4), (0.25, 2), (0.01, 3), (0.009, 4), (2.0, 1), (25.0, 0), (None, 4)])
def test_match_rows_share_one_precision(tolerance: float | None, decimals: int) -> None:
    from codeccmp.render.tables import match_decimals

    assert match_decimals(tolerance) == decimals
