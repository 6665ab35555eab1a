"""The HTML report: one folder that opens from ``file://``, for looking at the differences.

The page is filled from ``template.html`` with the same content as the markdown report (the
results table, the findings of ``render.report``, per-ROI tables, the montage, provenance),
rendered here so it reads without JavaScript; ``report.js`` then adds what markdown cannot:
sorting, and a viewer per ROI (original against any codec, split slider, flip, pixelated zoom,
every pane locked to the same spot). Images are full-resolution lossless PNGs beside the page,
never re-compressed; the viewer's data sits in the page as JSON, because a page opened from
``file://`` may not fetch files. No framework and no build step: three hand-written files.

The folder is staged in a temporary directory beside its destination and renamed into place,
so a failed run leaves nothing, and an existing folder is replaced only with ``force``; in a
run with other outputs (``fileio.Outputs.add_tree``) it is staged and moved with them.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from string import Template
from typing import Any

import numpy as np

from codeccmp.errors import UsageError
from codeccmp.model.results import CodecResult, Comparison

__all__ = ["check_html_target", "write_folder", "write_html"]

#: Files copied verbatim from this package beside the page.
ASSETS = ("report.js", "report.css")


def check_html_target(out_dir: Path, force: bool) -> None:
    """Refuse an existing folder without ``force`` (checked before any long work)."""
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"--html {out_dir} exists and is not a directory")
    if out_dir.exists() and not force:
        raise UsageError(f"{out_dir} exists; pass --force to overwrite it")


def write_html(cmp: Comparison, out_dir: Path, original: np.ndarray | None,
               recons: Mapping[str, np.ndarray], notes: list[str] | None = None,
               force: bool = False) -> Path:
    """Write the report folder atomically; returns the path of its ``index.html``."""
    return write_folder(out_dir, force,
                        lambda stage: _fill(stage, cmp, original, recons, list(notes or [])))


def write_folder(out_dir: Path, force: bool, fill: Callable[[Path], None]) -> Path:
    """Let ``fill`` write into a fresh folder beside ``out_dir``, then rename it into place:
    all of the folder or none of it, an old one replaced only with ``force``."""
    from codeccmp.model.fileio import staged_tree

    tree = staged_tree(out_dir)
    if tree is not None:  # one output of a run: moved into place with the others
        fill(tree)
        _add_assets(tree)
        return out_dir.absolute() / "index.html"
    check_html_target(out_dir, force)
    out_dir = out_dir.absolute()
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    stage = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        fill(stage)
        _add_assets(stage)
        _swap_in(stage, out_dir)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    return out_dir / "index.html"


def _add_assets(folder: Path) -> None:
    for name in ASSETS:
        (folder / name).write_bytes(resources.files(__name__).joinpath(name).read_bytes())
    _open_up(folder)


def fill_template(name: str, fields: Mapping[str, str]) -> str:
    """One of this package's page templates with its ``$fields`` filled in."""
    return Template(resources.files(__name__).joinpath(name).read_text("utf-8")).substitute(fields)


def data_json(data: Any) -> str:
    """JSON for a ``<script type="application/json">``: with every "<" escaped nothing in
    it can end the element early, and JSON.parse reads the escapes back."""
    return json.dumps(data, allow_nan=False).replace("<", "\\u003c")


