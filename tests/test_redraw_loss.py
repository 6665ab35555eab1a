"""The stripe terms that make erasing cheaper than redrawing (``--metric ms-ssim+redraw`` and
its alternative ``ms-ssim+stripe-mse``): known answers on gratings, gradients, training.

The gratings are the orientation term's (tests/test_orientation_loss.py): sine gratings of
period 6 px on 96² images, whose structure tensors are exact up to the float arithmetic and
the mirrored borders, which the terms leave out (8 px).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")
pytest.importorskip("pytorch_msssim")

from codeccmp_compressai import losses as L  # noqa: E402
from codeccmp_compressai import training as T  # noqa: E402
from test_orientation_loss import _write_gratings as _write_orientation_gratings  # noqa: E402
from test_orientation_loss import grating as _grating  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def grating(*args: float, **kwargs: float) -> torch.Tensor:
    """test_orientation_loss's sine grating, in float64 (the gradient checks need it)."""
    return _grating(*args, dtype=torch.float64, **kwargs)


def gate(rho: float, kappa: float = L.REDRAW_KAPPA) -> float:
    """g(ρ) of redraw_loss's docstring."""
    return rho * math.sqrt(1 + kappa**2) / math.sqrt(rho**2 + kappa**2)


# ------------------------------------------------------------------------- L_redraw


def test_redraw_costs_nothing_for_kept_or_erased_stripes() -> None:
    """The point of the term: keeping the direction (any phase or contrast) and erasing both
    cost 0; only drawing at another angle costs. A flat reconstruction has a zero tensor,
    so its cost is exactly 0 (the ε of |v_x̂| is subtracted back)."""
    x = grating(30)
    assert float(L.redraw_loss(x, x)) < 1e-9
    assert float(L.redraw_loss(grating(30, phase=math.pi), x)) < 1e-6
    assert float(L.redraw_loss(grating(30, contrast=0.1), x)) < 1e-6
    flat = torch.full_like(x, 0.5)
    assert float(L.redraw_loss(flat, x)) == 0.0
    # The orientation term charges the same erased stripes ½: that is what changed.
    assert float(L.orientation_loss(flat, x)) == pytest.approx(0.5, abs=1e-3)
    assert float(L.redraw_loss(x, flat)) == 0.0  # nothing oriented in the original


@pytest.mark.parametrize("base", [0.0, 30.0, 100.0])
def test_redraw_of_a_full_contrast_turn_is_sin_squared(base: float) -> None:
    """At the original's contrast ρ = 1 and g(1) = 1, so the cost is the orientation term's
    sin²Δθ. Tolerance 0.005 as there: what is left is the ε regularisation (0.5 against
    |v| ≈ 10³ grey levels²/px² for these gratings) and the sampled grating's tensor, which
    varies by well under 1 % over a period once smoothed at σ_t = 3 px."""
    x = grating(base)
    for d in (5, 10, 20, 45, 90):
        v = float(L.redraw_loss(grating(base + d), x))
        assert v == pytest.approx(math.sin(math.radians(d)) ** 2, abs=5e-3), (d, v)


@pytest.mark.parametrize(("contrast", "rho"), [(0.2, 0.25), (0.1, 0.0625), (0.8, 4.0)])
def test_redraw_scales_with_the_drawn_energy_through_the_gate(contrast: float,
                                                              rho: float) -> None:
    """The tensor is quadratic in the luma, so a grating at contrast c against 0.4 has
    ρ = (c/0.4)² exactly; turned by 90°, the cost is g(ρ). Half the contrast: g(¼) = 0.729;
    a quarter: 0.250; twice: 1.03 (the gate's ceiling √(1 + κ²) ≈ 1.031)."""
    x = grating(30)
    v = float(L.redraw_loss(grating(120, contrast=contrast), x))
    assert v == pytest.approx(gate(rho), abs=5e-3), (contrast, v, gate(rho))


