"""ROI montage: geometry, exact nearest-neighbour enlargement, gray and RGB, atomic write."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.errors import UsageError
from codeccmp.render.montage import (
    MontageColumn,
    auto_scale,
    layout_montage,
    make_montage,
)
from codeccmp.stripes import Roi, synthetic_grating


def _images(gray: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    shape = (180, 240) if gray else (180, 240, 3)
    orig = rng.integers(0, 256, shape, dtype=np.uint8)
    a = np.clip(orig.astype(int) + 40, 0, 255).astype(np.uint8)
    b = (255 - orig).astype(np.uint8)
    return orig, a, b


ROIS = [Roi(10, 20, 64, 48), Roi(150, 100, 80, 70)]


def _columns(a: np.ndarray, b: np.ndarray) -> list[MontageColumn]:
    return [
        MontageColumn("codec-a", a, ["0.300 bpp  MS-SSIM 0.9500\nΔθ 1.2°", "0.300 bpp\nΔθ 3.4°"]),
        MontageColumn("codec-b σ=1", b, ["0.310 bpp  MS-SSIM 0.9400\nΔθ 9.9°", "x\ny"]),
    ]


def test_auto_scale_targets_about_256_px() -> None:
    assert auto_scale(Roi(0, 0, 96, 96)) == 3  # 288 px
    assert auto_scale(Roi(0, 0, 80, 110)) == 2  # 220 px
    assert auto_scale(Roi(0, 0, 32, 32)) == 8  # 256 px
    assert auto_scale(Roi(0, 0, 160, 160)) == 2  # 320 px
    assert auto_scale(Roi(0, 0, 400, 300)) == 1
    for side in range(24, 170, 8):
        assert 180 <= side * auto_scale(Roi(0, 0, side, side)) <= 340


@pytest.mark.parametrize("gray", [True, False])
def test_montage_geometry_and_exact_nearest_neighbour(tmp_path: Path, gray: bool) -> None:
    orig, a, b = _images(gray)
    cols = _columns(a, b)
    out = make_montage(orig, ROIS, cols, tmp_path / "m.png")
    assert out == tmp_path / "m.png"
    canvas = np.asarray(Image.open(out).convert("RGB"))
    lay = layout_montage(orig.shape, ROIS, cols)
    assert canvas.shape == (lay.height, lay.width, 3)
    assert lay.scales == [auto_scale(r) for r in ROIS] == [4, 3]
    # rows × columns tiles, all on the canvas, none overlapping.
    assert sorted(lay.tiles) == [(r, c) for r in range(2) for c in range(3)]
    boxes = list(lay.tiles.values())
    for i, (x, y, w, h) in enumerate(boxes):
        assert x >= 0 and y >= 0 and x + w <= lay.width and y + h <= lay.height
        for x2, y2, w2, h2 in boxes[i + 1 :]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y
    # Same row: same top; same column: same column box; original first, to the left.
    for r in range(2):
        assert len({lay.tiles[(r, c)][1] for c in range(3)}) == 1
        assert lay.tiles[(r, 0)][0] < lay.tiles[(r, 1)][0] < lay.tiles[(r, 2)][0]
    assert lay.tiles[(0, 0)][1] + lay.tiles[(0, 0)][3] + lay.caption_h[0] <= lay.tiles[(1, 0)][1]
    # The overview sits left of every tile.
    ox, oy, ow, oh = lay.overview
    assert ox + ow < min(x for x, _, _, _ in boxes)

    for (r, c), (x, y, w, h) in lay.tiles.items():
        roi, s = ROIS[r], lay.scales[r]
        assert (w, h) == (roi.w * s, roi.h * s)
        src = (orig, a, b)[c][roi.slices]
        if gray:
            expected = np.repeat(np.kron(src, np.ones((s, s), np.uint8))[..., None], 3, axis=2)
        else:
            expected = np.kron(src, np.ones((s, s, 1), np.uint8))
        assert np.array_equal(canvas[y : y + h, x : x + w], expected), (r, c)
        # A caption was drawn in the strip under the tile (dark text on white).
        strip = canvas[y + h : y + h + lay.caption_h[r], lay.col_x[c] : lay.col_x[c] + lay.col_w[c]]
        assert (strip.min(axis=2) < 100).sum() > 50, (r, c)


def test_fixed_scale_and_mixed_gray_rgb(tmp_path: Path) -> None:
    orig, a, _ = _images(gray=True)
    rgb_a = np.repeat(a[..., None], 3, axis=2)
    cols = [MontageColumn("rgb codec", rgb_a, ["one", "two"])]
    out = make_montage(orig, ROIS, cols, tmp_path / "fixed.png", scale=2)
    canvas = np.asarray(Image.open(out).convert("RGB"))
    lay = layout_montage(orig.shape, ROIS, cols, scale=2)
    assert lay.scales == [2, 2]
    x, y, w, h = lay.tiles[(1, 1)]
    expected = np.kron(rgb_a[ROIS[1].slices], np.ones((2, 2, 1), np.uint8))
    assert np.array_equal(canvas[y : y + h, x : x + w], expected)


def test_stripes_stay_crisp_on_a_grating(tmp_path: Path) -> None:
    """The reason for nearest-neighbour: a 2-value square grating keeps exactly its values."""
    g = synthetic_grating((64, 64), 90.0, 4, "square", supersample=1)
    values = set(np.unique(g).tolist())
    assert len(values) == 2  # 127.5 × (1 ± 0.8), rounded
    roi = Roi(0, 0, 64, 64)
    out = make_montage(g, [roi], [MontageColumn("same", g, ["-"])], tmp_path / "g.png")
    canvas = np.asarray(Image.open(out).convert("L"))
    x, y, w, h = layout_montage(g.shape, [roi], [MontageColumn("same", g, ["-"])]).tiles[(0, 1)]
    assert set(np.unique(canvas[y : y + h, x : x + w]).tolist()) == values


def test_atomic_write_replaces_and_leaves_no_temp(tmp_path: Path) -> None:
    orig, a, b = _images(gray=False)
    target = tmp_path / "sub" / "montage.png"
    make_montage(orig, ROIS, _columns(a, b), target)
    first = target.read_bytes()
    make_montage(orig, ROIS[:1], [MontageColumn("only", a, ["c"])], target)
    assert target.read_bytes() != first
    assert [p.name for p in target.parent.iterdir()] == ["montage.png"]
    assert Image.open(target).format == "PNG"


def test_bad_inputs(tmp_path: Path) -> None:
    orig, a, b = _images(gray=False)
    out = tmp_path / "x.png"
    with pytest.raises(ValueError, match="captions"):
        make_montage(orig, ROIS, [MontageColumn("c", a, ["only one"])], out)
    with pytest.raises(ValueError, match="original is 240×180"):
        make_montage(orig, ROIS, [MontageColumn("c", a[:100], ["1", "2"])], out)
    with pytest.raises(UsageError):
        make_montage(orig, [Roi(200, 150, 64, 64)], [], out)
    with pytest.raises(ValueError, match="uint8"):
        make_montage(orig.astype(np.float32), ROIS, [], out)
    with pytest.raises(ValueError):
        make_montage(orig, [], [], out)
    assert not out.exists()
    # Only the original column: still a valid montage.
    assert make_montage(orig, ROIS, [], out).exists()
