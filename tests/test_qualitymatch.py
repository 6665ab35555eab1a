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
