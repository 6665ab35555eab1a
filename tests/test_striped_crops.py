"""``train --striped-crops``: a share of the training crops placed where the images have fine
stripes; uniform crops otherwise, drawn exactly as before."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")
pytest.importorskip("pytorch_msssim")

from codeccmp_compressai import training as T  # noqa: E402
from codeccmp_compressai.train_data import RandomCrops, crop_scores, stripe_strength  # noqa: E402

from codeccmp.errors import UsageError  # noqa: E402
from codeccmp.stripes import synthetic_grating  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

H, W, C = 96, 192, 32


def _half_striped(path: Path) -> Path:
    """Left half flat grey with faint noise, right half a 3 px grating at 30°."""
    rng = np.random.default_rng(0)
    img = 128 + rng.normal(0, 2, (H, W))
    img[:, W // 2:] = synthetic_grating((H, W // 2), 30.0, 3.0, contrast=0.6)
    rgb = np.clip(np.repeat(img[..., None], 3, axis=2), 0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path)
    return path


def _lefts(crops: RandomCrops, n: int, img: np.ndarray) -> list[int]:
    """The left edge of each crop of a batch, found by matching its pixels in the image."""
    batch = (crops.batch(n) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    lefts = []
    for crop in batch:
        hits = [(t, x) for t in range(H - C + 1) for x in range(W - C + 1)
                if crop[0, 0, 0] == img[t, x, 0] and np.array_equal(crop, img[t:t + C, x:x + C])]
        lefts.append(hits[0][1])
    return lefts


def test_striped_crops_land_on_the_stripes(tmp_path: Path) -> None:
    path = _half_striped(tmp_path / "half.png")
    img = np.asarray(Image.open(path).convert("RGB"))
    uniform = _lefts(RandomCrops([path], C, torch.Generator().manual_seed(1), 1 << 30), 60, img)
    striped = _lefts(RandomCrops([path], C, torch.Generator().manual_seed(1), 1 << 30,
                                 striped=1.0), 60, img)
    # A corner is drawn in proportion to the stripes its crop holds: never a crop wholly on
    # the flat half (its strength is 0 up to the filters' reach, a few px), and a crop wholly
    # on the grating (x ≥ 96: 65 corners of full weight, against the partial ones x = 65–95,
    # about 16.5 full weights) with probability 65 / 81.5 = 0.80; 60 draws: sd 0.05. Uniform
    # corners lie wholly on the grating with probability 65 / 161 = 0.40 (sd 0.06).
    assert all(x + C > W // 2 - 4 for x in striped)
    assert 0.62 <= np.mean([x >= W // 2 for x in striped]) <= 0.97
    assert 0.2 < np.mean([x >= W // 2 for x in uniform]) < 0.6
    assert any(x + C <= W // 2 - 4 for x in uniform)


def test_no_striped_share_draws_exactly_the_uniform_crops(tmp_path: Path) -> None:
    """``striped=0`` takes no extra random numbers: old runs are reproduced to the bit."""
    path = _half_striped(tmp_path / "half.png")
    a = RandomCrops([path], C, torch.Generator().manual_seed(5), 1 << 30).batch(8)
    b = RandomCrops([path], C, torch.Generator().manual_seed(5), 1 << 30, striped=0.0).batch(8)
    g = torch.Generator().manual_seed(5)  # the uniform draws, spelled out
    torch.randint(1, (8,), generator=g)
    img = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)
    for i in range(8):
        top = int(torch.randint(H - C + 1, (1,), generator=g))
        left = int(torch.randint(W - C + 1, (1,), generator=g))
        assert torch.equal(a[i], img[:, top:top + C, left:left + C].float() / 255)
    assert torch.equal(a, b)


def test_strength_and_scores() -> None:
    """Strength is 0 on the flat half and positive on the grating; the crop scores are the
    window sums of it (checked against a direct sum), and an image with no stripes has
    none (its crops stay uniform)."""
    flat = torch.full((3, 64, 64), 128, dtype=torch.uint8)
    assert crop_scores(stripe_strength(flat), 32) is None
    g = synthetic_grating((64, 128), 30.0, 3.0, contrast=0.6)
    g[:, :64] = 128
    img = torch.from_numpy(np.repeat(np.clip(g, 0, 255).astype(np.uint8)[None], 3, axis=0))
    s = stripe_strength(img)
    assert s[:, :40].max() == 0 and s[8:-8, 80:-8].min() > 0
    scores = crop_scores(s, 32).reshape(64 - 32 + 1, 128 - 32 + 1).numpy()
    for top, left in ((0, 0), (5, 40), (32, 96), (17, 63)):
        want = s[top:top + 32, left:left + 32].sum()
        assert scores[top, left] == pytest.approx(want, rel=1e-9, abs=1e-9 * s.sum())


def test_config_and_checkpoint(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    for i in range(3):
        _half_striped(data / f"img{i}.png")
    out = tmp_path / "s.pth"
    cfg = dict(model="bls2017", data=data, out=out, steps=2, batch=2, crop=80,
               model_kwargs={"N": 8}, val_every=1000, lr=1e-3, val_fraction=0.34)
    T.train(T.TrainConfig(**cfg, striped_crops=0.5))
    ck = torch.load(out, weights_only=True)
    assert ck["train_config"]["striped_crops"] == 0.5
    # Resuming keeps the share; another one is refused.
    T.train(T.TrainConfig(**{**cfg, "steps": 3}, resume=out))
    assert torch.load(out, weights_only=True)["train_config"]["striped_crops"] == 0.5
    with pytest.raises(T.TrainingError, match="striped crops"):
        T.train(T.TrainConfig(**{**cfg, "steps": 4}, resume=out, striped_crops=0.2))
    with pytest.raises(T.TrainingError, match="0 to 1"):
        T.train(T.TrainConfig(**{**cfg, "out": tmp_path / "x.pth"}, striped_crops=1.5))


def test_cli_refuses_a_share_outside_0_to_1(tmp_path: Path) -> None:
    from train_app import train_app
    from typer.testing import CliRunner

    app = train_app()

    res = CliRunner().invoke(app, ["train", "bls2017", "--data", str(tmp_path),
                                   "--out", str(tmp_path / "o.pth"), "--striped-crops", "-0.1"])
    assert isinstance(res.exception, UsageError)
    assert "--striped-crops is a share of the crops, 0 to 1; got -0.1" in str(res.exception)
    assert not (tmp_path / "o.pth").exists()


def test_crop_scores_share_the_image_cache_budget(tmp_path: Path) -> None:
    """The scores (8 bytes per corner) count against ``cache_bytes`` and leave with their
    image, so a large folder does not keep every image's scores."""
    paths = [_half_striped(tmp_path / f"h{i}.png") for i in range(3)]
    one = H * W * 3 + (H - C + 1) * (W - C + 1) * 8  # an image and its scores
    crops = RandomCrops(paths, C, torch.Generator().manual_seed(0), int(1.5 * one),
                        striped=1.0)
    for _ in range(6):
        crops.batch(4)
        assert crops._cached <= max(int(1.5 * one), one)
        assert set(crops._scores) <= set(crops._cache)