def _open_up(stage: Path) -> None:
    """Ordinary permissions (the umask's), not the private ones temporary files get: the
    folder is meant to be shared, served or mailed."""
    mask = os.umask(0)
    os.umask(mask)
    for p in [stage, *stage.rglob("*")]:
        p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def _swap_in(stage: Path, out_dir: Path) -> None:
    """Rename the staged folder into place; an old one (``force``) is removed only after."""
    old = None
    if out_dir.exists():
        old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
        os.replace(out_dir, old)
    try:
        os.replace(stage, out_dir)
    except BaseException:
        if old is not None:
            os.replace(old, out_dir)
        raise
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _fill(stage: Path, cmp: Comparison, original: np.ndarray | None,
          recons: Mapping[str, np.ndarray], notes: list[str]) -> None:
    from codeccmp.model.images import save_png

    img_dir = stage / "img"
    img_dir.mkdir()
    pictures: list[dict[str, Any]] = []
    if original is not None:
        save_png(original, img_dir / "original.png")
        pictures.append({"name": "original", "src": "img/original.png", "label": "original"})
    used: set[str] = {"original"}
    for r in cmp.results:
        if r.ok and r.codec in recons and original is not None:
            if recons[r.codec].shape[:2] != original.shape[:2]:
                notes.append(f"{r.codec}: reconstruction size differs from the original: "
                             "left out of the viewer")
                continue
            stem = _unique(_safe(r.codec), used)
            save_png(recons[r.codec], img_dir / f"{stem}.png")
            pictures.append({"name": r.codec, "src": f"img/{stem}.png",
                             "label": _tile_label(r), "miss": r.within_tolerance is False})
    if original is None:
        notes.append("original image not available: no viewer, overview or montage")
    elif cmp.rois and len(pictures) > 1:
        from codeccmp.render.report import write_montage

        shown = {p["name"]: recons[p["name"]] for p in pictures[1:]}
        write_montage(cmp, original, shown, img_dir / "montage.png")
    (stage / "results.json").write_text(_results_json(cmp, pictures), encoding="utf-8")
    (stage / "index.html").write_text(
        fill_template("template.html", _sections(cmp, pictures, notes, original)),
        encoding="utf-8")


def _results_json(cmp: Comparison, pictures: list[dict[str, Any]]) -> str:
    """The results, with each reconstruction's path pointing at its PNG in this folder, so
    ``codeccmp report DIR/results.json`` works from the folder alone (bitstreams stay out)."""
    d = cmp.to_dict()
    srcs = {p["name"]: p["src"] for p in pictures[1:]}
    for r in d["results"]:
        r["outputs"] = {"reconstruction": srcs[r["codec"]]} if r["codec"] in srcs else {}
    return json.dumps(d, indent=2, allow_nan=False) + "\n"


def _sections(cmp: Comparison, pictures: list[dict[str, Any]], notes: list[str],
              original: np.ndarray | None) -> dict[str, str]:
    from codeccmp.render.report import roi_finding, roi_table

    img = cmp.image
    name = Path(img.get("path", "image")).name
    title = f"{name} {_at(cmp)}"
    has_montage = bool(cmp.rois) and original is not None and len(pictures) > 1
    rois_html = []
    for i, roi in enumerate(cmp.rois):
        rois_html.append(
            f'<section class="roi" id="roi-{i + 1}"><h3>ROI {i + 1}: x={roi["x"]}, '
            f'y={roi["y"]}, {roi["w"]}×{roi["h"]}</h3>\n'
            f'<p class="finding">{_md_inline(roi_finding(cmp, i))}</p>\n'
            + (f'<div class="viewer" data-roi="{i}"></div>\n' if len(pictures) > 1 else "")
            + _md_table(roi_table(cmp, i)) + "</section>")
    data = {
        "width": img.get("width"), "height": img.get("height"),
        "pictures": pictures,
        "rois": [{k: int(r[k]) for k in ("x", "y", "w", "h")} for r in cmp.rois],
    }
    return {
        "title": _e(title),
        "viewer_hint": VIEWER_HINT if len(pictures) > 1 and cmp.rois else "",
        "summary": _summary(cmp, notes),
        "results": _results_table(cmp),
        "missing": _missing(cmp),
        "overview": _overview(cmp, pictures) if original is not None else "",
        "rois": "\n".join(rois_html),
        "montage": ('<figure><img src="img/montage.png" alt="ROI montage"><figcaption>One row '
                    "per region: the original, then each codec at its matched "
                    f"{'quality' if cmp.settings.get('match') else 'rate'}; crops "
                    "enlarged with nearest-neighbour.</figcaption></figure>"
                    if has_montage else ""),
        "truth": _truth(cmp),
        "provenance": _provenance(cmp),
        "data": data_json(data),
    }


