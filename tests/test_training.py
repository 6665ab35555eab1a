"""`codeccmp train`: a few CPU steps on tiny synthetic images, checkpoints, resume, errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from procs import python_argv, run

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")
pytest.importorskip("pytorch_msssim")

from codeccmp_compressai import training as T  # noqa: E402
from codeccmp_compressai.models import Bls2017Model  # noqa: E402

from codeccmp.errors import UsageError  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _write_image(path: Path, h: int, w: int, seed: int) -> None:
    """Oriented grating over colour ramps: something a codec has to work for."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    a = 0.3 + seed
    r = 128 + 90 * np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / (7 + seed))
    g = 255 * xx / w
    b = np.where(yy > h / 2, 200.0, 40.0)
    img = np.clip(np.stack([r, g, b], axis=2), 0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    """Four 96×112 training images (one held out) and one too small for the crop."""
    d = tmp_path / "data"
    for i in range(4):
        _write_image(d / f"img{i}.png", 96, 112, i)
    _write_image(d / "tiny.png", 40, 40, 9)
    return d


def _config(data: Path, out: Path, **kw) -> T.TrainConfig:
    base = dict(model="bls2017", data=data, out=out, steps=2, batch=2, crop=80,
                model_kwargs={"N": 8}, val_every=1000, lr=1e-3)
    base.update(kw)
    return T.TrainConfig(**base)


def test_loss_is_finite_and_falls_on_a_fixed_batch(tmp_path: Path) -> None:
    """One image exactly the crop size: every batch is the same pixels."""
    d = tmp_path / "one"
    _write_image(d / "only.png", 80, 80, 1)
    cfg = _config(d, tmp_path / "fixed.pth", steps=40, lr=3e-3, metric="mse", lmbda=0.01)
    result = T.train(cfg)
    assert len(result.losses) == 40
    assert all(math.isfinite(v) for v in result.losses)
    first, last = np.mean(result.losses[:5]), np.mean(result.losses[-5:])
    assert last < 0.8 * first, (first, last)
    assert result.validation == []  # a single image: nothing held out


def test_ms_ssim_training_lee2019_runs(tmp_path: Path) -> None:
    d = tmp_path / "big"
    _write_image(d / "a.png", 128, 128, 2)
    cfg = _config(d, tmp_path / "lee.pth", model="lee2019", crop=128, steps=6, batch=1,
                  model_kwargs={"N": 8, "M": 8}, metric="ms-ssim")
    result = T.train(cfg)
    assert all(math.isfinite(v) for v in result.losses)
    ckpt = torch.load(tmp_path / "lee.pth", map_location="cpu", weights_only=True)
    assert ckpt["model"] == "lee2019" and ckpt["config"] == {"N": 8, "M": 8}
    assert ckpt["train_config"]["msssim_win"] == 7  # 128² crops: the 7-px window


def test_checkpoint_contents_and_immediate_compression(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "ckpt" / "bls.pth"  # parent folder created
    result = T.train(_config(data_dir, out, steps=3, val_every=2))
    assert result.steps == 3 and result.start_step == 0
    ckpt = torch.load(out, map_location="cpu", weights_only=True)  # what the loader does
    assert ckpt["format"] == "codeccmp-checkpoint/1"
    assert ckpt["model"] == "bls2017" and ckpt["metric"] == "ms-ssim"
    assert ckpt["lmbda"] == pytest.approx(8.73) and ckpt["steps"] == 3
    assert ckpt["config"] == {"N": 8} and ckpt["updated"] is True
    assert {"optimizer", "aux_optimizer", "rng", "codeccmp_version"} <= set(ckpt)
    assert [v["step"] for v in ckpt["validation"]] == [2, 3]
    for record in ckpt["validation"]:
        assert {"step", "bpp", "psnr", "ms_ssim"} <= set(record)
        assert record["bpp"] > 0 and math.isfinite(record["psnr"])
    assert list(tmp_path.joinpath("ckpt").iterdir()) == [out]  # no temp files left
    # Straight into compress: from_state_dict, no update().
    model = Bls2017Model.from_state_dict(ckpt["state_dict"]).eval()
    x = torch.rand(1, 3, 32, 48)
    enc = model.compress(x)
    assert model.decompress(enc["strings"], enc["shape"])["x_hat"].shape == x.shape


def test_resume_continues_the_step_count_exactly(data_dir: Path, tmp_path: Path) -> None:
    straight = T.train(_config(data_dir, tmp_path / "a.pth", steps=4, val_every=3))
    T.train(_config(data_dir, tmp_path / "b.pth", steps=2, val_every=3))
    resumed = T.train(_config(data_dir, tmp_path / "b.pth", steps=4, val_every=3,
                              resume=tmp_path / "b.pth"))
    assert resumed.start_step == 2 and resumed.steps == 4
    assert resumed.losses == pytest.approx(straight.losses[2:], rel=1e-5)
    a = torch.load(tmp_path / "a.pth", weights_only=True)
    b = torch.load(tmp_path / "b.pth", weights_only=True)
    assert b["steps"] == 4 and [v["step"] for v in b["validation"]] == [2, 3, 4]
    for key, value in a["state_dict"].items():
        assert torch.allclose(value.float(), b["state_dict"][key].float(), atol=1e-5), key
    with pytest.raises(T.TrainingError, match="already has 4 steps"):
        T.train(_config(data_dir, tmp_path / "b.pth", steps=4, resume=tmp_path / "b.pth"))
    with pytest.raises(T.TrainingError, match="trained with metric ms-ssim"):
        T.train(_config(data_dir, tmp_path / "b.pth", steps=6, metric="mse",
                        resume=tmp_path / "b.pth"))


def test_resume_or_init_with_the_wrong_architecture(data_dir: Path, tmp_path: Path) -> None:
    T.train(_config(data_dir, tmp_path / "bls.pth", steps=1))
    with pytest.raises(T.TrainingError, match="is a bls2017 checkpoint, not lee2019"):
        T.train(_config(data_dir, tmp_path / "x.pth", model="lee2019", crop=64,
                        resume=tmp_path / "bls.pth"))
    with pytest.raises(T.TrainingError, match="is a bls2017 checkpoint, not bmshj2018"):
        T.train(_config(data_dir, tmp_path / "x.pth", model="bmshj2018-factorized",
                        init=tmp_path / "bls.pth"))
    plain = tmp_path / "plain.pth"
    torch.save(Bls2017Model(N=8).state_dict(), plain)
    with pytest.raises(T.TrainingError, match="does not hold a lee2019 model"):
        T.train(_config(data_dir, tmp_path / "x.pth", model="lee2019", crop=64, init=plain))
    with pytest.raises(T.TrainingError, match="not a codeccmp training checkpoint"):
        T.train(_config(data_dir, tmp_path / "x.pth", resume=plain))


def test_validation_folder_and_events(data_dir: Path, tmp_path: Path) -> None:
    _write_image(tmp_path / "val" / "v.png", 64, 96, 5)  # smaller than the crop: fine for val
    events: list[T.TrainEvent] = []
    result = T.train(_config(data_dir, tmp_path / "v.pth", val=tmp_path / "val", val_every=1),
                     progress=events.append)
    start = events[0]
    assert start.kind == "start" and "4 training images (1 too small" in start.message
    assert "1 for validation" in start.message
    assert [e.step for e in events if e.kind == "step"] == [1, 2]
    # --save-every defaults to --val-every: validate, then save, at each step here
    assert [e.kind for e in events if e.kind in ("validation", "checkpoint")] == [
        "validation", "checkpoint"] * 2
    assert [v["images"] for v in result.validation] == [1, 1]


def test_fine_tuning_a_zoo_architecture(data_dir: Path, tmp_path: Path) -> None:
    from compressai.models import FactorizedPrior

    weights = tmp_path / "zoo.pth"
    torch.save(FactorizedPrior(8, 12).state_dict(), weights)  # a plain state dict, as zoo files
    result = T.train(_config(data_dir, tmp_path / "ft.pth", model="bmshj2018-factorized-mse",
                             init=weights, steps=2))
    assert result.metric == "mse" and result.lmbda == pytest.approx(0.0067)
    ckpt = torch.load(tmp_path / "ft.pth", weights_only=True)
    assert ckpt["model"] == "bmshj2018-factorized" and ckpt["config"] == {"N": 8, "M": 12}
    assert FactorizedPrior.from_state_dict(ckpt["state_dict"]).N == 8


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": "missing"}, "data folder not found"),
        ({"data": "empty"}, "no images in"),
        ({"crop": 112}, "no usable training images .* smaller than the 112-px crop"),
        ({"crop": 64}, "too small for 5-scale MS-SSIM"),
        ({"crop": 72, "metric": "mse"}, "multiple of 16"),
        ({"model": "jpeg"}, "unknown model 'jpeg'"),
        ({"metric": "psnr"}, "unknown metric"),
        ({"msssim_win": 6}, "odd number"),
        ({"device": "tpu"}, "bad --device"),
        ({"resume": "nope.pth"}, "checkpoint not found"),
        # a file that is no checkpoint, in compare's words, not torch's cut-off ones
        ({"resume": "notes.md"}, r"weights file .*notes\.md is not a checkpoint: not a file "
                                 r"written by torch\.save \(check the path\)$"),
        ({"resume": "cut.pth"}, r"is not a readable checkpoint: truncated or corrupt \(an "
                                r"interrupted download or copy\?\)$"),
    ],
)
def test_clear_errors(data_dir: Path, tmp_path: Path, change: dict, message: str) -> None:
    change = dict(change)
    data = change.pop("data", data_dir)
    if data == "missing":
        data = tmp_path / "nowhere"
    elif data == "empty":
        (tmp_path / "empty").mkdir()
        (tmp_path / "empty" / "notes.txt").write_text("no images here")
        data = tmp_path / "empty"
    if "resume" in change:
        change["resume"] = tmp_path / change["resume"]
        (tmp_path / "notes.md").write_text("# not weights\n")
        (tmp_path / "cut.pth").write_bytes(b"PK\x03\x04" + bytes(200))
    with pytest.raises(T.TrainingError, match=message) as info:
        T.train(_config(data, tmp_path / "x.pth", **change))
    assert isinstance(info.value, UsageError)  # the CLI prints "error: ..." and exits 2
    assert "\n" not in str(info.value)


