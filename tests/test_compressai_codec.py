"""Learned codecs on tiny seeded models: exact round trips, drift detection, rate matching."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest
from codeccmp_compressai import bitstream, weights, zoo
from codeccmp_compressai import device as devices
from codeccmp_compressai.codecs import LearnedCodec, all_codecs

from codeccmp.codec import CodecError, CodecUnavailable, RunSettings
from codeccmp.errors import UsageError

torch = pytest.importorskip("torch")


def _image(h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 3 + y / 5), 255 * x / w, 60 + 2 * y], axis=2)
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


#: These tests run on the CPU; ``CODECCMP_TEST_DEVICE=cuda`` runs them on a GPU by hand (CI
#: has none), to check the CUDA paths of the same code.
DEVICE = os.environ.get("CODECCMP_TEST_DEVICE", "cpu")

@pytest.fixture
def make_codec(learned_env, learned_states, learned_save):
    """``make(arch, qualities, metric)``: a codec whose qualities are explicit tiny files."""

    def make(arch: str = "bmshj2018-factorized", qualities=(1,), metric: str = "ms-ssim",
             **extra) -> LearnedCodec:
        codec = LearnedCodec(arch, metric)
        ws = {}
        for q in qualities:
            path, _ = learned_save(learned_env.tmp / f"{arch}-{metric}-{q}.pth",
                                   learned_states(arch, q))
            ws[f"{codec.name}:{q}"] = str(path)
        codec.configure(RunSettings(device=DEVICE, weights=ws, offline=True, extra=extra))
        return codec

    return make


def test_names_and_registration() -> None:
    names = [c.name for c in all_codecs()]
    for arch in ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018", "mbt2018-mean",
                 "cheng2020-anchor", "cheng2020-attn", "bls2017", "lee2019"):
        assert arch in names and f"{arch}-mse" in names
    assert len(names) == len(set(names)) == 16
    c = LearnedCodec("mbt2018", "mse")
    assert (c.arch, c.metric, c.family, c.supports_gray) == ("mbt2018", "mse", "learned", False)
    assert zoo.split_codec_name("cheng2020-attn-mse") == (zoo.ARCHS["cheng2020-attn"], "mse")
    assert zoo.split_codec_name("cheng2020-attn") == (zoo.ARCHS["cheng2020-attn"], "ms-ssim")


def test_plugin_registers_through_entry_point() -> None:
    from codeccmp.plugins import load_registry

    registry = load_registry()
    assert set(zoo.codec_names()) <= set(registry.names())
    assert registry.plugin_of("bmshj2018-factorized") == "compressai"


def test_registering_the_learned_codecs_loads_only_their_names() -> None:
    """Registration (every run does it, standard codecs only or not) imports the codec class
    and the architecture table, none of the helpers that code (a fresh process)."""
    from procs import python_argv, run

    code = ("import sys\nfrom codeccmp.plugins import load_registry\nload_registry()\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('codeccmp_compressai')"
            " and m != 'codeccmp_compressai'))")
    p = run(python_argv(code), timeout=120)
    assert "LOADED ['codeccmp_compressai.codecs', 'codeccmp_compressai.zoo']" in p.stdout, \
        p.stdout[-500:] + p.stderr[-1000:]


@pytest.mark.parametrize("arch", ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018"])
def test_decode_equals_compress_decompress(make_codec, arch: str) -> None:
    """decode(bytes) is exactly what the model's own compress/decompress gives."""
    codec = make_codec(arch)
    img = _image(45, 70)  # not a multiple of 16 or 64: padded, then cropped back
    enc = codec.encode(img, 1)
    out = codec.decode(enc.data)
    assert out.shape == img.shape and out.dtype == np.uint8

    _, lm = codec._model(1)
    f = lm.model.downsampling_factor
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float().to(lm.device) / 255
    hp, wp = -(-45 // f) * f, -(-70 // f) * f
    x = torch.nn.functional.pad(x, (0, wp - 70, 0, hp - 45), mode="replicate")
    with torch.inference_mode():
        c = lm.model.compress(x)
        ref = lm.model.decompress(c["strings"], c["shape"])["x_hat"]
    ref = (ref[0, :, :45, :70].clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0)
    ref = ref.cpu().numpy()
    np.testing.assert_array_equal(out, ref)
    # every byte is counted; the header is a handful of bytes
    header, strings = bitstream.unpack(enc.data)
    assert (header.height, header.width, header.quality) == (45, 70, 1)
    assert header.shape is None  # derivable from the padded size
    assert enc.settings["header_bytes"] == len(enc.data) - sum(map(len, strings)) < 16
    assert sum(len(s) for s in strings) == sum(len(s[0]) for s in c["strings"])
    assert enc.settings["drift_checked_at"] == "decode"
    codec.verify_on_encode = True
    checked = codec.encode(img, 1).settings
    # on the CPU the decoder recovers the coded latents bit for bit
    assert checked["drift_latents_differing"] == 0 and checked["drift_max_latent_diff"] == 0
    assert checked["drift_checked_at"] == "encode and decode"


@pytest.mark.parametrize("arch", ["bmshj2018-factorized", "bmshj2018-hyperprior",
                                  "mbt2018-mean", "mbt2018", "cheng2020-anchor",
                                  "cheng2020-attn"])
def test_every_zoo_architecture_round_trips(make_codec, arch: str) -> None:
    codec = make_codec(arch, metric="mse")
    img = _image(64, 64)
    enc = codec.encode(img, 1)
    expected = "autoregressive" if arch in ("mbt2018", "cheng2020-anchor",
                                            "cheng2020-attn") else "forward"
    assert enc.settings["drift_check"] == expected
    assert enc.settings["model"] == arch and enc.settings["metric"] == "mse"
    out = codec.decode(enc.data)  # checked against the encoder's latents inside
    assert out.shape == img.shape
    _, decoded = codec._decode_rgb(enc.data, latents=True)
    coded = codec._expected[hashlib.sha256(enc.data).hexdigest()]
    assert enc.settings["latents"] == coded.numel() > 0
    assert torch.equal(decoded, coded)


def test_fresh_codec_decodes_from_bytes_alone(make_codec) -> None:
    codec = make_codec("bmshj2018-hyperprior")
    img = _image()
    enc = codec.encode(img, 1)
    fresh = LearnedCodec("bmshj2018-hyperprior")
    fresh.configure(codec._settings)
    np.testing.assert_array_equal(fresh.decode(enc.data), codec.decode(enc.data))


def test_gray_input_is_replicated_and_averaged_back(make_codec) -> None:
    codec = make_codec()
    gray = _image()[..., 0].copy()
    enc = codec.encode(gray, 1)
    out = codec.decode(enc.data)
    assert out.shape == gray.shape
    assert bitstream.unpack(enc.data)[0].gray


def test_settings_record_provenance(make_codec) -> None:
    codec = make_codec()
    enc = codec.encode(_image(), 1)
    s = enc.settings
    assert s["model"] == "bmshj2018-factorized" and s["metric"] == "ms-ssim"
    assert s["quality"] == 1 and s["weights_source"] == "explicit"
    assert s["device"] == devices.resolve_device(DEVICE)  # cuda -> cuda:0
    assert len(s["weights_sha256"]) == 64 and s["weights"].endswith(".pth")
    assert isinstance(s["header_bytes"], int) and s["estimated_bpp"] > 0
    lib = codec.library()
    assert "compressai" in lib and "torch" in lib
    assert codec.device() == devices.resolve_device(DEVICE)


def test_bitstream_of_another_codec_is_refused(make_codec) -> None:
    mse = make_codec(metric="mse")
    data = mse.encode(_image(), 1).data
    other = LearnedCodec("bmshj2018-factorized", "ms-ssim")
    other.configure(mse._settings)
    with pytest.raises(CodecError, match="bitstream is for bmshj2018-factorized-mse"):
        other.decode(data)
    with pytest.raises(CodecError, match="bad magic"):
        mse.decode(b"\x89PNG" + data[4:])
    with pytest.raises(CodecError):
        mse.decode(data[:-3])


def test_unknown_quality(make_codec) -> None:
    codec = make_codec()
    with pytest.raises(CodecError, match="no quality 9"):
        codec.encode(_image(), 9)
    # a zoo quality whose weights are missing offline says how to get them
    with pytest.raises(CodecUnavailable, match="codeccmp models pull bmshj2018-factorized"):
        codec.encode(_image(), 5)


def test_entropy_decoding_drift_is_an_error(make_codec, learned_states, monkeypatch) -> None:
    """A decoder whose hyperprior computes slightly different scales (as another device
    might) decodes garbage; encode must catch it, not return a result."""
    codec = make_codec("bmshj2018-hyperprior")
    _, lm = codec._model(1)
    from compressai.models import ScaleHyperprior

    drifted = ScaleHyperprior.from_state_dict(learned_states("bmshj2018-hyperprior", 1))
    with torch.no_grad():
        for p in drifted.h_s.parameters():
            p.mul_(1.3)
    drifted.update(force=True)
    drifted.eval().to(lm.device)
    enc = codec.encode(_image(), 1)  # made while the decoder agrees
    model = lm.model
    decompress = type(model).decompress

    def drifted_decompress(strings, shape):  # the decoder alone sees other scales
        good = model.h_s
        model.h_s = drifted.h_s
        try:
            return decompress(model, strings, shape)
        finally:
            model.h_s = good

    monkeypatch.setattr(model, "decompress", drifted_decompress)
    # By default the check happens where the pipeline decodes: at decode, never a result.
    with pytest.raises(CodecError, match="entropy decoding drift"):
        codec.decode(enc.data)
    fresh = codec.encode(_image()[::-1].copy(), 1)
    with pytest.raises(CodecError, match="entropy decoding drift"):
        codec.decode(fresh.data)
    # On request, encode checks its own bytes at once.
    codec.verify_on_encode = True
    with pytest.raises(CodecError, match="entropy decoding drift"):
        codec.encode(_image(), 1)


def test_pad_multiple_stores_the_latent_shape(make_codec) -> None:
    codec = make_codec(learned_pad_multiple=64)
    img = _image(48, 80)
    enc = codec.encode(img, 1)
    header, _ = bitstream.unpack(enc.data)
    assert header.shape == (4, 8)  # 64x128 padded / 16
    assert enc.settings["padded_size"] == [128, 64]
    assert codec.decode(enc.data).shape == img.shape


def test_weights_file_loaded_once_per_run(make_codec) -> None:
    codec = make_codec(qualities=(1, 2))
    img = _image()
    for _ in range(2):
        codec.decode(codec.encode(img, 1).data)
    codec.match_rate(img, 0.3)
    codec.configure(codec._settings)  # a new run's configure keeps the cache
    codec.encode(img, 2)
    assert weights.LOAD_COUNTS and all(n == 1 for n in weights.LOAD_COUNTS.values())


def _real_bpps(codec: LearnedCodec, img: np.ndarray, qualities) -> dict[int, float]:
    pixels = img.shape[0] * img.shape[1]
    return {q: 8 * codec.encode(img, q).nbytes / pixels for q in qualities}


@pytest.mark.parametrize("arch", ["bmshj2018-hyperprior", "bmshj2018-factorized"])
def test_match_rate_returns_the_real_closest(make_codec, arch: str, monkeypatch) -> None:
    qualities = (1, 2, 3, 4)
    codec = make_codec(arch, qualities=qualities)
    img = _image()
    real = _real_bpps(codec, img, qualities)
    assert sorted(real.values()) == [real[q] for q in qualities]  # monotone test models
    values = [real[q] for q in qualities]
    targets = [values[0] * 0.5, values[-1] * 1.5, values[1] * 1.01,
               (values[1] + values[2]) / 2, (values[2] + values[3]) / 2]
    calls: list[int] = []
    original = LearnedCodec.encode

    def counting(self, image, param):  # noqa: ANN001, ANN202
        calls.append(int(param))
        return original(self, image, param)

    monkeypatch.setattr(LearnedCodec, "encode", counting)
    for t in targets:
        calls.clear()
        proposed = codec.match_rate(img, t)
        assert proposed, t
        got = {e.param: 8 * e.nbytes / (img.shape[0] * img.shape[1]) for e in proposed}
        best_real = min(qualities, key=lambda q: abs(real[q] - t))
        assert best_real in got, (t, real, got)
        assert len(calls) <= 3, calls  # only the neighbours of the target are coded


def test_match_rate_single_quality(make_codec) -> None:
    codec = make_codec()
    codec.configure(RunSettings(device="cpu", weights={
        codec.name: codec._settings.weights[f"{codec.name}:1"]}))
    assert codec.param_space.values == (0,)
    [enc] = codec.match_rate(_image(), 0.5)
    assert enc.param == 0


def test_device_resolution(monkeypatch) -> None:
    assert devices.resolve_device("cpu") == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert devices.resolve_device("auto") == "cpu"
    with pytest.raises(CodecUnavailable, match="no CUDA"):
        devices.resolve_device("cuda:1")
    assert devices.parse_device(" CUDA:0 ") == "cuda:0"
    with pytest.raises(UsageError):
        devices.parse_device("gpu")
    codec = LearnedCodec("bmshj2018-factorized")
    codec.configure(RunSettings(device="cuda"))
    assert "CUDA" in (codec.availability() or "")


@pytest.mark.parametrize("spec", ["auto", "cuda", "cuda:0"])
def test_every_cuda_spec_makes_cudnn_deterministic(monkeypatch, spec: str) -> None:
    """``--device auto`` (the default) on a GPU machine must get the same cuDNN settings as
    ``--device cuda``: autotuned kernels decoded the same bytes to different pixels from run
    to run. Checked on the CPU by making torch report one GPU; nothing touches a device."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.backends.cudnn, "deterministic", False)
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", True)
    assert devices.resolve_device(spec) == "cuda:0"
    assert torch.backends.cudnn.deterministic is True
    assert torch.backends.cudnn.benchmark is False


def test_image_too_large_is_refused_before_work(make_codec, monkeypatch) -> None:
    codec = make_codec()
    _, lm = codec._model(1)
    monkeypatch.setattr(devices, "free_memory_bytes", lambda device: 10_000)

    def boom(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("no work may start")

    monkeypatch.setattr(lm.model, "compress", boom)
    monkeypatch.setattr(lm.model, "forward", boom)
    with pytest.raises(CodecError, match="GiB"):
        codec.encode(_image(), 1)
    with pytest.raises(CodecError, match="GiB"):
        codec.match_rate(_image(), 0.2)


def test_bad_images(make_codec) -> None:
    codec = make_codec()
    with pytest.raises(CodecError, match="uint8"):
        codec.encode(_image().astype(np.float32), 1)
    with pytest.raises(CodecError):
        codec.encode(np.zeros((8, 8, 4), np.uint8), 1)