def test_redraw_ignores_faint_noise_on_an_erased_patch() -> None:
    """Noise of one grey level on a flattened patch has a tensor of ≈ 0.1 grey levels²/px²
    against the grating's ≈ 10³: ρ ≈ 10⁻⁴, so g ≈ 4·10⁻⁴ (g(ρ) ≈ ρ/κ), times sin² ≤ 1."""
    x = grating(30)
    gen = torch.Generator().manual_seed(0)
    noisy = torch.full_like(x, 0.5) + torch.randn(x.shape, generator=gen,
                                                  dtype=torch.float64) / 255
    assert float(L.redraw_loss(noisy, x)) < 1e-3


def test_redraw_wrap_and_gradient() -> None:
    """179° and 1° are 2° apart; gradients reach the reconstruction only, and following them
    from a 45° turn lowers the cost by more than half in 25 Adam steps."""
    assert float(L.redraw_loss(grating(179), grating(1))) == pytest.approx(
        math.sin(math.radians(2)) ** 2, abs=2e-3)
    x = grating(30).requires_grad_(True)
    y = grating(75).requires_grad_(True)
    L.redraw_loss(y, x).backward()
    assert x.grad is None and y.grad is not None and torch.isfinite(y.grad).all()
    assert y.grad.abs().max() > 0
    y = grating(75).requires_grad_(True)
    opt = torch.optim.Adam([y], lr=0.02)
    start = float(L.redraw_loss(y, x.detach()).detach())
    for _ in range(25):
        opt.zero_grad()
        L.redraw_loss(y, x.detach()).backward()
        opt.step()
    assert float(L.redraw_loss(y, x.detach()).detach()) < 0.5 * start
    with pytest.raises(T.TrainingError, match="larger than 16 px"):
        L.redraw_loss(torch.rand(1, 3, 16, 16), torch.rand(1, 3, 16, 16))


@pytest.mark.parametrize("e", [0.1, 0.25])
def test_erase_cost_charges_missing_stripes_below_redrawn_ones(e: float) -> None:
    """With ``erase_cost`` e what is missing along the original's direction costs
    e·(1 − min(g(ρ_∥), 1)): erased stripes e (exactly: a flat image has a zero tensor),
    stripes kept at half contrast ((½)² of the energy) e·(1 − g(¼)) = 0.271·e, kept ones 0,
    a 90° turn at full contrast 1 + e (the turn's sin² plus nothing left along the original
    direction). Tolerance as above."""
    x = grating(30)
    flat = torch.full_like(x, 0.5)
    assert float(L.redraw_loss(flat, x, e)) == pytest.approx(e, abs=1e-9)
    assert float(L.redraw_loss(x, x, e)) < 1e-6
    assert float(L.redraw_loss(grating(30, contrast=0.2), x, e)) == pytest.approx(
        (1 - gate(0.25)) * e, abs=5e-3)
    # Twice the contrast is not rewarded: the gate is capped at 1.
    assert float(L.redraw_loss(grating(30, contrast=0.8), x, e)) == pytest.approx(0, abs=1e-6)
    assert float(L.redraw_loss(grating(120), x, e)) == pytest.approx(1 + e, abs=5e-3)
    assert float(L.redraw_loss(grating(75), x, e)) > float(L.redraw_loss(flat, x, e))
    big = grating(30, size=128).float()
    _, term = L.distortion(torch.full_like(big, 0.5), big, "ms-ssim+redraw", 7, 2.0, e)
    assert term is not None and float(term) == pytest.approx(e, abs=1e-6)


# ------------------------------------------------------------------------- L_smse


def _atten(period: float = 6.0, sigma: float = L.SIGMA_T) -> float:
    """Share of a sine's amplitude that survives the Gaussian at σ: exp(−2π²σ²/P²)."""
    return math.exp(-2 * math.pi**2 * sigma**2 / period**2)