def test_msssim_window_rule() -> None:
    assert T.msssim_window(256) == 11 and T.msssim_window(161) == 11
    assert T.msssim_window(160) == 9 and T.msssim_window(128) == 7
    assert T.msssim_window(80) == 5
    with pytest.raises(T.TrainingError):
        T.msssim_window(64)
    assert T.msssim_window(64, requested=3) == 3


def test_cli_train_command(data_dir: Path, tmp_path: Path) -> None:
    from train_app import train_app
    from typer.testing import CliRunner

    app = train_app()

    runner = CliRunner()
    out = tmp_path / "cli.pth"
    res = runner.invoke(app, ["train", "bls2017", "--data", str(data_dir), "--out", str(out),
                              "--steps", "2", "--batch", "1", "--crop", "80", "--N", "8",
                              "--val-every", "1", "--quiet"])
    assert res.exit_code == 0, res.output
    assert "validation bpp" in res.output and "MS-SSIM" in res.output
    assert f"wrote {out}" in res.output.replace("\n", "")
    assert torch.load(out, weights_only=True)["steps"] == 2
    res = runner.invoke(app, ["train", "bls2017", "--data", str(tmp_path / "none"),
                              "--out", str(out)])
    assert isinstance(res.exception, UsageError)  # the checkpoint is never overwritten
    assert f"{out} exists; pass --force" in str(res.exception)
    res = runner.invoke(app, ["train", "bls2017", "--data", str(tmp_path / "none"),
                              "--out", str(out), "--force"])
    assert isinstance(res.exception, UsageError)
    assert "data folder not found" in str(res.exception)
    res = runner.invoke(app, ["train", "bls2017", "--data", str(data_dir)])
    assert isinstance(res.exception, UsageError) and "--out is required" in str(res.exception)


