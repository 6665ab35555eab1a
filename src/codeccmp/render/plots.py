"""Rate-distortion plots of a sweep: bpp against PSNR, MS-SSIM (dB) and stripe Δθ.

matplotlib is imported only when a plot is drawn (``codeccmp --help`` stays instant), and
only its object API is used — a ``Figure`` with no pyplot state and no GUI backend — so
plotting works headless and from worker threads. Learned and traditional codecs are told
apart at a glance: learned curves are solid with filled markers, traditional ones dashed
with hollow markers; published reference curves (``--reference``) are dotted, without
markers, and say "(published)" in the legend, so a measured curve is never mistaken for
one copied from a paper. The anchor of the BD numbers is drawn thicker and named in the
legend. A footnote says how points were averaged and what the references were checked
against.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from codeccmp.sweep.runner import SweepResult

#: (attribute of a point, axis label, higher is better) for each panel, in order.
PANELS = (
    ("psnr", "PSNR (dB)", True),
    ("ms_ssim_db", "MS-SSIM (dB) = −10·log10(1 − MS-SSIM)", True),
    ("delta_theta_deg", "stripe Δθ on ROIs (°, lower is better)", False),
    ("stripe_classes", "stripe pixels not kept (%, lower is better)\n"
     "turned + redrawn: the curve's style; erased: dotted", False),
)
#: The panel of the stripe classes: per codec, the share whose direction changed (turned +
#: redrawn, its line style) and the share erased (a thin dotted line of its colour), so a
#: codec that turns stripes is not mistaken for one that wipes them out.
CLASSES_PANEL = "stripe_classes"
#: The x axis ends this far past the largest measured rate.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "<", ">", "h")


@dataclass
class Series:
    """One codec's curve: points as dicts with ``bpp`` and any of the panel metrics."""

    codec: str
    family: str
    points: list[dict[str, float | None]] = field(default_factory=list)
    anchor: bool = False
    #: A published curve (not measured here): drawn dotted, without markers.
    reference: bool = False
    label: str | None = None  # legend text; the codec name when None

    @property
    def learned(self) -> bool:
        return self.family == "learned"


def series_from_sweep(result: SweepResult) -> list[Series]:
    """The averaged curves of a sweep (a single image's own when there is one image).

    Points that not every image reached (a codec failed on some image) are left out, as
    they are of the BD numbers: an average over fewer images is not on the same curve.
    """
    out = []
    for c in result.codecs:
        pts = [{"bpp": a.bpp, "psnr": a.psnr, "ms_ssim_db": a.ms_ssim_db,
                "delta_theta_deg": a.delta_theta_deg,
                "moved_share": pct_sum(a.turned_share, a.redrawn_share),
                "erased_share": pct_sum(a.erased_share),
                **{f"metric:{n}": v for n, v in a.metrics.items()}}
               for a in result.averaged if a.codec == c["name"] and a.complete
               and a.bpp is not None]
        if pts:
            out.append(Series(c["name"], c["family"], pts, anchor=c["name"] == result.anchor))
    for r in result.references:
        cv = r["curve"]
        pts = [{"bpp": b, "psnr": p, "ms_ssim_db": m} for b, p, m in
               zip(cv["bpp"], cv["psnr"], cv["ms_ssim_db"], strict=False)]
        out.append(Series(r["name"], "reference", pts, anchor=r["name"] == result.anchor,
                          reference=True, label=r["label"]))
    return out


def pct_sum(*shares: float | None) -> float | None:
    """The sum of the shares in percent; None when none was measured."""
    vals = [v for v in shares if v is not None]
    return 100.0 * sum(vals) if vals else None


