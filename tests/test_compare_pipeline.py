"""The compare pipeline field by field, on in-process fake codecs (milliseconds a test).

Written against the mutants of ``codeccmp/pipeline/compare.py`` that survived the CLI tests
(benchmarks/mutation/run.py): every field a result, a comparison and its image record
carry is checked against a value computed here independently (bytes counted, pixels decoded,
metrics recomputed), and every way a codec can fail, skip, ask for gray replication or report
progress is exercised once. The fake codec stores its quantised pixels in the bitstream, so a
reconstruction is decoded from the bytes alone and its size is known to the byte.
"""

from __future__ import annotations

import struct
import threading
import time

import numpy as np
import pytest

from codeccmp.codec import Codec, CodecUnavailable, Encoded, ParamSpace, RunSettings
from codeccmp.errors import UsageError
from codeccmp.measure.metrics import ms_ssim_db, psnr, ssim_ms_ssim
from codeccmp.metric import Metric
from codeccmp.model.images import SourceImage, to_gray, to_rgb
from codeccmp.pipeline.compare import (
    CompareOptions,
    code_with,
    compare_image,
    image_record,
    measure,
    run_codec,
    select_codecs,
    validate_bpp,
)
from codeccmp.pipeline.qualitymatch import QualityTarget
from codeccmp.pipeline.ratematch import Trial
from codeccmp.stripes import Roi, synthetic_grating

#: Bytes per quality step: quality q adds q * STEP bytes of padding to the pixels.
STEP = 40


