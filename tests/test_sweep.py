"""Sweeps: target parsing, jobs, per-image and averaged results, CSV/JSON, CLI, the cache."""

from __future__ import annotations

import csv
import io
import json
import math
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.errors import UsageError
from codeccmp.model.images import from_array
from codeccmp.sweep.runner import SweepOptions, parse_targets, run_sweep

# A real (if simple) codec: quantise, zlib, count every encode in a file. Written to a
# file so that worker processes and the CLI load it like any --plugin.
FAKE_PLUGIN = textwrap.dedent('''
    import os, struct, zlib
    import numpy as np
    from codeccmp import hookimpl
    from codeccmp.codec import Codec, CodecError, Encoded, ParamSpace

    def _count(name):
        path = os.environ.get("FAKE_COUNT_FILE")
        if path:
            with open(path, "a") as f:
                f.write(name + "\\n")

    class Quant(Codec):
        """Quantisation step 101 - q, then zlib: more quality, more bytes."""
        name = "quant"
        description = "test codec"
        param_space = ParamSpace("quality", "integer", 1, 100)

        def encode(self, image, param):
            _count(self.name)
            step = 101 - int(param)
            q = (image.astype(np.int32) // step).astype(np.uint8)
            shape = image.shape + (1,) * (3 - image.ndim)
            head = struct.pack(">HHHB", *shape, step)
            return Encoded(head + zlib.compress(q.tobytes(), 9), param, {"step": step})

        def decode(self, data):
            h, w, c, step = struct.unpack(">HHHB", data[:7])
            q = np.frombuffer(zlib.decompress(data[7:]), np.uint8).reshape(h, w, c)
            out = np.clip(q.astype(np.int32) * step + step // 2, 0, 255).astype(np.uint8)
            return out[..., 0] if c == 1 else out

    class LearnedQuant(Quant):
        """Pretends to be a learned model with four discrete qualities."""
        name = "lquant"
        family = "learned"
        param_space = ParamSpace("quality", "discrete", values=(20, 50, 80, 95))

    class Broken(Quant):
        name = "broken"
        def encode(self, image, param):
            raise CodecError("this codec always fails")

    class Crash(Quant):
        name = "crash"
        def encode(self, image, param):
            os._exit(3)

    @hookimpl
    def register_codecs(register):
        for cls in (Quant, LearnedQuant, Broken, Crash):
            register(cls())
''')


