"""The learned codec's rate path to the quality: its estimate, and which qualities its own
search codes for real. Written against surviving mutants of ``LearnedCodec._match_rate`` and
``_analyse`` (benchmarks/mutation/run.py), on tiny seeded models (tests/conftest.py).

The search's contract (its docstring): the qualities whose *estimates* bracket the target are
coded, then neighbours are added only while the *real* rates of what is coded do not bracket
the target. So the qualities it returns are known exactly from the estimates and the real
rates, which the test measures independently."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

QUALITIES = (1, 2, 3, 4)


@pytest.fixture
def codec(learned_env, learned_states, learned_save, torch_one_thread):  # noqa: ANN001, ANN201
    from codeccmp_compressai.codecs import LearnedCodec

    from codeccmp.codec import RunSettings

    c = LearnedCodec("bmshj2018-factorized", "ms-ssim")
    ws = {}
    for q in QUALITIES:
        path, _ = learned_save(learned_env.tmp / f"q{q}.pth",
                               learned_states("bmshj2018-factorized", q))
        ws[f"{c.name}:{q}"] = str(path)
    c.configure(RunSettings(device="cpu", weights=ws, offline=True))
    return c


def _image(h: int = 48, w: int = 80) -> np.ndarray:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([128 + 100 * np.sin(x / 3 + y / 5), 255 * x / w, 60 + 2 * y], axis=2)
    return np.clip(base + rng.normal(0, 8, (h, w, 3)), 0, 255).astype(np.uint8)


def _expected(est: list[float], real: list[float], target: float) -> list[int]:
    """The documented search, written out: estimate bracket first, then real neighbours."""
    n = len(est)
    lo = max([i for i in range(n) if est[i] < target], default=-1)
    hi = min([i for i in range(n) if est[i] >= target], default=n)
    picks = [i for i in (lo, hi) if 0 <= i < n]
    a, b = min(picks), max(picks)
    while a > 0 and real[a] > target:
        a -= 1
    while b < n - 1 and real[b] < target:
        b += 1
    return list(range(a, b + 1))


def test_estimate_is_the_models_own_bits_plus_the_header(codec) -> None:  # noqa: ANN001
    from codeccmp_compressai import bitstream

    img = _image()
    h, w = img.shape[:2]
    for q in (1, 3):
        _, lm = codec._model(q)
        x = codec._padded_tensor(img, lm)
        with torch.inference_mode():
            out = lm.model(x)
        bits = sum(float(-torch.log2(p.double()).sum()) for p in out["likelihoods"].values())
        header = len(bitstream.pack(bitstream.Header(1, "ms-ssim", 8, h, w), []))
        header += 3 * len(out["likelihoods"])
        assert codec.estimate_bpp(img, q) == pytest.approx((bits + 8 * header) / (h * w),
                                                           rel=1e-9)
        real = 8 * codec.encode(img, q).nbytes / (h * w)
        assert codec.encode(img, q).settings["estimated_bpp"] == pytest.approx(
            codec.estimate_bpp(img, q), abs=1e-6)
        # rANS flushes and per-string lengths weigh on 126-byte streams: within a third.
        assert abs(real - codec.estimate_bpp(img, q)) < real / 3


def test_search_codes_exactly_the_documented_qualities(codec) -> None:  # noqa: ANN001
    img = _image()
    px = img.shape[0] * img.shape[1]
    est = [codec.estimate_bpp(img, q) for q in QUALITIES]
    real = [8 * codec.encode(img, q).nbytes / px for q in QUALITIES]
    assert est == sorted(est) and real == sorted(real)
    targets = [real[0] * 0.5, real[-1] * 2, *real, *est,
               *[(a + b) / 2 for a, b in zip(real, real[1:], strict=False)],
               *[(a + b) / 2 for a, b in zip(est, est[1:], strict=False)]]
    for t in targets:
        got = codec.match_rate(img, t)
        params = [e.param for e in got]
        assert params == [QUALITIES[i] for i in _expected(est, real, t)], (t, est, real)
        for e in got:
            assert 8 * e.nbytes / px == real[QUALITIES.index(e.param)]


def test_search_of_a_gray_image_counts_its_own_pixels(codec) -> None:  # noqa: ANN001
    img = _image()[..., 1].copy()
    px = img.shape[0] * img.shape[1]
    real = [8 * codec.encode(img, q).nbytes / px for q in QUALITIES]
    est = [codec.estimate_bpp(img, q) for q in QUALITIES]
    t = (real[1] + real[2]) / 2
    assert [e.param for e in codec.match_rate(img, t)] == [
        QUALITIES[i] for i in _expected(est, real, t)]


@pytest.mark.parametrize("scale", [0.6, 1.6])
def test_search_with_estimates_off_either_way(codec, monkeypatch, scale: float) -> None:  # noqa: ANN001
    """Estimates too low make the search add lower neighbours, too high higher ones: both
    loops of the documented search, whatever the direction of the models' error."""
    import dataclasses

    from codeccmp_compressai.codecs import LearnedCodec

    original = LearnedCodec._analysis_cached

    def skewed(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        return dataclasses.replace(original(self, *a, **k), est=original(self, *a, **k).est
                                   * scale)

    monkeypatch.setattr(LearnedCodec, "_analysis_cached", skewed)
    img = _image()
    px = img.shape[0] * img.shape[1]
    est = [codec.estimate_bpp(img, q) for q in QUALITIES]
    real = [8 * codec.encode(img, q).nbytes / px for q in QUALITIES]
    targets = [*real, *[(a + b) / 2 for a, b in zip(real, real[1:], strict=False)],
               *[(a + b) / 2 for a, b in zip(est, est[1:], strict=False)], real[-1] * 0.99]
    extended = False
    for t in targets:
        want = [QUALITIES[i] for i in _expected(est, real, t)]
        assert [e.param for e in codec.match_rate(img, t)] == want, (t, est, real)
        extended |= len(want) > 2
    assert extended  # the skew really made the search reach past the estimate's bracket


def test_search_over_two_qualities(learned_env, learned_states, learned_save,  # noqa: ANN001
                                   torch_one_thread) -> None:  # noqa: ANN001
    from codeccmp_compressai.codecs import LearnedCodec

    from codeccmp.codec import RunSettings

    c = LearnedCodec("bmshj2018-factorized", "ms-ssim")
    ws = {}
    for q in (1, 2):
        path, _ = learned_save(learned_env.tmp / f"two{q}.pth",
                               learned_states("bmshj2018-factorized", q))
        ws[f"{c.name}:{q}"] = str(path)
    c.configure(RunSettings(device="cpu", weights=ws, offline=True))
    img = _image()
    px = img.shape[0] * img.shape[1]
    real = [8 * c.encode(img, q).nbytes / px for q in (1, 2)]
    assert [e.param for e in c.match_rate(img, real[1] * 1.5)] == [2]
    assert 1 in [e.param for e in c.match_rate(img, real[0] * 0.5)]


def test_estimate_without_separable_stages_is_the_same(codec, monkeypatch) -> None:  # noqa: ANN001
    """A model without g_a/g_s runs whole through ``forward``: the same likelihoods."""
    from codeccmp_compressai import stages

    img = _image()
    staged = codec.estimate_bpp(img, 2)
    codec._analyses.clear()
    monkeypatch.setattr(stages, "has_stages", lambda model: False)
    assert codec.estimate_bpp(img, 2) == pytest.approx(staged, rel=1e-9)


def test_estimate_counts_a_length_field_per_latent_string(  # noqa: ANN001
        learned_env, learned_states, learned_save, torch_one_thread) -> None:
    """A hyperprior's stream holds two strings (y and z): the estimate's header has about
    3 bytes of length for each, beside the fixed fields (a one-latent model cannot tell
    ``3 * n`` from ``3 / n``)."""
    from codeccmp_compressai import bitstream
    from codeccmp_compressai.codecs import LearnedCodec

    from codeccmp.codec import RunSettings

    arch = "bmshj2018-hyperprior"
    c = LearnedCodec(arch, "ms-ssim")
    path, _ = learned_save(learned_env.tmp / "h1.pth", learned_states(arch, 1))
    c.configure(RunSettings(device="cpu", weights={f"{c.name}:1": str(path)}, offline=True))
    img = _image()
    h, w = img.shape[:2]
    _, lm = c._model(1)
    with torch.inference_mode():
        out = lm.model(c._padded_tensor(img, lm))
    assert len(out["likelihoods"]) == 2
    bits = sum(float(-torch.log2(p.double()).sum()) for p in out["likelihoods"].values())
    header = len(bitstream.pack(bitstream.Header(2, "ms-ssim", 1, h, w), [])) + 3 * 2
    assert c.estimate_bpp(img, 1) == pytest.approx((bits + 8 * header) / (h * w), rel=1e-9)


def test_an_encode_after_the_search_reports_its_own_time(codec) -> None:  # noqa: ANN001
    """The search's analyses run g_a once; the encode that reuses it adds that time to its
    own (``encode_s``), so it lies between 0 and the whole search's wall time."""
    import time

    img = _image()
    px = img.shape[0] * img.shape[1]
    mid = (8 * codec.encode(img, 2).nbytes / px + 8 * codec.encode(img, 3).nbytes / px) / 2
    codec._analyses.clear()
    t0 = time.perf_counter()
    got = codec.match_rate(img, mid)
    wall = time.perf_counter() - t0
    assert got
    for e in got:
        assert 0 < e.settings["encode_s"] <= wall, (e.param, e.settings["encode_s"], wall)
