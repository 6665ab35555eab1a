"""The HTML page of a sweep: RD curves, the BD table, every point, provenance.

Built from the sweep's JSON (``codeccmp sweep --json``, schema ``codeccmp-sweep/2``, or 1), not
from the sweep's in-memory objects, so the page depends only on the file format and can be
made again later with ``codeccmp report sweep.json --html DIR``. A sweep keeps no
reconstructions, so there is no image viewer here; ``compare --html`` has one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from codeccmp.errors import UsageError
from codeccmp.render.html import (
    _e,
    _f,
    _td,
    data_json,
    fill_template,
    write_folder,
)

SCHEMA = "codeccmp-sweep/2"
#: Sweep files this page reads: schema 1 has no stripe classes (their cells stay empty).
SCHEMAS = ("codeccmp-sweep/1", SCHEMA)


def is_sweep(data: Any) -> bool:
    return isinstance(data, dict) and data.get("schema") in SCHEMAS


def write_sweep_html(data: dict[str, Any], out_dir: Path, force: bool = False) -> Path:
    """Write the sweep's report folder atomically; returns the path of its ``index.html``."""
    if not is_sweep(data):
        raise UsageError(f"not a codeccmp sweep results file (schema {SCHEMA})")
    try:
        fields = _fields(data)
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"not a codeccmp sweep results file (missing or bad {exc})") from None

    def fill(stage: Path) -> None:
        from codeccmp.render.plots import plot_curves

        plot_curves(_series(data), stage / "rd.svg", _title(data))
        (stage / "sweep.json").write_text(json.dumps(data, indent=2, allow_nan=False) + "\n",
                                          encoding="utf-8")
        (stage / "index.html").write_text(fill_template("sweep.html", fields), encoding="utf-8")

    return write_folder(out_dir, force, fill)


def _title(data: dict[str, Any]) -> str:
    images = data["images"]
    return (Path(str(images[0].get("path", ""))).name if len(images) == 1
            else f"mean over {len(images)} images")


def _series(data: dict[str, Any]) -> list:
    """The curves the CLI's ``--plot`` draws: complete averaged points only."""
    from codeccmp.render.plots import Series, pct_sum

    out = []
    for c in data["codecs"]:
        pts = [{**{k: a.get(k) for k in ("bpp", "psnr", "ms_ssim_db", "delta_theta_deg")},
                "moved_share": pct_sum(a.get("turned_share"), a.get("redrawn_share")),
                "erased_share": pct_sum(a.get("erased_share"))}
               for a in data["averaged"] if a["codec"] == c["name"] and a.get("bpp") is not None
               and a.get("n") == a.get("n_images") and a.get("n")]
        if pts:
            out.append(Series(c["name"], c["family"], pts, anchor=c["name"] == data.get("anchor")))
    return out


def _fields(data: dict[str, Any]) -> dict[str, str]:
    title = f"Sweep: {_title(data)}"
    n_img = len(data["images"])
    match = _match(data)
    targets = ", ".join(f"{t:g}" for t in data["targets"])
    items = [
        "Images: " + ", ".join(f"<code>{_e(i.get('path'))}</code>" for i in data["images"]),
        (f"Matched at equal quality: {_e(match['metric'])} = {targets} (tolerance "
         f"±{match['tolerance']:g}); each codec's parameter searched on its decoded "
         "reconstruction" if match else
         f"Targets: {targets} bpp (tolerance ±{data.get('tolerance', 0.1):.0%})"),
        "Codecs: " + ", ".join(f"<code>{_e(c['name'])}</code> ({_e(c['family'])})"
                               for c in data["codecs"]),
    ]
    if n_img > 1:
        items.append("Curves are means over the images; a point some image missed is shown "
                     "but left out of the curves and BD numbers.")
    return {
        "title": _e(title),
        "summary": "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>",
        "bd": _bd(data),
        "averaged": _averaged(data, n_img),
        "points": _points(data) if n_img > 1 else "",
        "provenance": _provenance(data),
        "data": data_json({"pictures": [], "rois": []}),
    }


