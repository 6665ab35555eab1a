"""The directional-fidelity loss (``--metric ms-ssim+orientation``): known answers on gratings,
agreement with the metric's structure tensor, gradients, and training with it end to end."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")
pytest.importorskip("pytorch_msssim")

from codeccmp_compressai import losses as L  # noqa: E402
from codeccmp_compressai import training as T  # noqa: E402

from codeccmp import stripes  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def grating(angle_deg: float, period: float = 6.0, size: int = 96, contrast: float = 0.4,
            phase: float = 0.0, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """``1×3×size×size`` sine grating in [0, 1]; its stripes run at ``angle_deg``."""
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    a = math.radians(angle_deg)
    g = 0.5 + contrast * np.sin(2 * np.pi * (xx * np.cos(a) + yy * np.sin(a)) / period + phase)
    return torch.tensor(np.stack([g] * 3)[None], dtype=dtype)


def test_zero_for_identical_images() -> None:
    x = grating(30)
    assert float(L.orientation_loss(x, x)) < 1e-6
    noise = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    assert float(L.orientation_loss(noise, noise)) < 1e-6
    # A phase shift or a contrast change keeps the direction: still (nearly) zero.
    assert float(L.orientation_loss(grating(30, phase=1.3), x)) < 1e-4
    assert float(L.orientation_loss(grating(30, contrast=0.2), x)) < 1e-4


@pytest.mark.parametrize("base", [0.0, 30.0, 100.0])
def test_grows_with_rotation_as_sin_squared(base: float) -> None:
    """Known answer: on clean gratings the loss is sin²Δθ (within 0.005)."""
    x = grating(base)
    values = [float(L.orientation_loss(grating(base + d), x)) for d in (0, 5, 10, 20, 45, 90)]
    assert values == sorted(values) and values[0] < 1e-6
    for d, v in zip((5, 10, 20, 45, 90), values[1:], strict=True):
        assert v == pytest.approx(math.sin(math.radians(d)) ** 2, abs=5e-3), (d, v)


def test_the_180_degree_wrap_costs_nothing() -> None:
    """Stripes at 179° and 1° are 2° apart, not 178°."""
    v = float(L.orientation_loss(grating(179), grating(1)))
    assert v == pytest.approx(math.sin(math.radians(2)) ** 2, abs=2e-3)


def test_erased_stripes_cost_half_and_a_flat_original_costs_nothing() -> None:
    x = grating(30)
    flat = torch.full_like(x, 0.5)
    assert float(L.orientation_loss(flat, x)) == pytest.approx(0.5, abs=1e-3)
    assert float(L.orientation_loss(x, flat)) == 0.0  # nothing oriented in the original


def test_structure_tensor_matches_the_metric() -> None:
    """Same filters as codeccmp.stripes (scipy, mode reflect): same tensor, up to the sign of
    J12 (the metric's y axis points up), everywhere including the border."""
    rng = np.random.default_rng(1)
    img = rng.uniform(0, 255, (40, 56)).astype(np.float64)
    j11, j22, j12 = (t[0, 0].double().numpy() for t in L.structure_tensor(
        torch.tensor(img, dtype=torch.float64)[None, None]))
    from codeccmp.stripes import field

    jxx, jyy, jxy = field._tensor(img, stripes.DEFAULT_SIGMA_D, stripes.DEFAULT_SIGMA_T)[:3]
    scale = max(np.abs(jxx).max(), np.abs(jyy).max())
    assert np.abs(j11 - jxx).max() < 1e-9 * scale
    assert np.abs(j22 - jyy).max() < 1e-9 * scale
    assert np.abs(j12 + jxy).max() < 1e-9 * scale
    assert (L.SIGMA_D, L.SIGMA_T) == (stripes.DEFAULT_SIGMA_D, stripes.DEFAULT_SIGMA_T)
    assert L.COHERENCE_THRESHOLD == stripes.DEFAULT_COHERENCE_THRESHOLD
    assert L.ENERGY_FLOOR == stripes.DEFAULT_ENERGY_FLOOR
    assert stripes.border_px() == L.BORDER_PX


def test_gradients_flow_to_the_reconstruction_and_undo_a_turn() -> None:
    x = grating(30)
    x_hat = grating(42).requires_grad_(True)
    loss = L.orientation_loss(x_hat, x)
    loss.backward()
    g = x_hat.grad
    assert g is not None and torch.isfinite(g).all() and g.abs().max() > 0
    # Following the gradient turns the stripes back towards 30°.
    y = grating(42).requires_grad_(True)
    opt = torch.optim.Adam([y], lr=0.02)
    start = float(L.orientation_loss(y, x).detach())
    for _ in range(25):
        opt.zero_grad()
        L.orientation_loss(y, x).backward()
        opt.step()
    assert float(L.orientation_loss(y, x).detach()) < 0.5 * start


def test_original_gets_no_gradient_and_bad_shapes_are_refused() -> None:
    x = grating(30).requires_grad_(True)
    x_hat = grating(40).requires_grad_(True)
    L.orientation_loss(x_hat, x).backward()
    assert x.grad is None and x_hat.grad is not None
    with pytest.raises(T.TrainingError, match="larger than 16 px"):
        L.orientation_loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))
    with pytest.raises(T.TrainingError, match="N×3×H×W"):
        L.orientation_loss(torch.rand(1, 1, 64, 64), torch.rand(1, 1, 64, 64))