#: The viewers' keys, shown only where the page has viewers.
VIEWER_HINT = (
    '<p class="hint">Viewer keys (click a viewer first): <kbd>←</kbd>/<kbd>→</kbd> or\n'
    "<kbd>j</kbd>/<kbd>k</kbd> previous/next codec, <kbd>f</kbd> flip between the original "
    "and\nthe codec, <kbd>s</kbd> back to the split, <kbd>+</kbd>/<kbd>-</kbd> zoom, "
    "<kbd>0</kbd> back\nto the region. Drag to pan,\nwheel to zoom; every pane of a viewer "
    "shows the same spot.</p>")


def _at(cmp: Comparison) -> str:
    """What the codecs were matched at: a rate, or (``compare --match``) a quality."""
    match = cmp.settings.get("match")
    if match:
        return f"matched at {match['metric']} = {match['value']:g}"
    return f"at {cmp.target_bpp:g} bpp"


def _summary(cmp: Comparison, notes: list[str]) -> str:
    from codeccmp.render.report import NO_JUMP_CHECK, codecs_text

    img, s = cmp.image, cmp.settings
    match = s.get("match")
    target = (
        f"Matched at equal quality: {_e(match['metric'])} = {match['value']:g} (tolerance "
        f"±{match['tolerance']:g}); each codec's parameter searched on its decoded "
        "reconstruction, and the rates compared" if match else
        f"Target {cmp.target_bpp:g} bpp (tolerance ±{cmp.tolerance:.0%})")
    items = [
        f"Image <code>{_e(img.get('path'))}</code>, {img.get('width')}×{img.get('height')} "
        f"{_e(img.get('mode', ''))}",
        f"{target}; bpp counts every byte of each bitstream",
        f"Device for learned codecs: {_e(s.get('device', 'auto'))}; codecs: "
        + _e(codecs_text(cmp)),
    ]
    if s.get("jump_check") is False:
        items.append(_e(NO_JUMP_CHECK))
    items += [f"Note: {_e(n)}" for n in [*img.get("notes", []), *notes]]
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


#: (header, attribute of a result, number format) of the numeric columns
_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("bpp", "bpp", ".4f"), ("Δ target", "deviation", "+.1%"), ("PSNR dB", "psnr", ".2f"),
    ("MS-SSIM", "ms_ssim", ".4f"), ("MS-SSIM dB", "ms_ssim_db", ".2f"),
)


