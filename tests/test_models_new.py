"""bls2017 and lee2019: shapes, real compress/decompress, weights round trip, causality."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("compressai")

from codeccmp_compressai.models import (  # noqa: E402
    Bls2017Model,
    Lee2019Model,
    MeanOffsetGaussianConditional,
)
from compressai.ans import BufferedRansEncoder, RansDecoder  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _image(batch: int, h: int, w: int, seed: int = 0) -> torch.Tensor:
    """Smooth gratings plus a little noise: structured like a photo, not flat."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(h).float(), torch.arange(w).float(), indexing="ij")
    imgs = []
    for b in range(batch):
        a = 0.4 + b
        r = 0.5 + 0.4 * torch.sin(2 * math.pi * (xx * math.cos(a) + yy * math.sin(a)) / 9)
        gch = xx / w
        bch = (yy > h / 2).float() * 0.6 + 0.2
        img = torch.stack([r, gch, bch]) + 0.02 * torch.randn(3, h, w, generator=g)
        imgs.append(img.clamp(0, 1))
    return torch.stack(imgs)


def _roundtrip(model: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
    model.eval()
    model.update(force=True)
    with torch.no_grad():
        ref = model(x)["x_hat"].clamp(0, 1)
    enc = model.compress(x)
    nbytes = sum(len(s) for group in enc["strings"] for s in group)
    dec = model.decompress(enc["strings"], enc["shape"])["x_hat"]
    return ref, dec, nbytes


@pytest.mark.parametrize(
    ("cls", "kwargs", "factor", "latent"),
    [(Bls2017Model, {"N": 12}, 16, 12), (Lee2019Model, {"N": 12, "M": 20}, 64, 20)],
)
def test_shapes_and_downsampling_factor(cls, kwargs, factor, latent) -> None:
    model = cls(**kwargs)
    assert isinstance(model.downsampling_factor, int) and model.downsampling_factor == factor
    assert cls.downsampling_factor == factor
    x = _image(1, 128, 192)
    out = model(x)
    assert out["x_hat"].shape == x.shape
    assert out["likelihoods"]["y"].shape == (1, latent, 8, 12)  # y at 1/16
    if cls is Lee2019Model:
        assert out["likelihoods"]["z"].shape == (1, kwargs["N"], 2, 3)  # z at 1/64
    assert torch.isfinite(model.aux_loss())


def test_bls2017_follows_the_reference_layout() -> None:
    """9×9 stride 4 then two 5×5 stride 2; GDN after the first two; last conv bias-free."""
    m = Bls2017Model()
    assert m.N == 128 and m.config == {"N": 128}
    convs = [layer for layer in m.g_a if isinstance(layer, torch.nn.Conv2d)]
    assert [(c.kernel_size, c.stride) for c in convs] == [((9, 9), (4, 4)), ((5, 5), (2, 2)),
                                                         ((5, 5), (2, 2))]
    assert convs[-1].bias is None and convs[0].bias is not None
    deconvs = [layer for layer in m.g_s if isinstance(layer, torch.nn.ConvTranspose2d)]
    assert [(c.kernel_size, c.stride) for c in deconvs] == [((5, 5), (2, 2)), ((5, 5), (2, 2)),
                                                           ((9, 9), (4, 4))]
    assert m.entropy_bottleneck.channels == 128


def test_bls2017_compress_decompress_roundtrip() -> None:
    torch.manual_seed(0)
    model = Bls2017Model(N=16)
    x = _image(2, 64, 80)
    ref, dec, nbytes = _roundtrip(model, x)
    assert dec.shape == x.shape
    assert torch.allclose(dec, ref, atol=1e-5)
    assert nbytes > 0


def test_lee2019_compress_decompress_roundtrip() -> None:
    """The decoder reproduces the forward pass's rounded latent exactly (ŷ = round(y))."""
    torch.manual_seed(0)
    model = Lee2019Model(N=16, M=16)
    x = _image(2, 128, 64)
    ref, dec, nbytes = _roundtrip(model, x)
    assert dec.shape == x.shape
    assert torch.allclose(dec, ref, atol=1e-5)
    # Real bytes track the model's own estimate (untrained model: generous bound).
    with torch.no_grad():
        lik = model(x)["likelihoods"]
    est_bytes = sum(float(-torch.log2(v).sum()) for v in lik.values()) / 8
    assert 0.8 * est_bytes < nbytes < 1.3 * est_bytes + 64


def test_lee2019_context_is_causal_over_a_4x4_window() -> None:
    """μ, σ at (h, w) depend on ŷ at the 14 decoded positions of the window, nothing else."""
    torch.manual_seed(1)
    model = Lee2019Model(N=8, M=8).eval()
    y_hat = torch.randn(1, 8, 9, 9).round()
    c_prime = torch.randn(1, 8, 9, 9)
    means, scales = model._gaussian_params(y_hat, c_prime)
    h, w = 5, 4
    changed = y_hat.clone()
    changed[0, :, h, w] += 3.0
    m2, s2 = model._gaussian_params(changed, c_prime)
    moved = ((m2 - means).abs() + (s2 - scales).abs()).sum(1)[0] > 1e-6
    # Positions whose window contains (h, w) as a decoded neighbour: (h, w) is at window row
    # 3 - (i - h)... i.e. targets (i, j) with i - 3 <= h <= i and j - 2 <= w <= j + 1,
    # excluding the target itself and the one to its left on the same row (unknown there).
    expected = torch.zeros(9, 9, dtype=torch.bool)
    for i in range(9):
        for j in range(9):
            dr, dc = h - i, w - j  # offset of the changed element from the target
            in_window = -3 <= dr <= 0 and -2 <= dc <= 1
            decoded = dr < 0 or dc < 0
            expected[i, j] = in_window and decoded
    assert torch.equal(moved, expected)
    assert int(expected.sum()) == 14  # 3 rows × 4 + 2 on the current row


def test_mean_offset_tables_code_at_the_model_rate() -> None:
    """Coding ŷ = round(y) with non-integer means costs what the likelihood says."""
    gc = MeanOffsetGaussianConditional(None)
    from compressai.models.base import get_scale_table

    gc.update_scale_table(get_scale_table(), force=True)
    g = torch.Generator().manual_seed(0)
    n = 20000
    means = torch.randn(n, generator=g) * 3
    scales = torch.exp(torch.rand(n, generator=g) * 3 - 1.5)  # 0.22 … 4.5
    y_hat = torch.round(means + scales * torch.randn(n, generator=g))
    bits = float(-torch.log2(gc.likelihood(y_hat, scales, means)).sum())
    idx = gc.build_indexes(scales, means).tolist()
    sym = gc.to_symbols(y_hat, means).tolist()
    lengths = gc._cdf_length.tolist()
    cdfs = [row[:n_] for row, n_ in zip(gc._quantized_cdf.tolist(), lengths, strict=True)]
    offsets = gc._offset.tolist()
    enc = BufferedRansEncoder()
    enc.encode_with_indexes(sym, idx, cdfs, lengths, offsets)
    data = enc.flush()
    assert abs(8 * len(data) - bits) / bits < 0.03
    dec = RansDecoder()
    decoded = torch.tensor(dec.decode_with_indexes(data, idx, cdfs, lengths, offsets))
    assert torch.equal(gc.from_symbols(decoded, means), y_hat)
    assert gc._quantized_cdf.shape[0] == 64 * 9  # 64 scales × 9 mean offsets (0 … ½)


@pytest.mark.parametrize(
    ("cls", "kwargs", "size"),
    [(Bls2017Model, {"N": 10}, (64, 48)), (Lee2019Model, {"N": 10, "M": 14}, (64, 128))],
)
def test_from_state_dict_infers_sizes_and_compresses_at_once(cls, kwargs, size) -> None:
    torch.manual_seed(2)
    model = cls(**kwargs).eval()
    model.update(force=True)
    x = _image(1, *size)
    enc = model.compress(x)
    clone = cls.from_state_dict(model.state_dict()).eval()  # no update() needed
    assert clone.config == model.config == {**kwargs}
    enc2 = clone.compress(x)
    assert enc2["strings"] == enc["strings"]
    dec = clone.decompress(enc["strings"], enc["shape"])["x_hat"]
    assert torch.allclose(dec, model.decompress(enc["strings"], enc["shape"])["x_hat"])


def test_from_state_dict_rejects_other_architectures() -> None:
    from compressai.models import FactorizedPrior, JointAutoregressiveHierarchicalPriors

    bls, lee = Bls2017Model(N=8), Lee2019Model(N=8, M=8)
    with pytest.raises(ValueError, match="not a lee2019 model"):
        Lee2019Model.from_state_dict(bls.state_dict())
    with pytest.raises(ValueError, match="not a bls2017 model"):
        Bls2017Model.from_state_dict(lee.state_dict())
    with pytest.raises(ValueError, match="not a bls2017 model"):
        Bls2017Model.from_state_dict(FactorizedPrior(8, 8).state_dict())
    with pytest.raises(ValueError, match="not a lee2019 model"):
        Lee2019Model.from_state_dict(JointAutoregressiveHierarchicalPriors(8, 8).state_dict())
    broken = dict(bls.state_dict())
    broken.pop("g_s.4.weight")
    with pytest.raises(ValueError, match="missing: g_s.4.weight"):
        Bls2017Model.from_state_dict(broken)


def test_padding_to_the_downsampling_factor() -> None:
    """An odd-sized image padded by replication to the factor, coded, and cropped back."""
    torch.manual_seed(3)
    for model in (Bls2017Model(N=8), Lee2019Model(N=8, M=8)):
        f = model.downsampling_factor
        x = _image(1, 70, 50)
        ph, pw = (-70) % f, (-50) % f
        padded = torch.nn.functional.pad(x, (0, pw, 0, ph), mode="replicate")
        assert padded.shape[-2] % f == 0 and padded.shape[-1] % f == 0
        ref, dec, _ = _roundtrip(model, padded)
        assert dec[..., :70, :50].shape == x.shape
        assert torch.allclose(dec, ref, atol=1e-5)
    with pytest.raises(ValueError, match="multiples of 64"):
        Lee2019Model(N=8, M=8).eval()(_image(1, 96, 96))
