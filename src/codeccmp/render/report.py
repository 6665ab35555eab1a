"""The markdown report: settings, results, montage, per-ROI tables, findings, provenance.

Plain GitHub-flavoured markdown with relative image links, so the folder can be pushed to a
repository or attached to an issue and render as is.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from codeccmp.model.fileio import atomic_write_text
from codeccmp.model.results import V1_NOTE, CodecResult, Comparison
from codeccmp.render.tables import classes_cell, match_decimals, param_text
from codeccmp.stripes.detect import NO_REGIONS

#: Below these a codec "keeps" the stripes' orientation in a ROI (see docs/metrics.md).
KEEP_DELTA_DEG = 3.0
KEEP_FLIP = 0.05
#: A codec "keeps the stripes" in a ROI where at least this share of its stripe pixels is
#: kept; otherwise the finding names each class holding at least ``CLASS_SHARE`` of them.
KEEP_SHARE = 0.9
CLASS_SHARE = 0.05
#: Schema 1 results only: from this erased share on a codec was said to wipe the stripes
#: out rather than turn them.
ERASED_SHARE = 0.3
#: Below this contrast retention (at the stripes' own period) a codec that kept the stripes'
#: direction is said to blur them.
BLUR_RETENTION = 0.7


#: Said in a report's header when the run left out the strategy-switch check.
NO_JUMP_CHECK = ("Run with --no-jump-check: a row next to an encoder's strategy switch is not "
                 "flagged (docs/codecs.md)")


def codecs_text(cmp: Comparison) -> str:
    """The codecs asked for: those named, or the default set, saying where the ones that did
    not run are (a header reading "all usable" sat above a list of sixteen skipped)."""
    if cmp.settings.get("codecs"):  # their canonical labels, as the tables show them
        return ", ".join(dict.fromkeys(r.codec for r in cmp.results))
    skipped = sum(1 for r in cmp.results if r.status == "skipped")
    return "the default set" + (f" ({skipped} of them not usable here: listed under the "
                                "results)" if skipped else "")


def _at_least(share: float) -> str:
    """``share`` as a percentage at the tables' precision (0.1 %), rounded down, for a bound
    "≥ …" that must hold: 0.969 rounded to whole percent read "≥ 97 %" over a table showing
    96.9 %. (The 1e-9 keeps 0.97, stored as 0.96999…, from reading 96.9 %.)"""
    return f"{math.floor(share * 1000 + 1e-9) / 10:.1f}%"


def _at_most(deg: float) -> str:
    """``deg`` at the tables' precision (0.1°), rounded up, for a bound "≤ …" that holds."""
    return f"{math.ceil(deg * 10 - 1e-9) / 10:.1f}°"


def _f(v: Any, fmt: str, missing: str = "–") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return missing
    return format(v, fmt)


