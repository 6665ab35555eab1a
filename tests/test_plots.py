"""RD plots: panels present as the data allows, styles tell learned from traditional."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from codeccmp.render.plots import PANELS, Series, plot_curves


def _series(with_stripes: bool) -> list[Series]:
    def pts(a: float, b: float, dtheta: float | None) -> list[dict]:
        return [{"bpp": r, "psnr": a + b * r, "ms_ssim_db": a / 3 + b * r,
                 "delta_theta_deg": (dtheta - 10 * r) if dtheta is not None else None,
                 "moved_share": (dtheta - 20 * r) if dtheta is not None else None,
                 "erased_share": (50 - 40 * r) if dtheta is not None else None}
                for r in (0.1, 0.2, 0.3, 0.4, 0.5)]

    return [
        Series("bmshj2018-factorized", "learned", pts(24, 10, 20 if with_stripes else None)),
        Series("jpeg2000", "traditional", pts(22, 9, 12 if with_stripes else None),
               anchor=True),
        Series("jpeg", "traditional", pts(20, 12, None)),
    ]


def _axes_of(monkeypatch: pytest.MonkeyPatch) -> list:
    """Capture the figure plot_curves draws, to inspect its artists."""
    from matplotlib.figure import Figure

    captured: list = []
    orig = Figure.savefig

    def spy(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        captured.append(self)
        return orig(self, *a, **k)

    monkeypatch.setattr(Figure, "savefig", spy)
    return captured


def test_four_panels_with_stripes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    figs = _axes_of(monkeypatch)
    out = plot_curves(_series(True), tmp_path / "rd.png", "fabricated stripes")
    img = np.asarray(Image.open(out))
    # Two rows of two: four in a row made a 20-inch figure, its labels 6 px high on a page.
    assert 2 * 400 < img.shape[1] < 1600 and img.shape[0] > 2 * 300
    axes = [a for a in figs[0].axes if a.get_visible()]
    boxes = [a.get_position() for a in axes]
    assert boxes[0].y0 == pytest.approx(boxes[1].y0, abs=0.02)
    assert boxes[2].y0 == pytest.approx(boxes[3].y0, abs=0.02) and boxes[2].y1 < boxes[0].y0
    assert boxes[0].x1 < boxes[1].x0 and boxes[2].x1 < boxes[3].x0
    assert [a.get_ylabel() for a in axes] == [p[1] for p in PANELS]
    learned, anchor, jpeg = axes[0].lines
    assert learned.get_linestyle() == "-" and learned.get_markerfacecolor() != "white"
    assert jpeg.get_linestyle() == "--" and jpeg.get_markerfacecolor() == "white"
    assert anchor.get_linewidth() > jpeg.get_linewidth()
    assert len(axes[2].lines) == 2  # jpeg has no Δθ: no curve in that panel
    # The classes panel: per codec with stripes, turned + redrawn in its own style and
    # erased as a thin dotted line of the same colour.
    moved, erased = axes[3].lines[:2]
    assert moved.get_linestyle() == "-" and erased.get_linestyle() == ":"
    assert moved.get_color() == erased.get_color() == learned.get_color()
    assert list(erased.get_ydata()) == [46.0, 42.0, 38.0, 34.0, 30.0]
    assert len(axes[3].lines) == 4
    labels = [t.get_text() for t in figs[0].legends[0].get_texts()]
    assert "bmshj2018-factorized (learned)" in labels and "jpeg2000 — anchor" in labels


def test_no_stripes_no_delta_theta_panel(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    figs = _axes_of(monkeypatch)
    plot_curves(_series(False), tmp_path / "rd.png")
    assert len(figs[0].axes) == 2


@pytest.mark.parametrize("suffix, magic", [(".pdf", b"%PDF"), (".svg", b"<?xml")])
def test_vector_formats(tmp_path: Path, suffix: str, magic: bytes) -> None:
    out = plot_curves(_series(True), tmp_path / f"rd{suffix}")
    assert out.read_bytes().startswith(magic)


def test_saved_atomically(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "rd.png"
    plot_curves(_series(True), target)
    assert [p.name for p in target.parent.iterdir()] == ["rd.png"]  # no temp file left


def test_sweep_plot_end_to_end(tmp_path: Path) -> None:
    from codeccmp.model.images import from_array
    from codeccmp.plugins import load_registry
    from codeccmp.render.plots import plot_sweep, series_from_sweep
    from codeccmp.sweep.runner import SweepOptions, run_sweep

    rng = np.random.default_rng(0)
    img = from_array(rng.integers(60, 200, (48, 48, 3), dtype=np.uint8), "noise")
    res = run_sweep([img], load_registry(), SweepOptions(
        targets=[1.0, 2.0, 3.0], codecs=["jpeg", "jpeg2000"], anchor="jpeg2000", jobs=1,
        cache=False, rois=None))
    series = series_from_sweep(res)
    assert [s.codec for s in series] == ["jpeg", "jpeg2000"]
    assert series[1].anchor and len(series[0].points) == 3
    out = plot_sweep(res, tmp_path / "rd.png")
    assert out.stat().st_size > 10_000


def test_published_references_are_drawn_apart(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Published curves: dotted, no markers, "(published)"; the measured curves set the x
    range; the note (averaging, data-set check) heads the legend."""
    figs = _axes_of(monkeypatch)
    ref_pts = [{"bpp": r, "psnr": 25 + 9 * r, "ms_ssim_db": 9 + 9 * r}
               for r in (0.05, 0.2, 0.4, 0.8, 1.6, 3.2)]
    series = [*_series(False),
              Series("ref:vtm", "reference", ref_pts, anchor=True, reference=True,
                     label="vtm (published)")]
    series[1].anchor = False
    plot_curves(series, tmp_path / "rd.png", note="mean over 24 images per quality")
    ax = figs[0].axes[0]
    *measured, ref = ax.lines
    assert ref.get_linestyle() == ":" and ref.get_marker() in ("", "None", None)
    assert all(m.get_marker() not in ("", "None", None) for m in measured)
    assert all(m.get_linestyle() != ":" for m in measured)
    assert ref.get_linewidth() > max(m.get_linewidth() for m in measured)  # the anchor
    legend = figs[0].legends[0]
    labels = [t.get_text() for t in legend.get_texts()]
    assert "vtm (published) — anchor" in labels
    assert "published: dotted, no markers" in labels
    assert legend.get_title().get_text() == "mean over 24 images per quality"
    # x range from the measured curves (0.1..0.5 bpp), not the reference's 3.2 bpp;
    # the reference is cut just past the edge.
    # 0.1 bpp is within a quarter of the 0.4 bpp span from 0: the axis starts at 0.
    assert ax.get_xlim() == pytest.approx((0.0, 0.5 + 0.08 * 0.4))
    assert max(ref.get_xdata()) == pytest.approx(0.8)