def test_stripe_mse_known_answers() -> None:
    """The normaliser is the energy of the original minus its σ_t-smoothed self: a sine of
    amplitude A leaves (1 − a)²·A²/2 there, a = exp(−2π²σ²/P²) = 0.0072 for P = 6, σ = 3.
    So replacing the stripes by that smoothed image costs exactly 1 (it is the normaliser),
    a flat mid-grey ≈ 1/(1 − a)², a 90° turn at full contrast ≈ 2/(1 − a)² (its error adds
    the drawn stripes' energy to the missing ones'), and a half-period shift ≈ 4/(1 − a)²:
    the phase dependence that redraw_loss does not have. ±1 %: the cross terms of
    differently oriented sines average out over the 80² inner window only to about that."""
    x = grating(30)
    assert float(L.stripe_mse_loss(x, x)) == 0.0
    smoothed = L._sep(x, (L.SIGMA_T, 0), (L.SIGMA_T, 0))
    assert float(L.stripe_mse_loss(smoothed, x)) == pytest.approx(1.0, abs=1e-9)
    k = 1 / (1 - _atten()) ** 2
    flat = torch.full_like(x, 0.5)
    assert float(L.stripe_mse_loss(flat, x)) == pytest.approx(k, rel=1e-2)
    assert float(L.stripe_mse_loss(grating(120), x)) == pytest.approx(2 * k, rel=1e-2)
    assert float(L.stripe_mse_loss(grating(30, phase=math.pi), x)) == pytest.approx(
        4 * k, rel=1e-2)
    assert float(L.stripe_mse_loss(x, flat)) == 0.0  # no stripes in the original


def test_distortion_adds_each_weighted_term() -> None:
    from pytorch_msssim import ms_ssim

    x, x_hat = grating(30, size=128).float(), grating(50, size=128).float()
    plain = float(1 - ms_ssim(x_hat, x, data_range=1.0, win_size=7))
    for metric, fn in (("ms-ssim+redraw", L.redraw_loss),
                       ("ms-ssim+stripe-mse", L.stripe_mse_loss)):
        d, term = L.distortion(x_hat, x, metric, 7, 2.0)
        assert term is not None and float(term) == pytest.approx(float(fn(x_hat, x)), rel=1e-6)
        assert float(d) == pytest.approx(plain + 2.0 * float(term), rel=1e-5)
        assert L.base_metric(metric) == "ms-ssim"
    assert float(L.distortion(x_hat, x, "ms-ssim+redraw", 7, 2.0)[1]) == pytest.approx(
        math.sin(math.radians(20)) ** 2, abs=5e-3)


def test_both_terms_add_with_their_own_weights() -> None:
    """``ms-ssim+redraw+orientation``: (1 − MS-SSIM) + w·L_redraw + w_o·L_orient, and the
    term reported is the weighted sum."""
    from pytorch_msssim import ms_ssim

    x, x_hat = grating(30, size=128).float(), grating(50, size=128).float()
    plain = float(1 - ms_ssim(x_hat, x, data_range=1.0, win_size=7))
    red, ori = float(L.redraw_loss(x_hat, x, 0.1)), float(L.orientation_loss(x_hat, x))
    assert red > 0.05 and ori > 0.05  # a 20° turn: both terms see it
    d, term = L.distortion(x_hat, x, "ms-ssim+redraw+orientation", 7, 2.0, 0.1,
                           orientation_weight=0.5)
    assert float(term) == pytest.approx(2.0 * red + 0.5 * ori, rel=1e-6)
    assert float(d) == pytest.approx(plain + 2.0 * red + 0.5 * ori, rel=1e-5)
    assert L.base_metric("ms-ssim+redraw+orientation") == "ms-ssim"


# ------------------------------------------------------------------- training with it


def _write_gratings(folder: Path, n: int = 3, size: int = 96) -> Path:
    """test_orientation_loss's training images, drawn with this module's float64 grating."""
    return _write_orientation_gratings(folder, n, size, make=grating)


def test_training_with_the_redraw_term_records_its_weight(tmp_path: Path) -> None:
    data = _write_gratings(tmp_path / "data")
    out = tmp_path / "redraw.pth"
    events: list[T.TrainEvent] = []
    cfg = T.TrainConfig(model="bls2017", data=data, out=out, metric="ms-ssim+redraw",
                        stripe_weight=2.5, steps=2, batch=1, crop=80, val_every=2,
                        model_kwargs={"N": 8}, device="cpu")
    result = T.train(cfg, progress=events.append)
    assert result.metric == "ms-ssim+redraw"
    terms = [e.orientation for e in events if e.kind == "step"]
    assert len(terms) == 2 and all(v is not None and v >= 0 for v in terms)
    assert "stripe weight 2.5" in events[0].message
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["metric"] == "ms-ssim" and ckpt["train_metric"] == "ms-ssim+redraw"
    assert ckpt["stripe_weight"] == 2.5 and ckpt["orientation_weight"] is None
    assert ckpt["erase_cost"] == 0.0
    assert ckpt["train_config"]["stripe_weight"] == 2.5
    # Resume keeps the loss and the weight; a different weight is refused.
    T.train(T.TrainConfig(**{**cfg.__dict__, "steps": 3, "resume": out, "metric": None,
                             "stripe_weight": None}))
    again = torch.load(out, weights_only=True)
    assert again["steps"] == 3 and again["stripe_weight"] == 2.5
    with pytest.raises(T.TrainingError, match="stripe weight 2.5"):
        T.train(T.TrainConfig(**{**cfg.__dict__, "steps": 4, "resume": out,
                                 "stripe_weight": 1.0}))