def _results_table(cmp: Comparison) -> str:
    from codeccmp.model.results import V1_NOTE
    from codeccmp.render.tables import (
        extra_metric_names,
        match_decimals,
        metric_cell,
        param_text,
    )

    has_stripes = any(r.stripes for r in cmp.results)
    match = cmp.settings.get("match")
    extra = extra_metric_names(cmp.results)  # the --metrics columns (and the --match one)
    head = [("codec", "text"), ("family", "text"), ("param", "num")]
    head += [(h, "num") for h, _, _ in _COLUMNS] + [(n, "num") for n in extra]
    shares = _share_columns(cmp.results)
    if has_stripes:
        head += [("Δθ ° (ROIs)", "num")] + [(label, "num") for _, label in shares]
    head += [("enc s", "num"), ("dec s", "num"), ("device", "text")]
    rows = []
    for r in cmp.results:
        if not r.ok:
            continue
        cells = [_td(r.codec, f"<code>{_e(r.codec)}</code>"), _td(r.family),
                 _td(r.param, _e(param_text(r)))]
        for _, attr, fmt in _COLUMNS:
            v = getattr(r, attr)
            if attr == "deviation" and match:  # the quality reached minus the one asked for
                got = r.metrics.get(match["metric"])
                v = None if got is None else got - match["value"]
                fmt = f"+.{match_decimals(match.get('tolerance'))}f"
            text = _f(v, fmt)
            if attr == "deviation" and r.within_tolerance is False:
                text += (f' <span class="miss" title="outside the '
                         f'{"quality" if match else "rate"} tolerance">⚠</span>')
            cells.append(_td(v, text))
        cells += [_td(r.metrics.get(n), metric_cell(r.metrics.get(n))) for n in extra]
        if has_stripes:
            d = r.stripes.get("delta_theta_deg")
            cells += [_td(d, _f(d, ".1f"))]
            cells += [_td(r.stripes.get(k), _f(r.stripes.get(k), ".1%")) for k, _ in shares]
        cells += [_td(r.encode_s, _f(r.encode_s, ".3f")), _td(r.decode_s, _f(r.decode_s, ".3f")),
                  _td(r.device or "")]
        cls = ' class="miss"' if r.within_tolerance is False else ""
        rows.append(f"<tr{cls}>{''.join(cells)}</tr>")
    ths = "".join(f'<th data-type="{t}" tabindex="0">{_e(h)}</th>' for h, t in head)
    flagged = [r for r in cmp.results if r.ok and r.within_tolerance is False]
    foot = ""
    if flagged and match:
        foot = (f'<p class="miss">⚠ outside ±{match["tolerance"]:g} of {_e(match["metric"])} = '
                f'{match["value"]:g} (the closest each codec could get): ' + ", ".join(
                    f"<code>{_e(r.codec)}</code> {metric_cell(r.metrics.get(match['metric']))}"
                    for r in flagged) + "</p>")
    elif flagged:
        foot = ('<p class="miss">⚠ outside the rate tolerance (the closest each codec could '
                "get): " + ", ".join(f"<code>{_e(r.codec)}</code> {r.bpp:.3f} bpp"
                                     for r in flagged) + "</p>")
    if has_stripes and not cmp.stripe_classes:
        foot += f"<p>Note: {_e(V1_NOTE)}.</p>"
    codec_notes = [(r.codec, n) for r in cmp.results if r.ok for n in r.notes]
    if codec_notes:
        foot += "<ul>" + "".join(f"<li><code>{_e(c)}</code>: {_e(n)}</li>"
                                 for c, n in codec_notes) + "</ul>"
    # In a box of its own that scrolls sideways: a wide table never widens the page.
    return (f'<div class="scroll"><table class="sortable" id="results-table"><thead><tr>'
            f"{ths}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>{foot}")


#: The stripe pixels' shares the tables show, in this order, with their column labels;
#: other ``*_share`` fields a result carries follow under their own names.
_SHARE_LABELS = {"kept_share": "kept", "flip_share": "turned", "turned_share": "turned",
                 "redrawn_share": "redrawn", "erased_share": "erased"}


def _share_columns(results: list[Any]) -> list[tuple[str, str]]:
    """(field, label) of every share of stripe pixels the results carry (the CLI table's
    turned and erased; kept/turned/redrawn/erased where the analysis gives the four)."""
    keys = {k for r in results if r.ok for k, v in r.stripes.items()
            if k.endswith("_share") and (v is None or isinstance(v, (int, float)))}
    known = [k for k in _SHARE_LABELS if k in keys]
    labels = [_SHARE_LABELS[k] for k in known]
    if "flip_share" in known and "turned_share" in known:  # one "turned" column
        known.remove("flip_share")
        labels.remove("turned")
    others = sorted(keys - set(_SHARE_LABELS))
    return list(zip(known, labels, strict=True)) + [(k, k[:-len("_share")]) for k in others]


def _missing(cmp: Comparison) -> str:
    missing = [r for r in cmp.results if not r.ok]
    if not missing:
        return ""
    return ("<p>Not in the table:</p><ul>" + "".join(
        f"<li><code>{_e(r.codec)}</code>: {_e(r.status)}: {_e(r.reason or '')}</li>"
        for r in missing) + "</ul>")