def test_cli_module_does_not_import_torch() -> None:
    code = ("import sys, codeccmp_compressai.cli_train as m; "
            "print('torch' in sys.modules, 'compressai' in sys.modules)")
    proc = run(python_argv(code), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["False", "False"]


def test_checkpoint_loads_through_weights_resolution(data_dir: Path, tmp_path: Path) -> None:
    """The compare side's loader (another module of this plugin) accepts the checkpoint."""
    from codeccmp_compressai.checkpoints import build_model, load_checkpoint

    out = tmp_path / "for-compare.pth"
    T.train(_config(data_dir, out, steps=1))
    state_dict, meta = load_checkpoint(out)
    assert meta["model"] == "bls2017" and meta["steps"] == 1 and meta["lmbda"] > 0
    model = build_model("bls2017", "ms-ssim", state_dict, meta, out)
    x = torch.rand(1, 3, 32, 32)
    enc = model.compress(x)
    assert model.decompress(enc["strings"], enc["shape"])["x_hat"].shape == x.shape


def test_max_minutes_stops_cleanly_with_a_usable_checkpoint(data_dir: Path,
                                                            tmp_path: Path) -> None:
    # A budget already spent after the first step: one step, validated, updated and saved.
    res = T.train(_config(data_dir, tmp_path / "t.pth", steps=1000, max_minutes=1e-9))
    assert res.steps == 1
    ckpt = torch.load(tmp_path / "t.pth", weights_only=True)
    assert ckpt["steps"] == 1 and ckpt["updated"] is True
    assert [v["step"] for v in ckpt["validation"]] == [1]


def test_no_usable_images_names_where_each_went(tmp_path: Path) -> None:
    """Two files, one too small and one unreadable: one is held out for validation, so the
    message counted only the other ("1 unreadable") and the user looked for the small one."""
    d = tmp_path / "two"
    _write_image(d / "a_small.png", 40, 40, 1)
    (d / "b_broken.png").write_bytes(b"not a png")
    with pytest.raises(T.TrainingError, match="no usable training images") as info:
        T.train(_config(d, tmp_path / "x.pth"))
    message = str(info.value)
    assert "1 held out for validation" in message
    assert ("1 unreadable" in message) != ("1 smaller than the 80-px crop" in message)


def test_an_undefined_delta_theta_prints_as_a_dash() -> None:
    from codeccmp_compressai.cli_train import _degrees

    assert _degrees(float("nan")) == "–" and _degrees(None) == "–"
    assert _degrees(2.5) == "2.50°"
