"""Tests written against deliberate bugs that once slipped through the suite
(benchmarks/mutation/deliberate_bugs.py applies each again).

Each test names the mutation it catches; every one was applied by hand and seen to fail it.
They go through public behaviour (the CLI, ``run_sweep``, ``run_codec``, the cache's
fingerprint), so that a rewrite of the internals keeps them meaningful.
"""

from __future__ import annotations

import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.codec import RunSettings
from codeccmp.model.images import from_array
from codeccmp.pipeline.compare import CompareOptions, run_codec
from codeccmp.sweep.cache import ResultCache, codec_fingerprint

# Codecs whose bitstreams have exactly the number of bytes their one parameter value says,
# so a test sets the achieved rate, and hence the deviation from the target, to the byte.
# They decode to a flat image one grey level above the source's first pixel (PSNR of a
# constant source is then 20·log10(255)). ``xfill`` is "learned" and writes
# ``settings.extra["fill"]`` extra bytes, like a learned option that changes bitstreams.
EXACT_PLUGIN = textwrap.dedent('''
    import struct
    import numpy as np
    from codeccmp import hookimpl
    from codeccmp.codec import Codec, Encoded, ParamSpace

    class ExactBytes(Codec):
        description = "test codec: bitstreams of exactly N bytes"

        def __init__(self, name, sizes, family="traditional"):
            self.name, self.family = name, family
            self.param_space = ParamSpace("bytes", "discrete", values=tuple(sizes))
            self.fill = 0

        def configure(self, settings):
            self.fill = int(settings.extra.get("fill", 0))

        def encode(self, image, param):
            h, w = image.shape[:2]
            c = 1 if image.ndim == 2 else image.shape[2]
            head = struct.pack(">HHBB", h, w, c, int(image.flat[0]))
            n = int(param) + (self.fill if self.family == "learned" else 0)
            return Encoded(head + bytes(n - len(head)), param, {"fill": self.fill})

        def decode(self, data):
            h, w, c, v = struct.unpack(">HHBB", data[:6])
            out = np.full((h, w, c), min(v + 1, 255), np.uint8)
            return out[..., 0] if c == 1 else out

    @hookimpl
    def register_codecs(register):
        for n in (91, 109, 111, 89):
            register(ExactBytes(f"exact{n}", (n,)))
        register(ExactBytes("xfill", (100,), family="learned"))
''')

#: 40 x 20 = 800 pixels: bpp = bytes / 100, so exact109 codes a 1.0 bpp target at +9 %.
H, W = 20, 40


@pytest.fixture
def exact(tmp_path: Path) -> tuple[Path, Path]:
    """(plugin file, a flat 40x20 grey PNG)."""
    plugin = tmp_path / "exact_codecs.py"
    plugin.write_text(EXACT_PLUGIN)
    image = tmp_path / "flat.png"
    Image.fromarray(np.full((H, W), 77, np.uint8)).save(image)
    return plugin, image


def _compare(cli, exact, tmp_path: Path, *extra: str) -> tuple[int, dict, str]:  # noqa: ANN001
    plugin, image = exact
    out = tmp_path / f"r{len(list(tmp_path.glob('r*.json')))}.json"
    r = cli("compare", str(image), "--bpp", "1", "--codecs", "exact109,exact111,exact91,exact89",
            "--plugin", str(plugin), "--roi", "none", "--json", str(out), "-q", *extra)
    results = ({x["codec"]: x for x in json.loads(out.read_text())["results"]}
               if out.exists() else {})
    return r.code, results, r.stderr


# ------------------------------------------- tolerance: default doubled, user's ignored


def test_default_tolerance_flags_11_not_9_percent(cli, exact, tmp_path: Path) -> None:  # noqa: ANN001
    """Mutations: the rate-match tolerance doubled (default 0.2); flagging at ±10 %."""
    code, res, err = _compare(cli, exact, tmp_path)
    assert code == 0, err
    dev = {k: v["deviation"] for k, v in res.items()}
    assert dev == pytest.approx({"exact109": 0.09, "exact111": 0.11,
                                 "exact91": -0.09, "exact89": -0.11})
    flags = {k: v["within_tolerance"] for k, v in res.items()}
    assert flags == {"exact109": True, "exact111": False, "exact91": True, "exact89": False}
    assert "+11% from the target (tolerance ±10%)" in " ".join(res["exact111"]["notes"])
    assert "exact111" in err and "exact109" not in err  # the note a user sees


@pytest.mark.parametrize("tol,within", [
    ("0.05", {"exact109": False, "exact111": False, "exact91": False, "exact89": False}),
    ("0.15", {"exact109": True, "exact111": True, "exact91": True, "exact89": True}),
    ("0.1", {"exact109": True, "exact111": False, "exact91": True, "exact89": False}),
])
def test_user_tolerance_is_used(cli, exact, tmp_path: Path, tol: str, within) -> None:  # noqa: ANN001
    """Mutation: ``compare`` ignoring --tolerance and flagging at the default."""
    code, res, err = _compare(cli, exact, tmp_path, "--tolerance", tol)
    assert code == 0, err
    assert {k: v["within_tolerance"] for k, v in res.items()} == within


