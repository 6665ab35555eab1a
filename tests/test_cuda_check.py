"""``benchmarks/cuda_check.py`` on the CPU with a tiny model, so CI sees when it rots.

The script is run for real only when a GPU is lent; these tests run its pieces (the
seeded ladders, the drift check, the timing against CompressAI, the child process that
reports peaks, the input checks) in seconds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import cuda_check  # noqa: E402
import cuda_measure  # noqa: E402
import learned_ladders  # noqa: E402
from PIL import Image  # noqa: E402

from codeccmp.codec import RunSettings  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

ARCH = "bmshj2018-factorized"


def _image(h: int = 64, w: int = 80) -> np.ndarray:
    """A diagonal grating with a colour ramp: structured, so rates respond to the scale."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    r = 128 + 100 * np.sin(2 * np.pi * (xx + yy) / 7)
    return np.stack([r, 255 * xx / w, 255 * yy / h], axis=2).round().astype(np.uint8)


@pytest.fixture
def ladder(learned_env) -> tuple[RunSettings, list[dict]]:
    rgb = _image()
    rates = learned_ladders.geometric_rates(0.2, 1.6, 3)
    made = learned_ladders.make_ladder(ARCH, "tiny", rates,
                                       learned_ladders.calibration_tensor(rgb), learned_env.wdir)
    return RunSettings(device="cpu", weights_dir=str(learned_env.wdir), offline=True), made


def test_scale_for_interpolates_in_log_log_and_clamps() -> None:
    curve = [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.35)]  # the last dips: made increasing
    assert learned_ladders.scale_for(curve, 0.2) == pytest.approx(2.0)
    # 0.2·√2 is halfway between 0.2 and 0.4 in log2: halfway between scales 2 and 4.
    assert learned_ladders.scale_for(curve, 0.2 * 2**0.5) == pytest.approx(2**1.5)
    assert learned_ladders.scale_for(curve, 0.01) == 1.0  # below the curve: the lowest
    assert learned_ladders.scale_for(curve, 9.0) == 8.0  # above: the highest tried
    assert learned_ladders.geometric_rates(0.1, 0.4, 3) == pytest.approx([0.1, 0.2, 0.4])


def test_ladder_rates_are_kept_inside_what_the_model_reaches() -> None:
    """A model whose all-zero latent costs 0.2 bpp cannot make a 0.05 bpp quality: the
    ladder starts at 0.23 (15 % inside the floor) rather than repeating one model; its top,
    0.5, is reachable and stays; 2.0 is not (the model reaches 1.15: 15 % inside is 1.0)."""
    curve = [(0, 0.2), (1, 0.2), (2, 0.5), (3, 1.15)]
    assert learned_ladders.reachable(curve, [0.3, 0.6]) == [0.3, 0.6]  # inside: untouched
    got = learned_ladders.reachable(curve, [0.05, 0.1, 0.5])
    assert got == pytest.approx([0.23, (0.23 * 0.5) ** 0.5, 0.5])
    assert learned_ladders.reachable(curve, [0.3, 2.0]) == pytest.approx([0.3, 1.0])
    with pytest.raises(ValueError, match="reaches only"):
        learned_ladders.reachable([(0, 1.0), (1, 1.1)], [0.1, 0.2])


def test_ladder_rates_rise_with_quality_in_real_bytes(ladder) -> None:
    """What the rate search relies on: each quality codes the image to more bytes."""
    from codeccmp_compressai.codecs import LearnedCodec

    settings, made = ladder
    assert [q["quality"] for q in made] == [1, 2, 3]
    est = [q["estimated_bpp"] for q in made]
    assert est == sorted(est) and est[0] < est[-1]
    codec = LearnedCodec(ARCH)
    codec.configure(settings)
    assert codec.param_space.values == (1, 2, 3)
    sizes = [codec.encode(_image(), q).nbytes for q in (1, 2, 3)]
    assert sizes[0] < sizes[1] < sizes[2]


