"""The perceptual metrics against reference values and independent implementations.

- SSIMULACRA2 against libjxl's C++ tool: its scores on synthetic images that can be rebuilt
  byte for byte here (the SHA-256 of each input is checked), as recorded by the Rust port
  imazen/ssimulacra2 in ``src/reference_data.rs`` (captured from libjxl's
  ``tools/ssimulacra2``, 2026-01-04).
- piq's VIF, FSIM, GMSD and HaarPSI against two other implementations of the same papers:
  sewar's ``vifp`` (NumPy, following the authors' MATLAB ``vifp_mscale``) and piqa's FSIM, GMSD
  and HaarPSI, on Kodak images coded with JPEG at several qualities. The values are pinned too,
  so a change of piq's numbers shows even where sewar or piqa is missing.

Nothing here could check FLIP (``flip-evaluator`` is NVIDIA's own code, and its published
values are on images that are not on this machine) or LPIPS/DISTS (no weights here).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

KODAK = Path(__file__).resolve().parents[2] / "shared" / "datasets" / "kodak"


def lcg_noise(width: int, height: int, seed: int) -> np.ndarray:
    """The Rust generator's noise: a 64-bit LCG, bits 33..40 of each state, R G B per pixel."""
    state, mask = seed, (1 << 64) - 1
    out = np.empty(width * height * 3, np.uint8)
    for i in range(out.size):
        state = (state * 6364136223846793005 + 1442695040888963407) & mask
        out[i] = (state >> 33) & 0xFF
    return out.reshape(height, width, 3)