class Levels(Codec):
    """Quality q in 1..8 keeps the top q bits of every value (decoded at the bin's middle);
    the bitstream holds a header, those q bits per value packed, and q·STEP bytes of
    padding."""

    family = "traditional"
    extension = "lvl"
    param_space = ParamSpace("quality", "integer", 1, 8)

    def __init__(self, name: str = "levels", family: str = "traditional",
                 supports_gray: bool = True) -> None:
        self.name, self.family, self.supports_gray = name, family, supports_gray
        self.seen_shapes: list[tuple[int, ...]] = []
        self.settings: RunSettings | None = None

    def configure(self, settings: RunSettings) -> None:
        self.settings = settings

    def library(self) -> dict[str, str]:
        return {"fakelib": "1.2"}

    def device(self) -> str:
        return "abacus"

    @staticmethod
    def quantise(image: np.ndarray, q: int) -> np.ndarray:
        s = 8 - int(q)
        return ((image >> s) << s) + ((1 << s) >> 1) if s else image.copy()

    @classmethod
    def size(cls, image: np.ndarray, q: int) -> int:
        return 8 + -(-image.size * int(q) // 8) + int(q) * STEP

    def encode(self, image: np.ndarray, param) -> Encoded:  # noqa: ANN001
        self.seen_shapes.append(image.shape)
        q = int(param)
        h, w = image.shape[:2]
        c = 1 if image.ndim == 2 else image.shape[2]
        head = struct.pack(">HHBBH", h, w, c, q, 0)
        top = (image >> (8 - q)).reshape(-1, 1)
        bits = np.unpackbits(top, axis=1)[:, 8 - q:]
        data = head + np.packbits(bits).tobytes() + bytes(q * STEP)
        return Encoded(data, q, {"q": q, "kept_bits": q})

    def decode(self, data: bytes) -> np.ndarray:
        h, w, c, q, _ = struct.unpack(">HHBBH", data[:8])
        n = h * w * c
        bits = np.unpackbits(np.frombuffer(data[8:8 + -(-n * q // 8)], np.uint8))[:n * q]
        full = np.zeros((n, 8), np.uint8)
        full[:, 8 - q:] = bits.reshape(n, q)
        top = np.packbits(full, axis=1).reshape(-1)
        px = self.quantise(top << (8 - q), q)
        return px.reshape((h, w) if c == 1 else (h, w, c))


def _photo(h: int = 40, w: int = 48, gray: bool = False) -> np.ndarray:
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 90 * np.sin(x / 3.0 + y / 5.0), 255.0 * x / w, 40 + 3.0 * y], axis=2)
    img = np.clip(base + rng.normal(0, 6, base.shape), 0, 255).astype(np.uint8)
    return img[..., 0].copy() if gray else img


def _image(pixels: np.ndarray) -> SourceImage:
    return SourceImage(pixels, path="in/photo.png", source_mode="P", source_format="PNG",
                       sha256="ab" * 32, notes=["palette expanded"])


class Registry:
    """What ``compare_image`` asks of a registry: ``all`` and ``get`` (with aliases, as two
    spellings of one codec spec resolve to the same configured codec)."""

    def __init__(self, *codecs: Codec, aliases: dict[str, str] | None = None) -> None:
        self.codecs = {c.name: c for c in codecs}
        self.aliases = aliases or {}

    def all(self) -> list[Codec]:
        return list(self.codecs.values())

    def get(self, name: str) -> Codec:
        return self.codecs[self.aliases.get(name, name)]


def _bpp(img: np.ndarray, q: int) -> float:
    return 8 * Levels.size(img, q) / (img.shape[0] * img.shape[1])


# ------------------------------------------------------------------ validation, selection


@pytest.mark.parametrize("bpp", [0.0, -0.5, float("nan"), float("inf"), -float("inf")])
def test_bpp_that_is_not_a_positive_number_is_refused(bpp: float) -> None:
    with pytest.raises(UsageError) as e:
        validate_bpp(bpp)
    assert str(e.value) == f"--bpp must be a positive number of bits per pixel, got {bpp:g}"


def test_bpp_bounds() -> None:
    for ok in (1e-6, 0.5, 1.0, 23.99, 24.0):
        assert validate_bpp(ok) == ok
    with pytest.raises(UsageError) as e:
        validate_bpp(24.5)
    assert str(e.value) == "--bpp 24.5 is absurd: raw 8-bit RGB is 24 bpp"


def test_default_selection_puts_standard_codecs_first_and_skips_non_default() -> None:
    learned, a, b, hidden = (Levels("l", "learned"), Levels("a"), Levels("b"), Levels("h"))
    hidden.in_default_set = False
    reg = Registry(learned, a, b, hidden)
    assert select_codecs(reg, None) == [a, b, learned]
    reg = Registry(a, learned, b)
    assert select_codecs(reg, None) == [a, b, learned]


def test_named_selection_keeps_order_and_counts_two_spellings_once() -> None:
    a, b = Levels("a"), Levels("b")
    reg = Registry(a, b, aliases={"a[x=01]": "a", "a[x=1]": "a"})
    assert select_codecs(reg, ["b", "a[x=01]", "a[x=1]"]) == [b, a]
    assert select_codecs(reg, ["a", "b"]) == [a, b]
    assert select_codecs(reg, []) == []


# ------------------------------------------------------------------ a result, field by field


def test_result_fields_come_from_the_bytes_and_the_decoded_pixels() -> None:
    img = _photo()
    target = _bpp(img, 5) * 1.004  # quality 5 is 0.4 % below: within, and the closest
    codec = Levels()
    settings = RunSettings(device="cpu", weights={"x:1": "w.pth"}, offline=True,
                           weights_dir="/weights")
    t0 = time.perf_counter()
    cmp = compare_image(_image(img), Registry(codec),
                        CompareOptions(target, ["levels"], settings=settings, rois=None,
                                       warm_up=False))
    wall = time.perf_counter() - t0
    assert codec.settings is settings
    [res] = cmp.results
    recon = Levels.quantise(img, 5)
    assert (res.codec, res.family, res.status, res.reason) == ("levels", "traditional", "ok",
                                                              None)
    assert (res.param, res.param_name, res.extension) == (5, "quality", "lvl")
    assert res.nbytes == Levels.size(img, 5) == len(res.bitstream)
    assert res.bpp == pytest.approx(_bpp(img, 5), abs=0)
    assert res.target_bpp == target
    assert res.deviation == pytest.approx((res.bpp - target) / target)
    assert res.within_tolerance is True and res.notes == ["image too small for 5-scale MS-SSIM"]
    assert res.library == {"fakelib": "1.2"} and res.device == "abacus"
    assert res.settings == {"q": 5, "kept_bits": 5}
    assert np.array_equal(res.reconstruction, recon)
    assert np.array_equal(codec.decode(res.bitstream), recon)
    assert res.psnr == psnr(img, recon)
    assert res.ssim == ssim_ms_ssim(img, recon)[0] and res.ssim is not None
    assert res.ms_ssim is None and res.ms_ssim_db is None
    assert res.trials and all(set(t) == {"param", "bpp", "nbytes"} for t in res.trials)
    for t in res.trials:
        assert t["nbytes"] == Levels.size(img, t["param"])
        assert t["bpp"] == pytest.approx(_bpp(img, t["param"]), abs=0)
    assert 5 in [t["param"] for t in res.trials]
    for s in (res.encode_s, res.decode_s, res.search_s):
        assert s is not None and 0 <= s <= wall
    assert res.metrics == {} and res.rois == [] and res.stripes == {}

    assert cmp.target_bpp == target and cmp.tolerance == 0.10
    assert cmp.image == {"path": "in/photo.png", "sha256": "ab" * 32, "width": 48,
                         "height": 40, "mode": "RGB", "source_mode": "P", "format": "PNG",
                         "notes": ["palette expanded"]}
    assert cmp.settings == {"codecs": ["levels"], "device": "cpu", "offline": True,
                            "weights": {"x:1": "w.pth"}, "weights_dir": "/weights",
                            "metrics": {}, "match": None, "jump_check": True, "rois": None}
    assert cmp.rois == []
    assert cmp.environment and "codeccmp" in str(cmp.environment)


def test_image_record_of_a_gray_image() -> None:
    img = SourceImage(_photo(gray=True), path="g.pgm", source_mode="I;16",
                      source_format="PPM", sha256="0f", notes=[])
    assert image_record(img) == {"path": "g.pgm", "sha256": "0f", "width": 48, "height": 40,
                                 "mode": "L", "source_mode": "I;16", "format": "PPM",
                                 "notes": []}


def test_missed_tolerance_is_flagged_with_the_numbers() -> None:
    img = _photo()
    target = _bpp(img, 1) * 0.5  # every quality is above: the lowest is +100 % off
    options = CompareOptions(target, rois=None, warm_up=False)
    res = run_codec(Levels(), _image(img), options)
    assert res.param == 1 and res.within_tolerance is False
    dev = (res.bpp - target) / target
    assert res.deviation == pytest.approx(dev)
    assert (f"achieved {res.bpp:.3f} bpp is {dev:+.0%} from the target (tolerance ±10%)"
            in res.notes)
    wide = run_codec(Levels(), _image(img),
                     CompareOptions(target, tolerance=10.0, rois=None, warm_up=False))
    assert wide.within_tolerance is True
    assert not any(n.startswith("achieved") for n in wide.notes)


def test_without_keep_outputs_nothing_is_held_and_nothing_changes() -> None:
    img = _photo()
    kept = run_codec(Levels(), _image(img), CompareOptions(1.0, rois=None, warm_up=False))
    lean = run_codec(Levels(), _image(img),
                     CompareOptions(1.0, rois=None, warm_up=False, keep_outputs=False))
    assert kept.bitstream is not None and kept.reconstruction is not None
    assert lean.bitstream is None and lean.reconstruction is None
    assert lean.ok and (lean.param, lean.bpp, lean.psnr) == (kept.param, kept.bpp, kept.psnr)


def test_progress_reports_start_every_trial_coded_and_done() -> None:
    events: list[tuple[str, str, object, object]] = []
    res = run_codec(Levels(), _image(_photo()), CompareOptions(1.0, rois=None, warm_up=False),
                    lambda c, k, d: events.append((c, k, d, getattr(d, "status", None))))
    names = {e[0] for e in events}
    kinds = [e[1] for e in events]
    assert names == {"levels"}
    assert kinds[0] == "start" and events[0][2] is None
    assert kinds[-1] == "done" and events[-1][2] is res
    trials = [e[2] for e in events if e[1] == "trial"]
    assert kinds == ["start", *["trial"] * len(trials), "coded", "done"]
    assert events[-1][3] == "ok"  # "done" comes once measured
    assert all(isinstance(t, Trial) for t in trials)
    assert [t.param for t in trials] == [t["param"] for t in res.trials]


# ------------------------------------------------------------------ gray images


def test_gray_image_replicated_for_an_rgb_only_codec_and_averaged_back() -> None:
    img = _photo(gray=True)
    codec = Levels(supports_gray=False)
    res = run_codec(codec, _image(img), CompareOptions(1.0, rois=None, warm_up=False))
    assert res.ok, res.reason
    assert set(codec.seen_shapes) == {(40, 48, 3)}
    assert res.notes[0] == "grayscale replicated to 3 channels; decoded channels averaged"
    expected = to_gray(Levels.quantise(to_rgb(img), res.param))
    assert res.reconstruction.shape == (40, 48)
    assert np.array_equal(res.reconstruction, expected)
    assert res.psnr == psnr(img, expected)


def test_gray_image_goes_as_it_is_to_a_codec_that_takes_gray() -> None:
    img = _photo(gray=True)
    codec = Levels(supports_gray=True)
    res = run_codec(codec, _image(img), CompareOptions(1.0, rois=None, warm_up=False))
    assert res.ok and set(codec.seen_shapes) == {(40, 48)}
    assert not any("replicated" in n for n in res.notes)
    rgb = Levels(supports_gray=True)
    run_codec(rgb, _image(_photo()), CompareOptions(1.0, rois=None, warm_up=False))
    assert set(rgb.seen_shapes) == {(40, 48, 3)}


# ------------------------------------------------------------------ failures


class _Unavailable(Levels):
    def availability(self) -> str | None:
        return "needs the moon"


class _Refuses(Levels):
    def encode(self, image, param):  # noqa: ANN001, ANN201
        raise CodecUnavailable("encoder library missing")


class _Crashes(Levels):
    def encode(self, image, param):  # noqa: ANN001, ANN201
        raise RuntimeError("boom")


class _WrongShape(Levels):
    def decode(self, data: bytes) -> np.ndarray:
        return super().decode(data)[:10, :10]


class _WrongType(Levels):
    def decode(self, data: bytes) -> np.ndarray:
        return super().decode(data).astype(np.float32)


def test_unavailable_codec_is_skipped_with_its_reason() -> None:
    events: list = []
    res, recon = code_with(_Unavailable(), _image(_photo()),
                           CompareOptions(1.0, rois=None), lambda *e: events.append(e))
    assert (res.status, res.reason, recon) == ("skipped", "needs the moon", None)
    assert [e[1] for e in events] == ["start", "done"]
    res, recon = code_with(_Refuses(), _image(_photo()), CompareOptions(1.0, rois=None))
    assert (res.status, res.reason, recon) == ("skipped", "encoder library missing", None)


@pytest.mark.parametrize(("codec", "reason"), [
    (_Crashes(), "RuntimeError: boom"),
    (_WrongShape(), "ValueError: decoder returned uint8 (10, 10, 3), expected uint8 (40, 48, 3)"),
    (_WrongType(), "ValueError: decoder returned float32 (40, 48, 3), "
                   "expected uint8 (40, 48, 3)"),
])
def test_failing_codec_fails_alone_with_its_reason(codec: Codec, reason: str) -> None:
    codec.name = "bad"
    cmp = compare_image(_image(_photo()), Registry(codec, Levels()),
                        CompareOptions(1.0, ["bad", "levels"], rois=None, warm_up=False))
    bad, good = cmp.results
    assert (bad.codec, bad.status, bad.reason) == ("bad", "failed", reason)
    assert bad.reconstruction is None and bad.psnr is None
    assert (good.codec, good.status) == ("levels", "ok")


def test_a_coded_result_is_not_ok_until_measured() -> None:
    """``code_with`` hands back the result so far: marked failed until ``measure`` has
    measured it, so a caller who forgets to measure never reports it as a success."""
    res, recon = code_with(Levels(), _image(_photo()), CompareOptions(1.0, rois=None))
    assert recon is not None and res.status == "failed" and res.reason is None
    measure(res, _image(_photo()), recon, CompareOptions(1.0, rois=None))
    assert res.status == "ok"


def test_measuring_failure_marks_the_result_failed() -> None:
    res, recon = code_with(Levels(), _image(_photo()), CompareOptions(1.0, rois=None))
    measure(res, _image(_photo()), recon[:20], CompareOptions(1.0, rois=None))
    assert res.status == "failed"
    assert res.reason == ("measuring: ValueError: images differ in shape: "
                          "(40, 48, 3) vs (20, 48, 3)")
    skipped, _ = code_with(_Unavailable(), _image(_photo()), CompareOptions(1.0, rois=None))
    measure(skipped, _image(_photo()), None, CompareOptions(1.0, rois=None))
    assert skipped.status == "skipped" and skipped.psnr is None


# ------------------------------------------------------------------ metrics


class _Constant(Metric):
    def __init__(self, name: str, value: float | None) -> None:
        self.name, self.value = name, value

    def library(self) -> dict[str, str]:
        return {"constlib": "0.1"}

    def compute(self, a, b):  # noqa: ANN001, ANN201
        assert a.shape == b.shape
        return self.value


def test_extra_metrics_and_their_notes_join_the_result() -> None:
    img = _photo()
    metrics = (_Constant("half", 0.5), _Constant("none", None))
    cmp = compare_image(_image(img), Registry(Levels()),
                        CompareOptions(_bpp(img, 2), ["levels"], rois=None, warm_up=False,
                                       metrics=metrics))
    [res] = cmp.results
    assert res.metrics == {"half": 0.5, "none": None}
    assert res.notes == ["image too small for 5-scale MS-SSIM",
                         "none: undefined for this image (too small)"]
    assert cmp.settings["metrics"] == {"half": {"constlib": "0.1"},
                                       "none": {"constlib": "0.1"}}


def test_ms_ssim_measured_on_a_large_enough_image() -> None:
    img = _photo(168, 170, gray=True)
    res = run_codec(Levels(), _image(img), CompareOptions(2.0, rois=None, warm_up=False))
    ssim_v, ms = ssim_ms_ssim(img, res.reconstruction)
    assert ms is not None and (res.ssim, res.ms_ssim) == (ssim_v, ms)
    assert res.ms_ssim_db == ms_ssim_db(ms)
    assert not any("MS-SSIM" in n for n in res.notes)


# ------------------------------------------------------------------ stripes, truth, ROIs


def test_explicit_rois_are_analysed_and_recorded() -> None:
    img = synthetic_grating((96, 96), 30.0, 8.0)
    roi = Roi(16, 16, 64, 64)
    for keep in (True, False):
        cmp = compare_image(_image(img), Registry(Levels()),
                            CompareOptions(2.0, ["levels"], rois=[roi], warm_up=False,
                                           keep_outputs=keep))
        [res] = cmp.results
        assert cmp.settings["rois"] == [str(roi)] and cmp.rois == [roi.to_dict()]
        assert len(res.rois) == 1 and res.stripes["regions"] == 1
        assert (res.reconstruction is not None) == keep
    auto = compare_image(_image(img), Registry(Levels()),
                         CompareOptions(2.0, ["levels"], rois="auto", warm_up=False,
                                        roi_count=1))
    assert auto.settings["rois"] == "auto" and len(auto.rois) == 1


def test_truth_is_measured_on_the_original_and_each_reconstruction() -> None:
    from codeccmp.pipeline.analysis import truth_error

    img = synthetic_grating((96, 96), 30.0, 8.0)
    truth = {"path": "chart.json", "tiles": [{"x": 0, "y": 0, "w": 96, "h": 96,
                                              "angle_deg": 30.0, "period_px": 8.0}]}
    cmp = compare_image(_image(img), Registry(Levels()),
                        CompareOptions(2.0, ["levels"], rois=[Roi(16, 16, 64, 64)],
                                       warm_up=False, truth=truth))
    assert cmp.image["truth"] == {"path": "chart.json", "original": truth_error(img, truth)}
    [res] = cmp.results
    assert res.stripes["truth"] == truth_error(Levels.quantise(img, res.param), truth)


# ------------------------------------------------------------------ warm-up ordering


class _Warmer(Levels):
    """A codec with a warm-up that holds until released; it records the settings the
    warm-up's availability check configured it with."""

    def __init__(self, release: threading.Event, warmed: list) -> None:
        super().__init__("warmer")
        self.release, self.warmed = release, warmed

    def configure(self, settings: RunSettings) -> None:
        assert isinstance(settings, RunSettings)
        super().configure(settings)

    def warm_up(self) -> None:
        self.release.wait(10)
        self.warmed.append(self.settings)


def test_codecs_without_warm_up_run_first_and_are_measured_after_it() -> None:
    release, warmed, finished, coded_while_warming = threading.Event(), [], [], []
    warmer = _Warmer(release, warmed)

    def progress(name: str, event: str, detail: object) -> None:
        # "levels" has coded (its measuring waits for the warm-up): let the warm-up end.
        if (name, event) == ("levels", "coded"):
            coded_while_warming.append(not warmed)
            release.set()

    class _Flag(Metric):
        name = "warm-done"

        def compute(self, a, b):  # noqa: ANN001, ANN201
            finished.append(bool(warmed))
            return 1.0

    settings = RunSettings(device="cpu")
    cmp = compare_image(_image(_photo()), Registry(warmer, Levels()),
                        CompareOptions(1.0, ["warmer", "levels"], settings=settings,
                                       rois=None, metrics=(_Flag(),)), progress)
    assert [r.codec for r in cmp.results] == ["warmer", "levels"]
    assert all(r.ok for r in cmp.results)
    assert coded_while_warming == [True]
    assert warmed == [settings]
    assert finished == [True, True]


def test_the_warm_up_resolves_the_metrics_blas_before_measuring(monkeypatch) -> None:  # noqa: ANN001
    """The first SSIM would load and check SciPy's BLAS on the critical path; the warm-up
    thread does it while the codecs code."""
    from codeccmp.measure import metrics
    from codeccmp.pipeline import warmup

    monkeypatch.setattr(metrics, "_AXPY", None)
    thread = warmup.start([], RunSettings(device="cpu"))
    thread.join(30)
    assert metrics._AXPY is not None  # a checked saxpy, or False where there is none


# ------------------------------------------------------------------ --match


class _Psnr(Metric):
    name = "psnr"

    def compute(self, a, b):  # noqa: ANN001, ANN201
        return psnr(a, b)


def _match(target: float, tolerance: float, metric: Metric | None = None, **kw):  # noqa: ANN003, ANN202
    return CompareOptions(0.0, rois=None, warm_up=False,
                          match=QualityTarget(metric or _Psnr(), target, tolerance), **kw)


def test_match_records_the_quality_and_decodes_from_the_bytes() -> None:
    img = _photo()
    want = psnr(img, Levels.quantise(img, 5))
    events: list = []
    codec = Levels()
    t0 = time.perf_counter()
    cmp = compare_image(_image(img), Registry(codec),
                        _match(want, 0.01, codecs=["levels"]), lambda *e: events.append(e))
    wall = time.perf_counter() - t0
    [res] = cmp.results
    assert cmp.target_bpp is None and res.target_bpp is None
    assert cmp.settings["match"] == {"metric": "psnr", "value": want, "tolerance": 0.01,
                                     "higher_is_better": True, "library": {}}
    assert res.ok and res.param == 5 and res.within_tolerance is True
    assert res.metrics == {"psnr": want} and not any("achieved" in n for n in res.notes)
    assert np.array_equal(res.reconstruction, Levels.quantise(img, 5))
    assert np.array_equal(codec.decode(res.bitstream), res.reconstruction)
    assert res.nbytes == Levels.size(img, 5) and res.bpp == pytest.approx(_bpp(img, 5), abs=0)
    assert res.settings == {"q": 5, "kept_bits": 5}
    assert res.trials and {"param", "bpp", "nbytes", "psnr"} <= set(res.trials[0])
    assert 0 <= res.decode_s <= wall and 0 <= res.search_s <= wall
    trials = [e[2] for e in events if e[1] == "trial"]
    assert [t.param for t in trials] == [t["param"] for t in res.trials]


def test_match_missed_is_flagged_with_the_numbers() -> None:
    img = _photo()
    best = psnr(img, img)  # inf at q = 8; ask for far above every finite value
    assert best == float("inf")
    res = run_codec(Levels(), _image(img), _match(90.0, 0.25))
    v = res.metrics["psnr"]
    assert res.ok and res.within_tolerance is False
    note = (f"achieved psnr {format(v, '.4g')} is {format(v - 90.0, '+.4g')} from the target "
            "90 (tolerance ±0.25)")
    assert note in res.notes, res.notes
    low = run_codec(Levels(), _image(img), _match(1.0, 0.25))  # below every quality
    v = low.metrics["psnr"]
    assert low.param == 1 and v > 1.25
    assert (f"achieved psnr {format(v, '.4g')} is +{format(v - 1.0, '.4g')} from the target "
            "1 (tolerance ±0.25)") in low.notes, low.notes


def test_match_on_a_metric_without_a_value_says_so() -> None:
    res = run_codec(Levels(), _image(_photo()), _match(0.9, 0.01, _Constant("none", None)))
    assert res.ok, res.reason
    assert res.metrics == {"none": None} and res.within_tolerance is False
    assert "achieved none – is – from the target 0.9 (tolerance ±0.01)" in res.notes


def test_match_on_gray_with_an_rgb_only_codec() -> None:
    img = _photo(gray=True)
    codec = Levels(supports_gray=False)
    res = run_codec(codec, _image(img), _match(35.0, 5.0))
    assert res.ok, res.reason
    assert set(codec.seen_shapes) == {(40, 48, 3)}
    assert np.array_equal(res.reconstruction,
                          to_gray(Levels.quantise(to_rgb(img), res.param)))


@pytest.mark.parametrize(("codec", "reason"), [
    (_WrongShape(), "ValueError: decoder returned uint8 (10, 10, 3), expected uint8 (40, 48, 3)"),
    (_WrongType(), "ValueError: decoder returned float32 (40, 48, 3), "
                   "expected uint8 (40, 48, 3)"),
])
def test_match_with_a_bad_decoder_fails(codec: Codec, reason: str) -> None:
    res = run_codec(codec, _image(_photo()), _match(35.0, 1.0))
    assert (res.status, res.reason) == ("failed", reason)


def test_match_without_keep_outputs_holds_nothing() -> None:
    res = run_codec(Levels(), _image(_photo()), _match(35.0, 5.0, keep_outputs=False))
    assert res.ok and res.bitstream is None and res.reconstruction is None