def _esc(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_markdown(cmp: Comparison) -> str:
    from codeccmp.render.tables import extra_metric_names, metric_cell

    has_stripes = any(r.stripes for r in cmp.results)
    match = cmp.settings.get("match")
    extra = extra_metric_names(cmp.results)
    head = ["codec", "family", "param", "bpp", "Δ target", "PSNR dB", "MS-SSIM", "MS-SSIM dB",
            *extra]
    if has_stripes:
        head += ["Δθ ° (ROIs)", "turned / redrawn / erased"]
    head += ["enc s", "dec s", "device"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in cmp.results:
        if not r.ok:
            continue
        if match:  # the quality reached minus the one asked for, in the metric's units
            got = r.metrics.get(match["metric"])
            dev = _f(None if got is None else got - match["value"],
                     f"+.{match_decimals(match.get('tolerance'))}f")
        else:
            dev = _f(r.deviation, "+.1%")
        if r.within_tolerance is False:
            dev += " ⚠"
        row = [f"`{r.codec}`", r.family, param_text(r), _f(r.bpp, ".4f"), dev,
               _f(r.psnr, ".2f"),
               _f(r.ms_ssim, ".4f"), _f(r.ms_ssim_db, ".2f")]
        row += [metric_cell(r.metrics.get(n)) for n in extra]
        if has_stripes:
            row += [_f(r.stripes.get("delta_theta_deg"), ".1f"), classes_cell(r.stripes)]
        row += [_f(r.encode_s, ".3f"), _f(r.decode_s, ".3f"), r.device or ""]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def roi_table(cmp: Comparison, index: int) -> str:
    from codeccmp.render.tables import metric_cell

    entries = [(r, r.rois[index]) for r in cmp.results if r.ok and len(r.rois) > index]
    # The per_roi metrics of --metrics/--match, measured on the region's crop.
    extra = list(dict.fromkeys(n for _, e in entries for n in e.get("metrics") or {}))
    head = ["codec", "bpp", "PSNR dB", "MS-SSIM", *extra, "Δθ °", "kept", "turned",
            "redrawn", "erased", "spectral shift °", "contrast retention"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r, e in entries:
        got = e.get("metrics") or {}
        lines.append("| " + " | ".join([
            f"`{r.codec}`", _f(r.bpp, ".3f"), _f(e.get("psnr"), ".2f"),
            _f(e.get("ms_ssim"), ".4f", "n/a"), *(metric_cell(got.get(n)) for n in extra),
            _f(e.get("delta_theta_deg"), ".1f"),
            _f(e.get("kept_share"), ".1%"), turned_text(e), redrawn_text(e),
            _f(e.get("erased_share"), ".1%"),
            _f(e.get("spectral_shift_deg"), ".1f"),
            _f(e.get("contrast_retention"), ".2f")]) + " |")
    return "\n".join(lines)


def turned_text(e: Mapping[str, Any]) -> str:
    """The turned share, with how far those pixels turned."""
    t, d = e.get("turned_share"), e.get("turned_deg")
    return _f(t, ".1%") + ("" if d is None or (t or 0) < 0.0005 else f" by {d:.0f}°")


def redrawn_text(e: Mapping[str, Any]) -> str:
    """The redrawn share, with the angle the new structure runs at."""
    t, d = e.get("redrawn_share"), e.get("redrawn_deg")
    return _f(t, ".1%") + ("" if d is None or (t or 0) < 0.0005 else f" at {d:.0f}°")


#: From this erased share on, a finding says how much of the stripes' contrast is left:
#: the region's contrast is then what the erased pixels keep.
ERASED_TRACE_SHARE = 0.9


def _what_happened(e: Mapping[str, Any]) -> str:
    """A codec's classes in a region, largest first: "erased 53 %, redrawn 47 % at 68°".

    Where (nearly) everything is erased, with the contrast left at the stripes' period:
    "erased" means under half the stripes' amplitude, and JPEG XL's scarf (a faint mesh at
    0.31 of their contrast, visible) read as erased as its trousers (0.02, flat)."""
    erased, contrast = e.get("erased_share") or 0.0, e.get("contrast_retention")
    trace = (f" (contrast left at their period {contrast:.2f})"
             if erased >= ERASED_TRACE_SHARE and contrast is not None
             and math.isfinite(contrast) else "")
    parts = []
    for share, text in sorted((
            (e.get("kept_share") or 0.0, "kept {:.0%}"),
            (e.get("turned_share") or 0.0, "turned {:.0%}" + (
                f" by {e['turned_deg']:.0f}°" if e.get("turned_deg") is not None else "")),
            (e.get("redrawn_share") or 0.0, "redrawn {:.0%}" + (
                f" at {e['redrawn_deg']:.0f}°" if e.get("redrawn_deg") is not None else "")),
            (erased, "erased {:.0%}" + trace)), key=lambda t: -t[0]):
        if share >= CLASS_SHARE:
            parts.append(text.format(share))
    return ", ".join(parts)


def roi_finding(cmp: Comparison, index: int) -> str:
    """One sentence: which codecs keep the stripes in this ROI, and for each of the others
    what became of them (turned by, redrawn at, erased), largest class first."""
    if not cmp.stripe_classes:
        return _roi_finding_v1(cmp, index)
    rows = [(r, r.rois[index]) for r in cmp.results if r.ok and len(r.rois) > index]
    if rows and all(e.get("period_px", 0) is None or e.get("stripe_share") == 0
                    for _, e in rows):  # no period, or no pixel in the stripe mask
        return ("No periodic stripe pattern found in this region of the original, so there is "
                "nothing to measure here.")
    keep, blurred, other, spectral = [], [], [], []
    for r, e in rows:
        kept = e.get("kept_share")
        if kept is None:
            continue
        if kept >= KEEP_SHARE:
            c = e.get("contrast_retention")
            if c is not None and c < BLUR_RETENTION:
                blurred.append((c, r.codec))
            elif e.get("delta_theta_deg") is None:
                spectral.append((e.get("spectral_shift_deg"), r.codec))
            else:
                keep.append((e["delta_theta_deg"], kept, r.codec))
        else:
            other.append((kept, r.codec, _what_happened(e)))
    parts = []
    if keep:
        keep.sort()
        least = min(k for _, k, _ in keep)
        share = ("every stripe pixel kept" if least >= 1.0 - 1e-12
                 else f"≥ {_at_least(least)} of stripe pixels kept")
        parts.append(f"{_names([c for _, _, c in keep])} keep{'s' if len(keep) == 1 else ''} "
                     f"the stripes ({share}, Δθ ≤ {_at_most(max(d for d, _, _ in keep))})")
    if spectral:
        moved = [(v, c) for v, c in spectral if v is not None and v >= KEEP_DELTA_DEG]
        still = [c for v, c in spectral if v is None or v < KEEP_DELTA_DEG]
        if still:
            parts.append(f"{_names(still)} keep{'s' if len(still) == 1 else ''} the pattern at "
                         "its period (no single direction here, a check pattern or a weave: by "
                         "the angular spectrum its orientations hold)")
        if moved:
            parts.append("pattern kept at its period but its orientation energy moved by " +
                         ", ".join(f"{v:.1f}° for `{c}`" for v, c in sorted(moved,
                                                                              reverse=True)))
    if blurred:
        blurred.sort()
        parts.append("kept but blurred: " + ", ".join(
            f"`{c}` (contrast at the stripes' period {v:.2f})" for v, c in blurred))
    if other:
        other.sort()
        parts.append("; ".join(f"`{c}`: {what}" for _, c, what in other))
    if not parts:
        return "No codec produced a result for this region."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _roi_finding_v1(cmp: Comparison, index: int) -> str:
    """Schema 1's finding (overlapping turned and erased shares), for old results files."""
    keep, turn, blank, spectral, erased, blurred = [], [], [], [], [], []
    for r in cmp.results:
        if not r.ok or len(r.rois) <= index:
            continue
        e = r.rois[index]
        d, flip = e.get("delta_theta_deg"), e.get("turned_share")
        kept = e.get("contrast_retention")
        if (e.get("erased_share") or 0) >= ERASED_SHARE:
            erased.append((e["erased_share"], r.codec, kept))
        elif d is None:
            blank.append(r.codec)
            if e.get("spectral_shift_deg") is not None:
                spectral.append((e["spectral_shift_deg"], r.codec))
        elif d < KEEP_DELTA_DEG and (flip or 0) < KEEP_FLIP:
            if kept is not None and kept < BLUR_RETENTION:
                blurred.append((kept, r.codec))
            else:
                keep.append((d, r.codec))
        else:
            turn.append((d, r.codec, flip or 0.0))
    parts = []
    if keep:
        keep.sort()
        parts.append(f"{_names([c for _, c in keep])} keep{'s' if len(keep) == 1 else ''} the "
                     f"stripes' orientation (Δθ ≤ {_at_most(max(d for d, _ in keep))})")
    if turn:
        turn.sort(reverse=True)
        worst = ", ".join(f"`{c}` by {d:.1f}° ({f:.0%} of oriented pixels moved > 20°)"
                          for d, c, f in turn)
        parts.append(f"turned: {worst}")
    if blurred:
        blurred.sort()
        parts.append("direction kept but blurred: " + ", ".join(
            f"`{c}` (contrast at the stripes' period {v:.2f})" for v, c in blurred))
    if erased:
        erased.sort(reverse=True)
        parts.append("erased (wiped out rather than turned; Δθ then measures what is left): "
                     + ", ".join(f"`{c}` ({v:.0%} of stripe pixels kept less than half their "
                                 f"contrast{'' if k is None else f', contrast {k:.2f}'})"
                                 for v, c, k in erased))
    rows = [r.rois[index] for r in cmp.results if r.ok and len(r.rois) > index]
    if rows and all(e.get("period_px", 0) is None for e in rows):
        return ("No periodic stripe pattern found in this region of the original, so there is "
                "nothing to measure here.")
    if blank and not keep and not turn and not erased and not blurred:
        text = ("No single stripe direction here (a check pattern or a weave), so Δθ does not "
                "apply")
        if spectral:
            spectral.sort()
            kept = [c for v, c in spectral if v < KEEP_DELTA_DEG]
            moved = [(v, c) for v, c in spectral if v >= KEEP_DELTA_DEG]
            text += "; by the angular spectrum, "
            parts2 = []
            if kept:
                parts2.append(f"{_names(kept)} keep{'s' if len(kept) == 1 else ''} its "
                              "orientations")
            if moved:
                parts2.append("orientation energy moved by " + ", ".join(
                    f"{v:.1f}° for `{c}`" for v, c in sorted(moved, reverse=True)))
            text += "; ".join(parts2)
        return text + "."
    if blank:
        parts.append(f"no oriented pixels left to judge for {_names(blank)}")
    if not parts:
        return "No codec produced a result for this region."
    text = "; ".join(parts)
    return text[0].upper() + text[1:] + "."


def _names(names: list[str]) -> str:
    quoted = [f"`{n}`" for n in names]
    return quoted[0] if len(quoted) == 1 else ", ".join(quoted[:-1]) + " and " + quoted[-1]


def provenance_markdown(cmp: Comparison) -> str:
    env = cmp.environment
    lines = [f"- Python {env.get('python', '?')} on {env.get('platform', '?')}"]
    versions = env.get("versions", {})
    if versions:
        lines.append("- Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    lines.append(f"- Created {cmp.created}; image sha256 `{cmp.image.get('sha256', '')}`")
    lines += ["", "| codec | library | device | settings |", "|---|---|---|---|"]
    for r in cmp.results:
        if not r.ok:
            continue
        lib = ", ".join(f"{k} {v}" for k, v in r.library.items())
        settings = ", ".join(f"{k}={v}" for k, v in r.settings.items())
        lines.append(f"| `{r.codec}` | {_esc(lib)} | {r.device or ''} | {_esc(settings)} |")
    return "\n".join(lines)


def truth_markdown(cmp: Comparison) -> str | None:
    truth = cmp.image.get("truth")
    if not truth:
        return None
    periods = list(truth["original"]["per_period_mean_deg"])
    head = ["codec", "mean |Δθ| vs truth °", "max °"] + [f"period {p}px °" for p in periods]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]

    def row(name: str, t: Mapping[str, Any]) -> str:
        cells = [name, _f(t["mean_abs_error_deg"], ".2f"), _f(t["max_abs_error_deg"], ".1f")]
        cells += [_f(t["per_period_mean_deg"].get(p), ".2f") for p in periods]
        return "| " + " | ".join(cells) + " |"

    lines.append(row("original", truth["original"]))
    for r in cmp.results:
        if r.ok and "truth" in r.stripes:
            lines.append(row(f"`{r.codec}`", r.stripes["truth"]))
    return "\n".join(lines)


def render_report(cmp: Comparison, montage: str | None, notes: list[str] | None = None) -> str:
    img = cmp.image
    name = Path(img.get("path", "image")).name
    match = cmp.settings.get("match")
    at = (f"matched at {match['metric']} = {match['value']:g}" if match
          else f"at {cmp.target_bpp:g} bpp")
    out = [f"# {name} {at}", ""]
    out.append(f"- Image: `{img.get('path')}`, {img.get('width')}×{img.get('height')} "
               f"{img.get('mode')}")
    out.append(f"- Matched at equal quality: {match['metric']} = {match['value']:g} "
               f"(tolerance ±{match['tolerance']:g}); bpp counts every byte of each bitstream"
               if match else
               f"- Target: {cmp.target_bpp:g} bpp (tolerance ±{cmp.tolerance:.0%}); "
               f"bpp counts every byte of each bitstream")
    s = cmp.settings
    out.append(f"- Device for learned codecs: {s.get('device', 'auto')}; "
               f"codecs: {codecs_text(cmp)}")
    if s.get("jump_check") is False:
        out.append(f"- {NO_JUMP_CHECK}")
    for n in list(img.get("notes", [])) + list(notes or []):
        out.append(f"- Note: {n}")
    out += ["", "## Results", "", results_markdown(cmp), ""]
    missing = [r for r in cmp.results if not r.ok]
    if missing:
        out += ["Not in the table:", ""]
        out += [f"- `{r.codec}`: {r.status}: {_esc(r.reason or '')}" for r in missing]
        out.append("")
    flagged = [r for r in cmp.results if r.ok and r.within_tolerance is False]
    if flagged and match:
        out += [f"⚠ outside ±{match['tolerance']:g} of {match['metric']} = {match['value']:g} "
                "(the closest each codec could get): " + ", ".join(
                    f"`{r.codec}` {_f(r.metrics.get(match['metric']), '.4g')}"
                    for r in flagged), ""]
    elif flagged:
        out += ["⚠ outside the rate tolerance (the closest each codec could get): " +
                ", ".join(f"`{r.codec}` {r.bpp:.3f} bpp" for r in flagged), ""]
    notes_by_codec = [(r.codec, n) for r in cmp.results if r.ok for n in r.notes]
    if notes_by_codec:
        out += [f"- `{c}`: {_esc(n)}" for c, n in notes_by_codec] + [""]
    if not cmp.rois and cmp.settings.get("rois") == "auto":
        out += ["## Stripe regions", "", NO_REGIONS[0].upper() + NO_REGIONS[1:] + ".", ""]
    if cmp.rois:
        out += ["## Stripe regions", ""]
        if montage:
            out += [f"![ROI montage]({montage})", "",
                    "One row per region: the original, then each codec at its matched rate; "
                    "crops enlarged with nearest-neighbour.", ""]
        for i, roi in enumerate(cmp.rois):
            out += [f"### ROI {i + 1}: x={roi['x']}, y={roi['y']}, {roi['w']}×{roi['h']}", "",
                    roi_finding(cmp, i), "", roi_table(cmp, i), ""]
        out += [(f"Note: {V1_NOTE}. " if not cmp.stripe_classes else "") +
                "Each stripe pixel of a region is in one class: kept (still there at the "
                "stripes' own period, at most 20° off), turned (there, more than 20° off; "
                "\"by\": their mean turn), redrawn (gone at that period, with strongly "
                "oriented new structure at another angle in its place; \"at\": its mean angle "
                "off the stripes) or erased (gone, nothing oriented left, or what is left "
                "keeps the stripes' direction); the four sum to 100 %. Δθ: coherence- and "
                "energy-weighted mean orientation change over the kept, turned and redrawn "
                "pixels (erased ones have no orientation); "
                "all on the region's stripe pixels only; spectral shift: how far the band-pass "
                "energy moved between orientations (earth mover's distance of the angular "
                "spectra; applies to check patterns too); "
                "contrast retention: RMS at the stripes' own period (narrow band-pass) of the "
                "reconstruction over the original's. In the montage, MS-SSIM is the whole "
                "image's; a region's own is in its table where the region is at least 161 px "
                "a side (5-scale MS-SSIM needs that; automatic regions are smaller: –). "
                "Definitions in codeccmp's docs/metrics.md.", ""]
    truth = truth_markdown(cmp)
    if truth:
        out += ["## Orientation against the chart's ground truth", "", truth, ""]
    out += ["## Provenance", "", provenance_markdown(cmp), ""]
    return "\n".join(out)


def write_report(cmp: Comparison, out_dir: Path, original: np.ndarray | None,
                 recons: Mapping[str, np.ndarray], notes: list[str] | None = None) -> Path:
    """Write ``report.md`` and its montage into ``out_dir``; returns the report path."""
    montage_name = None
    if cmp.rois and original is not None and recons:
        montage_name = "montage.png"
        write_montage(cmp, original, recons, out_dir / montage_name)
    elif cmp.rois:
        notes = [*(notes or []), "montage not drawn: reconstructions not available"]
    return atomic_write_text(out_dir / "report.md", render_report(cmp, montage_name, notes))


def roi_caption(bpp: float | None, image_ms_ssim: float | None, e: Mapping[str, Any]) -> str:
    """A montage tile's caption: rate and whole-image MS-SSIM, then the ROI's own figures."""
    head = f"{_f(bpp, '.3f')} bpp  MS-SSIM {_f(image_ms_ssim, '.4f')} (image)"
    if e.get("delta_theta_deg") is None and e.get("spectral_shift_deg") is not None:
        turn = f"ROI: spectral shift {e['spectral_shift_deg']:.1f}°"
    else:
        turn = f"ROI: Δθ {_f(e.get('delta_theta_deg'), '.1f')}°"
    turn += f"  contrast {_f(e.get('contrast_retention'), '.2f')}"
    return f"{head}\n{turn}\n{classes_line(e)}"


def classes_line(e: Mapping[str, Any]) -> str:
    """A caption's class line: every class's share, the turn and the redrawn angle."""
    def pct(k: str) -> str:
        return _f(e.get(k), ".0%")

    t = f"turned {pct('turned_share')}"
    if (e.get("turned_share") or 0) >= 0.005 and e.get("turned_deg") is not None:
        t += f" by {e['turned_deg']:.0f}°"
    r = f"redrawn {pct('redrawn_share')}"
    if (e.get("redrawn_share") or 0) >= 0.005 and e.get("redrawn_deg") is not None:
        r += f" at {e['redrawn_deg']:.0f}°"
    return f"kept {pct('kept_share')}  {t}  {r}  erased {pct('erased_share')}"


def montage_caption(r: CodecResult, index: int) -> str:
    e = r.rois[index] if index < len(r.rois) else {}
    return roi_caption(r.bpp, r.ms_ssim, e)


def write_montage(cmp: Comparison, original: np.ndarray, recons: Mapping[str, np.ndarray],
                  path: Path) -> Path:
    from codeccmp.render.montage import MontageColumn, make_montage
    from codeccmp.stripes import Roi

    rois = [Roi(**{k: int(v[k]) for k in ("x", "y", "w", "h")}) for v in cmp.rois]
    columns = [
        MontageColumn(label=r.codec, image=recons[r.codec],
                      captions_per_roi=[montage_caption(r, i) for i in range(len(rois))])
        for r in cmp.results if r.ok and r.codec in recons
    ]
    return make_montage(original, rois, columns, path)
