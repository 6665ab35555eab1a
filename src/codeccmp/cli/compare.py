"""`codeccmp compare`: every codec on one image at the same bitrate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.cli.options import (
    CodecConfigOpt,
    CodecsOpt,
    DeviceOpt,
    JumpCheckOpt,
    MetricsOpt,
    OfflineOpt,
    PluginOpt,
    RoiCountOpt,
    WeightsDirOpt,
    WeightsOpt,
)
from codeccmp.errors import UsageError


@app.command("compare")
def compare_command(
    image: Annotated[Path, typer.Argument(
        metavar="IMAGE",
        help="Image to code (PNG, JPEG, TIFF, BMP, PPM/PGM; '-': standard input).")],
    bpp: Annotated[float | None, typer.Option(
        "--bpp", help="Target rate in bits per pixel (or give --match).")] = None,
    codecs: CodecsOpt = None,
    tolerance: Annotated[float, typer.Option(
        help="Flag codecs whose achieved bpp deviates more than this fraction.")] = 0.10,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Write all results and provenance as JSON ('-': standard output, the "
                       "table then on stderr).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for each reconstruction (PNG) and bitstream.")] = None,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    plugin: PluginOpt = None,
    codec_config: CodecConfigOpt = None,
    device: DeviceOpt = "auto",
    weights: WeightsOpt = None,
    weights_dir: WeightsDirOpt = None,
    offline: OfflineOpt = False,
    roi: Annotated[list[str] | None, typer.Option(
        metavar="X,Y,W,H",
        help="Stripe region x,y,w,h (repeatable); 'auto' finds them (default); 'none' skips "
             "the stripe analysis.")] = None,
    roi_count: RoiCountOpt = 3,
    jump_check: JumpCheckOpt = True,
    truth: Annotated[Path | None, typer.Option(
        help="Ground-truth orientation map of a chart (default: IMAGE's sibling .json if it "
             "is one, as for samples/stripes.png).")] = None,
    montage: Annotated[Path | None, typer.Option(
        help="Write the ROI montage PNG here (default: montage.png inside --out).")] = None,
    report: Annotated[Path | None, typer.Option(
        help="Write a markdown report with its images into this directory.")] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write an HTML report folder (viewer with zoom and split) here.")] = None,
    metrics: MetricsOpt = None,
    match: Annotated[str | None, typer.Option(
        "--match", help="Match quality instead of rate: METRIC=VALUE (e.g. ms-ssim=0.95, "
                        "psnr=30); each codec's parameter closest to it, rates compared.")
    ] = None,
    match_tolerance: Annotated[float | None, typer.Option(
        help="Flag codecs whose quality misses the --match value by more than this (metric "
             "units; default 0.25 dB for PSNR, 0.0025 for MS-SSIM, 1 % otherwise).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also show each codec's search on stderr: every trial's "
                                "parameter, bytes, bpp and distance from the target.")] = False,
) -> int:
    """Code IMAGE with every codec at the bitrate closest to --bpp and compare the results."""
    from codeccmp.cli.options import (
        check_roi_count,
        check_weights_codecs,
        parse_codec_list,
        plugin_sources,
        run_settings,
    )
    from codeccmp.model.images import load_image
    from codeccmp.pipeline.compare import CompareOptions, compare_image, select_codecs, validate_bpp
    from codeccmp.plugins import load_registry

    if (bpp is None) == (match is None):
        raise UsageError("give either --bpp (equal rate) or --match METRIC=VALUE "
                         "(equal quality)")
    if bpp is not None:
        validate_bpp(bpp)
    if not 0 < tolerance < 1:
        raise UsageError(f"--tolerance must be between 0 and 1, got {tolerance:g}")
    names = parse_codec_list(codecs)
    settings = run_settings(device, weights, weights_dir, offline)
    registry = load_registry(plugin_sources(plugin, codec_config))
    selected = select_codecs(registry, names)  # unknown names fail here, before any work
    check_weights_codecs(settings, selected, registry)
    from codeccmp.plugins import load_metrics, parse_metric_list

    metric_registry = load_metrics(pm=registry.pm)
    chosen = metric_registry.select(parse_metric_list(metrics))
    target = None
    if match is not None:
        from codeccmp.pipeline.qualitymatch import parse_match

        target = parse_match(match, metric_registry.get, match_tolerance)
        chosen = [m for m in chosen if m.name != target.metric.name]  # measured already
    rois = parse_rois(roi)
    if rois is None and montage is not None:
        raise UsageError(NO_MONTAGE)
    check_roi_count(roi_count)
    outputs = _plan_outputs(selected, force, json_path, out, report, montage, rois)
    if montage is None and out is not None and rois is not None:
        montage = out / "montage.png"
    if html is not None:
        if any(d is not None and d.resolve() == html.resolve() for d in (out, report)):
            raise UsageError(f"--html {html} must be a folder of its own (not --out/--report)")
        outputs.add_tree(html, "--html")
    src = load_image(image)
    from codeccmp.stripes.truth import load_truth

    options = CompareOptions(target_bpp=bpp or 0.0, match=target, codecs=names,
                             tolerance=tolerance,
                             settings=settings, rois=rois, roi_count=roi_count,
                             truth=load_truth(image, truth), metrics=chosen,
                             jump_check=jump_check,
                             # Reconstructions only for the files that show them.
                             keep_outputs=out is not None or report is not None
                             or montage is not None or html is not None)

    with _progress(quiet, len(selected), explicit=names is not None) as progress:
        result = compare_image(src, registry, options, progress=progress)

    from codeccmp.model.fileio import atomic_write_text, is_stdout

    # --verbose: on stderr, like any log (standard output keeps the table or the JSON), and
    # before the table it explains.
    if verbose:
        from codeccmp.render.console import stdout_console
        from codeccmp.render.tables import trials_table

        stdout_console(stderr=True).print(trials_table(result))

    # ``--json -`` (or ``--montage -``): standard output holds exactly that document; the
    # table goes to stderr.
    _render(result, src.notes, explicit=names is not None,
            to_stderr=is_stdout(json_path) or is_stdout(montage))
    written: list[str] = []
    with outputs:  # every file staged, then moved into place together (or none of them)
        # Where each result's files are, as its JSON records them: absolute paths in a --json
        # (it may be read from anywhere: `codeccmp report` finds the files by them), the
        # --out folder's where given, else the report's; relative ones inside the report's
        # own results.json, so that the folder can be moved whole.
        saved = _save_outputs(result, out) if out is not None else {}
        if report is not None:
            from codeccmp.render.report import write_report

            in_report = _save_outputs(result, report / "recon")
            _record_outputs(result, {c: {k: str(Path(v).relative_to(report.resolve()))
                                         for k, v in o.items()}
                                     for c, o in in_report.items()})
            atomic_write_text(report / "results.json", result.to_json())
            path = write_report(result, report, src.pixels,
                                {r.codec: r.reconstruction for r in result.results
                                 if r.ok and r.reconstruction is not None})
            written.append(f"report: {path}")
            saved = saved or in_report
        _record_outputs(result, saved)
        if montage is not None and result.rois:
            from codeccmp.render.report import write_montage

            write_montage(result, src.pixels, {r.codec: r.reconstruction
                                               for r in result.results
                                               if r.ok and r.reconstruction is not None},
                          montage)
            written.append(f"montage: {montage}")
        if json_path is not None:
            atomic_write_text(json_path, result.to_json())
        if html is not None:  # staged whole, moved into place with the files
            from codeccmp.render.html import write_html

            page = write_html(result, html, src.pixels,
                              {r.codec: r.reconstruction for r in result.results
                               if r.ok and r.reconstruction is not None}, force=force)
            written.append(f"html: {page}")
    for line in written:
        typer.echo(line, err=True)
    if names is not None:
        return 0 if all(r.ok for r in result.results) else 1
    return 1 if any(r.status == "failed" for r in result.results) else 0


def _plan_outputs(selected, force: bool, json_path: Path | None, out: Path | None,  # noqa: ANN001
                  report: Path | None, montage: Path | None, rois):  # noqa: ANN001, ANN202
    """Every file compare may write, checked now (before any coding): an
    :class:`~codeccmp.model.fileio.Outputs` that writes them together at the end."""
    from codeccmp.model.fileio import Outputs

    outputs = Outputs(force)
    if json_path is not None:
        outputs.add_file(json_path, "--json")
    if out is not None:
        outputs.add_dir(out, "--out")
        for c in selected:
            for name in (f"{c.name}.png", f"{c.name}.{c.extension}"):
                outputs.add_file(out / name, "--out")
        if montage is None and rois is not None:
            outputs.add_file(out / "montage.png", "--out")
    if montage is not None:
        outputs.add_file(montage, "--montage")
    if report is not None:
        outputs.add_dir(report, "--report")
        for name in ("report.md", "results.json", "montage.png"):
            outputs.add_file(report / name, "--report")
        for c in selected:
            for ext in ("png", c.extension):
                outputs.add_file(report / "recon" / f"{c.name}.{ext}", "--report")
    return outputs


def _render(result, notes: list[str], explicit: bool,  # noqa: ANN001 - Comparison
            to_stderr: bool = False) -> None:
    from codeccmp.render.console import labelled, stderr_console, stdout_console
    from codeccmp.render.tables import problems, results_table

    err = stderr_console()
    console = stdout_console(stderr=True) if to_stderr else stdout_console()
    for n in notes:
        err.print(labelled("warning:", n), highlight=False)
    console.print(results_table(result, hide_skipped=not explicit, width=console.width))
    console.file.flush()  # keep the notes below the table when both streams go to one place
    for line in problems(result.results, brief_skips=not explicit):
        err.print(labelled("note:", line), highlight=False)


def _save_outputs(result, out: Path) -> dict[str, dict[str, str]]:  # noqa: ANN001
    """Each reconstruction as PNG and each bitstream as written, in ``out``: their paths
    (``out``'s own, resolved), by codec."""
    from codeccmp.model.fileio import atomic_write_bytes
    from codeccmp.model.images import save_png

    saved: dict[str, dict[str, str]] = {}
    for r in result.results:
        if r.ok and r.reconstruction is not None and r.bitstream is not None:
            png, bits = out / f"{r.codec}.png", out / f"{r.codec}.{r.extension}"
            save_png(r.reconstruction, png)
            atomic_write_bytes(bits, r.bitstream)
            saved[r.codec] = {"reconstruction": str(png.resolve()),
                              "bitstream": str(bits.resolve())}
    return saved


def _record_outputs(result, saved: dict[str, dict[str, str]]) -> None:  # noqa: ANN001
    for r in result.results:
        if r.codec in saved:
            r.outputs = dict(saved[r.codec])


#: ``--montage`` with ``--roi none``: refused before any work (it used to write nothing, and
#: say nothing).
NO_MONTAGE = "--montage shows the stripe regions, and --roi none asks for none"
#: The results' ``stripe_regions`` when ``--roi none`` skipped the stripe analysis.
NOT_MEASURED = "not measured (--roi none)"


def parse_rois(values: list[str] | None):  # noqa: ANN201 - list[Roi] | str | None
    """``--roi`` values: nothing or 'auto' → detect; 'none' → no stripe analysis."""
    from codeccmp.stripes import Roi

    if not values or values == ["auto"]:
        return "auto"
    if values == ["none"]:
        return None
    if "auto" in values or "none" in values:
        raise UsageError("--roi auto and --roi none cannot be combined with explicit ROIs")
    return [Roi.parse(v) for v in values]


class _progress:
    """Progress on stderr: a rich display naming the codec that runs and its last trial
    when stderr is a terminal; otherwise (a log, a pipe, a batch job) one plain line per
    codec as it finishes, so that a long run shows it is alive."""

    def __init__(self, quiet: bool, total: int, explicit: bool = True) -> None:
        # Codecs nobody named that cannot run here are summed up in one note after the
        # table; a line each for them would bury the codecs that ran.
        self.quiet, self.total, self.explicit = quiet, total, explicit
        self.bar = None
        self.started: dict[str, float] = {}
        self.coded: set[str] = set()

    def __enter__(self):  # noqa: ANN204
        if self.quiet:
            return None
        import sys

        if not sys.stderr.isatty():
            return self.line
        from rich.console import Console
        from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn

        # The description names the codec as given (``jpeg[optimize=false]``): not markup.
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                            BarColumn(), TextColumn("{task.completed}/{task.total}"),
                            console=Console(stderr=True, emoji=False), transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("starting", total=self.total)
        return self.update

    def update(self, codec: str, event: str, detail) -> None:  # noqa: ANN001
        assert self.bar is not None
        if event == "start":
            self.bar.update(self.task, description=f"{codec}: rate search")
        elif event == "trial":
            self.bar.update(self.task,
                            description=f"{codec}: {detail.param:g} → {detail.bpp:.3f} bpp")
        elif event == "coded":
            self.bar.update(self.task, description=f"{codec}: decoding, measuring")
        elif event == "done":
            self.bar.advance(self.task)

    def line(self, codec: str, event: str, detail) -> None:  # noqa: ANN001
        """The line once a codec has coded (``coded``: on a large image its decode and
        measurements come after every other codec's coding), or, for a codec that never
        coded, once it is done; a failure after coding gets a line of its own."""
        import sys
        import time

        if event == "start":
            self.started[codec] = time.perf_counter()
        elif event == "coded":
            seconds = time.perf_counter() - self.started.pop(codec, time.perf_counter())
            self.coded.add(codec)
            print(progress_line(detail, seconds), file=sys.stderr, flush=True)
        elif event == "done":
            if codec in self.coded:
                self.coded.discard(codec)
                if detail.status == "failed":
                    print(f"{codec}: failed after coding ({detail.reason})", file=sys.stderr,
                          flush=True)
                return
            seconds = time.perf_counter() - self.started.pop(codec, time.perf_counter())
            if detail.status == "skipped" and not self.explicit:
                return
            print(progress_line(detail, seconds), file=sys.stderr, flush=True)

    def __exit__(self, *exc) -> None:  # noqa: ANN002
        if self.bar is not None:
            self.bar.__exit__(*exc)


def progress_line(res, seconds: float) -> str:  # noqa: ANN001 - CodecResult
    """``jpeg: 0.301 bpp (quality 10), 3 encodes, 1.2 s`` once a codec has coded; the
    reason when it was skipped or failed. The parameter reads as in the results table
    (a learned checkpoint given without a quality is ``ckpt``, not "quality 0")."""
    from codeccmp.render.tables import param_text

    if res.status == "skipped":
        return f"{res.codec}: skipped ({res.reason})"
    if res.bpp is None:
        return f"{res.codec}: failed after {seconds:.1f} s ({res.reason})"
    n = len(res.trials)
    label = param_text(res)
    param = label if label == "ckpt" else f"{res.param_name or 'param'} {label}"
    return (f"{res.codec}: {res.bpp:.3f} bpp ({param}), {n} encode{'s' if n != 1 else ''}, "
            f"{seconds:.1f} s")