def test_compare_decodes_known_answers() -> None:
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[1, 2, 0], b[3, 3, 2] = 1, 3
    la = torch.zeros(1, 2, 2, 2)
    lb = la.clone()
    lb[0, 1, 0, 0] = 1.0  # another symbol
    lb[0, 0, 1, 1] = 0.4  # float noise in a mean: the same symbol
    got = cuda_measure.compare_decodes((a, la), (b, lb))
    assert got == {"latents_differing": 1, "pixels_differing": 2, "max_pixel_diff": 3}
    assert cuda_measure.compare_decodes((a, None), (a, None)) == {
        "pixels_differing": 0, "max_pixel_diff": 0}


def _written(settings: RunSettings, tmp: Path) -> dict:
    """What compare --out leaves for one codec: its bitstream and reconstruction."""
    from codeccmp_compressai.codecs import LearnedCodec

    codec = LearnedCodec(ARCH)
    codec.configure(settings)
    enc = codec.encode(_image(), 2)
    bits, png = tmp / f"{ARCH}.lcb", tmp / f"{ARCH}.png"
    bits.write_bytes(enc.data)
    Image.fromarray(codec.decode(enc.data)).save(png)
    return {"codec": ARCH, "bitstream": str(bits), "reconstruction": str(png)}


def test_drift_check_passes_clean_streams_and_reports_a_changed_reconstruction(
        ladder, tmp_path: Path) -> None:
    settings, _ = ladder
    c = _written(settings, tmp_path)
    ok = cuda_measure.drift_check(c, settings, "cpu", "required")
    assert ok["ok"] and not ok["problems"]
    assert ok["device_twice"] == {"pixels_differing": 0, "max_pixel_diff": 0}
    assert ok["cpu"] == {"latents_differing": 0, "pixels_differing": 0, "max_pixel_diff": 0}
    # compare's PNG one level off at one pixel: the script must say so.
    png = np.asarray(Image.open(c["reconstruction"])).copy()
    png[0, 0, 0] ^= 1
    Image.fromarray(png).save(c["reconstruction"])
    bad = cuda_measure.drift_check(c, settings, "cpu", "skipped: the device is the CPU")
    assert not bad["ok"] and "cpu" not in bad
    assert bad["device_twice"] == {"pixels_differing": 1, "max_pixel_diff": 1}
    assert "other pixels than in compare" in bad["problems"][0]


def test_drift_check_reports_a_stream_that_does_not_decode(ladder, tmp_path: Path) -> None:
    settings, _ = ladder
    c = _written(settings, tmp_path)
    Path(c["bitstream"]).write_bytes(Path(c["bitstream"]).read_bytes()[:-3])
    res = cuda_measure.drift_check(c, settings, "cpu", "required")
    assert not res["ok"] and "decoding on cpu failed" in res["problems"][0]


def test_timing_codes_the_same_payload_as_compressai(ladder) -> None:
    """codeccmp's container adds a header and nothing else: its payload is exactly the
    bytes CompressAI's own compress gives for the same model and image."""
    settings, _ = ladder
    t = cuda_measure.time_codec(ARCH, settings, _image(), 2, repeat=1, warmup=1)
    assert t["problems"] == []
    assert t["payload_bytes"] == t["compressai_bytes"] > 0
    assert t["padded"] == [80, 64]  # the factorized model's multiple is 16
    assert t["gpu_peak_mb"] is None and t["encode_ratio"] > 0 and t["decode_ratio"] > 0
    table = cuda_measure.markdown_table({
        "environment": cuda_measure.environment("cpu"), "size": "tiny",
        "image": {"size": [64, 80]}, "bpp": 0.3, "repeat": 1, "problems": [],
        "compare": {"ladders": {"rc": 0, "wall_s": 1.0, "codecs": [
            {"codec": ARCH, "status": "ok", "quality": 2, "bpp": 0.31}]},
            "shared": {"rc": 0, "wall_s": 1.0, "codecs": [
                {"codec": ARCH, "status": "ok", "quality": 0, "bpp": 0.5}]}},
        "drift": [], "timing": [{**t, "run": "ladders"},
                                {**t, "run": "shared", "encode_s": 99.0}]})
    assert "image 80x64" in table
    # Each run's row shows its own timing (the codecs share a name).
    assert f"| {ARCH} | 2 | 0.310 | – | – | {t['encode_s']:.3f} |" in table
    assert f"| {ARCH} (shared) | 0 | 0.500 | – | – | 99.000 |" in table


