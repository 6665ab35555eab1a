"""Sweeps: every codec at many rates, over one image or a folder, as RD curves.

Plain functions and dataclasses, usable without the CLI::

    from codeccmp.model.images import load_image
    from codeccmp.plugins import load_registry
    from codeccmp.sweep.runner import SweepOptions, parse_targets, run_sweep

    res = run_sweep([load_image("kodim01.png")], load_registry(),
                    SweepOptions(targets=parse_targets("0.1:0.5:0.1"), codecs=["jpeg", "webp"]))
    res.write_csv("rd.csv")

A sweep is a set of **jobs**, one per (image, codec, target) — plus, with ``all_qualities``,
one per (image, learned codec, quality), encoded at that quality directly — grouped into
**tasks** of one (image, codec) (:mod:`codeccmp.sweep.tasks`). Tasks go to an executor
(:mod:`codeccmp.sweep.executors`): local processes for traditional codecs while learned models
run in this process on their device, or a Ray cluster. The points are then averaged over
images (:mod:`codeccmp.sweep.average`), BD-measured (:mod:`codeccmp.sweep.bd`) and kept in
a :class:`~codeccmp.sweep.results.SweepResult` (JSON, CSV). This module plans and drives.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

from codeccmp.codec import Codec, CodecUnavailable, RunSettings
from codeccmp.errors import UsageError
from codeccmp.model.images import STDIN, SourceImage
from codeccmp.model.results import CodecResult, environment
from codeccmp.pipeline.compare import image_record, select_codecs, validate_bpp
from codeccmp.pipeline.ratematch import DEFAULT_TOLERANCE
from codeccmp.plugins import CodecRegistry
from codeccmp.stripes.roi import DEFAULT_ROI_COUNT, Roi

# The sweep's parts, re-exported: ``from codeccmp.sweep.runner import ...`` is the public API.
from codeccmp.sweep.average import AveragePoint, SweepPoint, average_points, curve
from codeccmp.sweep.bd import QUALITY_METRICS, bd_per_image, bd_table, mean_bd_rate
from codeccmp.sweep.cache import CacheStats, ResultCache, codec_fingerprint, source_digests
from codeccmp.sweep.executors import make_executor
from codeccmp.sweep.results import SCHEMA, SweepResult
from codeccmp.sweep.tasks import (
    MEASURE_VERSION,
    Job,
    JobKind,
    JobOutcome,
    Task,
    TaskOutcome,
    failed_outcome,
    failed_result,
    measure_fingerprint,
    result_key,
    run_task,
)

__all__ = [
    "MAX_TARGETS", "IMAGE_EXTENSIONS", "MEASURE_VERSION", "QUALITY_METRICS", "SCHEMA",
    "AveragePoint", "Job", "JobKind", "JobOutcome", "SweepOptions", "SweepPoint",
    "SweepResult", "Task", "TaskOutcome", "average_points", "bd_per_image", "bd_table",
    "build_jobs", "collect_images", "curve", "failed_outcome", "failed_result",
    "mean_bd_rate", "measure_fingerprint", "parse_targets", "pinned_params", "resolve_anchor",
    "result_key", "run_sweep", "run_task", "AVERAGES",
]

#: More targets than this is a typo in a range, not a sweep.
MAX_TARGETS = 1000
#: How a sweep averages over images (see :class:`SweepOptions`).
AVERAGES = ("target", "quality")
Average = Literal["target", "quality"]
#: Image files a folder sweep picks up (the extensions CompressAI's evaluation collects).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")


# --------------------------------------------------------------------------- targets


def parse_match_targets(text: str, lookup: Callable[[str], Any],
                        tolerance: float | None = None) -> tuple[str, list[float], float]:
    """``--match ms-ssim=0.9,0.95`` (ranges as for ``--bpp``) → (metric name, sorted values,
    tolerance); each value checked as ``compare --match`` checks its one value."""
    from codeccmp.pipeline.qualitymatch import parse_match

    name, sep, raw = text.partition("=")
    if not sep or not name.strip() or not raw.strip():
        raise UsageError(f"--match {text!r}: expected METRIC=V1,V2,..., e.g. ms-ssim=0.9,0.95")
    values = parse_targets(raw, option="--match", validate=False)
    checked = [parse_match(f"{name}={v!r}", lookup, tolerance) for v in values]
    # One tolerance for the sweep: the given one, else the tightest default of its values.
    tol = min(q.tolerance for q in checked)
    return checked[0].metric.name, values, tol


def parse_targets(text: str, option: str = "--bpp", validate: bool = True) -> list[float]:
    """``"0.1,0.2,0.3"``, ``"0.1:0.5:0.1"`` (stop included) or a mix, into sorted unique bpp.

    Ranges are stepped in decimal arithmetic, so ``0.1:0.5:0.1`` gives exactly the floats
    ``0.1, 0.2, 0.3, 0.4, 0.5`` (repeated float addition would give 0.30000000000000004
    and might drop the stop).
    """
    if not text or not text.strip():
        raise UsageError(f"{option} needs at least one target, e.g. 0.1,0.3 or 0.1:0.5:0.1")
    out: set[float] = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError(f"{option} has an empty item in {text!r}")
        if ":" in item:
            parts = item.split(":")
            if len(parts) != 3:
                raise UsageError(f"{option} range must be START:STOP:STEP, got {item!r}")
            start, stop, step = (_decimal(p, item, option) for p in parts)
            if step <= 0:
                raise UsageError(f"{option} range step must be positive, got {item!r}")
            if start > stop:
                raise UsageError(f"{option} range start is above its stop in {item!r}")
            count = int((stop - start) / step) + 1
            if count > MAX_TARGETS:
                raise UsageError(f"{option} range {item!r} gives {count} targets "
                                 f"(at most {MAX_TARGETS})")
            for k in range(count):
                out.add(float(start + k * step))
        else:
            out.add(float(_decimal(item, item, option)))
        if len(out) > MAX_TARGETS:
            raise UsageError(f"{option} gives more than {MAX_TARGETS} targets")
    if validate:
        for t in out:
            validate_bpp(t)
    return sorted(out)


def _decimal(text: str, item: str, option: str = "--bpp") -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(f"{option} expects numbers, got {text.strip()!r} in {item!r}"
                         ) from None
    if not d.is_finite():
        raise UsageError(f"{option} expects finite numbers, got {item!r}")
    return d


def collect_images(path: str | Path) -> list[Path]:
    """An image file, or the image files directly inside a folder, sorted by name (``-``:
    the image on standard input)."""
    p = Path(path)
    if str(path) == STDIN:
        return [p]
    if not p.exists():
        raise UsageError(f"image or folder not found: {p}")
    if p.is_file():
        return [p]
    files = sorted(f for f in p.iterdir()
                   if f.is_file() and f.suffix.lower() in IMAGE_EXTENSIONS
                   and not f.name.startswith("."))
    if not files:
        raise UsageError(f"no images ({', '.join(IMAGE_EXTENSIONS)}) in folder {p}")
    return files



# --------------------------------------------------------------------------- options


@dataclass
class SweepOptions:
    """Everything a sweep needs besides images and a registry (all plain data)."""

    targets: Sequence[float]
    codecs: Sequence[str] | None = None  # None: every codec usable here
    all_qualities: bool = False
    tolerance: float = DEFAULT_TOLERANCE
    settings: RunSettings = field(default_factory=RunSettings)
    anchor: str | None = None
    bd_method: str = "akima"
    jobs: int | None = None  # worker processes for traditional codecs; None: CPU count
    cache: bool = True  # use the on-disk cache at all
    cache_read: bool = True  # False (--no-cache): recompute, but refresh the cache
    cache_dir: str | Path | None = None
    executor: Literal["local", "ray"] = "local"
    ray_address: str | None = None
    plugin_files: Sequence[str | Path] = ()
    #: Stripe ROIs as for ``compare``: "auto" (detected per image), explicit ROIs (the same
    #: for every image), or None to skip the stripe analysis (and the Δθ curves).
    rois: Sequence[Roi] | str | None = "auto"
    roi_count: int = DEFAULT_ROI_COUNT
    #: How points are averaged over images: per target bpp (each image rate-matched to the
    #: target), or per quality (each codec pinned to fixed parameters on every image, as
    #: CompressAI's published curves are). See docs/sweeps.md.
    average: Average = "target"
    #: Published curves to draw and BD-measure against (ids, DATASET/ID or .json files).
    references: Sequence[str] = ()
    #: "on": a reference needs the sweep's images to be its data set; "off": skip the check.
    reference_dataset_check: str = "on"
    #: Extra metrics by name (``--metrics``); values land in each result's ``metrics``.
    metrics: Sequence[str] = ()
    #: ``--match METRIC=V1,V2``: ``targets`` are then values of this metric, each codec's
    #: parameter searched by decoded quality (as ``compare --match``), within this deviation.
    match_metric: str | None = None
    match_tolerance: float | None = None
    #: Look for strategy switches next to each rate-matched parameter, as ``compare`` does.
    jump_check: bool = True


# --------------------------------------------------------------------------- the run

#: Progress callback: (task just finished, its outcome).
ProgressFn = Callable[[Task, TaskOutcome], None]


def build_jobs(n_images: int, codecs: Sequence[Codec], targets: Sequence[float],
               all_qualities: bool, kind: JobKind = "target") -> list[Job]:
    """Every (image, codec, target) job, and the quality points of learned models.

    Quality points come *first* within a codec: once every quality of a learned model is
    encoded, each rate-matched target is settled from those encodings without a search.
    """
    jobs = []
    for i in range(n_images):
        for c in codecs:
            if all_qualities and c.family == "learned" and c.param_space.kind == "discrete":
                jobs += [Job(i, c.name, "quality", v) for v in sorted(c.param_space.values)]
            jobs += [Job(i, c.name, kind, float(t)) for t in targets]
    return jobs


def resolve_anchor(anchor: str | None, names: Sequence[str],
                   references: Sequence[dict[str, Any]]) -> str | None:
    """The curve ``--anchor`` names: a swept codec first, else a reference (by ``ref:ID``,
    ``ID`` or its spec) — a codec and a reference may share an id (``jpeg``)."""
    if anchor is None or anchor in names:
        return anchor
    for r in references:
        if anchor in (r["name"], r["id"], r["spec"]):
            return str(r["name"])
    refs = [str(r["name"]) for r in references]
    raise UsageError(f"--anchor {anchor!r} is not among the codecs swept "
                     f"({', '.join(names)})" + (f" or the references ({', '.join(refs)})"
                                                 if refs else ""))


def pinned_params(points: Sequence[SweepPoint]) -> dict[str, list[Any]]:
    """Per codec, the fixed parameters a per-quality average encodes every image at.

    One per target: the median (lower middle, so always a value some image really used) of
    the parameters each image's rate-matched point chose. Targets whose medians coincide
    give one parameter.
    """
    import statistics

    chosen: dict[tuple[str, Any], list[Any]] = {}
    for p in points:
        if p.kind == "target" and p.result.ok and p.result.param is not None:
            chosen.setdefault((p.result.codec, p.value), []).append(p.result.param)
    pins: dict[str, set[Any]] = {}
    for (codec, _), params in chosen.items():
        pins.setdefault(codec, set()).add(statistics.median_low(sorted(params)))
    return {c: sorted(v) for c, v in pins.items()}


def run_sweep(images: Sequence[SourceImage], registry: CodecRegistry, options: SweepOptions,
              progress: ProgressFn | None = None, on_start: Callable[[int], None] | None = None
              ) -> SweepResult:
    """Run every job of the sweep (or take it from the cache) and aggregate the curves.

    With ``average="quality"`` the sweep runs twice over: the rate-matched targets first,
    then every image again at each codec's :func:`pinned_params` (one encode per job at
    most: none where a rate search already tried that parameter).
    """
    from codeccmp.references import sweep_references

    t_start = time.perf_counter()
    if not images:
        raise UsageError("a sweep needs at least one image")
    if not options.targets:
        raise UsageError("a sweep needs at least one target bpp")
    if options.match_metric is None:
        for t in options.targets:
            validate_bpp(t)
    elif options.average != "target":
        raise UsageError("--match averages per target quality: --average quality needs --bpp")
    if not 0 < options.tolerance < 1:
        raise UsageError(f"--tolerance must be between 0 and 1, got {options.tolerance:g}")
    if options.average not in AVERAGES:
        raise UsageError(f"--average must be {' or '.join(AVERAGES)}, got {options.average!r}")
    codecs = select_codecs(registry, options.codecs)
    if not codecs:
        raise UsageError("no codecs selected")
    names = [c.name for c in codecs]
    # References are checked against the images before anything is encoded.
    references = sweep_references(options.references, images,
                                  options.reference_dataset_check)  # type: ignore[arg-type]
    clash = set(names) & {r["name"] for r in references}
    if clash:
        raise UsageError(f"a codec is named like a reference: {', '.join(sorted(clash))}")
    anchor = resolve_anchor(options.anchor, names, references)

    plugin_files = tuple(str(Path(f).resolve()) for f in options.plugin_files)
    executor = make_executor(options.executor, registry=registry, plugin_files=plugin_files,
                             jobs=options.jobs, address=options.ray_address,
                             device=options.settings.device)
    cache = ResultCache.open(options.cache_dir, read=options.cache_read, enabled=options.cache)
    match = None if options.match_metric is None else {
        "metric": options.match_metric, "tolerance": options.match_tolerance,
        **metric_versions(registry, [options.match_metric])}
    measure = measure_fingerprint(options.rois, options.roi_count, metric_versions(
        registry, options.metrics), match, options.jump_check)
    stats = CacheStats()
    jobs: list[Job] = []
    points: dict[Job, SweepPoint] = {}
    try:
        executor.start()
        # Configure each codec here once: availability, and the fingerprint in the keys.
        usable: dict[str, tuple[Codec, dict[str, Any], str, RunSettings]] = {}
        skipped: dict[str, tuple[str, str]] = {}
        for c in codecs:
            try:
                c.configure(options.settings)
                reason = c.availability()
                if reason is None:
                    device = executor.device_for(c)
                    settings = executor.settings_for(c, options.settings)
                    usable[c.name] = (c, codec_fingerprint(c, settings, device), device,
                                      settings)
                else:
                    skipped[c.name] = ("skipped", reason)
            except CodecUnavailable as exc:
                skipped[c.name] = ("skipped", str(exc))
            except Exception as exc:  # a codec that cannot even configure fails alone
                skipped[c.name] = ("failed", f"{type(exc).__name__}: {exc}")

        rois: dict[int, list[Roi] | None] = {}
        planned = 0

        def run_jobs(batch: list[Job]) -> None:
            """Answer ``batch`` from the cache where possible and run the rest."""
            nonlocal planned
            jobs.extend(batch)
            if on_start is not None:  # every job, at once; less what the cache answers below
                on_start(planned + sum(job.codec not in skipped for job in batch))
            pending: dict[tuple[int, str], list[Job]] = {}
            for job in batch:
                if job.codec in skipped:
                    status, reason = skipped[job.codec]
                    fam = registry.get(job.codec).family
                    points[job] = SweepPoint(job.image, job.kind, job.value,
                                             failed_result(job, fam, reason, status))
                    continue
                _, fp, _, _ = usable[job.codec]
                hit = cache.get_result(result_key(cache, images[job.image], fp, job,
                                                  options.tolerance, measure))
                if hit is not None:
                    points[job] = SweepPoint(job.image, job.kind, job.value,
                                             CodecResult.from_dict(hit), cached=True)
                else:
                    pending.setdefault((job.image, job.codec), []).append(job)
            stats.merge(cache.stats)
            cache.stats = CacheStats()  # merged: the next batch counts afresh

            for i in sorted({i for i, _ in pending} - set(rois)):
                rois[i] = _resolve_rois(images[i], options.rois, options.roi_count)
            tasks = []
            for (i, name), task_jobs in pending.items():
                c, fp, device, settings = usable[name]
                tasks.append(Task(
                    image=images[i], image_index=i, codec=name, family=c.family,
                    jobs=task_jobs, device=device, settings=settings,
                    tolerance=options.tolerance, measure=measure,
                    cache_root=str(cache.root) if cache.root else None,
                    cache_read=options.cache_read, plugin_files=plugin_files,
                    fingerprint=fp, rois=rois[i], metrics=tuple(options.metrics),
                    match_metric=options.match_metric,
                    match_tolerance=options.match_tolerance, jump_check=options.jump_check))
            planned += sum(len(t.jobs) for t in tasks)
            if on_start is not None:
                on_start(planned)
            if tasks:
                executor.run(tasks, done)

        def done(task: Task, outcome: TaskOutcome) -> None:
            stats.merge(outcome.stats)
            for o in outcome.outcomes:
                points[o.job] = SweepPoint(o.job.image, o.job.kind, o.job.value, o.result,
                                           cached=o.cached, encodes=o.encodes)
            if progress is not None:
                progress(task, outcome)

        run_jobs(build_jobs(len(images), codecs, options.targets, options.all_qualities,
                            "target" if options.match_metric is None else "match"))
        if options.average == "quality":
            pins = pinned_params([points[j] for j in jobs if j in points])
            run_jobs([Job(i, c.name, "quality", v) for i in range(len(images))
                      for c in codecs for v in pins.get(c.name, ())
                      if Job(i, c.name, "quality", v) not in points])
    finally:
        executor.close()

    ordered = [points[j] for j in jobs if j in points]
    families = {c.name: c.family for c in codecs}
    averaged = average_points(ordered, families, len(images), options.average)
    result = SweepResult(
        images=[image_record(im) for im in images], targets=list(options.targets),
        codecs=[{"name": c.name, "family": c.family} for c in codecs], points=ordered,
        averaged=averaged, tolerance=options.tolerance, anchor=anchor,
        bd_method=options.bd_method, average=options.average, references=references,
        settings={
            "codecs": list(options.codecs) if options.codecs is not None else None,
            "all_qualities": options.all_qualities, "device": options.settings.device,
            "match": None if options.match_metric is None else {
                "metric": options.match_metric, "tolerance": options.match_tolerance},
            "jump_check": options.jump_check,
            "offline": options.settings.offline, "weights": dict(options.settings.weights),
            "weights_dir": options.settings.weights_dir, "executor": options.executor,
            "jobs": options.jobs, "cache_dir": str(cache.root) if cache.root else None,
            "cache_read": options.cache_read, "rois": measure["rois"],
            "roi_count": options.roi_count, "average": options.average,
            "references": list(options.references),
            "reference_dataset_check": options.reference_dataset_check,
        },
        environment=environment(),
        notes=list(getattr(executor, "notes", [])),
    )
    if anchor is not None:
        curves = {r["name"]: r["curve"] for r in references}
        from codeccmp.plugins import load_metrics

        extra = {m.name: m.higher_is_better
                 for m in load_metrics(pm=registry.pm).select(options.metrics)}
        result.bd = bd_table(averaged, names, anchor, options.bd_method, curves, extra)
        if anchor in names:  # references have no per-image curves
            result.bd_per_image = bd_per_image(ordered, families, len(images), names, anchor,
                                               options.bd_method, options.average, extra)
    result.cache = {**stats.to_dict(), "jobs": len(ordered),
                    "jobs_cached": sum(1 for p in ordered if p.cached),
                    "encodes": sum(p.encodes for p in ordered)}
    result.elapsed_s = time.perf_counter() - t_start
    return result


def metric_versions(registry: CodecRegistry, names: Sequence[str]) -> dict[str, Any]:
    """``{name: {package: version}}`` of the extra metrics (part of the result keys), with
    the sha256 of the source files defining the metric's class under ``source`` (as a
    codec's: an edited metric plugin, or ``--plugin`` file, computes other values), and a
    metric's ``cache_token()`` under ``token`` where it has one: a metric computed by a
    program (``codeccmp_external``) is known by the program's hash, not by a package."""
    if not names:
        return {}
    from codeccmp.plugins import load_metrics

    out: dict[str, Any] = {}
    for m in load_metrics(pm=registry.pm).select(names):
        out[m.name] = {**m.library(), "source": source_digests(m)}
        token = getattr(m, "cache_token", None)  # a program's hash and definition, say
        if callable(token):
            out[m.name]["token"] = token()
    return out


def _resolve_rois(image: SourceImage, spec: Sequence[Roi] | str | None, count: int
                  ) -> list[Roi] | None:
    """The image's stripe ROIs (detected once here, not once per codec); None: no analysis."""
    if spec is None:
        return None
    from codeccmp.pipeline.analysis import resolve_rois

    try:
        return resolve_rois(image.pixels, spec, count)
    except UsageError as exc:
        raise UsageError(f"{image.path}: {exc}") from None