def _overview(cmp: Comparison, pictures: list[dict[str, Any]]) -> str:
    w, h = cmp.image.get("width") or 1, cmp.image.get("height") or 1
    boxes = "".join(
        f'<a class="roi-box" href="#roi-{i + 1}" data-roi="{i}" title="ROI {i + 1}" '
        f'style="left:{100 * r["x"] / w:.4f}%;top:{100 * r["y"] / h:.4f}%;'
        f'width:{100 * r["w"] / w:.4f}%;height:{100 * r["h"] / h:.4f}%">{i + 1}</a>'
        for i, r in enumerate(cmp.rois))
    k = max(1, 320 // max(w, h))  # enlarge a tiny image (whole pixels) so its ROIs can be hit
    # The box is as wide as the picture at every window width (the CSS caps both together),
    # so the regions, placed in percent of the box, land on the picture's pixels.
    return (f'<div class="overview" style="width:{k * w}px"><img src="{pictures[0]["src"]}" '
            f'alt="the original, ROIs outlined" width="{k * w}" height="{k * h}">{boxes}</div>')


def _truth(cmp: Comparison) -> str:
    from codeccmp.render.report import truth_markdown

    md = truth_markdown(cmp)
    return "" if md is None else "<h2>Orientation against the chart's ground truth</h2>" + \
        _md_table(md)


def _provenance(cmp: Comparison) -> str:
    env = cmp.environment
    items = [f"Python {_e(env.get('python', '?'))} on {_e(env.get('platform', '?'))}"]
    versions = env.get("versions", {})
    if versions:
        items.append("Versions: " + _e(", ".join(f"{k} {v}" for k, v in versions.items())))
    items.append(f"Created {_e(cmp.created)}; image sha256 "
                 f"<code>{_e(cmp.image.get('sha256', ''))}</code>")
    rows = "".join(
        f"<tr><td><code>{_e(r.codec)}</code></td>"
        f"<td>{_e(', '.join(f'{k} {v}' for k, v in r.library.items()))}</td>"
        f"<td>{_e(r.device or '')}</td><td>{_settings(r)}</td></tr>"
        for r in cmp.results if r.ok)
    return ("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
            '<div class="scroll"><table><thead><tr><th>codec</th><th>library</th>'
            "<th>device</th><th>settings</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></div>")


def _settings(r: CodecResult) -> str:
    return "<br>".join(f"{_e(k)}=<code>{_e(v)}</code>" for k, v in r.settings.items())


def _tile_label(r: CodecResult) -> str:
    return f"{r.codec}  {_f(r.bpp, '.3f')} bpp  MS-SSIM {_f(r.ms_ssim, '.4f')}"


def _td(value: Any, text: str | None = None) -> str:
    """A cell whose sort key is the raw value (numbers sort as numbers, blanks last)."""
    key = "" if value is None or (isinstance(value, float) and not math.isfinite(value)) \
        else value
    shown = _e(value if value is not None else "") if text is None else text
    return f'<td data-v="{_e(key)}">{shown}</td>'


def _f(v: Any, fmt: str, missing: str = "–") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return missing
    return format(v, fmt)


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _md_inline(text: str) -> str:
    """The findings' markdown is plain text with `code` spans; that much, rendered."""
    return re.sub(r"`([^`]*)`", r"<code>\1</code>", _e(text))


def _md_table(md: str) -> str:
    """A GitHub-flavoured table written by ``render.report`` as an HTML table."""
    lines = [ln for ln in md.splitlines() if ln.startswith("|")]
    if len(lines) < 2:
        return ""

    def cells(line: str) -> list[str]:
        parts = re.split(r"(?<!\\)\|", line.strip()[1:-1])
        return [_md_inline(p.strip().replace("\\|", "|")) for p in parts]

    head = "".join(f"<th>{c}</th>" for c in cells(lines[0]))
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in cells(ln)) + "</tr>"
                   for ln in lines[2:])
    return (f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            "</table></div>")


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", name).lstrip(".") or "codec"


def _unique(stem: str, used: set[str]) -> str:
    out, k = stem, 2
    while out in used:
        out, k = f"{stem}-{k}", k + 1
    used.add(out)
    return out