def test_distortion_adds_the_weighted_term() -> None:
    from pytorch_msssim import ms_ssim

    x, x_hat = grating(30, size=128), grating(38, size=128)
    d, orient = L.distortion(x_hat, x, "ms-ssim+orientation", 7, 3.0)
    plain = 1 - ms_ssim(x_hat, x, data_range=1.0, win_size=7)
    assert orient is not None
    assert float(orient) == pytest.approx(math.sin(math.radians(8)) ** 2, abs=5e-3)
    assert float(d) == pytest.approx(float(plain) + 3.0 * float(orient), rel=1e-5)
    d2, none = L.distortion(x_hat, x, "ms-ssim", 7)
    assert none is None and float(d2) == pytest.approx(float(plain), rel=1e-6)
    assert L.base_metric("ms-ssim+orientation") == "ms-ssim"


# ------------------------------------------------------------------ training with the term


def _write_gratings(folder: Path, n: int = 3, size: int = 96,
                    make: Callable[..., torch.Tensor] = grating) -> Path:
    """``n`` grating PNGs at different angles and periods (``make`` draws each one)."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        g = make(20 + 35 * i, period=5 + i, size=size)[0].permute(1, 2, 0).numpy()
        Image.fromarray((g * 255).round().astype(np.uint8)).save(folder / f"g{i}.png")
    return folder


def test_training_with_the_term_saves_a_checkpoint_compare_loads(
        tmp_path: Path, cli, learned_env) -> None:
    """A few CPU steps of ``bmshj2018-factorized`` with the term, then ``codeccmp compare``
    codes an image with the checkpoint through ``--weights``."""
    from compressai.models import FactorizedPrior

    data = _write_gratings(tmp_path / "data")
    init = tmp_path / "init.pth"
    torch.manual_seed(0)
    torch.save(FactorizedPrior(8, 12).state_dict(), init)
    out = tmp_path / "orient.pth"
    events: list[T.TrainEvent] = []
    cfg = T.TrainConfig(model="bmshj2018-factorized", data=data, out=out, init=init,
                        metric="ms-ssim+orientation", orientation_weight=2.5, steps=3, batch=2,
                        crop=80, val_every=3, lr=1e-3, device="cpu")
    result = T.train(cfg, progress=events.append)
    assert result.metric == "ms-ssim+orientation" and len(result.losses) == 3
    orient = [e.orientation for e in events if e.kind == "step"]
    assert len(orient) == 3 and all(v is not None and 0 < v < 1 for v in orient)
    assert "orientation weight 2.5" in events[0].message
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["metric"] == "ms-ssim"  # an MS-SSIM model, as compare names it
    assert ckpt["train_metric"] == "ms-ssim+orientation"
    assert ckpt["orientation_weight"] == 2.5
    assert ckpt["train_config"]["orientation_weight"] == 2.5
    record = ckpt["validation"][-1]
    # Δθ: NaN when every stripe pixel is erased (three steps from a random model: erased
    # pixels have no orientation), else an angle.
    d = record["delta_theta_deg"]
    assert record["step"] == 3 and (d != d or 0 <= d <= 90)

    # Resume keeps the loss and its weight; a different weight is refused.
    T.train(T.TrainConfig(**{**cfg.__dict__, "steps": 4, "resume": out, "init": None,
                             "metric": None, "orientation_weight": None}))
    again = torch.load(out, weights_only=True)
    assert again["steps"] == 4 and again["train_metric"] == "ms-ssim+orientation"
    assert again["orientation_weight"] == 2.5
    with pytest.raises(T.TrainingError, match="orientation weight 2.5"):
        T.train(T.TrainConfig(**{**cfg.__dict__, "steps": 5, "resume": out, "init": None,
                                 "orientation_weight": 1.0}))

    image = tmp_path / "img.png"
    g = grating(33, size=64)[0].permute(1, 2, 0).numpy()
    Image.fromarray((g * 255).round().astype(np.uint8)).save(image)
    res = cli("compare", str(image), "--bpp", "1", "--codecs", "bmshj2018-factorized",
              "--weights", f"bmshj2018-factorized={out}", "--device", "cpu", "--offline",
              "--roi", "none", "--json", str(tmp_path / "r.json"), "-q")
    assert res.code == 0, res.stderr
    (row,) = json.loads((tmp_path / "r.json").read_text())["results"]
    assert row["status"] == "ok" and row["bpp"] > 0
    assert row["settings"]["weights"] == str(out)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "mse", "orientation_weight": 1.0}, "needs --metric ms-ssim\\+orientation"),
        ({"orientation_weight": 0.0}, "must be positive"),
        ({"orientation_weight": -1.0}, "must be positive"),
        ({"metric": "orientation"}, "unknown metric"),
    ],
)
def test_orientation_option_errors(tmp_path: Path, change: dict, message: str) -> None:
    data = _write_gratings(tmp_path / "data", n=2)
    base = dict(model="bls2017", data=data, out=tmp_path / "x.pth", steps=1, batch=1, crop=80,
                model_kwargs={"N": 8}, metric="ms-ssim+orientation")
    with pytest.raises(T.TrainingError, match=message):
        T.train(T.TrainConfig(**{**base, **change}))
    assert not (tmp_path / "x.pth").exists()


def test_cli_option(tmp_path: Path) -> None:
    from train_app import train_app
    from typer.testing import CliRunner

    app = train_app()

    data = _write_gratings(tmp_path / "data", n=2)
    out = tmp_path / "cli.pth"
    res = CliRunner().invoke(app, [
        "train", "bls2017", "--data", str(data), "--out", str(out), "--steps", "2", "--batch",
        "1", "--crop", "80", "--N", "8", "--val-every", "2", "--metric", "ms-ssim+orientation",
        "--orientation-weight", "4"])
    assert res.exit_code == 0, res.output
    assert "stripe term" in res.output and "Δθ" in res.output
    assert torch.load(out, weights_only=True)["orientation_weight"] == 4.0