@pytest.mark.parametrize("tol", ["0", "1", "-0.1", "1.5", "nan"])
@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_tolerance_out_of_range_is_a_usage_error(cli, exact, tmp_path: Path, tol: str,  # noqa: ANN001
                                                  command: str) -> None:
    """Mutation: the --tolerance range check removed. One line, exit 2, nothing written."""
    plugin, image = exact
    out = tmp_path / "r.json"
    r = cli(command, str(image), "--bpp", "1", "--codecs", "exact109", "--plugin", str(plugin),
            "--roi", "none", "--json", str(out), "--tolerance", tol, "-q",
            *(["--cache-dir", str(tmp_path / "c")] if command == "sweep" else []))
    assert r.code == 2, (r.code, r.stderr)
    assert "--tolerance must be between 0 and 1" in r.stderr
    assert not out.exists()


def test_psnr_and_bpp_through_the_cli(cli, exact, tmp_path: Path) -> None:  # noqa: ANN001
    """Known answers end to end: bpp = 8·bytes / pixels, PSNR of a one-level offset."""
    code, res, err = _compare(cli, exact, tmp_path)
    assert code == 0, err
    r = res["exact109"]
    assert r["nbytes"] == 109 and r["bpp"] == pytest.approx(8 * 109 / (H * W))
    assert r["psnr"] == pytest.approx(20 * math.log10(255), abs=1e-9)


# --------------------------------------- sweep results keyed without measurement settings


def _grating_image(n: int = 96) -> np.ndarray:
    from codeccmp.stripes import synthetic_grating

    g = synthetic_grating((n, n), 30, 6)
    return np.stack([g, g, g], axis=2)


def test_sweep_result_cache_follows_the_roi_setting(tmp_path: Path) -> None:
    """Mutation: the sweep's result key without the measurement settings. A sweep with
    ``--roi none`` then ``auto`` (or other ROIs) must not serve the result without Δθ."""
    from codeccmp.plugins import load_registry
    from codeccmp.sweep.runner import SweepOptions, run_sweep

    img = [from_array(_grating_image(), "g")]
    reg = load_registry()

    def sweep(rois, roi_count: int = 1):  # noqa: ANN001, ANN202
        return run_sweep(img, reg, SweepOptions(
            targets=[1.0], codecs=["jpeg"], cache_dir=tmp_path, jobs=1, rois=rois,
            roi_count=roi_count))

    first = sweep(None)
    assert not first.points[0].cached and not first.points[0].result.stripes
    auto = sweep("auto")
    assert not auto.points[0].cached
    assert isinstance(auto.points[0].result.stripes.get("delta_theta_deg"), float)
    assert sweep("auto").points[0].cached  # same settings: served from the cache
    from codeccmp.stripes import Roi

    explicit = sweep([Roi(10, 10, 40, 40)])
    assert not explicit.points[0].cached
    assert not sweep("auto", roi_count=2).points[0].cached


