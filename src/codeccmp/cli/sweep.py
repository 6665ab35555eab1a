"""`codeccmp sweep`: RD curves of every codec over many rates and over a folder of images."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from codeccmp.cli.app import app
from codeccmp.cli.complete import metric_completions
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

if TYPE_CHECKING:

    from codeccmp.sweep.runner import SweepResult

#: File types ``--plot`` can write (matplotlib picks the format from the suffix).
PLOT_SUFFIXES = (".png", ".pdf", ".svg")
#: The anchor when none is given, if it is among the codecs swept.
DEFAULT_ANCHOR = "jpeg2000"


@app.command("sweep")
def sweep_command(
    image: Annotated[Path, typer.Argument(
        metavar="IMAGE",
        help="An image, or a folder whose images are all swept (per-image and averaged); "
             "'-': the image on standard input.")],
    bpp: Annotated[str | None, typer.Option(
        "--bpp", help="Targets in bpp: a list (0.1,0.2,0.3) and/or ranges START:STOP:STEP "
                      "(0.1:0.5:0.1, stop included). Or give --match.")] = None,
    match: Annotated[str | None, typer.Option(
        "--match", help="Targets in quality instead of rate: METRIC=V1,V2,... (e.g. "
                        "ms-ssim=0.9,0.95 or psnr=30:36:2); each codec's parameter closest "
                        "to each value, as compare --match.")] = None,
    match_tolerance: Annotated[float | None, typer.Option(
        help="Flag points whose quality misses the --match value by more than this (metric "
             "units; default per metric, as compare).")] = None,
    codecs: CodecsOpt = None,
    all_qualities: Annotated[bool, typer.Option(
        "--all-qualities", help="Also encode learned models at every quality they have.")
    ] = False,
    anchor: Annotated[str | None, typer.Option(
        help=f"Codec or --reference the BD-rates are measured against (default: "
             f"{DEFAULT_ANCHOR} when swept).")] = None,
    reference: Annotated[list[str] | None, typer.Option(
        metavar="ID", help="A published curve to plot and BD-measure beside the codecs "
             "(repeatable): an id from `codeccmp references` (vtm, bpg, "
             "compressai-mbt2018_ms-ssim, ...), DATASET/ID, or a .json file in CompressAI's "
             "eval_model format.")] = None,
    reference_dataset_check: Annotated[str, typer.Option(
        help="on: refuse a reference unless the images are exactly its data set (Kodak is "
             "recognised by its files); off: compare anyway (recorded in the JSON and plot).")
    ] = "on",
    average: Annotated[str | None, typer.Option(
        help="Average over images per 'target' bpp (each image rate-matched) or per "
             "'quality' (every image at the same fixed codec parameters, as CompressAI's "
             "published curves). Default: quality with --reference, else target.")] = None,
    tolerance: Annotated[float, typer.Option(
        help="Flag points whose achieved bpp deviates more than this fraction.")] = 0.10,
    json_path: Annotated[Path | None, typer.Option(
        "--json", help="Write every point, the averages, BD numbers and provenance as JSON "
                       "('-': standard output, the tables then on stderr).")
    ] = None,
    csv_path: Annotated[Path | None, typer.Option(
        "--csv", help="Write one row per point and per averaged point as CSV ('-': standard "
                      "output).")] = None,
    out: Annotated[Path | None, typer.Option(
        help="Directory for each point's bitstream and reconstruction (PNG), one folder "
             "per image, as compare --out.")] = None,
    compressai_json: Annotated[Path | None, typer.Option(
        "--compressai-json", help="Write the averaged curves into this folder, one file per "
        "codec in CompressAI's eval_model format (python -m compressai.utils.plot reads them)."
    )] = None,
    html: Annotated[Path | None, typer.Option(
        "--html", help="Write the sweep's HTML page here (RD curves, BD table, every point; "
        "opens from disk).")] = None,
    plot: Annotated[Path | None, typer.Option(
        help="Write RD curves (PSNR, MS-SSIM dB, Δθ when measured): .png, .pdf or .svg.")] = None,
    plot_metric: Annotated[list[str] | None, typer.Option(
        autocompletion=metric_completions, metavar="METRIC",
        help="Quality axis of --plot: any registered metric (repeatable, one panel each), "
             "in place of PSNR and MS-SSIM dB; computed as if named in --metrics.")] = None,
    jobs: Annotated[int | None, typer.Option(
        "--jobs", "-j", help="Processes for traditional codecs (default: the CPU cores this "
                           "process may use).")] = None,
    no_cache: Annotated[bool, typer.Option(
        "--no-cache", help="Recompute everything (fresh results still refresh the cache).")
    ] = False,
    cache_dir: Annotated[Path | None, typer.Option(
        help="Result cache (default: $CODECCMP_CACHE_DIR or ~/.cache/codeccmp).")] = None,
    executor: Annotated[str, typer.Option(
        help="local (processes on this machine) or ray (a Ray cluster; codeccmp[ray]).")
    ] = "local",
    ray_address: Annotated[str | None, typer.Option(
        help="Ray cluster to join (default: RAY_ADDRESS, else a local Ray).")] = None,
    device: DeviceOpt = "auto",
    weights: WeightsOpt = None,
    weights_dir: WeightsDirOpt = None,
    offline: OfflineOpt = False,
    plugin: PluginOpt = None,
    codec_config: CodecConfigOpt = None,
    roi: Annotated[list[str] | None, typer.Option(
        metavar="X,Y,W,H", help="Stripe region x,y,w,h (repeatable, the same for every "
             "image); 'auto' finds them in each (default); 'none' skips the stripe analysis.")
    ] = None,
    roi_count: RoiCountOpt = 3,
    jump_check: JumpCheckOpt = True,
    force: Annotated[bool, typer.Option(help="Overwrite existing output files.")] = False,
    metrics: MetricsOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display.")] = False,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Also show every point's search on stderr: each trial's "
                                "parameter, bytes, bpp and distance from the target.")] = False,
) -> int:
    """Run the comparison at every --bpp target, on IMAGE or every image in a folder."""
    from codeccmp.cli.compare import parse_rois
    from codeccmp.cli.options import (
        check_roi_count,
        check_weights_codecs,
        parse_codec_list,
        plugin_sources,
        run_settings,
    )
    from codeccmp.model.fileio import Outputs
    from codeccmp.model.images import load_image
    from codeccmp.pipeline.compare import select_codecs
    from codeccmp.plugins import load_registry
    from codeccmp.references import DATASET_CHECKS, resolve
    from codeccmp.sweep.export import check_export_dir, write_compressai
    from codeccmp.sweep.runner import (
        AVERAGES,
        SweepOptions,
        collect_images,
        parse_targets,
        resolve_anchor,
        run_sweep,
    )

    if (bpp is None) == (match is None):
        raise UsageError("give either --bpp (targets in rate) or --match METRIC=V1,V2 "
                         "(targets in quality)")
    targets = parse_targets(bpp) if bpp is not None else []
    if not 0 < tolerance < 1:
        raise UsageError(f"--tolerance must be between 0 and 1, got {tolerance:g}")
    if jobs is not None and jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if executor not in ("local", "ray"):
        raise UsageError(f"--executor must be local or ray, got {executor!r}")
    if ray_address is not None and executor != "ray":
        raise UsageError("--ray-address needs --executor ray")
    from codeccmp.sweep.cachedir import max_size

    max_size()  # a bad CODECCMP_CACHE_MAX_SIZE fails now, not after the sweep
    if cache_dir is not None and cache_dir.exists() and not cache_dir.is_dir():
        raise UsageError(f"--cache-dir {cache_dir} exists and is not a directory")
    rois = parse_rois(roi)
    check_roi_count(roi_count)
    names = parse_codec_list(codecs)
    settings = run_settings(device, weights, weights_dir, offline)
    registry = load_registry(plugin_sources(plugin, codec_config))
    selected = select_codecs(registry, names)  # unknown names fail here, before any work
    check_weights_codecs(settings, selected, registry)
    from codeccmp.plugins import load_metrics, parse_metric_list

    metric_registry = load_metrics(pm=registry.pm)
    if plot_metric and plot is None:
        raise UsageError("--plot-metric needs --plot")
    plot_metrics = metric_registry.select(plot_metric or [])  # unknown names fail here
    metric_names = [m.name for m in metric_registry.select(
        [*parse_metric_list(metrics), *(m.name for m in plot_metrics)])]  # likewise
    match_metric = None
    if match is not None:
        from codeccmp.sweep.runner import parse_match_targets

        match_metric, targets, match_tolerance = parse_match_targets(
            match, metric_registry.get, match_tolerance)
    selected_names = [c.name for c in selected]
    if reference_dataset_check not in DATASET_CHECKS:
        raise UsageError("--reference-dataset-check must be on or off, got "
                         f"{reference_dataset_check!r}")
    refs = [resolve(r) for r in reference or []]  # unknown ids fail here, before any work
    if average is None:
        average = "quality" if refs else "target"
    if average not in AVERAGES:
        raise UsageError(f"--average must be {' or '.join(AVERAGES)}, got {average!r}")
    if anchor is not None:  # a codec spec counts by its label (avif[speed=02] = avif[speed=2])
        with contextlib.suppress(UsageError):  # not a codec: a reference id, checked below
            anchor = registry.get(anchor).name
    resolve_anchor(anchor, selected_names, [{"name": r.name, "id": r.id, "spec": r.spec}
                                            for r in refs])
    if anchor is None and DEFAULT_ANCHOR in selected_names:
        anchor = DEFAULT_ANCHOR
    outputs = Outputs(force)  # checked now, written together at the end (or not at all)
    for path, opt in ((json_path, "--json"), (csv_path, "--csv")):
        if path is not None:
            outputs.add_file(path, opt)
    if out is not None:
        outputs.add_dir(out, "--out")
    if compressai_json is not None:
        check_export_dir(compressai_json, selected_names, force)
        outputs.add_dir(compressai_json, "--compressai-json")
    if html is not None:
        outputs.add_tree(html, "--html")
    if plot is not None:
        if plot.suffix.lower() not in PLOT_SUFFIXES:
            raise UsageError(f"--plot must end in {', '.join(PLOT_SUFFIXES)}, got {plot.name}")
        outputs.add_file(plot, "--plot")
    files = collect_images(image)
    sources = [load_image(f) for f in files]
    if out is not None:  # the files of the points known now, checked before any coding
        from codeccmp.sweep.outputs import expected_files

        for path in expected_files(out, sources, selected, targets, match_metric,
                                   by_parameter=all_qualities or average == "quality"):
            outputs.add_file(path, "--out")
    options = SweepOptions(
        targets=targets, codecs=names, all_qualities=all_qualities, tolerance=tolerance,
        settings=settings, anchor=anchor, jobs=jobs, cache_read=not no_cache,
        cache_dir=cache_dir, executor=executor,  # type: ignore[arg-type]
        ray_address=ray_address,
        plugin_files=[str(p) for p in plugin_sources(plugin, codec_config)], rois=rois,
        roi_count=roi_count, average=average, references=list(reference or []),  # type: ignore[arg-type]
        reference_dataset_check=reference_dataset_check, metrics=metric_names,
        match_metric=match_metric, match_tolerance=match_tolerance, jump_check=jump_check)

    with _Progress(quiet) as bar:
        result = run_sweep(sources, registry, options, progress=bar.update if bar else None,
                           on_start=bar.start if bar else None)
    from codeccmp.sweep.cache import default_cache_dir
    from codeccmp.sweep.cachedir import max_size, trim

    trim(cache_dir or default_cache_dir(), max_size())  # the cache's size limit

    from codeccmp.model.fileio import is_stdout

    # ``--json -`` or ``--csv -``: standard output holds exactly that document; the tables
    # go to stderr.
    # --verbose: on stderr, like any log (standard output keeps the tables or the document),
    # and before the tables and the run's summary line it explains.
    if verbose:
        from codeccmp.render.console import stdout_console
        from codeccmp.render.tables import sweep_searches_table
        from codeccmp.sweep.outputs import image_stems

        stdout_console(stderr=True).print(
            sweep_searches_table(result.points, image_stems(sources), match_metric))
    _render(result, [f"{s.path}: {n}" for s in sources for n in s.notes] + result.notes,
            explicit=names is not None, to_stderr=is_stdout(json_path) or is_stdout(csv_path))
    with outputs:
        if out is not None:  # first: the JSON then records where each file went
            from codeccmp.sweep.outputs import save_points

            for note in save_points(result, sources, registry, settings, out, cache_dir):
                typer.echo(f"note: {note}", err=True)
        if json_path is not None:
            result.write_json(json_path)
        if csv_path is not None:
            result.write_csv(csv_path)
        if plot is not None:
            from codeccmp.render.plots import metric_panel, plot_sweep

            plot_sweep(result, plot, quality=[metric_panel(m.name, m.label(),
                                                           m.higher_is_better)
                                              for m in plot_metrics])
        if compressai_json is not None:  # staged file by file, like the files above
            write_compressai(result, compressai_json)
        if html is not None:  # staged whole; every output moves into place together
            from codeccmp.render.html.sweep import write_sweep_html

            typer.echo(f"html: {write_sweep_html(result.to_dict(), html, force)}", err=True)
    failed = any(p.result.status == "failed" for p in result.points)
    if names is not None:
        return 0 if all(p.result.ok for p in result.points) else 1
    return 1 if failed else 0


# --------------------------------------------------------------------------- rendering


def unusable_codecs(result: SweepResult) -> dict[str, str]:
    """Codecs skipped at every point (not usable here), with their first reason."""
    out: dict[str, str] = {}
    for c in result.codecs:
        pts = [p.result for p in result.points if p.result.codec == c["name"]]
        if pts and all(r.status == "skipped" for r in pts):
            out[c["name"]] = pts[0].reason or ""
    return out


def _render(result: SweepResult, notes: list[str], explicit: bool = False,
            to_stderr: bool = False) -> None:
    """The tables, then the notes. Codecs not usable here get no rows (they would be all
    dashes) and, unless named with --codecs, one folded note, as in ``compare``."""
    from codeccmp.render.console import labelled, stderr_console, stdout_console
    from codeccmp.render.rd_tables import bd_results_table, rd_points_table
    from codeccmp.render.tables import skipped_note

    console, err = stdout_console(stderr=to_stderr), stderr_console()
    for n in notes:
        err.print(labelled("warning:", n), highlight=False)
    for r in result.references:
        check = {"passed": f"the images are the {r['dataset']} set",
                 "off": f"measured on {r['dataset']}; data-set check off, not verified",
                 }.get(r["dataset_check"], "its data set is unknown: not checked")
        err.print(labelled("reference:", f"{r['label']}: {r['source']} ({check})", "dim"),
                  highlight=False)
    if result.references and result.average == "target" and len(result.images) > 1:
        err.print(labelled("note:", "points are averaged per target bpp; the published "
                           "curves per quality (use --average quality to compare like with "
                           "like)"), highlight=False)
    unusable = unusable_codecs(result)
    console.print(rd_points_table(result, hide=unusable, width=console.width))
    if result.anchor is not None and result.bd and set(result.bd.get("psnr", {})) - set(unusable):
        console.print(bd_results_table(result, hide=unusable, width=console.width))
    console.file.flush()  # keep the notes below the tables when both streams go to one place
    if unusable and not explicit:
        err.print(labelled("note:", skipped_note(list(unusable.items()))), highlight=False)
    seen: set[tuple[str, str]] = set()
    for p in result.points:
        r = p.result
        if r.codec in unusable and not explicit:
            continue
        if not r.ok and (r.codec, r.reason or "") not in seen:
            seen.add((r.codec, r.reason or ""))
            err.print(labelled("note:", f"{r.codec}: {r.status}: {r.reason}"), highlight=False)
    off = [p for p in result.points if p.result.within_tolerance is False]
    if off:
        match = result.settings.get("match")
        by = (f"±{match['tolerance']:g} {match['metric']}" if match
              else f"±{result.tolerance:.0%}")
        err.print(labelled("note:", f"{len(off)} point(s) missed their target by more than "
                           f"{by} (see --json or --csv)"), highlight=False)
    c = result.cache
    # "results" and "run": a job recomputed from cached bitstreams (after a change to the
    # measuring) is neither a cached result nor an encode, and "0 from the cache, 0 encodes"
    # read as a contradiction.
    err.print(f"{c['jobs']} jobs: {c['jobs_cached']} results from the cache, "
              f"{c['encodes']} encodes run, {result.elapsed_s:.1f} s", highlight=False,
              markup=False)


class _Progress:
    """A rich progress bar on stderr over the jobs that are not answered by the cache."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.bar = None
        self.task = None

    def __enter__(self) -> _Progress | None:
        import sys

        if self.quiet or not sys.stderr.isatty():
            # Not a terminal (a log file, a pipe): no bar, which draws nothing there but
            # left an empty line at its stop; the summary line after the tables says what
            # was done.
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        # The job count is set before the first job runs (``start``); rich's own columns
        # show the count, and the time left once a job has finished.
        # The description names the codec as given (``jpeg[optimize=false]``): not markup.
        self.bar = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                            BarColumn(), MofNCompleteColumn(), TextColumn("jobs"),
                            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                            console=Console(stderr=True, emoji=False), transient=True)
        self.bar.__enter__()
        self.task = self.bar.add_task("planning", total=None)
        return self

    def start(self, total: int) -> None:
        assert self.bar is not None
        self.bar.update(self.task, total=total, description="sweeping")

    def update(self, task, outcome) -> None:  # noqa: ANN001 - sweep Task, TaskOutcome
        assert self.bar is not None
        name = Path(task.image.path).name if task.image is not None else ""
        self.bar.update(self.task, advance=len(outcome.outcomes),
                        description=f"{task.codec} on {name}")

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