def sweep_note(result: SweepResult) -> str:
    """The footnote: how the points were averaged, and what the references rest on."""
    n = len(result.images)
    if n == 1:
        lines = ["one image"]
    elif result.average == "quality":
        lines = [f"mean over {n} images per quality (every image at the same fixed codec "
                 "parameter; CompressAI's convention)"]
    else:
        match = (getattr(result, "settings", None) or {}).get("match")
        lines = [f"mean over {n} images per target {match['metric']} (each image "
                 "quality-matched)" if match else
                 f"mean over {n} images per target bpp (each image rate-matched)"]
    for r in result.references:
        check = {"passed": f"images verified to be the {r['dataset']} set",
                 "off": f"measured on {r['dataset']}; data-set check OFF, not verified",
                 }.get(r["dataset_check"], "data set unknown, not checked")
        lines.append(f"{r['label']}: {r['source'] or r['origin']}; {check}")
    return "\n".join(lines)


def metric_panel(name: str, label: str, higher_is_better: bool) -> tuple[str, str, bool]:
    """The panel of an extra ``--metrics`` metric, for ``plot_sweep(..., quality=...)``."""
    return (f"metric:{name}", label if higher_is_better else f"{label} (lower is better)",
            higher_is_better)


def plot_sweep(result: SweepResult, path: str | Path, title: str | None = None,
               quality: Sequence[tuple[str, str, bool]] | None = None) -> Path:
    """Draw the sweep's RD curves to ``path`` (format from its suffix).

    ``quality``: the quality panels (from :func:`metric_panel`) in place of PSNR and
    MS-SSIM dB (``--plot-metric``); the Δθ panel stays when stripes were measured.
    """
    if title is None:
        n = len(result.images)
        title = (Path(str(result.images[0].get("path", ""))).name if n == 1
                 else f"mean over {n} images")
    panels = None if not quality else (*quality, *PANELS[2:])
    return plot_curves(series_from_sweep(result), path, title, note=sweep_note(result),
                       panels=panels)


def x_range(rates: Sequence[float]) -> tuple[float, float] | None:
    """The rate axis for measured ``rates``: the data with a margin each side, from 0 only
    when the lowest rate is near 0 anyway (within a quarter of the data's span). A sweep
    over 0.2–0.4 bpp drawn from 0 would leave half of every panel empty."""
    if not rates:
        return None
    lo, hi = min(rates), max(rates)
    span = hi - lo
    pad = 0.08 * span if span > 0 else 0.1 * hi
    if lo <= 0.25 * span:
        return 0.0, hi + pad
    return lo - pad, hi + pad


def _clip(pts: list[tuple[float, float]], xmin: float,
          xmax: float) -> list[tuple[float, float]]:
    """The points from ``xmin`` up to ``xmax`` and one beyond each end (so the line reaches
    the edges, and the quality axis fits what is shown)."""
    inside = [i for i, (b, _) in enumerate(pts) if xmin <= b <= xmax]
    if not inside:
        before = [i for i, (b, _) in enumerate(pts) if b < xmin]
        after = [i for i, (b, _) in enumerate(pts) if b > xmax]
        keep = before[-1:] + after[:1]
        return [pts[i] for i in keep] if len(keep) == 2 else []
    first, last = max(0, inside[0] - 1), min(len(pts) - 1, inside[-1] + 1)
    return pts[first:last + 1]


def _finite(v: float | None) -> bool:
    return v is not None and math.isfinite(v)