def test_measuring_code_is_part_of_the_measure_fingerprint(tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation: the metric code dropped from the sweep's measurement settings: a changed
    metric must not be served results measured by the old one."""
    import codeccmp.measure.metrics
    from codeccmp.sweep.runner import measure_fingerprint

    before = measure_fingerprint(None)
    changed = tmp_path / "metrics.py"
    changed.write_text(Path(codeccmp.measure.metrics.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(codeccmp.measure.metrics, "__file__", str(changed))
    assert measure_fingerprint(None) != before


@pytest.mark.parametrize("library", ["numpy", "scipy"])
def test_the_measuring_libraries_are_part_of_the_measure_fingerprint(
        library: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """NumPy and SciPy compute every fixed measurement (SSIM and MS-SSIM with SciPy's BLAS,
    the stripe analysis): another version of either must not be served the old results."""
    from codeccmp import installed
    from codeccmp.sweep.runner import measure_fingerprint

    before = measure_fingerprint(None)
    real = installed.version
    monkeypatch.setattr(installed, "version",
                        lambda name: "0.0.1" if name == library else real(name))
    assert measure_fingerprint(None) != before


# ------------------------------------------------------- settings.extra and the cache


def test_settings_extra_is_in_a_learned_codecs_fingerprint(exact) -> None:  # noqa: ANN001
    """Mutation: ``settings.extra`` (learned-plugin options that change bitstreams) dropped
    from the cache fingerprint."""
    from codeccmp.plugins import load_registry

    codec = load_registry([exact[0]]).get("xfill")
    fps = []
    for extra in ({}, {"fill": 1}, {"fill": 2}, {"learned_pad_multiple": 64}):
        s = RunSettings(device="cpu", extra=extra)
        codec.configure(s)
        fps.append(json.dumps(codec_fingerprint(codec, s, "cpu"), sort_keys=True, default=str))
    assert len(set(fps)) == len(fps)
    cache = ResultCache(None)
    assert len({cache.trial_key("img", json.loads(f), 100) for f in fps}) == len(fps)


def test_sweep_recomputes_when_settings_extra_changes(exact, tmp_path: Path) -> None:  # noqa: ANN001
    """The same mutation seen by a user: a sweep after changing a learned option served the
    cached bitstreams of the old one."""
    from codeccmp.plugins import load_registry
    from codeccmp.sweep.runner import SweepOptions, run_sweep

    plugin, image = exact
    img = [from_array(np.full((H, W), 77, np.uint8), "flat")]

    def sweep(fill: int):  # noqa: ANN202
        return run_sweep(img, load_registry([plugin]), SweepOptions(
            targets=[1.0], codecs=["xfill"], cache_dir=tmp_path / "c", jobs=1, rois=None,
            plugin_files=[plugin], settings=RunSettings(device="cpu", extra={"fill": fill})))

    a, b = sweep(0).points[0], sweep(50).points[0]
    assert a.result.ok and b.result.ok
    assert a.result.nbytes == 100 and b.result.nbytes == 150, (a.result, b.result)
    assert not b.cached and b.result.settings["fill"] == 50
    assert sweep(50).points[0].cached


# --------------------------------------------- learned bpp from the bytes, not the model


@pytest.fixture
def tiny_learned(learned_env, learned_states, learned_save, torch_one_thread):  # noqa: ANN001, ANN201
    """A bmshj2018-factorized codec over four tiny seeded qualities, and its settings."""
    from codeccmp_compressai.codecs import LearnedCodec

    codec = LearnedCodec("bmshj2018-factorized", "ms-ssim")
    ws = {}
    for q in (1, 2, 3, 4):
        path, _ = learned_save(learned_env.tmp / f"q{q}.pth",
                               learned_states("bmshj2018-factorized", q))
        ws[f"{codec.name}:{q}"] = str(path)
    return codec, RunSettings(device="cpu", weights=ws, offline=True)


def _learned_image() -> np.ndarray:
    rng = np.random.default_rng(3)
    y, x = np.mgrid[0:64, 0:64]
    base = np.stack([128 + 100 * np.sin(x / 3 + y / 5), 255 * x / 64, 60 + 2 * y], axis=2)
    return np.clip(base + rng.normal(0, 8, (64, 64, 3)), 0, 255).astype(np.uint8)


def test_learned_result_bpp_is_counted_from_the_bytes(tiny_learned) -> None:  # noqa: ANN001
    """Mutation: a learned result's bpp taken from the entropy model's estimate. The
    reported bpp, every trial's and the choice between qualities all come from real bytes."""
    codec, settings = tiny_learned
    img = _learned_image()
    pixels = img.shape[0] * img.shape[1]
    codec.configure(settings)
    real = {q: 8 * codec.encode(img, q).nbytes / pixels for q in (1, 2, 3, 4)}
    est = {q: codec.estimate_bpp(img, q) for q in (1, 2, 3, 4)}
    assert all(abs(real[q] - est[q]) > 0.005 for q in real), (real, est)  # tells them apart
    for target in (real[2] * 1.02, (real[2] + real[3]) / 2, real[4] * 0.98):
        res = run_codec(codec, from_array(img, "t"),
                        CompareOptions(target, settings=settings, rois=None))
        assert res.ok, res.reason
        assert res.bpp == pytest.approx(8 * len(res.bitstream) / pixels, abs=1e-12)
        assert res.bpp == pytest.approx(real[res.param], abs=1e-12)
        assert res.deviation == pytest.approx((res.bpp - target) / target)
        assert res.param == min(real, key=lambda q: abs(real[q] - target))
        for t in res.trials:
            assert t["bpp"] == pytest.approx(8 * t["nbytes"] / pixels, abs=1e-12)


# ------------------------------------------------------------- MS-SSIM dB in results


def test_reported_ms_ssim_db_is_minus_ten_log_one_minus(tmp_path: Path) -> None:
    """Mutation: MS-SSIM dB doubled. What the pipeline reports is −10·log10(1 − MS-SSIM)."""
    from codeccmp.plugins import load_registry

    img = from_array(_grating_image(192), "g")
    res = run_codec(load_registry().get("jpeg"), img, CompareOptions(1.0, rois=None))
    assert res.ok and 0.5 < res.ms_ssim < 1
    assert res.ms_ssim_db == pytest.approx(-10 * math.log10(1 - res.ms_ssim), abs=1e-9)