def _match(data: dict[str, Any]) -> dict[str, Any] | None:
    """``settings.match`` of a ``sweep --match`` (targets are then values of that metric)."""
    return (data.get("settings") or {}).get("match") or None


def _extra(rows: list[dict[str, Any]]) -> list[str]:
    """The ``--metrics`` names in these rows' ``metrics``, in first-seen order."""
    return list(dict.fromkeys(n for r in rows for n in (r.get("metrics") or {})))


def _averaged(data: dict[str, Any], n_img: int) -> str:
    from codeccmp.render.tables import classes_cell, metric_cell

    has_dtheta = any(a.get("delta_theta_deg") is not None for a in data["averaged"])
    match, extra = _match(data), _extra(data["averaged"])
    head = [("codec", "text"), (f"target {match['metric']}" if match else "target", "num"),
            ("bpp", "num"), ("PSNR dB", "num"), ("MS-SSIM", "num"), ("MS-SSIM dB", "num")]
    head += [(n, "num") for n in extra]
    head += [("Δθ °", "num"), ("turned / redrawn / erased", "num")] * has_dtheta
    head += [("images", "num")] * (n_img > 1)
    rows = []
    for a in data["averaged"]:
        target = (f"{a['value']:g}" if a["kind"] in ("target", "match")
                  else f"q={a['value']}")
        miss = a.get("all_within_tolerance") is False
        bpp = _f(a.get("bpp"), ".4f") + (' <span class="miss" title="a point missed its '
                                         'target by more than the tolerance">⚠</span>'
                                         if miss else "")
        cells = [_td(a["codec"], f"<code>{_e(a['codec'])}</code>"), _td(a["value"], target),
                 _td(a.get("bpp"), bpp), _td(a.get("psnr"), _f(a.get("psnr"), ".2f")),
                 _td(a.get("ms_ssim"), _f(a.get("ms_ssim"), ".4f")),
                 _td(a.get("ms_ssim_db"), _f(a.get("ms_ssim_db"), ".2f"))]
        got = a.get("metrics") or {}
        cells += [_td(got.get(n), metric_cell(got.get(n))) for n in extra]
        if has_dtheta:
            lost = [a.get(k) for k in ("turned_share", "redrawn_share", "erased_share")]
            cells += [_td(a.get("delta_theta_deg"), _f(a.get("delta_theta_deg"), ".1f")),
                      _td(None if None in lost else sum(lost), _e(classes_cell(a)))]
        if n_img > 1:
            cells.append(_td(a["n"], f"{a['n']}/{a['n_images']}"))
        rows.append(f'<tr{" class=miss" if miss else ""}>{"".join(cells)}</tr>')
    return _table("averaged-table", head, rows)


#: Column labels of the fixed BD metrics; ``metric:NAME`` keys (``--metrics``) show NAME.
_BD_LABELS = {"psnr": ("PSNR", "dB"), "ms_ssim_db": ("MS-SSIM", "dB")}


def _bd(data: dict[str, Any]) -> str:
    """BD-rate and BD-quality against the anchor for every metric the JSON carries BD
    numbers for: PSNR, MS-SSIM dB and each ``--metrics`` one (``metric:NAME``)."""
    bd, anchor = data.get("bd") or {}, data.get("anchor")
    if not anchor or not bd:
        return "<p>No BD numbers: no anchor codec among those swept (<code>--anchor</code>).</p>"
    keys = [k for k in bd if bd[k]]
    head = [("codec", "text")]
    for k in keys:
        label, unit = _BD_LABELS.get(k, (k.removeprefix("metric:"), ""))
        head += [(f"BD-rate {label}", "num"), (f"BD-{label}" + (f" {unit}" if unit else ""),
                                               "num")]
    head.append(("note", "text"))
    codecs = list(dict.fromkeys(c for k in keys for c in bd[k]))
    rows = []
    for codec in codecs:
        cells = [_td(codec, f"<code>{_e(codec)}</code>")]
        notes = []
        for k in keys:
            r = bd[k].get(codec, {})
            rate, quality = r.get("bd_rate_percent"), r.get("bd_quality")
            cells += [_td(rate, _f(rate, "+.1f") + "%" if rate is not None else "–"),
                      _td(quality, _f(quality, "+.4g" if k.startswith("metric:") else "+.2f"))]
            if r.get("reason") and r["reason"] not in notes:
                notes.append(r["reason"])
        rows.append("<tr>" + "".join(cells) + _td("; ".join(notes)) + "</tr>")
    chosen = [k.removeprefix("metric:") for k in keys if k.startswith("metric:")]
    return (f"<p>Against <code>{_e(anchor)}</code> ({_e(data.get('bd_method', ''))}); a "
            "negative BD-rate means fewer bits for the same quality. BD-quality is in each "
            "metric's own units and sign" + (f" ({_e(', '.join(chosen))} from "
                                             "<code>--metrics</code>)" if chosen else "")
            + ".</p>" + _table("bd-table", head, rows))


