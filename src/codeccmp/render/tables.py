"""Rich tables for the terminal: the comparison table and the codec, metric and reference
lists."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from codeccmp.model.results import V1_NOTE, CodecResult, Comparison
from codeccmp.pipeline.ratejump import JUMP_PREFIX
from codeccmp.render.fit import Column, add_row, as_text, fitted_table

if TYPE_CHECKING:
    from codeccmp.codec import ParamSpace
    from codeccmp.sweep.average import SweepPoint


def number(value: float | None, fmt: str) -> str:
    """A table cell: a dash for a missing or non-finite value."""
    return "–" if value is None or not math.isfinite(value) else format(value, fmt)


_num = number


def param_text(r: CodecResult) -> str:
    """The rate parameter as a reader should see it.

    A learned checkpoint given without a quality (``--weights CODEC=PATH``) is recorded as
    quality 0; "ckpt" says what that is instead of suggesting a zoo quality.
    """
    if r.param is None:
        return "–"
    if isinstance(r.param, float):
        return f"{r.param:.4g}"
    if r.family == "learned" and r.param == 0:
        return "ckpt"
    return str(r.param)


def space_text(space: ParamSpace, family: str) -> str:
    """A codec's rate parameter for the codec list. A learned codec without a quality ladder
    (``bls2017``, ``lee2019``: no published weights) runs one checkpoint given with
    --weights, recorded as quality 0 (the "ckpt" of :func:`param_text`); "quality ∈ {0}"
    said nothing a user could act on."""
    if family == "learned" and space.kind == "discrete" and tuple(space.values) == (0,):
        return "one checkpoint"
    return space.describe()


_param = param_text


def classes_cell(stripes: dict[str, Any]) -> str:
    """The compact class cell: ``turned / redrawn / erased`` shares of the stripe pixels
    (kept is the rest: the four sum to 100 %). A dash where a class was not measured."""
    if stripes.get("erased_share") is None and stripes.get("turned_share") is None:
        return "–"
    return " / ".join(number(stripes.get(k), ".0%")
                      for k in ("turned_share", "redrawn_share", "erased_share"))


def match_decimals(tolerance: float | None) -> int:
    """Decimals of a --match row's Δ target: one finer than the tolerance's first digit
    (±0.0025 → 4, ±0.25 dB → 2), the same in every row, so the column reads down (two
    significant digits gave -0.0011 above -0.00079)."""
    if not tolerance or not math.isfinite(tolerance) or tolerance <= 0:
        return 4
    return max(0, 1 - math.floor(math.log10(tolerance)))


def results_table(cmp: Comparison, title: str | None = None,
                  hide_skipped: bool = False, width: int | None = None) -> Table:
    """Codec, parameter, bpp and its deviation, quality, timings; flags missed targets.

    ``hide_skipped`` leaves out codecs that could not run here (a default run lists every
    registered codec; without weights the learned ones would fill the table with blanks).
    ``width`` (the terminal's): narrower than the whole table, the least telling columns
    (device, timings, MS-SSIM in dB, the parameter, then Δ target unless a target was
    missed) are left out and named under it, rather than every number cut to "0.30…"
    (:mod:`codeccmp.render.fit`).
    """
    has_stripes = any(r.stripes for r in cmp.results)
    has_truth = any("truth" in r.stripes for r in cmp.results)
    extra = extra_metric_names(cmp.results)
    match = cmp.settings.get("match")
    at = (f"{cmp.target_bpp:g} bpp" if match is None else
          f"{match['metric']} {match['value']:g} (±{match['tolerance']:g})")
    results = [r for r in cmp.results if not (hide_skipped and r.status == "skipped")]
    missed = any(r.ok and r.within_tolerance is False for r in results)
    codec = Column("codec", justify="left", style="bold")
    param = Column("param", drop=3)
    bpp = Column("bpp")
    dev = Column("Δ target", narrow="Δ\ntarget", drop=0 if missed else 2)
    psnr_c = Column("PSNR dB", narrow="PSNR\ndB")
    ms = Column("MS-SSIM")
    ms_db = Column("MS-SSIM dB", narrow="MS-SSIM\ndB", drop=4)
    extras = [Column(n, narrow=n.replace(" ", "\n"), drop=1) for n in extra]
    # "turned", not "flip": FLIP is NVIDIA's metric, which --metrics can add. The classes
    # in one compact cell (kept is the rest).
    stripes = [Column("Δθ °"), Column("turned / redrawn / erased",
                                      narrow="turned /\nredrawn /\nerased")] if has_stripes \
        else []
    truth = [Column("θ vs truth °", narrow="θ vs\ntruth °")] if has_truth else []
    enc, dec = Column("enc s", narrow="enc\ns", drop=5), Column("dec s", narrow="dec\ns", drop=5)
    device = Column("device", justify="left", drop=6)
    columns = [codec, param, bpp, dev, psnr_c, ms, ms_db, *extras, *stripes, *truth, enc,
               dec, device]
    notes = {r.stripes.get("note") for r in cmp.results if r.stripes.get("note")}
    if not cmp.stripe_classes and has_stripes:
        notes.add(V1_NOTE)
    for r in results:
        name = Text(r.codec)
        if r.family == "learned":
            name.stylize("magenta")
        if not r.ok:
            status = Text(r.status, style="yellow" if r.status == "skipped" else "red")
            cells: list[str | Text] = [name, status, *[""] * (len(columns) - 3),
                                       r.device or ""]
            add_row(columns, cells)
            continue
        if match is not None:  # Δ target: the quality reached minus the one asked for
            got = r.metrics.get(match["metric"])
            d = Text("–" if got is None else
                     f"{got - match['value']:+.{match_decimals(match.get('tolerance'))}f}")
        else:
            d = Text(f"{r.deviation:+.1%}" if r.deviation is not None else "–")
        if r.within_tolerance is False:
            d.stylize("bold red")
            d.append(" ⚠")
        cells = [name, _param(r), _num(r.bpp, ".4f"), d, _num(r.psnr, ".2f"),
                 _num(r.ms_ssim, ".4f"), _num(r.ms_ssim_db, ".2f")]
        cells += [metric_cell(r.metrics.get(n)) for n in extra]
        if has_stripes:
            cells += [_num(r.stripes.get("delta_theta_deg"), ".1f"), classes_cell(r.stripes)]
        if has_truth:
            cells += [_num(r.stripes.get("truth", {}).get("mean_abs_error_deg"), ".2f")]
        cells += [_num(r.encode_s, ".3f"), _num(r.decode_s, ".3f"), r.device or ""]
        add_row(columns, cells)
    # The detector found no stripe region: say so under the table.
    return fitted_table(columns, width, title=title or f"{cmp.image.get('path', '')} at {at}",
                        caption="; ".join(sorted(notes)) or None)


def trials_table(cmp: Comparison) -> Table:
    """Every codec's search, trial by trial in the order they ran: parameter, bytes, bpp and
    its distance from the target (or, matching quality, the metric each trial reached); ✓
    marks the trial the codec settled on. What ``--verbose`` shows (the JSON's trials)."""
    match = cmp.settings.get("match")
    return searches_table([(r.codec, r, cmp.target_bpp) for r in cmp.results],
                          None if match is None else match["metric"])


def searches_table(searches: Sequence[tuple[str, CodecResult, float | None]],
                   match_metric: str | None, label: str = "codec") -> Table:
    """The searches of ``(label, result, target bpp)`` rows (see ``trials_table``); a sweep
    labels each with its image, codec and target."""
    t = Table(title="rate search" if match_metric is None
              else f"quality search ({match_metric})", title_justify="default")
    for col, just in ((label, "left"), ("#", "right"), ("param", "right"),
                      ("bytes", "right"), ("bpp", "right")):
        t.add_column(col, justify=just)  # type: ignore[arg-type]
    t.add_column("Δ target" if match_metric is None else match_metric, justify="right")
    t.add_column("chosen")
    for name, r, target in searches:
        if not r.trials:
            continue
        chosen_at = max((i for i, tr in enumerate(r.trials) if tr.get("param") == r.param),
                        default=None)  # the last trial at the chosen parameter
        for i, tr in enumerate(r.trials):
            bpp = tr.get("bpp")
            if match_metric is None:
                dev = (number(bpp / target - 1, "+.1%") if bpp is not None and target
                       else "–")
            else:
                dev = metric_cell(tr.get(match_metric))
            param = tr.get("param")
            t.add_row(Text(name if i == 0 else ""), str(i + 1),
                      "–" if param is None else f"{param:.4g}" if isinstance(param, float)
                      else str(param), str(tr.get("nbytes", "–")), number(bpp, ".4f"), dev,
                      "✓" if i == chosen_at else "")
    return t


def sweep_searches_table(points: Sequence[SweepPoint], stems: Sequence[str],
                         match_metric: str | None) -> Table:
    """``sweep -v``: every rate- or quality-matched point's search, labelled
    ``IMAGE CODEC @ TARGET``."""
    return searches_table(
        [(f"{stems[p.image]} {p.result.codec} @ {p.value:g}"
          + (" bpp" if p.kind == "target" else ""), p.result,
          p.value if p.kind == "target" else None)
         for p in points if p.kind in ("target", "match")], match_metric, label="point")


def metric_cell(value: float | None) -> str:
    """An extra metric's cell: 2 decimals for dB-like values, 4 for values in [0, 10)."""
    if value is None or not math.isfinite(value):
        return number(value, "")
    return format(value, ".2f" if abs(value) >= 10 else ".4f")


#: Metrics every results table already shows as its own columns (PSNR dB, MS-SSIM,
#: MS-SSIM dB): the same functions, so a second column would repeat the same numbers.
SHOWN_METRICS = frozenset({"psnr", "ms-ssim", "ms-ssim-db"})


def extra_metric_names(results: Sequence[CodecResult]) -> list[str]:
    """The ``--metrics`` (and ``--match``) names present in any result, in first-seen
    order, less those the table shows anyway (``SHOWN_METRICS``); JSON and CSV keep all."""
    names: dict[str, None] = {}
    for r in results:
        names.update(dict.fromkeys(n for n in r.metrics if n not in SHOWN_METRICS))
    return list(names)


def problems(results: Sequence[CodecResult], brief_skips: bool = False) -> list[str]:
    """One line per codec that did not produce a result, or missed the target.

    ``brief_skips`` folds the skipped codecs into one line (their reasons are in the JSON
    and in ``codeccmp codecs``), for runs where nobody asked for them by name.
    """
    lines = []
    skipped = [(r.codec, r.reason or "") for r in results if r.status == "skipped"]
    if brief_skips and skipped:
        lines.append(skipped_note(skipped))
    for r in results:
        if brief_skips and r.status == "skipped":
            continue
        if not r.ok:
            lines.append(f"{r.codec}: {r.status}: {r.reason}")
        elif r.within_tolerance is False and r.deviation is None:  # --match: quality missed
            miss = [n for n in r.notes if n.startswith("achieved ")]
            lines.append(f"{r.codec}: {miss[0] if miss else 'quality outside tolerance'} "
                         "(the closest this codec can get)")
        elif r.within_tolerance is False:
            lines.append(f"{r.codec}: achieved {r.bpp:.3f} bpp, {r.deviation:+.0%} from the "
                         "target: outside tolerance (the closest this codec can get)")
        if r.ok:  # the row sits on an encoder's discontinuity (codeccmp.pipeline.ratejump)
            lines += [f"{r.codec}: {n}" for n in r.notes if n.startswith(JUMP_PREFIX)]
    return lines


def _skip_kind(reason: str) -> str:
    """A few words for why a codec was skipped, shared by codecs skipped for one cause."""
    r = reason.lower()
    if "no published weights" in r:
        return "no published weights"
    if "unreachable" in r or ("download of" in r and "failed" in r):
        return "weights not on disk and the download failed"
    if "(offline)" in r or "offline" in r.split(":")[0]:
        return "weights not on disk (offline)"
    if r.startswith("weights missing") or "--weights" in r:
        return "weights missing"
    first = reason.split(";")[0].split(": ")[0].strip()
    return first[:60] or "not usable here"


def skipped_note(skipped: Sequence[tuple[str, str]]) -> str:
    """One line for many skipped codecs (name, reason): how many, which, and why in
    groups; the full reasons are in the JSON and in ``codeccmp codecs``."""
    groups: dict[str, list[str]] = {}
    for name, reason in skipped:
        groups.setdefault(_skip_kind(reason), []).append(name)
    why = "; ".join(f"{len(names)}: {kind}" for kind, names in groups.items())
    names = ", ".join(name for name, _ in skipped)
    return (f"{len(skipped)} codec(s) not usable here, skipped ({why}): {names} "
            "(`codeccmp codecs -v` says where each one's weights are; reasons in --json)")


#: Printed under the codecs table, as a line of its own: as the table's caption it was folded
#: to the table's width, three lines at 42 columns for two codecs on a 140-column terminal.
CODECS_HINT = ("-v adds how each codec is set up, its libraries and plugin, and where a "
               "learned one's weights are")


def codecs_table(rows: Sequence[dict[str, Any]]) -> Table:
    """The codecs, one row each: what a user needs to pick one, and whether it runs here
    (:func:`codec_records` gives everything else, for ``-v``).

    The borders are spaces and the options have a listing of their own
    (:func:`codec_options_table`): at 80 columns, boxed and with an options column, no
    column had room for its longest word, and option names folded mid-word
    ("progressi/ve", "TAppEncode/rStatic" in the "usable here" column) where a user reads
    them to type them into ``--codecs``."""
    t = Table(title="Registered codecs", title_justify="default", title_style="bold",
              box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, collapse_padding=True)
    for col in ("codec", "family", "parameter", "usable here"):
        # A codec's name is typed into --codecs: never folded mid-word; nor a parameter.
        t.add_column(col, no_wrap=col != "usable here", style="bold" if col == "codec" else None)
    for r in rows:
        t.add_row(*as_text(str(r["codec"]), str(r["family"]), str(r["parameter"]),
                           usable_cell(str(r["usable"]))))
    return t


def codec_records(rows: Sequence[dict[str, Any]]) -> list[RenderableType]:
    """``codecs -v``: a block per codec, a field a line (as ``pip show`` does), with its
    description, options, libraries, weights and plugin whole. As columns of one table these
    long texts folded mid-word at any ordinary width ("libjpeg-tur/bo", and a command to
    copy, "models pull bmshj2018-f/actorized")."""
    blocks: list[RenderableType] = []
    for r in rows:
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, style="dim")
        grid.add_column()
        usable = str(r["usable"])
        fields: list[tuple[str, str | Text]] = [
            ("family", str(r["family"])), ("parameter", str(r["parameter"])),
            ("options", _options_text(r.get("options", []))),
            ("usable here", Text(usable, style="green" if usable.startswith("yes")
                                 else "yellow")),
            ("weights", Text(str(r.get("weights") or ""), style="green" if r.get("weights")
                             == "on disk" else "yellow")),
            ("libraries", str(r.get("library") or "")), ("plugin", str(r["plugin"]))]
        for key, value in fields:
            if str(value):
                grid.add_row(*as_text(key, value))
        about = [Text(str(r["description"]))] if r.get("description") else []
        blocks.append(Group(Text(str(r["codec"]), style="bold"),
                            Padding(Group(*about, grid), (0, 0, 0, 2))))
    return blocks


def _options_text(options: Sequence[dict[str, Any]]) -> Text:
    # Spaces around the choices' bars, so that a long list wraps between two choices; a
    # Text, since "[true]" is not markup.
    return Text("\n".join(f"{o['key']}: {str(o['values']).replace('|', ' | ')} "
                          f"[{o['default']}]" for o in options))


def codec_options_table(rows: Sequence[dict[str, Any]]) -> Table | None:
    """The encoder options of the codecs that have any, an option a line: its name, its
    values and its default, as typed into ``--codecs NAME[KEY=VALUE,...]``; ``None`` when
    no listed codec has options."""
    with_options = [r for r in rows if r.get("options")]
    if not with_options:
        return None
    title = "Options: --codecs NAME[KEY=VALUE,...], default in brackets"
    t = Table(title=title, title_justify="default", title_style="bold", box=box.SIMPLE_HEAD,
              show_edge=False, pad_edge=False, collapse_padding=True, show_header=False,
              min_width=len(title))  # the title on one line over a narrow listing
    t.add_column("codec", no_wrap=True, style="bold")
    t.add_column("options")
    for r in with_options:
        t.add_row(*as_text(str(r["codec"]), _options_text(r["options"])))
    return t


def metrics_table(rows: Sequence[dict[str, Any]], verbose: bool = False) -> Table:
    """The metrics, one row each, names whole: what each measures and whether it runs here,
    a reason in a few words (:func:`metric_notes` gives the whole of it, with the fix).
    ``verbose`` adds libraries and plugin; with them and the full reasons in the columns a
    row was three to five lines tall below 160 columns."""
    caption = None if verbose else "-v adds each metric's libraries and plugin"
    t = Table(title="quality metrics (--metrics NAME,...; --match NAME=VALUE)",
              title_justify="default", caption=caption, caption_justify="default")
    t.add_column("metric", no_wrap=True, style="bold")
    t.add_column("better", no_wrap=True)
    t.add_column("usable here", no_wrap=True)
    t.add_column("description")
    if verbose:
        t.add_column("library", overflow="fold")
        t.add_column("plugin", overflow="fold")
    for r in rows:
        row: list[str | Text] = [str(r["metric"]), str(r["better"]),
                                 usable_cell(str(r["usable"])), str(r["description"])]
        if verbose:
            row += [str(r["library"]), str(r["plugin"])]
        t.add_row(*as_text(*row))
    return t


def usable_notes(rows: Sequence[dict[str, Any]], key: str) -> list[str]:
    """The whole reason for each row whose "usable here" cell shows only its first words,
    one line each under the table (they say what to do: where to put weights, what to
    install)."""
    return [f"{r[key]}: {r['usable']}" for r in rows
            if usable_cell(str(r["usable"])).plain != r["usable"]]


def usable_cell(usable: str) -> Text:
    """The "usable here" cell: yes (green), or why not in a few words (yellow) — the first
    words of the reason, before its details ("weights missing: put … in …")."""
    if usable.startswith("yes"):
        return Text(usable, style="green")
    if usable == "after a download":
        return Text(usable, style="yellow")
    short = usable.split(";")[0].split(": ")[0].split(" (")[0].strip()[:40]
    return Text(short or "not usable here", style="yellow")


def references_tables(rows: Sequence[dict[str, Any]], default_dataset: str,
                      verbose: bool = False) -> list[Table]:
    """The published curves, a table per data set and a line per curve.

    A line stays one line on an 80-column terminal: the id (typed into ``--reference``) is
    never folded, and the borders are spaces. Each curve's source and device, which folded
    every column to a few letters below 120 columns, move to ``verbose``; a zoo model's id
    says its device already (``@cpu``; neither: CompressAI's GPU runs; ``@8bit``: the GPU
    run measured on 8-bit decoded images).
    """
    tables = []
    datasets = list(dict.fromkeys(str(r["dataset"]) for r in rows))
    for i, dataset in enumerate(datasets):
        how = "ID" if dataset == default_dataset else f"{dataset}/ID"
        last = i == len(datasets) - 1
        t = Table(title=f"{dataset}: sweep --reference {how}", title_justify="default",
                  title_style="bold", box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False,
                  caption=_REFERENCES_CAPTION + ("" if verbose else _REFERENCES_MORE)
                  if last else None, caption_justify="default")
        t.add_column("id", style="bold", no_wrap=True)
        t.add_column("metrics", no_wrap=True)
        t.add_column("points", justify="right")
        t.add_column("bpp", justify="right", no_wrap=True)
        if verbose:
            t.add_column("source", min_width=16)
        for r in rows:
            if str(r["dataset"]) != dataset:
                continue
            lo, hi = r["bpp_range"]
            cells = [str(r["id"]), " ".join(r["metrics"]), str(r["points"]), f"{lo:.2f}–{hi:.2f}"]
            if verbose:
                source = [str(r["source"])]
                source += [f"on {r['device']}"] if r["device"] else []
                source += ["measured on 8-bit decoded images"] if r["decoded"] == "8bit" else []
                cells.append(", ".join(source))
            t.add_row(*as_text(*cells))
        tables.append(t)
    return tables


_REFERENCES_CAPTION = (
    "From CompressAI's results/ at commit 869a9f5 (its LICENSE ships with them); each curve is "
    "a mean over the data set's images per quality. compressai-*: CompressAI's zoo models on "
    "a GPU, @cpu on the CPU, @8bit measured on 8-bit decoded images. --reference FILE.json "
    "takes any other curve.")
_REFERENCES_MORE = " -v adds where each curve comes from."