def make_image(seed: int, h: int = 64, w: int = 64) -> np.ndarray:
    """A small RGB image with a grating, a gradient, an edge and some noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(2 * np.pi * (x * np.cos(0.4 + seed) + y * np.sin(0.4 + seed)) / 7)
    g = 255 * x / w
    b = np.where(y > h / 2, 190.0, 50.0)
    img = np.stack([r, g, b], axis=2) + rng.normal(0, 6, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


@pytest.fixture
def fake_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """(plugin file, encode-count file); the count file is read by :func:`count`."""
    plugin = tmp_path / "fake_codecs.py"
    plugin.write_text(FAKE_PLUGIN)
    counter = tmp_path / "encodes.txt"
    monkeypatch.setenv("FAKE_COUNT_FILE", str(counter))
    return plugin, counter


def stable(result) -> dict:  # noqa: ANN001 - CodecResult
    """A result without its timings (which differ from run to run)."""
    return {k: v for k, v in result.to_dict().items()
            if k not in ("encode_s", "decode_s", "search_s")}


def count(counter: Path, name: str | None = None) -> int:
    if not counter.exists():
        return 0
    lines = counter.read_text().split()
    return sum(1 for n in lines if name is None or n == name)


@pytest.fixture
def registry(fake_plugin: tuple[Path, Path]):
    from codeccmp.plugins import load_registry

    return load_registry([fake_plugin[0]])


def options(tmp_path: Path, plugin: Path, **kw) -> SweepOptions:
    base = dict(targets=[0.5, 1.0, 2.0], codecs=["quant"], cache_dir=tmp_path / "cache",
                jobs=1, rois=None, plugin_files=[plugin])
    base.update(kw)
    return SweepOptions(**base)


# ---------------------------------------------------------------------------- targets


def test_range_is_exact_decimal_steps() -> None:
    assert parse_targets("0.1:0.5:0.1") == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_targets("0.05:0.2:0.05") == [0.05, 0.1, 0.15, 0.2]
    # The stop is included only when a step lands on it.
    assert parse_targets("0.1:0.45:0.1") == [0.1, 0.2, 0.3, 0.4]


def test_lists_and_ranges_mix_sorted_unique() -> None:
    assert parse_targets("0.3, 0.1,0.1") == [0.1, 0.3]
    assert parse_targets("1,0.1:0.3:0.1") == [0.1, 0.2, 0.3, 1.0]
    assert parse_targets("0.25") == [0.25]


@pytest.mark.parametrize("text", [
    "", " ", "0.1,,0.2", "abc", "0.1:0.5", "0.1:0.5:0", "0.1:0.5:-0.1", "0.5:0.1:0.1",
    "0.1:x:0.1", "0", "-0.1", "30", "nan", "inf", "0.0001:10:0.0001",
])
def test_bad_targets_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_targets(text)


# ---------------------------------------------------------------------------- cache


def test_rerun_recomputes_nothing(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(1), "a")]
    first = run_sweep(img, registry, options(tmp_path, plugin))
    n = count(counter)
    assert n > 0 and first.cache["encodes"] == n
    assert all(p.result.ok for p in first.points)
    second = run_sweep(img, registry, options(tmp_path, plugin))
    assert count(counter) == n, "a rerun must not encode"
    assert second.cache["jobs_cached"] == len(second.points) == 3
    assert [p.result.to_dict() for p in second.points] == \
        [p.result.to_dict() for p in first.points]


def test_extended_sweep_reuses_trials(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(2), "a")]
    run_sweep(img, registry, options(tmp_path, plugin, targets=[0.5, 1.0]))
    before = count(counter)
    ext = run_sweep(img, registry, options(tmp_path, plugin, targets=[0.5, 1.0, 1.5]))
    new_encodes = count(counter) - before
    # The new target's search starts at the ends and middle of the range like the others:
    # those trials are cached, only the last few steps are new.
    fresh = run_sweep(img, registry, options(tmp_path / "other", plugin, targets=[1.5]))
    assert new_encodes == ext.cache["encodes"] < fresh.cache["encodes"]
    assert [p.cached for p in ext.points] == [True, True, False]
    by_target = {p.value: p.result for p in ext.points}
    assert stable(by_target[1.5]) == stable(fresh.points[0].result)


def test_no_cache_forces_recompute(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(3), "a")]
    run_sweep(img, registry, options(tmp_path, plugin))
    n = count(counter)
    forced = run_sweep(img, registry, options(tmp_path, plugin, cache_read=False))
    assert count(counter) == 2 * n
    assert forced.cache["jobs_cached"] == 0
    # The forced run refreshed the cache: a normal rerun is free again.
    run_sweep(img, registry, options(tmp_path, plugin))
    assert count(counter) == 2 * n


def test_changed_settings_miss_the_cache(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(4), "a")]
    run_sweep(img, registry, options(tmp_path, plugin))
    n = count(counter)
    # Another image: new keys.
    run_sweep([from_array(make_image(5), "b")], registry, options(tmp_path, plugin))
    assert count(counter) > n
    # Another tolerance: results are recomputed, but every encoding comes from the cache.
    m = count(counter)
    res = run_sweep(img, registry, options(tmp_path, plugin, tolerance=0.2))
    assert count(counter) == m and res.cache["jobs_cached"] == 0


def test_corrupt_result_entry_is_recomputed(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(6), "a")]
    first = run_sweep(img, registry, options(tmp_path, plugin))
    entries = sorted((tmp_path / "cache").rglob("results/*/*"))
    assert len(entries) == 3
    entries[0].write_bytes(entries[0].read_bytes()[:-7])  # truncated
    entries[1].write_bytes(b"garbage")
    again = run_sweep(img, registry, options(tmp_path, plugin))
    assert again.cache["corrupt"] == 2 and again.cache["jobs_cached"] == 1
    assert [p.result.psnr for p in again.points] == [p.result.psnr for p in first.points]
    # ... and overwritten with good entries.
    third = run_sweep(img, registry, options(tmp_path, plugin))
    assert third.cache["jobs_cached"] == 3 and third.cache["corrupt"] == 0


def test_cache_disabled_entirely(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(7), "a")]
    run_sweep(img, registry, options(tmp_path, plugin, cache=False))
    run_sweep(img, registry, options(tmp_path, plugin, cache=False))
    assert not (tmp_path / "cache").exists()
    assert count(counter) > 0


# ---------------------------------------------------------------------------- results


def test_folder_per_image_and_averaged(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, _ = fake_plugin
    imgs = [from_array(make_image(s), f"img{s}") for s in (1, 2)]
    res = run_sweep(imgs, registry, options(tmp_path, plugin, codecs=["quant", "jpeg"],
                                            anchor="jpeg"))
    assert len(res.points) == 2 * 2 * 3
    assert all(p.result.ok for p in res.points)
    for a in res.averaged:
        per = [p.result for p in res.points if p.result.codec == a.codec and p.value == a.value]
        assert a.n == a.n_images == 2 and a.complete
        assert a.bpp == pytest.approx(np.mean([r.bpp for r in per]))
        assert a.psnr == pytest.approx(np.mean([r.psnr for r in per]))
    # Three points per curve: too few for a BD number, and the table says why.
    bd = res.bd["psnr"]["quant"]
    assert bd["bd_rate_percent"] is None and "needs 4" in bd["reason"]
    assert set(res.bd_per_image["psnr"]["quant"][0]) >= {"image", "bd_rate_percent"}


def test_csv_and_json(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, _ = fake_plugin
    imgs = [from_array(make_image(s), f"img{s}") for s in (1, 2)]
    res = run_sweep(imgs, registry, options(tmp_path, plugin,
                                            targets=parse_targets("0.5:2:0.5")))
    rows = list(csv.DictReader(io.StringIO(res.to_csv())))
    assert len([r for r in rows if r["scope"] == "image"]) == 8
    means = [r for r in rows if r["scope"] == "mean"]
    assert [float(r["target_bpp"]) for r in means] == [0.5, 1.0, 1.5, 2.0]
    assert all(r["n"] == "2" and r["status"] == "ok" for r in means)
    d = json.loads(res.to_json())
    assert d["schema"] == "codeccmp-sweep/2"
    assert len(d["points"]) == 8 and len(d["averaged"]) == 4 and len(d["images"]) == 2
    assert d["targets"] == [0.5, 1.0, 1.5, 2.0]
    assert d["points"][0]["result"]["codec"] == "quant"
    res.write_json(tmp_path / "s.json")
    res.write_csv(tmp_path / "s.csv")
    assert json.loads((tmp_path / "s.json").read_text())["cache"]["jobs"] == 8


def test_all_qualities_points_are_marked(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, counter = fake_plugin
    img = [from_array(make_image(8), "a")]
    res = run_sweep(img, registry, options(tmp_path, plugin, codecs=["lquant"],
                                           all_qualities=True, targets=[1.0, 2.0]))
    q = [p for p in res.points if p.kind == "quality"]
    assert [p.value for p in q] == [20, 50, 80, 95]
    assert all(p.result.param == p.value and p.result.target_bpp is None for p in q)
    assert all("--all-qualities" in p.result.notes[-1] for p in q)
    # Every quality was encoded once; the rate-matched targets then reuse them.
    assert count(counter, "lquant") == 4
    t = [p for p in res.points if p.kind == "target"]
    assert [p.result.param in (20, 50, 80, 95) for p in t] == [True, True]


def test_average_per_quality_pins_one_parameter_for_every_image(tmp_path: Path, fake_plugin,
                                                                registry) -> None:
    """CompressAI's convention: each curve point is one fixed parameter on every image."""
    import statistics

    plugin, counter = fake_plugin
    imgs = [from_array(make_image(s), f"img{s}") for s in (1, 2, 3)]
    targets = [0.5, 1.0, 2.0, 3.0]
    res = run_sweep(imgs, registry, options(tmp_path, plugin, targets=targets,
                                            average="quality"))
    assert res.average == "quality" and res.to_dict()["average"] == "quality"
    # The pins: per target, the median (lower) of the parameters the images matched.
    want = sorted({statistics.median_low(sorted(
        p.result.param for p in res.points if p.kind == "target" and p.value == t))
        for t in targets})
    assert [a.value for a in sorted(res.averaged, key=lambda a: a.value)] == want
    assert all(a.kind == "quality" and a.param_name == "quality" for a in res.averaged)
    for a in res.averaged:
        per = [p.result for p in res.points if p.kind == "quality" and p.value == a.value]
        assert len(per) == 3 and {r.param for r in per} == {a.value}  # the same parameter
        assert a.bpp == pytest.approx(np.mean([r.bpp for r in per]))
        assert a.psnr == pytest.approx(np.mean([r.psnr for r in per]))
        assert a.encode_s == pytest.approx(np.mean([r.encode_s for r in per]))
    # Per target (the default), the same run averages rate-matched points instead.
    n = count(counter)
    by_target = run_sweep(imgs, registry, options(tmp_path, plugin, targets=targets))
    assert count(counter) == n  # all from the cache
    assert [a.value for a in by_target.averaged] == targets
    assert all(a.kind == "target" for a in by_target.averaged)


