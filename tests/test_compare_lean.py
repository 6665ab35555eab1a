"""`compare` at camera resolution: progress a log can show, reconstructions not hoarded,
the metrics and the stripe analysis unchanged by measuring each codec as soon as it codes,
gray codecs' channel averaging exact."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

from codeccmp.measure.metrics import psnr, ssim_ms_ssim
from codeccmp.model.images import from_array, to_gray
from codeccmp.pipeline.compare import CompareOptions, compare_image
from codeccmp.plugins import load_registry

LINE = re.compile(r"^(jpeg|webp): \d+\.\d{3} bpp \(quality \d+\), \d+ encodes?, \d+\.\d s$")


def _photo(h: int = 200, w: int = 240) -> np.ndarray:
    """Smooth shapes, a grating and a little noise: codecs reach 0.5 bpp in a few trials."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 90 * np.sin(2 * np.pi * (x * np.cos(0.7) + y * np.sin(0.7)) / 11)
    g = 255 * x / w
    b = np.where((x - w / 2) ** 2 + (y - h / 2) ** 2 < (h / 3) ** 2, 210.0, 50.0)
    img = np.stack([r, g, b], axis=2) + rng.normal(0, 4, (h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def test_progress_is_one_line_per_codec_when_stderr_is_not_a_terminal(cli, tmp_path: Path):
    path = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(path)
    r = cli("compare", str(path), "--bpp", "0.5", "--codecs", "jpeg,webp", "--roi", "none")
    assert r.code == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if LINE.match(ln)]
    assert [ln.split(":")[0] for ln in lines] == ["jpeg", "webp"], r.stderr
    # The bpp and the trial count printed are the run's own.
    assert "jpeg" in r.stdout and "webp" in r.stdout
    r = cli("compare", str(path), "--bpp", "0.5", "--codecs", "jpeg", "--roi", "none", "-q")
    assert r.code == 0 and not any(LINE.match(ln) for ln in r.stderr.splitlines()), r.stderr


def test_progress_line_reports_the_result(cli, tmp_path: Path):
    import json

    path, js = tmp_path / "photo.png", tmp_path / "r.json"
    Image.fromarray(_photo()).save(path)
    r = cli("compare", str(path), "--bpp", "0.5", "--codecs", "jpeg", "--roi", "none",
            "--json", str(js))
    assert r.code == 0, r.stderr
    res = json.loads(js.read_text())["results"][0]
    n = len(res["trials"])
    expected = (f"jpeg: {res['bpp']:.3f} bpp (quality {res['param']:g}), "
                f"{n} encode{'s' if n != 1 else ''}, ")
    assert any(ln.startswith(expected) for ln in r.stderr.splitlines()), (expected, r.stderr)


def test_progress_line_labels_the_parameter_as_the_table_does():
    """A learned checkpoint given as --weights CODEC=PATH is recorded as quality 0; the
    table calls it "ckpt", and so must the progress line."""
    from codeccmp.cli.compare import progress_line
    from codeccmp.model.results import CodecResult
    from codeccmp.render.tables import param_text

    ckpt = CodecResult("bls2017", "learned", "ok", param=0, param_name="quality", bpp=0.4123,
                       trials=[{}, {}])
    assert param_text(ckpt) == "ckpt"
    assert progress_line(ckpt, 1.25) == "bls2017: 0.412 bpp (ckpt), 2 encodes, 1.2 s"
    zoo = CodecResult("mbt2018", "learned", "ok", param=3, param_name="quality", bpp=0.5,
                      trials=[{}])
    assert progress_line(zoo, 2.0) == "mbt2018: 0.500 bpp (quality 3), 1 encode, 2.0 s"
    jpeg = CodecResult("jpeg", "traditional", "ok", param=0, param_name="quality", bpp=0.1)
    assert "(quality 0)" in progress_line(jpeg, 0.5)  # only learned codecs have checkpoints
    rate = CodecResult("jpeg2000", "traditional", "ok", param=0.4999123, param_name="rate",
                       bpp=0.5)
    assert f"(rate {param_text(rate)})" in progress_line(rate, 0.5)


def test_reconstructions_kept_only_when_asked_and_results_unchanged():
    image = from_array(_photo(), "photo")
    registry = load_registry()
    kept = compare_image(image, registry, CompareOptions(0.5, codecs=["jpeg", "webp"],
                                                         keep_outputs=True))
    lean = compare_image(image, registry, CompareOptions(0.5, codecs=["jpeg", "webp"],
                                                         keep_outputs=False))
    for a, b in zip(kept.results, lean.results, strict=True):
        assert a.ok and b.ok
        assert a.reconstruction is not None and b.reconstruction is None
        assert b.bitstream is None
        assert (a.bpp, a.psnr, a.ssim, a.ms_ssim) == (b.bpp, b.psnr, b.ssim, b.ms_ssim)
        # The stripe analysis still ran on the reconstruction it did not keep.
        assert a.stripes and a.stripes == b.stripes
        # The figures are those of the kept reconstruction.
        s, ms = ssim_ms_ssim(image.pixels, a.reconstruction)
        assert a.psnr == psnr(image.pixels, a.reconstruction) and (a.ssim, a.ms_ssim) == (s, ms)


def test_to_gray_rounds_the_mean_exactly():
    rng = np.random.default_rng(1)
    rgb = rng.integers(0, 256, (37, 41, 3), dtype=np.uint8)
    rgb[0, :3] = [[255, 255, 255], [0, 0, 1], [0, 1, 1]]  # extremes; means 1/3 and 2/3
    expected = np.clip(np.rint(rgb.astype(np.float64).mean(axis=2)), 0, 255).astype(np.uint8)
    got = to_gray(rgb)
    assert got.dtype == np.uint8 and np.array_equal(got, expected)


def test_progress_skips_unnamed_unusable_codecs(cli, tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """A plain run lists the codecs nobody named that cannot run here once, after the table,
    not as a progress line each; a codec the user named gets its line."""
    monkeypatch.setenv("CODECCMP_OFFLINE", "1")
    monkeypatch.setenv("CODECCMP_WEIGHTS_DIR", str(tmp_path))  # empty: no learned weights
    path = tmp_path / "photo.png"
    Image.fromarray(_photo(64, 80)).save(path)
    r = cli("compare", str(path), "--bpp", "1", "--roi", "none")
    assert r.code == 0, r.stderr
    assert not [ln for ln in r.stderr.splitlines() if ": skipped (" in ln], r.stderr
    assert "not usable here, skipped" in r.stderr
    r = cli("compare", str(path), "--bpp", "1", "--roi", "none", "--codecs", "jpeg,mbt2018")
    assert r.code == 1
    assert any(ln.startswith("mbt2018: skipped (") for ln in r.stderr.splitlines()), r.stderr


def test_large_images_code_every_codec_before_importing_torch_and_measuring(monkeypatch):
    """Above ``LEAN_VALUES`` no encoder runs while torch and the metrics hold memory: every
    codec codes (keeping only its bitstream), then the warm-up, decodes and measurements
    follow; the figures are those of the usual order."""
    from codeccmp.pipeline import compare, warmup

    image = from_array(_photo(), "photo")
    registry = load_registry()
    usual = compare_image(image, registry, CompareOptions(0.5, codecs=["jpeg", "webp"]))
    events: list[str] = []
    real_start = warmup.start

    def start(*a, **k):  # noqa: ANN002, ANN003, ANN202
        events.append("warm-up")
        return real_start(*a, **k)

    monkeypatch.setattr(warmup, "start", start)
    monkeypatch.setattr(compare, "release_memory", lambda: events.append("trim"))
    monkeypatch.setattr(compare, "LEAN_VALUES", image.pixels.size - 1)
    lean = compare_image(image, registry, CompareOptions(0.5, codecs=["jpeg", "webp"]),
                         progress=lambda c, e, d: events.append(f"{c} {e}"))
    assert [e for e in events if "trial" not in e] == [
        "jpeg start", "jpeg coded", "trim", "webp start", "webp coded", "trim", "warm-up",
        "jpeg done", "trim", "webp done", "trim"]
    for a, b in zip(usual.results, lean.results, strict=True):
        assert a.ok and b.ok and b.decode_s is not None and b.reconstruction is not None
        assert (a.bpp, a.psnr, a.ssim, a.ms_ssim, a.stripes) == \
            (b.bpp, b.psnr, b.ssim, b.ms_ssim, b.stripes)
        assert np.array_equal(a.reconstruction, b.reconstruction)
    monkeypatch.setattr(compare, "LEAN_VALUES", image.pixels.size)  # at the limit: as usual
    events.clear()
    compare_image(image, registry, CompareOptions(0.5, codecs=["jpeg"], rois=None),
                  progress=lambda c, e, d: events.append(f"{c} {e}"))
    assert events[0] == "warm-up" and events[-4:] == ["jpeg coded", "trim", "jpeg done", "trim"]
    assert compare._malloc_trim() is not None  # glibc here: the trim is real


def test_a_decode_failure_after_coding_gets_its_own_progress_line(cli, tmp_path, monkeypatch):
    from codeccmp_pillow.codecs import WebpCodec

    def broken(self, data):  # noqa: ANN001, ANN202
        raise OSError("truncated")

    monkeypatch.setattr(WebpCodec, "decode", broken)
    path = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(path)
    r = cli("compare", str(path), "--bpp", "0.5", "--codecs", "jpeg,webp", "--roi", "none")
    assert r.code == 1, r.stderr
    lines = r.stderr.splitlines()
    assert [ln.split(":")[0] for ln in lines if LINE.match(ln)] == ["jpeg", "webp"], r.stderr
    assert "webp: failed after coding (OSError: truncated)" in lines, r.stderr
    assert not any(ln.startswith("jpeg: failed") for ln in lines), r.stderr  # jpeg was fine


def test_a_measuring_failure_is_reported_and_a_good_codec_never_reads_as_failed(
        cli, tmp_path, monkeypatch):
    """``done`` comes after measuring: a codec that coded and decoded but whose metrics
    raised gets the failure line, and one that measured fine never does (the line used to
    come before measuring, when every result still read "failed")."""
    from codeccmp.pipeline import compare

    path = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(path)
    r = cli("compare", str(path), "--bpp", "0.5", "--codecs", "jpeg,webp", "--roi", "none")
    assert r.code == 0, r.stderr
    assert "failed" not in r.stderr, r.stderr

    def broken(a, b):  # noqa: ANN001, ANN202
        raise RuntimeError("metric broke")

    monkeypatch.setattr(compare, "psnr", broken)
    r = cli("compare", str(path), "--bpp", "0.5", "--codecs", "jpeg", "--roi", "none")
    assert r.code == 1, r.stderr
    assert "jpeg: failed after coding (measuring: RuntimeError: metric broke)" in \
        r.stderr.splitlines(), r.stderr