def test_sweep_summary_reads_a_real_sweep(ladder, cli, tmp_path: Path) -> None:
    """The summary reads what ``codeccmp sweep --json`` writes today (its schema is the
    sweep's, so a change there must show here, not on a lent GPU): one image, two
    targets, the tiny ladder, nothing cached."""
    settings, _ = ladder
    folder = tmp_path / "images"
    folder.mkdir()
    Image.fromarray(_image()).save(folder / "a.png")
    out = tmp_path / "sweep.json"
    res = cli("sweep", str(folder), "--bpp", "0.3,0.8", "--codecs", ARCH, "--device", "cpu",
              "--weights-dir", settings.weights_dir, "--offline", "--no-cache", "--cache-dir",
              str(tmp_path / "cache"), "--roi", "none", "--json", str(out), "-q")
    assert res.code == 0, res.err
    got = cuda_check.summarize_sweep(json.loads(out.read_text()), ARCH)
    assert (got["points"], got["points_ok"], got["points_cached"]) == (2, 2, 0)
    assert got["encodes"] >= 2
    assert [p["target_bpp"] for p in got["averaged"]] == [0.3, 0.8]
    assert all(p["n"] == 1 and p["bpp"] > 0 for p in got["averaged"])
    assert cuda_check.summarize_sweep(json.loads(out.read_text()), "other")["points"] == 0


def test_child_process_reports_its_own_peaks(tmp_path: Path) -> None:
    """The child's peak is its own: this process first touches 400 MB, which Linux's
    ``ru_maxrss`` would hand down to the child across fork and exec; ``codeccmp
    --version`` itself needs a fraction of that (no torch)."""
    big = np.ones(400 * 2**20 // 8)
    del big
    run = cuda_measure.run_codeccmp(["--version"], tmp_path / "v", timeout=120)
    assert run["rc"] == 0 and 0 < run["peak_rss_mb"] < 300
    assert "gpu_peak_allocated_mb" not in run  # it never touched CUDA
    assert (tmp_path / "v.out").read_text().strip()


def test_bad_input_is_one_line_and_status_2(tmp_path: Path, capsys) -> None:
    existing = tmp_path / "out.json"
    existing.write_text("{}")
    assert cuda_check.main(["--device", "cpu", "--json", str(existing), "--no-kodak"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"error: --json {existing} exists (use --force to overwrite)")
    assert cuda_check.main(["--device", "cpu", "--json", str(tmp_path / "n.json"),
                            "--archs", "bls2017,jpeg", "--no-kodak"]) == 2
    assert "unknown --archs jpeg" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert cuda_check.main(["--json", str(tmp_path / "n.json"), "--no-kodak"]) == 2
        assert "torch sees no CUDA device" in capsys.readouterr().err
    assert not (tmp_path / "n.json").exists()


def test_cpu_decode_policy() -> None:
    """Cross-device decodes are required only where the entropy tables are fixed."""
    args = cuda_check.parse_args(["--json", "x.json"])
    cuda = replace_args(args, device="cuda")
    assert cuda_check._cpu_decode("bls2017", cuda) == "required"
    assert cuda_check._cpu_decode("bmshj2018-factorized-mse", cuda) == "required"
    assert cuda_check._cpu_decode("mbt2018-mean", cuda) == "informational"
    assert cuda_check._cpu_decode("mbt2018", cuda).startswith("skipped")
    assert cuda_check._cpu_decode("mbt2018", replace_args(args, device="cuda",
                                                          cpu_decode_all=True)) == "informational"
    assert cuda_check._cpu_decode("bls2017", replace_args(args, device="cpu")).startswith(
        "skipped")


def replace_args(args, **changes):  # noqa: ANN001, ANN003, ANN201
    import argparse

    return argparse.Namespace(**{**vars(args), **changes})

