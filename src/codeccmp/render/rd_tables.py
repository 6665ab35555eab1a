"""A sweep's tables for the terminal: its RD points and its BD figures against the anchor.

Both are fitted to the terminal (:mod:`codeccmp.render.fit`): a codec's spec is its label
(``jpeg[optimize=false]``, never cut to ``jpeg[optimize=fal…``) and every number is whole;
when the terminal is too narrow, the least telling columns are left out and named.
"""

from __future__ import annotations

from collections.abc import Collection

from rich.table import Table
from rich.text import Text

from codeccmp.render.fit import Column, add_row, fitted_table
from codeccmp.render.tables import number as _num
from codeccmp.sweep.runner import SweepResult, mean_bd_rate


def rd_points_table(result: SweepResult, hide: Collection[str] = (),
                    width: int | None = None) -> Table:
    """One row per point of each codec's curve: averaged over images for a folder.

    ``hide``: codecs left out (those that produced no point, said in one note instead)."""
    n_img = len(result.images)
    title = (f"{result.images[0].get('path', '')}" if n_img == 1
             else f"mean over {n_img} images")
    has_dtheta = any(a.delta_theta_deg is not None for a in result.averaged)
    match = result.settings.get("match")
    how = ("averaged per quality: every image at the same fixed parameter"
           if result.average == "quality" else
           f"averaged per target {match['metric']}" if match else "averaged per target bpp")
    target = ("parameter" if result.average != "target" else
              f"target {match['metric']}" if match else "target")
    codec, at, bpp = (Column("codec", justify="left", style="bold"),
                      Column(target, narrow=target.replace(" ", "\n")), Column("bpp"))
    psnr, ms = Column("PSNR dB", narrow="PSNR\ndB"), Column("MS-SSIM")
    ms_db = Column("MS-SSIM dB", narrow="MS-SSIM\ndB", drop=2)
    dtheta = [Column("Δθ °")] if has_dtheta else []
    images = [Column("images", drop=1)] if n_img > 1 else []
    columns = [codec, at, bpp, psnr, ms, ms_db, *dtheta, *images]
    last = None
    for a in result.averaged:
        if a.codec in hide:
            continue
        name = Text(a.codec if a.codec != last else "")  # a Text, to be coloured
        if a.family == "learned":
            name.stylize("magenta")
        last = a.codec
        b = Text(_num(a.bpp, ".4f"))
        if a.all_within_tolerance is False:
            b.stylize("bold red")
            b.append(" ⚠")
        cells: list[str | Text] = [
            name, f"{a.value:g}" if a.kind in ("target", "match")
            else f"{a.param_name or 'q'}={a.value:g}", b, _num(a.psnr, ".2f"),
            _num(a.ms_ssim, ".4f"), _num(a.ms_ssim_db, ".2f")]
        if has_dtheta:
            cells.append(_num(a.delta_theta_deg, ".1f"))
        if n_img > 1:
            cells.append(Text(f"{a.n}/{a.n_images}", style="" if a.complete else "yellow"))
        add_row(columns, cells)
    return fitted_table(columns, width, title=f"RD points: {title}" + (
        f" ({how})" if n_img > 1 else ""))


def bd_results_table(result: SweepResult, hide: Collection[str] = (),
                     width: int | None = None) -> Table:
    """BD-rate and BD-quality against the anchor, on the (averaged) curves."""
    per_image = bool(result.bd_per_image)
    anchor = next((r["label"] for r in result.references if r["name"] == result.anchor),
                  result.anchor)
    extra = [k for k in result.bd if k.startswith("metric:")]  # --metrics, in order
    columns = [Column("codec", justify="left", style="bold"),
               Column("BD-rate PSNR", narrow="BD-rate\nPSNR"),
               Column("BD-PSNR dB", narrow="BD-PSNR\ndB", drop=2),
               Column("BD-rate MS-SSIM", narrow="BD-rate\nMS-SSIM"),
               Column("BD-MS-SSIM dB", narrow="BD-MS-SSIM\ndB", drop=2),
               *(Column(f"BD-rate {k[len('metric:'):]}",
                        narrow=f"BD-rate\n{k[len('metric:'):]}", drop=1) for k in extra)]
    if per_image:
        columns.append(Column("per-image mean BD-rate PSNR",
                              narrow="per-image\nmean\nBD-rate\nPSNR", drop=1))
    psnr, msssim = result.bd.get("psnr", {}), result.bd.get("ms_ssim_db", {})
    labels = {r["name"]: r["label"] for r in result.references}
    notes = []
    for codec in psnr:
        if codec in hide:
            continue
        p, m = psnr[codec], msssim.get(codec, {})
        label = labels.get(codec, codec)
        cells: list[str | Text] = [
            label, _pct(p.get("bd_rate_percent")), _num(p.get("bd_quality"), "+.2f"),
            _pct(m.get("bd_rate_percent")), _num(m.get("bd_quality"), "+.2f"),
            *(_pct(result.bd[k].get(codec, {}).get("bd_rate_percent")) for k in extra)]
        if per_image:
            cells.append(_pct(mean_bd_rate(result.bd_per_image["psnr"].get(codec, []))))
        # Why there is no figure, or how little the curves overlap: a line under the table
        # (as a column, a sentence folded over six lines beside each row).
        text = p.get("reason") or _overlap_note(p, m)
        if text:
            notes.append(f"{label}: {text}")
        add_row(columns, cells)
    return fitted_table(columns, width, caption="\n".join(notes) or None,
                        title=f"BD against {anchor} ({result.bd_method}; negative BD-rate = "
                              "fewer bits for the same quality)")


def _overlap_note(psnr: dict, msssim: dict) -> str:
    """Where a BD-rate rests on little common quality range, say how little."""
    parts = []
    for name, d in (("PSNR", psnr), ("MS-SSIM", msssim)):
        share = d.get("rate_overlap")
        if share is not None and share < 0.75:
            parts.append(f"{name} {share:.0%}")
    return f"BD-rate overlap {', '.join(parts)}" if parts else ""


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{v:+.1f}%"