def test_rate_axis_starts_near_the_data(tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A 0.2–0.4 bpp sweep fills its panels: the axis spans the data plus 8 % of its span
    each side (0.184–0.416), not 0–0.46; a published curve is cut one point past each
    edge, so the quality axis fits what is shown."""
    figs = _axes_of(monkeypatch)
    pts = [{"bpp": r, "psnr": 20 + 10 * r, "ms_ssim_db": 8 + 10 * r} for r in (0.2, 0.3, 0.4)]
    ref = [{"bpp": r, "psnr": 18 + 10 * r, "ms_ssim_db": 7 + 10 * r}
           for r in (0.02, 0.1, 0.15, 0.25, 0.35, 0.5, 2.0)]
    plot_curves([Series("jpeg", "traditional", pts),
                 Series("ref:vtm", "reference", ref, reference=True)], tmp_path / "rd.png")
    ax = figs[0].axes[0]
    assert ax.get_xlim() == pytest.approx((0.184, 0.416))
    assert list(ax.lines[1].get_xdata()) == pytest.approx([0.15, 0.25, 0.35, 0.5])
    lo, hi = ax.get_ylim()
    assert lo > 18 + 10 * 0.1 - 1  # not stretched down to the reference's 0.02 bpp point


def test_x_range_edges() -> None:
    from codeccmp.render.plots import x_range

    assert x_range([]) is None
    assert x_range([0.3]) == pytest.approx((0.27, 0.33))  # one rate: ±10 %
    assert x_range([0.05, 1.0]) == pytest.approx((0.0, 1.076))


def test_sweep_note_says_how_points_were_averaged() -> None:
    from types import SimpleNamespace

    from codeccmp.render.plots import sweep_note

    base = dict(images=[{}, {}], references=[])
    assert "per target bpp" in sweep_note(SimpleNamespace(**base, average="target"))
    note = sweep_note(SimpleNamespace(**{**base, "references": [
        {"label": "vtm (published)", "source": "VTM", "origin": "", "dataset": "kodak",
         "dataset_check": "off"}]}, average="quality"))
    assert "per quality" in note and "CompressAI's convention" in note
    assert "vtm (published): VTM; measured on kodak; data-set check OFF" in note
