"""Stripe analysis: orientation field, directional error and ROI detection.

Synthetic gratings have a known orientation, so the angle measurements are checked against
ground truth; the lee2019 reconstructions and Barbara check the measures on real distortion.
Data from ../shared is optional: those tests skip when it is absent.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from codeccmp.errors import UsageError
from codeccmp.stripes import (
    DirectionalError,
    Roi,
    angle_diff_deg,
    directional_error,
    find_stripe_rois,
    orientation_field,
    score_stripe_rois,
    synthetic_grating,
    to_luma,
)

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
KODIM08 = SHARED / "datasets" / "kodak" / "kodim08.png"
LEE2019 = SHARED / "external" / "lee2019"
BARBARA = SHARED / "images" / "barbara.png"

SHAPE = (96, 96)
#: Central window of a SHAPE grating, away from the image border.
CENTRE = Roi(16, 16, 64, 64)


def _load_rgb(path: Path) -> np.ndarray:
    from PIL import Image

    if not path.exists():
        pytest.skip(f"{path} not available (shared data is optional)")
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def _circular_mean_deg(theta: np.ndarray, weights: np.ndarray | None = None) -> float:
    """Mean of axial angles (period 180°) via the doubled-angle vector."""
    z = np.exp(2j * np.radians(theta))
    return float(np.degrees(np.angle(np.average(z, weights=weights))) / 2.0 % 180.0)


# ----------------------------------------------------------------------------------- gratings


def test_grating_convention() -> None:
    """angle 0 = horizontal stripes (constant along x), 90 = vertical (constant along y)."""
    horiz = synthetic_grating((32, 32), 0.0, 8, "sine")
    assert horiz.dtype == np.uint8
    assert np.all(horiz == horiz[:, :1])  # every row constant
    assert horiz[:, 0].std() > 20
    vert = synthetic_grating((32, 32), 90.0, 8, "square")
    assert np.all(vert == vert[:1, :])  # every column constant
    assert vert.min() < 30 and vert.max() > 225  # contrast 0.8 around 127.5


@pytest.mark.parametrize("kind", ["sine", "square"])
@pytest.mark.parametrize("period", [6, 8, 12, 16])
def test_orientation_field_recovers_angle(kind: str, period: int) -> None:
    for angle in (0.0, 22.5, 37.0, 45.0, 90.0, 118.0, 161.0):
        g = synthetic_grating(SHAPE, angle, period, kind)  # type: ignore[arg-type]
        f = orientation_field(g)
        inner = CENTRE.slices
        est = _circular_mean_deg(f.theta[inner], f.coherence[inner] * f.energy[inner])
        assert float(angle_diff_deg(est, angle)) < 1.0, (kind, period, angle, est)
        # A clean grating is one-directional almost everywhere.
        assert float(np.median(f.coherence[inner])) > 0.9
        assert f.theta.min() >= 0.0 and f.theta.max() < 180.0


@pytest.mark.parametrize("kind", ["sine", "square"])
@pytest.mark.parametrize("period", [6, 8, 12, 16])
def test_rotated_grating_delta_theta(kind: str, period: int) -> None:
    worst = 0.0
    for base in (0.0, 33.0, 100.0):
        a = synthetic_grating(SHAPE, base, period, kind)  # type: ignore[arg-type]
        for delta in (2.0, 5.0, 10.0, 30.0, 60.0, 90.0):
            b = synthetic_grating(SHAPE, base + delta, period, kind)  # type: ignore[arg-type]
            for roi in (CENTRE, None):  # ROI mode and whole-image mode
                r = directional_error(a, b, roi)
                err = abs(r.delta_theta_deg - delta)
                worst = max(worst, err)
                assert err < 1.0, (kind, period, base, delta, roi, r)
                assert r.turned_share == (1.0 if delta > 20 else 0.0)
                assert r.n_oriented > 0.9 * (CENTRE.w * CENTRE.h if roi else 0)
                # Same period and contrast: the stripes' contrast is untouched (square
                # gratings' aliased harmonics differ a little with the angle).
                tol = 0.02 if kind == "sine" else 0.1
                assert r.contrast_retention == pytest.approx(1.0, abs=tol)
    print(f"\n{kind} period {period}: worst |Δθ - δ| = {worst:.3f}°")


def test_identical_images_have_zero_error() -> None:
    g = synthetic_grating(SHAPE, 30.0, 8)
    r = directional_error(g, g, CENTRE)
    assert r.delta_theta_deg == 0.0
    assert r.turned_share == 0.0
    assert r.contrast_retention == 1.0
    assert r.erased_share == 0.0


@pytest.mark.parametrize("period,sigma", [(8, 1.0), (8, 2.0), (12, 1.5), (16, 3.0)])
def test_blur_keeps_angle_and_lowers_contrast(period: int, sigma: float) -> None:
    for angle in (10.0, 45.0, 100.0):
        g = synthetic_grating(SHAPE, angle, period, "sine", contrast=0.8)
        blurred = np.clip(np.rint(ndimage.gaussian_filter(g.astype(float), sigma)), 0, 255)
        r = directional_error(g, blurred.astype(np.uint8), CENTRE)
        # A Gaussian blur scales a sine grating by its transfer function at that frequency:
        # above half the amplitude the stripes are kept (Δθ < 2°), below it erased (no angle).
        # σ 3 on 16 px keeps 0.4996, on the line itself: rounding to 8 bits decides there.
        expected = math.exp(-((sigma * 2 * math.pi / period) ** 2) / 2)
        if expected > 0.55:
            assert r.kept_share == 1.0 and r.delta_theta_deg < 2.0, r
        elif expected < 0.45:
            assert r.erased_share == 1.0 and math.isnan(r.delta_theta_deg), r
        assert r.turned_share == 0.0
        assert r.contrast_retention == pytest.approx(expected, abs=0.03), r
        assert r.contrast_retention < 0.9


def test_noise_keeps_angle() -> None:
    rng = np.random.default_rng(1234)
    for period in (6, 8, 16):
        for angle in (10.0, 45.0, 100.0):
            g = synthetic_grating(SHAPE, angle, period, "sine", contrast=0.3)
            noisy = np.clip(g + rng.normal(0.0, 10.0, g.shape), 0, 255).astype(np.uint8)
            r = directional_error(g, noisy, CENTRE)
            assert r.delta_theta_deg < 2.0, (period, angle, r)
            # At the stripes' own frequency noise adds little: the ring holds ~1 % of it.
            assert r.contrast_retention == pytest.approx(1.0, abs=0.05)
            assert r.erased_share == 0.0


def test_flat_region_gives_none_not_crash() -> None:
    flat = np.full((64, 64, 3), 128, np.uint8)
    r = directional_error(flat, flat)
    assert r.n_oriented == 0
    assert math.isnan(r.delta_theta_deg) and math.isnan(r.turned_share)
    assert math.isnan(r.contrast_retention)
    d = r.to_dict()
    assert d == {
        "delta_theta_deg": None,
        "kept_share": None,
        "turned_share": None,
        "redrawn_share": None,
        "erased_share": None,
        "turned_deg": None,
        "redrawn_deg": None,
        "contrast_retention": None,
        "n_oriented": 0,
        "n_stripe": 0,
        "period_px": None,
        "stripe_share": None,
    }
    json.dumps(d)  # JSON-safe
    # A flat ROI inside a striped image: angles undefined, contrast ratio still defined.
    g = synthetic_grating((96, 96), 20.0, 8)
    g[30:70, 30:70] = 90
    r2 = directional_error(g, g, Roi(40, 40, 20, 20))
    assert r2.n_oriented == 0 and r2.to_dict()["delta_theta_deg"] is None
    # Nothing to measure at all: not even the detector finds anything.
    assert find_stripe_rois(flat) == []


def test_shape_mismatch_and_outside_roi() -> None:
    g = synthetic_grating((64, 64), 20.0, 8)
    with pytest.raises(ValueError):
        directional_error(g, g[:32])
    with pytest.raises(UsageError):
        directional_error(g, g, Roi(40, 40, 40, 40))


def test_to_luma() -> None:
    rgb = np.zeros((2, 2, 3), np.uint8)
    rgb[..., 0] = 255
    y = to_luma(rgb)
    assert y.dtype == np.float64 and y.shape == (2, 2)
    assert y[0, 0] == pytest.approx(0.299 * 255)
    gray = np.arange(4, dtype=np.uint8).reshape(2, 2)
    assert np.array_equal(to_luma(gray), gray.astype(np.float64))
    with pytest.raises(ValueError):
        to_luma(np.zeros((2, 2, 2)))


def test_directional_error_dataclass_to_dict() -> None:
    d = DirectionalError(3.0, 0.75, 0.25, 0.0, 0.0, 0.5, 10).to_dict()
    assert set(d) >= {"delta_theta_deg", "kept_share", "turned_share", "redrawn_share",
                      "erased_share", "contrast_retention", "n_oriented"}
    assert d["delta_theta_deg"] == 3.0 and d["n_oriented"] == 10


# ----------------------------------------------------------------------------------------- ROI


def test_roi_parse_and_helpers() -> None:
    r = Roi.parse("200,110,80,110")
    assert r == Roi(200, 110, 80, 110)
    assert Roi.parse(" 1 , 2 , 3 , 4 ") == Roi(1, 2, 3, 4)
    assert r.to_dict() == {"x": 200, "y": 110, "w": 80, "h": 110}
    assert str(r) == "200,110,80,110"
    img = np.zeros((300, 400))
    assert img[r.slices].shape == (110, 80)
    r.clip_check(400, 300)
    Roi(0, 0, 400, 300).clip_check(400, 300)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "1,2,3",
        "1,2,3,4,5",
        "a,b,c,d",
        "1.5,2,3,4",
        "1;2;3;4",
        "1,2,0,4",
        "1,2,3,-4",
        "-1,2,3,4",
    ],
)
def test_roi_parse_errors(text: str) -> None:
    with pytest.raises(UsageError) as ei:
        Roi.parse(text)
    msg = str(ei.value)
    assert "\n" not in msg and "ROI" in msg


@pytest.mark.parametrize("roi", [Roi(390, 0, 20, 10), Roi(0, 295, 10, 10), Roi(400, 0, 1, 1)])
def test_roi_clip_check(roi: Roi) -> None:
    with pytest.raises(UsageError, match="outside"):
        roi.clip_check(400, 300)


def _inside_share(roi: Roi, box: tuple[int, int, int, int]) -> float:
    x0, y0, x1, y1 = box
    ix = max(0, min(roi.x + roi.w, x1) - max(roi.x, x0))
    iy = max(0, min(roi.y + roi.h, y1) - max(roi.y, y0))
    return ix * iy / (roi.w * roi.h)


def _text_block(shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image, ImageDraw, ImageFont

    im = Image.new("L", (shape[1], shape[0]), 235)
    d = ImageDraw.Draw(im)
    font = ImageFont.load_default(size=11)
    words = "the quick brown fox jumps over a lazy dog 0123456789 stripes are not text"
    for i, y in enumerate(range(2, shape[0] - 10, 14)):
        d.text((2, y), words[i % 7:] + " " + words, font=font, fill=20)
    return np.asarray(im)


def test_detector_finds_stripes_not_texture_edges_or_text() -> None:
    """One grating among random texture, a single strong edge and a block of text: only the
    grating is a stripe region, and fewer than k windows come back."""
    rng = np.random.default_rng(7)
    img = np.full((240, 400), 128, np.uint8)
    img[20:100, 20:100] = synthetic_grating((80, 80), 60.0, 6, "square", contrast=0.6)
    gravel = ndimage.gaussian_filter(rng.normal(0, 1, (80, 80)), 1.2)
    img[20:100, 140:220] = np.clip(128 + 40 * gravel / gravel.std(), 0, 255)
    img[130:210, 20:100] = 40
    img[130:210, 60:100] = 220  # one vertical step edge of 180 levels
    img[130:210, 140:380] = _text_block((80, 240))
    scored = score_stripe_rois(img, k=3)
    rois = [s.roi for s in scored]
    assert rois[0].w == 40  # default size: 240/6 = 40
    assert _inside_share(rois[0], (20, 20, 100, 100)) >= 0.75
    # Later windows take what is left of the grating (their stripe pixels >= 40 %: the
    # mask reaches ~10 px past its edge onto the flat ground), never the texture, edge or text.
    others = [(140, 20, 220, 100), (20, 130, 100, 210), (140, 130, 380, 210)]
    for r in rois:
        assert _inside_share(r, (20, 20, 100, 100)) >= 0.25, r
        assert max(_inside_share(r, o) for o in others) < 0.25, r
    # Without the grating: no window at all, rather than k windows of texture.
    plain = img.copy()
    plain[20:100, 20:100] = 128
    assert find_stripe_rois(plain, k=3) == []
    assert scored[0].period_px == pytest.approx(6.0, abs=0.5)
    assert float(angle_diff_deg(scored[0].theta_deg, 60.0)) < 3.0
    assert find_stripe_rois(img, k=3) == rois  # deterministic
    assert find_stripe_rois(img, k=0) == []
    with pytest.raises(UsageError):
        find_stripe_rois(img, size=500)


def test_detector_returns_several_windows_best_first() -> None:
    rng = np.random.default_rng(3)
    img = np.clip(rng.normal(128, 6, (240, 320)), 0, 255).astype(np.uint8)
    img[130:186, 200:256] = synthetic_grating((56, 56), 60.0, 6, "square", contrast=0.6)
    # RMS 11 grey levels, under the ranking's cap of 16: ranks below the square grating.
    img[30:86, 30:86] = synthetic_grating((56, 56), 0.0, 5, "sine", contrast=0.12)
    rois = find_stripe_rois(img, k=6)
    # Stronger contrast first. The stripe mask reaches ~1.5 periods past a pattern's edge
    # onto flat ground, so a window may hang over the edge by that much.
    patches = [(200, 130, 256, 186), (30, 30, 86, 86)]
    assert _inside_share(rois[0], patches[0]) >= 0.75
    assert any(_inside_share(r, patches[1]) >= 0.75 for r in rois)
    for i, r in enumerate(rois):  # the rest of each patch, never the noise
        assert max(_inside_share(r, p) for p in patches) >= 0.15, r  # mask bleed, see above
        assert not any(r.overlaps(o) for o in rois[i + 1:])


def _bars_and_fine_stripes() -> np.ndarray:
    """3 px horizontal slats (contrast ±30) between strong dark muntins every 24 rows."""
    rows = np.arange(192)
    slats = 128 + 30 * np.sin(2 * np.pi * rows / 3.0)
    slats[(rows % 24) < 4] = 10  # muntins: 4 px bars at 10 against ~128
    return np.repeat(np.clip(slats, 0, 255)[:, None], 192, axis=1).astype(np.uint8)


def test_thin_stripes_blurred_away_between_strong_bars_read_as_erased() -> None:
    img = _bars_and_fine_stripes()
    blurred = np.clip(np.rint(ndimage.gaussian_filter(img.astype(float), 1.5)), 0, 255)
    roi = Roi(48, 48, 96, 96)
    r = directional_error(img, blurred.astype(np.uint8), roi)
    print(f"\nbars + 3 px stripes blurred: {r.to_dict()}")
    assert r.period_px == pytest.approx(3.0, abs=0.2)
    assert r.contrast_retention < 0.1
    assert r.erased_share > 0.9
    # The stripe mask leaves the bars out: about 3/4 of the rows are slats.
    assert 0.4 < r.stripe_share < 0.8
    assert directional_error(img, img, roi).contrast_retention == 1.0


# ------------------------------------------------------------- spectral orientation shift


@pytest.mark.parametrize("kind", ["sine", "square"])
@pytest.mark.parametrize("period", [6.0, 8.0, 12.0])
def test_spectral_shift_recovers_rotation(kind: str, period: float) -> None:
    from codeccmp.stripes import spectral_shift_deg

    a = synthetic_grating((96, 96), 17.0, period, kind)
    for delta in (2.0, 5.0, 10.0, 30.0, 60.0):
        b = synthetic_grating((96, 96), 17.0 + delta, period, kind)
        assert spectral_shift_deg(a, b) == pytest.approx(delta, abs=1.0)
    # At 90° the spread of a peak's tails takes the short way round the 180° circle.
    b = synthetic_grating((96, 96), 107.0, period, kind)
    assert 80.0 < spectral_shift_deg(a, b) <= 90.0


def test_spectral_shift_sees_turned_checks_but_not_blur_or_noise() -> None:
    from codeccmp.stripes import spectral_shift_deg

    def checks(angle: float) -> np.ndarray:
        return ((synthetic_grating((96, 96), angle, 8).astype(float)
                 + synthetic_grating((96, 96), angle + 90, 8)) / 2).astype(np.uint8)

    a = checks(0.0)
    assert spectral_shift_deg(a, checks(20.0)) == pytest.approx(20.0, abs=1.0)
    blurred = ndimage.gaussian_filter(a.astype(float), 1.5)
    assert spectral_shift_deg(a, blurred) < 0.5
    noisy = np.clip(a + np.random.default_rng(0).normal(0, 10, a.shape), 0, 255)
    assert spectral_shift_deg(a, noisy) < 1.0


def test_spectral_shift_separates_lee2019_roof() -> None:
    from codeccmp.stripes import spectral_shift_deg

    if not KODIM08.exists() or not LEE2019.exists():
        pytest.skip("lee2019 reconstructions not available")
    orig = _load_rgb(KODIM08)
    roof = Roi(200, 110, 80, 110)
    got = {n: spectral_shift_deg(orig, _load_rgb(LEE2019 / f"kodim08-{n}.png"), roof)
           for n in ("ms-ssim-0.3", "ms-ssim-0.4", "mse-0.3", "mse-0.4")}
    # Measured: 16.3 and 14.5 for the MS-SSIM models, 4.2 and 2.1 for the MSE ones.
    assert min(got["ms-ssim-0.3"], got["ms-ssim-0.4"]) > 2 * max(got["mse-0.3"],
                                                                 got["mse-0.4"]), got


def test_sweep_cache_fingerprint_covers_every_stripes_module() -> None:
    """The sweep's result cache hashes the measuring code; the stripe analysis is a package, so
    each of its modules must be hashed, or a changed measure would reuse stale results."""
    import pkgutil

    import codeccmp.stripes
    from codeccmp.sweep.tasks import measure_sources

    mods = {m.name for m in pkgutil.iter_modules(codeccmp.stripes.__path__)}
    hashed = {p.stem for p in measure_sources() if p.parent.name == "stripes"}
    assert mods and mods <= hashed


def test_sweep_cache_fingerprint_covers_every_measuring_module() -> None:
    """Every module of ``codeccmp.measure`` (SSIM's fused multiply-add lives apart from the
    metrics) and the jump check, whose note a cached result carries, are hashed too."""
    import pkgutil

    import codeccmp.measure
    from codeccmp.sweep.tasks import measure_sources

    mods = {m.name for m in pkgutil.iter_modules(codeccmp.measure.__path__)}
    hashed = {p.stem for p in measure_sources() if p.parent.name == "measure"}
    assert {"metrics", "fma"} <= mods <= hashed
    assert "ratejump" in {p.stem for p in measure_sources() if p.parent.name == "pipeline"}


def test_the_package_names_every_submodule_name_and_loads_them_on_first_use() -> None:
    """``codeccmp.stripes`` imports a submodule when one of its names is first asked for: every
    public name resolves to its submodule's object, an unknown one is an AttributeError, and
    importing the ``Roi`` rectangle alone loads no other submodule (a fresh process)."""
    import ast
    import importlib

    from procs import python_argv, run

    import codeccmp.stripes as pkg

    # The names imported for type checkers are those the package hands out, from the same
    # submodules.
    tree = ast.parse(Path(pkg.__file__).read_text())
    (checking,) = [n for n in tree.body if isinstance(n, ast.If)
                   and ast.unparse(n.test) == "TYPE_CHECKING"]
    typed = {a.name: n.module.rsplit(".", 1)[1] for n in checking.body
             for a in n.names}
    assert typed == pkg._WHERE
    assert sorted(pkg.__all__) == sorted(pkg._WHERE)  # a static list: ruff reads it
    for name, module in pkg._WHERE.items():
        owner = importlib.import_module(f"codeccmp.stripes.{module}")
        assert getattr(pkg, name) is getattr(owner, name), name
    with pytest.raises(AttributeError, match="no attribute 'nothing_here'"):
        pkg.nothing_here  # noqa: B018
    assert set(pkg.__all__) <= set(dir(pkg))
    code = ("import sys\nfrom codeccmp.stripes import Roi\n"
            "print('LOADED', sorted(m for m in sys.modules if m.startswith('codeccmp.stripes.')))")
    p = run(python_argv(code), timeout=120)
    assert "LOADED ['codeccmp.stripes.roi']" in p.stdout, p.stderr[-1000:]