def test_pinned_params_median_low() -> None:
    from codeccmp.model.results import CodecResult
    from codeccmp.sweep.runner import SweepPoint, pinned_params

    def pt(image: int, target: float, param: int | None, ok: bool = True) -> SweepPoint:
        r = CodecResult(codec="c", family="traditional", status="ok" if ok else "failed",
                        param=param)
        return SweepPoint(image, "target", target, r)

    pts = [pt(0, 1.0, 10), pt(1, 1.0, 30), pt(2, 1.0, 20), pt(3, 1.0, 40),
           pt(0, 2.0, 50), pt(1, 2.0, 90, ok=False), pt(2, 2.0, 60)]
    # 1.0: median_low of 10, 20, 30, 40 is 20 (a value an image really used); 2.0: the
    # failed image does not vote, median_low of 50, 60 is 50.
    assert pinned_params(pts) == {"c": [20, 50]}


def test_average_must_be_target_or_quality(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, _ = fake_plugin
    with pytest.raises(UsageError, match="--average must be target or quality"):
        run_sweep([from_array(make_image(1), "a")], registry,
                  options(tmp_path, plugin, average="mean"))


def test_failures_are_per_job(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, _ = fake_plugin
    img = [from_array(make_image(9), "a")]
    res = run_sweep(img, registry, options(tmp_path, plugin, codecs=["quant", "broken"]))
    status = {(p.result.codec, p.value): p.result.status for p in res.points}
    assert all(s == "ok" for (c, _), s in status.items() if c == "quant")
    assert all(s == "failed" for (c, _), s in status.items() if c == "broken")
    assert "always fails" in res.failures()[0].result.reason


def test_process_pool_matches_in_process(tmp_path: Path, fake_plugin, registry) -> None:
    """jobs=2 runs traditional codecs in worker processes (rebuilt from the plugin file);
    the numbers must be those of an in-process run, and a crashing worker fails its own
    jobs only."""
    plugin, counter = fake_plugin
    imgs = [from_array(make_image(s), f"img{s}") for s in (1, 2)]
    local = run_sweep(imgs, registry, options(tmp_path / "a", plugin, codecs=["quant", "jpeg"]))
    pooled = run_sweep(imgs, registry, options(tmp_path / "b", plugin, codecs=["quant", "jpeg"],
                                               jobs=2))
    key = [(p.image, p.result.codec, p.value, p.result.bpp, p.result.psnr)
           for p in local.points]
    assert key == [(p.image, p.result.codec, p.value, p.result.bpp, p.result.psnr)
                   for p in pooled.points]
    # A learned codec stays in this process while the others go to the pool.
    mixed = run_sweep(imgs, registry, options(tmp_path / "d", plugin,
                                              codecs=["lquant", "quant", "jpeg"], jobs=2))
    assert {p.result.codec for p in mixed.points} == {"lquant", "quant", "jpeg"}
    assert all(p.result.status == "ok" for p in mixed.points)
    crash = run_sweep(imgs[:1], registry, options(tmp_path / "c", plugin,
                                                  codecs=["crash", "quant"], jobs=2))
    by_codec = {}
    for p in crash.points:
        by_codec.setdefault(p.result.codec, set()).add(p.result.status)
    assert by_codec == {"crash": {"failed"}, "quant": {"ok"}}
    assert all("worker process died" in p.result.reason for p in crash.points
               if p.result.codec == "crash")


def test_workers_see_the_environment_of_their_own_sweep(tmp_path: Path, fake_plugin, registry,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers fork from a forkserver that the process's first sweep started; a variable
    set after that (here the file the fake codec counts its encodes in; for a user, a
    tool's path) must reach the next sweep's workers, as it reaches a jobs=1 run."""
    plugin, first = fake_plugin
    imgs = [from_array(make_image(s), f"img{s}") for s in (1, 2)]
    one = run_sweep(imgs, registry, options(tmp_path / "a", plugin, codecs=["quant"], jobs=2))
    assert count(first) == sum(p.encodes for p in one.points) > 0
    second = tmp_path / "second.txt"
    monkeypatch.setenv("FAKE_COUNT_FILE", str(second))
    two = run_sweep(imgs, registry, options(tmp_path / "b", plugin, codecs=["quant"], jobs=2))
    assert count(second) == sum(p.encodes for p in two.points) > 0
    assert count(first) == sum(p.encodes for p in one.points)


def test_stripe_analysis_feeds_delta_theta(tmp_path: Path) -> None:
    from codeccmp.plugins import load_registry

    img = from_array(make_image(1, 96, 96), "a")
    res = run_sweep([img], load_registry(), SweepOptions(
        targets=[1.0, 2.0], codecs=["jpeg"], cache_dir=tmp_path, jobs=1, rois="auto",
        roi_count=1))
    assert all(isinstance(p.result.stripes.get("delta_theta_deg"), float) for p in res.points)
    assert all(a.delta_theta_deg is not None for a in res.averaged)


def test_bad_options(tmp_path: Path, fake_plugin, registry) -> None:
    plugin, _ = fake_plugin
    img = [from_array(make_image(1), "a")]
    for kw in ({"anchor": "jpeg"}, {"targets": []}, {"tolerance": 0}, {"jobs": 0},
               {"executor": "spark"}, {"ray_address": "x:1"}, {"codecs": ["nope"]}):
        with pytest.raises(UsageError):
            run_sweep(img, registry, options(tmp_path, plugin, **kw))
    with pytest.raises(UsageError):
        run_sweep([], registry, options(tmp_path, plugin))


# ---------------------------------------------------------------------------- CLI


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    d = tmp_path / "imgs"
    d.mkdir()
    for s in (1, 2):
        Image.fromarray(make_image(s)).save(d / f"im{s}.png")
    (d / "notes.txt").write_text("not an image")
    return d


def test_cli_sweep_folder_outputs(cli, tmp_path: Path, folder: Path, fake_plugin) -> None:
    plugin, counter = fake_plugin
    cache = tmp_path / "cache"
    args = ["sweep", str(folder), "--bpp", "0.5:2:0.5", "--codecs", "quant,jpeg",
            "--anchor", "jpeg", "--plugin", str(plugin), "--cache-dir", str(cache),
            "--roi", "none", "-j", "1", "-q"]
    r = cli(*args, "--json", str(tmp_path / "s.json"), "--csv", str(tmp_path / "s.csv"),
            "--plot", str(tmp_path / "s.png"))
    assert r.code == 0, r.stderr
    assert "mean over 2 images" in r.stdout and "BD against jpeg" in r.stdout
    assert json.loads((tmp_path / "s.json").read_text())["anchor"] == "jpeg"
    assert (tmp_path / "s.csv").read_text().startswith("scope,image,codec")
    assert (tmp_path / "s.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    n = count(counter)
    again = cli(*args)
    assert again.code == 0 and count(counter) == n
    assert "16 jobs: 16 results from the cache, 0 encodes run" in again.stderr
    forced = cli(*args, "--no-cache")
    assert forced.code == 0 and count(counter) == 2 * n
    # Outputs are not overwritten without --force.
    r = cli(*args, "--json", str(tmp_path / "s.json"))
    assert r.code == 2 and "--force" in r.stderr


@pytest.mark.parametrize("extra, message", [
    (["--bpp", "0.5:0.1:0.1"], "start is above"),
    (["--bpp", "x"], "expects numbers"),
    (["--bpp", "1", "--codecs", "nope"], "unknown codec"),
    (["--bpp", "1", "--codecs", "jpeg", "--anchor", "webp"], "not among the codecs"),
    (["--bpp", "1", "--plot", "x.gif"], "--plot must end in"),
    (["--bpp", "1", "--jobs", "0"], "--jobs"),
    (["--bpp", "1", "--executor", "spark"], "--executor"),
    (["--bpp", "1", "--ray-address", "h:1"], "--ray-address needs"),
    (["--bpp", "1", "--roi-count", "0"], "--roi-count"),
])
def test_cli_usage_errors(cli, tmp_path: Path, folder: Path, extra, message) -> None:
    r = cli("sweep", str(folder), *extra, "--cache-dir", str(tmp_path / "c"), "-q")
    assert r.code == 2
    assert message in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_cli_missing_and_empty_inputs(cli, tmp_path: Path) -> None:
    r = cli("sweep", str(tmp_path / "nope.png"), "--bpp", "1")
    assert r.code == 2 and "not found" in r.stderr
    (tmp_path / "empty").mkdir()
    r = cli("sweep", str(tmp_path / "empty"), "--bpp", "1")
    assert r.code == 2 and "no images" in r.stderr


def test_cli_failing_codec_exit_1(cli, tmp_path: Path, folder: Path, fake_plugin) -> None:
    plugin, _ = fake_plugin
    r = cli("sweep", str(folder / "im1.png"), "--bpp", "1", "--codecs", "quant,broken",
            "--plugin", str(plugin), "--cache-dir", str(tmp_path / "c"), "--roi", "none",
            "-j", "1", "-q")
    assert r.code == 1
    assert "broken: failed" in r.stderr


def test_cli_help_lists_sweep(cli) -> None:
    r = cli("--help")
    assert "sweep" in r.stdout
    r = cli("sweep", "--help")
    assert r.code == 0 and "--all-qualities" in r.stdout and "--ray-address" in r.stdout


def test_nan_free_json_with_identical_reconstruction(tmp_path: Path, fake_plugin,
                                                     registry) -> None:
    """A lossless point has PSNR inf: JSON and CSV must still be valid (null / empty)."""
    plugin, _ = fake_plugin
    img = [from_array(np.full((32, 32, 3), 100, np.uint8), "flat")]
    res = run_sweep(img, registry, options(tmp_path, plugin, targets=[8.0]))
    d = json.loads(res.to_json())
    assert d["points"][0]["result"]["status"] == "ok"
    assert all(not (isinstance(v, float) and math.isnan(v))
               for v in d["points"][0]["result"].values())
    res.to_csv()


def test_ray_executor_without_ray_says_how_to_get_it(tmp_path: Path, fake_plugin, registry,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    plugin, counter = fake_plugin
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray -> ImportError
    with pytest.raises(UsageError, match=r"codeccmp\[ray\]"):
        run_sweep([from_array(make_image(1), "a")], registry,
                  options(tmp_path, plugin, executor="ray"))
    assert count(counter) == 0


def _two_workers_sweep(tmp_path: Path) -> list[str]:
    """A sweep's arguments for two traditional codecs on two workers, on a small image."""
    img = tmp_path / "img.png"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (48, 64, 3), dtype=np.uint8)).save(img)
    return ["sweep", str(img), "--bpp", "1,2", "--codecs", "jpeg,webp", "--roi", "none",
            "-j", "2", "--no-cache", "--cache-dir", str(tmp_path / "c"), "-q"]


def test_a_long_tmpdir_keeps_the_workers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A TMPDIR too long for the forkserver's socket (107 bytes on Linux; a cluster job's
    TMPDIR) once made a sweep exit 0 with no points, then run every task here, one at a
    time. Now multiprocessing gets a folder in /tmp, as CPython 3.14 does itself: the workers
    start, the figures are those of a normal run, and nothing is left behind."""
    from conftest import run_subprocess

    args = _two_workers_sweep(tmp_path)
    normal = run_subprocess(*args, "--json", str(tmp_path / "a.json"))
    assert normal.code == 0, normal.stderr
    long_tmp = tmp_path / ("t" * 90) / ("u" * 30)
    long_tmp.mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(long_tmp))
    r = run_subprocess(*args, "--json", str(tmp_path / "b.json"))
    assert r.code == 0, r.stderr
    assert "Traceback" not in r.stderr and "could not start" not in r.stderr, r.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert len(b["points"]) == len(a["points"]) == 4 and "notes" not in b
    assert [(p["result"]["codec"], p["result"]["bpp"], p["result"]["psnr"]) for p in b["points"]] \
        == [(p["result"]["codec"], p["result"]["bpp"], p["result"]["psnr"]) for p in a["points"]]
    assert list(long_tmp.iterdir()) == []


def test_workers_that_cannot_start_fall_back_to_this_process_with_a_note(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    """Where no worker process can start at all, the work is done here, one task at a time,
    and a note says why (and, for a socket path, how to get the workers back); the figures
    are those of a normal run."""
    from codeccmp.sweep.executors import LocalExecutor

    args = _two_workers_sweep(tmp_path)
    normal = cli(*args, "--json", str(tmp_path / "a.json"))
    assert normal.code == 0, normal.stderr

    def no_pool(self, workers: int):  # noqa: ANN001, ANN202, ARG001
        raise OSError("AF_UNIX path too long")

    monkeypatch.setattr(LocalExecutor, "_pool", no_pool)
    r = cli(*args, "--json", str(tmp_path / "b.json"))
    assert r.code == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if "worker processes could not start" in ln]
    assert len(notes) == 1 and "AF_UNIX path too long" in notes[0] \
        and "in this process instead" in notes[0] and "shorter TMPDIR" in notes[0], r.stderr
    a, b = (json.loads((tmp_path / n).read_text()) for n in ("a.json", "b.json"))
    assert len(b["points"]) == len(a["points"]) == 4
    assert [(p["result"]["codec"], p["result"]["bpp"], p["result"]["psnr"]) for p in b["points"]] \
        == [(p["result"]["codec"], p["result"]["bpp"], p["result"]["psnr"]) for p in a["points"]]
    assert "notes" not in a and b["notes"] == [notes[0].split(": ", 1)[1]]


def test_default_jobs_are_the_cores_this_process_may_use(monkeypatch) -> None:  # noqa: ANN001
    """A CI runner or a container given 2 of a host's 64 cores: os.cpu_count() says 64, the
    process's CPU affinity says 2, and 2 worker processes is what the sweep may use."""
    import os

    from codeccmp.sweep.executors import LocalExecutor

    monkeypatch.setattr(os, "cpu_count", lambda: 64)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {3, 7}, raising=False)
    assert LocalExecutor(None, ()).jobs == 2  # type: ignore[arg-type]
    assert LocalExecutor(None, (), jobs=5).jobs == 5  # type: ignore[arg-type]