def test_training_with_both_terms_records_both_weights(tmp_path: Path) -> None:
    data = _write_gratings(tmp_path / "data", n=2)
    out = tmp_path / "both.pth"
    events: list[T.TrainEvent] = []
    T.train(T.TrainConfig(model="bls2017", data=data, out=out,
                          metric="ms-ssim+redraw+orientation", stripe_weight=2.0,
                          orientation_weight=0.5, erase_cost=0.1, steps=2, batch=1, crop=80,
                          val_every=2, model_kwargs={"N": 8}, device="cpu"),
            progress=events.append)
    assert "orientation weight 0.5, stripe weight 2, erase cost 0.1" in events[0].message
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["train_metric"] == "ms-ssim+redraw+orientation"
    assert (ckpt["stripe_weight"], ckpt["orientation_weight"], ckpt["erase_cost"]) == (
        2.0, 0.5, 0.1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"metric": "ms-ssim+orientation"}, "needs --metric ms-ssim\\+redraw"),
        ({"metric": "mse"}, "needs --metric ms-ssim\\+redraw"),
        ({"stripe_weight": 0.0}, "must be positive"),
        ({"stripe_weight": float("nan")}, "must be positive"),
        ({"metric": "ms-ssim+stripe-mse", "erase_cost": 0.2}, "--erase-cost needs"),
        ({"erase_cost": -0.1}, "must be at least 0"),
    ],
)
def test_stripe_weight_errors(tmp_path: Path, change: dict, message: str) -> None:
    data = _write_gratings(tmp_path / "data", n=2)
    base = dict(model="bls2017", data=data, out=tmp_path / "x.pth", steps=1, batch=1, crop=80,
                model_kwargs={"N": 8}, metric="ms-ssim+redraw", stripe_weight=1.0)
    with pytest.raises(T.TrainingError, match=message):
        T.train(T.TrainConfig(**{**base, **change}))
    assert not (tmp_path / "x.pth").exists()


def test_cli_options_reach_the_checkpoint(tmp_path: Path, cli) -> None:
    from train_app import train_app
    from typer.testing import CliRunner

    app = train_app()

    data = _write_gratings(tmp_path / "data", n=2)
    out = tmp_path / "cli.pth"
    res = CliRunner().invoke(app, [
        "train", "bls2017", "--data", str(data), "--out", str(out), "--steps", "2", "--batch",
        "1", "--crop", "80", "--N", "8", "--val-every", "2", "--metric", "ms-ssim+redraw",
        "--stripe-weight", "3", "--erase-cost", "0.1"])
    assert res.exit_code == 0, res.output
    assert "stripe weight 3, erase cost 0.1" in res.output and "stripe term" in res.output
    ckpt = torch.load(out, weights_only=True)
    assert (ckpt["train_metric"], ckpt["stripe_weight"], ckpt["erase_cost"]) == (
        "ms-ssim+redraw", 3.0, 0.1)
    # Through the real CLI, a weight for a loss without the term is one line and exit 2.
    bad = cli("train", "bls2017", "--data", str(data), "--out", str(tmp_path / "y.pth"),
              "--steps", "1", "--crop", "80", "--N", "8", "--metric", "mse",
              "--stripe-weight", "3")
    assert bad.code == 2 and "--stripe-weight needs --metric" in bad.stderr
    assert not (tmp_path / "y.pth").exists()