def plot_curves(series: Sequence[Series], path: str | Path, title: str = "",
                note: str = "", panels: Sequence[tuple[str, str, bool]] | None = None) -> Path:
    """One panel per metric present in any series; Δθ only when stripes were measured.

    ``panels``: (point key, axis label, higher is better) to draw instead of ``PANELS``.
    """
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    from codeccmp.model.fileio import atomic_write_bytes

    candidates = list(panels) if panels else list(PANELS)

    def keys(panel: str) -> tuple[str, ...]:
        return ("moved_share", "erased_share") if panel == CLASSES_PANEL else (panel,)

    panels = [p for p in candidates
              if any(_finite(pt.get(k)) for s in series for pt in s.points for k in keys(p[0]))]
    if not panels:
        panels = candidates[:1]
    # At most two panels a row: four in one row made a figure 20 inches wide, which a page
    # or a screen shrinks until its labels are 6 px high.
    cols = min(2, len(panels))
    rows = -(-len(panels) // cols)
    fig = Figure(figsize=(5.6 * cols, 4.2 * rows + 0.6), layout="constrained")
    grid = fig.subplots(rows, cols, squeeze=False)
    axes = [ax for row in grid for ax in row][:len(panels)]
    for spare in [ax for row in grid for ax in row][len(panels):]:
        spare.set_visible(False)
    colors = [f"C{i}" for i in range(10)]
    # Published curves span far more rates than a sweep usually does: the measured curves
    # set the x range, and the references are drawn over it.
    measured = [pt["bpp"] for s in series if not s.reference for pt in s.points
                if _finite(pt.get("bpp"))]
    xlim = x_range(measured)
    handles = []
    for i, s in enumerate(series):
        color = colors[i % len(colors)]
        marker = _MARKERS[i % len(_MARKERS)]
        if s.reference:
            style = {"color": color, "marker": "", "linestyle": ":",
                     "linewidth": 3.0 if s.anchor else 2.0}
        else:
            style = {
                "color": color, "marker": marker, "markersize": 6,
                "linestyle": "-" if s.learned else "--",
                "linewidth": 2.6 if s.anchor else 1.6,
                "markerfacecolor": color if s.learned else "white",
                "markeredgecolor": color, "markeredgewidth": 1.4,
            }
        for ax, (panel, _, _) in zip(axes, panels, strict=True):
            for key in keys(panel):
                pts = sorted((pt["bpp"], pt[key]) for pt in s.points
                             if _finite(pt.get("bpp")) and _finite(pt.get(key)))
                if s.reference and xlim is not None:
                    pts = _clip(pts, *xlim)
                if not pts:
                    continue
                line = style if key != "erased_share" else {
                    "color": color, "marker": style.get("marker") or "", "markersize": 3,
                    "linestyle": ":", "linewidth": 1.2, "markerfacecolor": "white",
                    "markeredgecolor": color}
                ax.plot([b for b, _ in pts], [v for _, v in pts], **line)
        label = ((s.label or s.codec) + (" (learned)" if s.learned else "")
                 + (" — anchor" if s.anchor else ""))
        handles.append(Line2D([], [], label=label, **style))
    for ax, (_, label, better_up) in zip(axes, panels, strict=True):
        if xlim is not None:
            ax.set_xlim(*xlim)
        ax.set_xlabel("rate (bpp)")
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
        if not better_up:
            ax.annotate("better ↓", xy=(0.98, 0.98), xycoords="axes fraction",
                        ha="right", va="top", fontsize=8, color="0.4")
    # Legend keys for the two families, so the line styles explain themselves.
    fam = []
    if any(s.learned for s in series):
        fam.append(Line2D([], [], color="0.3", linestyle="-", marker="o",
                          markerfacecolor="0.3", label="learned: solid, filled"))
    if any(not s.learned and not s.reference for s in series):
        fam.append(Line2D([], [], color="0.3", linestyle="--", marker="o",
                          markerfacecolor="white", label="traditional: dashed, hollow"))
    if any(s.reference for s in series):
        fam.append(Line2D([], [], color="0.3", linestyle=":", linewidth=2.0,
                          label="published: dotted, no markers"))
    # The note (averaging, what the references were checked against) heads the legend:
    # constrained layout then keeps room for both.
    leg = fig.legend(handles=handles + fam, loc="outside lower center",
                     ncols=min(4, len(handles) + len(fam)), fontsize=9, frameon=False,
                     title=note or None, title_fontsize=7, alignment="left")
    if note:
        leg.get_title().set_color("0.35")
    if title:
        fig.suptitle(title)

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".") or "png"
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=130)
    return atomic_write_bytes(p, buf.getvalue())