def gradient_h(width: int, height: int) -> np.ndarray:
    row = (np.arange(width) * 255 // (width - 1)).astype(np.uint8)
    return np.repeat(np.tile(row, (height, 1))[..., None], 3, axis=2)


def flat(n: int, value: int) -> np.ndarray:
    return np.full((n, n, 3), value, np.uint8)


# (size, shift): libjxl's score for a flat 128 grey against a flat 128 + shift.
LIBJXL_SHIFTS = {
    (32, 1): 97.74921430, (32, 5): 98.80827382, (32, 10): 96.53114090,
    (32, 20): 93.79823220, (32, 50): 85.01409588,
    (64, 1): 97.98672126, (64, 5): 91.52357693, (64, 10): 80.24289393,
    (64, 20): 56.05855584, (64, 50): -8.75942256,
    (128, 1): 96.78920738, (128, 5): 88.54070876, (128, 10): 77.84296299,
    (128, 20): 54.27883917, (128, 50): -9.82383315,
    (256, 1): 96.15027098, (256, 5): 89.73209436, (256, 10): 80.29149136,
    (256, 20): 59.77892918, (256, 50): -0.39085784,
}


def sha(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


@pytest.fixture(scope="module")
def ssimulacra2():  # noqa: ANN201
    pytest.importorskip("ssimulacra2")
    from codeccmp_metrics.perceptual import Ssimulacra2

    return Ssimulacra2()


def test_rebuilt_inputs_are_the_reference_ones() -> None:
    """The hashes recorded beside libjxl's scores: the same bytes went into both."""
    assert sha(flat(64, 128)).startswith("2203a98fd84adfbd")
    assert sha(flat(64, 178)).startswith("e67286008fa164d1")
    assert sha(gradient_h(64, 64)).startswith("bfcfaa0618d28284")
    assert sha(lcg_noise(64, 64, 42)).startswith("7f6be7f433ccb0a0")


def test_ssimulacra2_matches_libjxl_on_structured_images(ssimulacra2) -> None:  # noqa: ANN001
    """A gradient and noise, each against flat grey: libjxl −64.5687 and −47.3357. The
    package's own ``compute_ssimulacra2`` gives +29.2 and −682.2 here."""
    u = flat(64, 128)
    assert ssimulacra2.compute(gradient_h(64, 64), u) == pytest.approx(-64.56872148, abs=0.01)
    assert ssimulacra2.compute(lcg_noise(64, 64, 42), u) == pytest.approx(-47.33572558, abs=0.5)


def test_ssimulacra2_matches_libjxl_on_flat_shifts(ssimulacra2) -> None:  # noqa: ANN001
    """Flat images are all border: what is left (≤ 2 points, mean 0.8) is libjxl's recursive
    Gaussian against the exact one where the zeros beyond the edge come in. The package as
    is misses by up to 94 points (64 px, shift 50: +85.3 against −8.8)."""
    errors = {}
    for (n, shift), want in LIBJXL_SHIFTS.items():
        errors[n, shift] = ssimulacra2.compute(flat(n, 128), flat(n, 128 + shift)) - want
    worst = max(errors, key=lambda k: abs(errors[k]))
    assert abs(errors[worst]) < 2.1, (worst, errors[worst])
    assert np.mean(np.abs(list(errors.values()))) < 1.0


def jpeg(img: np.ndarray, quality: int) -> np.ndarray:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    return np.asarray(Image.open(buf).convert("RGB"))


@pytest.fixture(scope="module")
def kodak_ladder() -> dict[tuple[str, int], tuple[np.ndarray, np.ndarray]]:
    if not KODAK.is_dir():
        pytest.skip(f"{KODAK} not here")
    out = {}
    for name in ("kodim08", "kodim23"):
        a = np.asarray(Image.open(KODAK / f"{name}.png").convert("RGB"))
        for q in (10, 60):
            out[name, q] = a, jpeg(a, q)
    return out


# piq's values through codeccmp's metrics, as measured (2026-12, piq 0.8.0, Pillow 13 JPEG);
# sewar 0.4.10 / piqa 1.3.2 agree to the last digit shown except HaarPSI (see the tolerance).
PINNED = {
    ("kodim08", 10): {"vif": 0.35180, "fsim": 0.94275, "gmsd": 0.08897, "haarpsi": 0.67814},
    ("kodim08", 60): {"vif": 0.57767, "fsim": 0.99335, "gmsd": 0.00992, "haarpsi": 0.94260},
    ("kodim23", 10): {"vif": 0.34658, "fsim": 0.91525, "gmsd": 0.08288, "haarpsi": 0.68907},
    ("kodim23", 60): {"vif": 0.62240, "fsim": 0.99350, "gmsd": 0.00725, "haarpsi": 0.95975},
}
# piq and piqa differ in HaarPSI by up to 0.0016 (at JPEG quality 10), everything else < 2e-5.
AGREE = {"vif": 1e-4, "fsim": 1e-4, "gmsd": 1e-4, "haarpsi": 2e-3}


def independent(name: str, a: np.ndarray, b: np.ndarray) -> float:
    """The same metric from sewar (VIF, on piq's YIQ luma) or piqa (the others)."""
    if name == "vif":
        full_ref = pytest.importorskip("sewar.full_ref")
        y = np.array([0.299, 0.587, 0.114])
        return float(full_ref.vifp(a.astype(np.float64) @ y, b.astype(np.float64) @ y))
    piqa = pytest.importorskip("piqa")
    import torch

    def t(x: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(x.astype(np.float32) / 255).permute(2, 0, 1)[None]

    cls = {"fsim": piqa.FSIM, "gmsd": piqa.GMSD, "haarpsi": piqa.HaarPSI}[name]
    with torch.no_grad():
        return float(cls()(t(b), t(a)))


@pytest.mark.parametrize("name", ["vif", "fsim", "gmsd", "haarpsi"])
def test_piq_metrics_agree_with_independent_implementations(name: str, kodak_ladder) -> None:  # noqa: ANN001
    pytest.importorskip("piq")
    from codeccmp.plugins import load_metrics

    metric = load_metrics().get(name)
    for key, (a, b) in kodak_ladder.items():
        ours = metric.compute(a, b)
        assert ours == pytest.approx(PINNED[key][name], abs=1e-4), key
        assert ours == pytest.approx(independent(name, a, b), abs=AGREE[name]), key


def test_ssimulacra2_on_a_jpeg_ladder(ssimulacra2, kodak_ladder) -> None:  # noqa: ANN001
    """No C++ score for Kodak here: only the order, and the values pinned against drift
    (kodim08: quality 10 → 1.51, 60 → 68.42; the package as is gives −2.57 and 67.86)."""
    a, b10 = kodak_ladder["kodim08", 10]
    _, b60 = kodak_ladder["kodim08", 60]
    s10, s60 = ssimulacra2.compute(a, b10), ssimulacra2.compute(a, b60)
    assert s10 == pytest.approx(1.51, abs=0.01)
    assert s60 == pytest.approx(68.42, abs=0.01)
    assert ssimulacra2.compute(a, a) == pytest.approx(100.0)


def test_flip_orders_a_jpeg_ladder(kodak_ladder) -> None:  # noqa: ANN001
    """FLIP has no second implementation here: its error falls as JPEG quality rises, and is
    0 on identical images."""
    pytest.importorskip("flip_evaluator")
    from codeccmp_metrics.perceptual import Flip

    flip = Flip()
    for name in ("kodim08", "kodim23"):
        a, b10 = kodak_ladder[name, 10]
        _, b60 = kodak_ladder[name, 60]
        e10, e60 = flip.compute(a, b10), flip.compute(a, b60)
        assert e10 > e60 > flip.compute(a, a) == 0.0, name


def test_ssimulacra2_channel_at_a_time_equals_the_package_maps(ssimulacra2) -> None:  # noqa: ANN001
    """The scale averages computed one channel at a time (a third of the memory) equal the
    package's own three-channel ``ssim_map`` and ``edge_diff_map`` on the same blurs, slot for
    slot, on planes whose channels differ (a channel put in another's slot would show)."""
    from codeccmp_metrics.perceptual import _blurs, _scale_averages
    from ssimulacra2 import ssimulacra2 as s2

    rng = np.random.default_rng(7)
    a = rng.random((40, 56, 3), dtype=np.float32) * np.array([0.1, 0.5, 1.0], np.float32)
    b = np.clip(a + rng.normal(0, [0.01, 0.05, 0.2], a.shape), 0, None).astype(np.float32)
    mu1, mu2, s11, s22, s12 = _blurs(a, b, a * a, b * b, a * b)
    want_ssim = s2.ssim_map(mu1, mu2, s11, s22, s12)
    want_edge = s2.edge_diff_map(a, mu1, b, mu2)
    one = _scale_averages(s2, a, b)
    assert len(set(np.round(want_ssim[::2], 4))) == 3  # the channels do differ
    assert one.avg_ssim == pytest.approx(want_ssim, rel=1e-5, abs=1e-7)
    assert one.avg_edgediff == pytest.approx(want_edge, rel=1e-5, abs=1e-7)