def _points(data: dict[str, Any]) -> str:
    head = [("image", "text"), ("codec", "text"), ("target", "num"), ("bpp", "num"),
            ("PSNR dB", "num"), ("MS-SSIM", "num"), ("Δθ °", "num"), ("status", "text")]
    names = [Path(str(i.get("path", ""))).name for i in data["images"]]
    rows = []
    for p in data["points"]:
        r = p["result"]
        d = (r.get("stripes") or {}).get("delta_theta_deg")
        target = (f"{p['value']:g}" if p["kind"] in ("target", "match")
                  else f"q={p['value']}")
        miss = r.get("within_tolerance") is False
        rows.append(f'<tr{" class=miss" if miss else ""}>' + "".join([
            _td(names[p["image"]]), _td(r["codec"], f"<code>{_e(r['codec'])}</code>"),
            _td(p["value"], target),
            _td(r.get("bpp"), _f(r.get("bpp"), ".4f") + (" ⚠" if miss else "")),
            _td(r.get("psnr"), _f(r.get("psnr"), ".2f")),
            _td(r.get("ms_ssim"), _f(r.get("ms_ssim"), ".4f")), _td(d, _f(d, ".1f")),
            _td(r["status"], _e(r["status"] + (f": {r['reason']}" if r.get("reason") else "")))
        ]) + "</tr>")
    return "<h2>Every point</h2>" + _table("points-table", head, rows)


def _provenance(data: dict[str, Any]) -> str:
    env = data.get("environment", {})
    items = [f"Python {_e(env.get('python', '?'))} on {_e(env.get('platform', '?'))}"]
    if env.get("versions"):
        items.append("Versions: " + _e(", ".join(f"{k} {v}"
                                                  for k, v in env["versions"].items())))
    items.append(f"Created {_e(data.get('created', ''))}")
    items += [f"<code>{_e(i.get('path'))}</code> sha256 <code>{_e(i.get('sha256', ''))}</code>"
              for i in data["images"]]
    settings: dict[str, dict[str, Any]] = {}
    for p in data["points"]:
        r = p["result"]
        if r["status"] == "ok" and r["codec"] not in settings:
            settings[r["codec"]] = r
    rows = "".join(
        f"<tr><td><code>{_e(c)}</code></td>"
        f"<td>{_e(', '.join(f'{k} {v}' for k, v in r.get('library', {}).items()))}</td>"
        f"<td>{_e(r.get('device') or '')}</td><td>"
        + "<br>".join(f"{_e(k)}=<code>{_e(v)}</code>" for k, v in r.get("settings", {}).items())
        + "</td></tr>" for c, r in settings.items())
    return ("<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"
            "<p>Settings of each codec's first point:</p>"
            '<div class="scroll"><table><thead><tr><th>codec</th><th>library</th>'
            "<th>device</th><th>settings</th>"
            f"</tr></thead><tbody>{rows}</tbody></table></div>")


def _table(ident: str, head: list[tuple[str, str]], rows: list[str]) -> str:
    ths = "".join(f'<th data-type="{t}" tabindex="0">{_e(h)}</th>' for h, t in head)
    return (f'<div class="scroll"><table class="sortable" id="{ident}"><thead><tr>{ths}'
            f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
