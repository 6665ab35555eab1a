"""Sweeps: every codec at many rates, over one image or a folder, as RD curves.

Plain functions and dataclasses, usable without the CLI::

    from codeccmp.images import load_image
    from codeccmp.plugins import load_registry
    from codeccmp.sweep import SweepOptions, parse_targets, run_sweep

    res = run_sweep([load_image("kodim01.png")], load_registry(),
                    SweepOptions(targets=parse_targets("0.1:0.5:0.1"), codecs=["jpeg", "webp"]))
    res.write_csv("rd.csv")

A sweep is a set of **jobs**, one per (image, codec, target) — plus, with ``all_qualities``,
one per (image, learned codec, quality), encoded at that quality directly. Each target job
is exactly what ``codeccmp compare`` does for one codec (:func:`codeccmp.compare.run_codec`),
with the codec wrapped in a :class:`~codeccmp.cache.CachingCodec` so encodings already made
for any earlier target are reused. Jobs of one (image, codec) run together as a **task**,
in order, so they share those encodings even when nothing is cached on disk. Tasks go to an
executor (:mod:`codeccmp.executors`): local processes for traditional codecs while learned
models run in this process on their device, or a Ray cluster.
"""

from __future__ import annotations

import csv
import io
import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import numpy as np

from codeccmp.analysis import DEFAULT_ROI_COUNT
from codeccmp.cache import (
    CacheStats,
    CachingCodec,
    ResultCache,
    _param_json,
    codec_fingerprint,
    pixels_sha256,
)
from codeccmp.codec import (
    Codec,
    CodecUnavailable,
    Param,
    ParamSpace,
    RunSettings,
    WrappedCodec,
)
from codeccmp.compare import CompareOptions, image_record, run_codec, select_codecs, validate_bpp
from codeccmp.errors import UsageError
from codeccmp.images import SourceImage
from codeccmp.plugins import CodecRegistry
from codeccmp.ratematch import DEFAULT_TOLERANCE
from codeccmp.results import CodecResult, _json_safe, environment
from codeccmp.stripes import Roi

SCHEMA = "codeccmp-sweep/1"
JobKind = Literal["target", "quality"]
#: Bump when how a result is measured changes (metrics, conventions): results cached under
#: the old version are then recomputed from the cached encodings.
MEASURE_VERSION = 1
#: More targets than this is a typo in a range, not a sweep.
MAX_TARGETS = 1000
#: Image files a folder sweep picks up (the extensions CompressAI's evaluation collects).
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".ppm", ".pgm", ".bmp", ".tif", ".tiff", ".webp")
#: The quality metrics a curve can be drawn or BD-measured against (higher is better).
QUALITY_METRICS = {"psnr": "PSNR (dB)", "ms_ssim_db": "MS-SSIM (dB)"}


# --------------------------------------------------------------------------- targets


def parse_targets(text: str) -> list[float]:
    """``"0.1,0.2,0.3"``, ``"0.1:0.5:0.1"`` (stop included) or a mix, into sorted unique bpp.

    Ranges are stepped in decimal arithmetic, so ``0.1:0.5:0.1`` gives exactly the floats
    ``0.1, 0.2, 0.3, 0.4, 0.5`` (repeated float addition would give 0.30000000000000004
    and might drop the stop).
    """
    if not text or not text.strip():
        raise UsageError("--bpp needs at least one target, e.g. 0.1,0.3 or 0.1:0.5:0.1")
    out: set[float] = set()
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise UsageError(f"--bpp has an empty item in {text!r}")
        if ":" in item:
            parts = item.split(":")
            if len(parts) != 3:
                raise UsageError(f"--bpp range must be START:STOP:STEP, got {item!r}")
            start, stop, step = (_decimal(p, item) for p in parts)
            if step <= 0:
                raise UsageError(f"--bpp range step must be positive, got {item!r}")
            if start > stop:
                raise UsageError(f"--bpp range start is above its stop in {item!r}")
            count = int((stop - start) / step) + 1
            if count > MAX_TARGETS:
                raise UsageError(f"--bpp range {item!r} gives {count} targets "
                                 f"(at most {MAX_TARGETS})")
            for k in range(count):
                out.add(float(start + k * step))
        else:
            out.add(float(_decimal(item, item)))
        if len(out) > MAX_TARGETS:
            raise UsageError(f"--bpp gives more than {MAX_TARGETS} targets")
    for t in out:
        validate_bpp(t)
    return sorted(out)


def _decimal(text: str, item: str) -> Decimal:
    try:
        d = Decimal(text.strip())
    except InvalidOperation:
        raise UsageError(f"--bpp expects numbers, got {text.strip()!r} in {item!r}") from None
    if not d.is_finite():
        raise UsageError(f"--bpp expects finite numbers, got {item!r}")
    return d


def collect_images(path: str | Path) -> list[Path]:
    """An image file, or the image files directly inside a folder, sorted by name."""
    p = Path(path)
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


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Job:
    """One point of a sweep: an image, a codec, and a target bpp or a learned quality."""

    image: int
    codec: str
    kind: JobKind
    value: float | int


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


@dataclass(eq=False)  # identity: tasks hold pixel arrays, which have no truth value
class Task:
    """The jobs of one (image, codec): run in order in one place so they share encodings.

    Picklable by design (codec *names*, plugin *files*): a worker process or a Ray worker
    rebuilds the registry and the codec itself.
    """

    image: SourceImage | None
    image_index: int
    codec: str
    family: str
    jobs: list[Job]
    device: str  # where the codec runs; part of the cache keys
    settings: RunSettings
    tolerance: float
    measure: dict[str, Any]
    cache_root: str | None
    cache_read: bool
    plugin_files: tuple[str, ...] = ()
    #: The codec's fingerprint as the driver computed it (a worker computes its own).
    fingerprint: dict[str, Any] = field(default_factory=dict)
    #: The image's stripe ROIs, resolved once by the driver; None: no stripe analysis.
    rois: list[Roi] | None = None


@dataclass
class JobOutcome:
    job: Job
    result: CodecResult
    cached: bool = False  # the whole result came from the cache
    encodes: int = 0  # encodes really run for this job (0: every encoding was cached)


@dataclass
class TaskOutcome:
    outcomes: list[JobOutcome]
    stats: CacheStats = field(default_factory=CacheStats)
    #: The fingerprint the worker coded under (``None`` if the codec never configured).
    fingerprint: dict[str, Any] | None = None


#: Modules whose code decides the measured numbers: their source is part of result keys.
_MEASURE_MODULES = ("codeccmp.metrics", "codeccmp.stripes", "codeccmp.stripes.detect",
                    "codeccmp.stripes.error", "codeccmp.stripes.field",
                    "codeccmp.stripes.spectral", "codeccmp.stripes.roi", "codeccmp.analysis",
                    "codeccmp.compare", "codeccmp.ratematch")


def measure_fingerprint(rois: Sequence[Roi] | str | None = "auto",
                        roi_count: int = DEFAULT_ROI_COUNT) -> dict[str, Any]:
    """What decides a result besides the encoding: how it is measured.

    Includes a hash of the measuring code itself (metrics, stripe analysis, pipeline,
    rate search), so a changed metric or search recomputes results — from the cached
    encodings, which such a change does not touch.
    """
    import hashlib
    import importlib
    from importlib import metadata

    try:
        msssim = metadata.version("pytorch-msssim")
    except metadata.PackageNotFoundError:
        msssim = "none"
    h = hashlib.sha256()
    for name in _MEASURE_MODULES:
        src = getattr(importlib.import_module(name), "__file__", None)
        if src:
            h.update(Path(src).read_bytes())
    spec: Any = rois if isinstance(rois, str) or rois is None else [str(r) for r in rois]
    return {"version": MEASURE_VERSION, "pytorch-msssim": msssim, "code": h.hexdigest(),
            "rois": spec, "roi_count": roi_count if spec == "auto" else None}


def result_key(cache: ResultCache, image: SourceImage, fingerprint: dict[str, Any], job: Job,
               tolerance: float, measure: dict[str, Any]) -> str:
    return cache.result_key({
        "image": pixels_sha256(image.pixels), "codec": fingerprint, "kind": job.kind,
        "value": _param_json(job.value), "tolerance": tolerance, "measure": measure})


class _FixedParamCodec(WrappedCodec):
    """A codec whose only parameter value is ``param``: the pipeline then encodes there.

    Lets ``--all-qualities`` points go through the very same :func:`run_codec` (gray
    handling, decoding, metrics, stripe analysis when present) as rate-matched points.
    """

    def __init__(self, inner: Codec, param: Param) -> None:
        super().__init__(inner)
        self._space = ParamSpace(inner.param_space.name, "discrete", values=(param,))

    @property
    def param_space(self) -> ParamSpace:  # type: ignore[override]
        return self._space

    def match_rate(self, image: np.ndarray, target_bpp: float) -> None:
        return None  # the one value is the point: no search


def _run_job(proxy: CachingCodec, image: SourceImage, job: Job, settings: RunSettings,
             tolerance: float, rois: list[Roi] | None) -> CodecResult:
    keep = rois is not None  # the stripe analysis needs the reconstruction
    if job.kind == "target":
        opts = CompareOptions(target_bpp=float(job.value), codecs=[proxy.name],
                              tolerance=tolerance, settings=settings, keep_outputs=keep)
        res = run_codec(proxy, image, opts)
    else:
        # A quality point: no target; an infinite tolerance keeps the pipeline from flagging.
        opts = CompareOptions(target_bpp=1.0, codecs=[proxy.name], tolerance=math.inf,
                              settings=settings, keep_outputs=keep)
        res = run_codec(_FixedParamCodec(proxy, job.value), image, opts)
        res.target_bpp = res.deviation = res.within_tolerance = None
        if res.ok:
            res.notes.append(f"encoded at {proxy.param_space.name} {job.value} directly "
                             "(--all-qualities), not rate-matched")
    if rois is not None and res.ok:
        from codeccmp.analysis import analyse_result

        try:
            analyse_result(image.pixels, res, rois)
        except Exception as exc:  # the analysis failing must not lose the RD point
            res.notes.append(f"stripe analysis failed: {type(exc).__name__}: {exc}")
    res.reconstruction = None
    res.bitstream = None
    return res


def run_task(task: Task, registry: CodecRegistry | None = None) -> TaskOutcome:
    """Run one task's jobs in order; never raises for a codec's own failures.

    ``registry`` is the caller's when the task runs in the calling process; workers pass
    ``None`` and rebuild it from ``task.plugin_files`` (once per process).
    """
    if registry is None:
        from codeccmp.executors import worker_registry

        registry = worker_registry(task.plugin_files)
    if task.image is None:
        raise ValueError("task without its image")
    cache = ResultCache(Path(task.cache_root) if task.cache_root else None, read=task.cache_read)
    codec = registry.get(task.codec)
    outcome = TaskOutcome([], cache.stats)
    try:
        codec.configure(task.settings)
        fingerprint = codec_fingerprint(codec, task.settings, task.device)
    except Exception as exc:  # configure failing is the codec's failure, per job
        status = "skipped" if isinstance(exc, CodecUnavailable) else "failed"
        for job in task.jobs:
            outcome.outcomes.append(JobOutcome(job, failed_result(
                job, codec.family, f"{type(exc).__name__}: {exc}", status)))
        return outcome
    outcome.fingerprint = fingerprint
    proxy = CachingCodec(codec, cache, fingerprint)
    for job in task.jobs:  # the driver already answered what the result cache holds
        key = result_key(cache, task.image, fingerprint, job, task.tolerance, task.measure)
        before = proxy.encodes
        proxy.from_cache.clear()
        res = _run_job(proxy, task.image, job, task.settings, task.tolerance, task.rois)
        if res.ok and res.param in proxy.from_cache:
            # The chosen encoding came from the cache: report the time it took when made.
            res.encode_s = proxy.from_cache[res.param]
        if res.ok:
            cache.put_result(key, res.to_dict())
        outcome.outcomes.append(JobOutcome(job, res, encodes=proxy.encodes - before))
    return outcome


def failed_result(job: Job, family: str, reason: str, status: str = "failed") -> CodecResult:
    """A result for a job that never ran (a worker died, a codec cannot run here)."""
    return CodecResult(codec=job.codec, family=family, status=status,  # type: ignore[arg-type]
                       reason=reason,
                       target_bpp=float(job.value) if job.kind == "target" else None)


def failed_outcome(task: Task, reason: str) -> TaskOutcome:
    return TaskOutcome([JobOutcome(j, failed_result(j, task.family, reason)) for j in task.jobs])


# --------------------------------------------------------------------------- results


@dataclass
class SweepPoint:
    """One job's result, and whether it cost anything this time."""

    image: int
    kind: JobKind
    value: float | int
    result: CodecResult
    cached: bool = False
    encodes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"image": self.image, "kind": self.kind, "value": self.value,
                "cached": self.cached, "encodes": self.encodes,
                "result": self.result.to_dict()}


@dataclass
class AveragePoint:
    """One point of a codec's curve averaged over images (or a single image's point).

    Targets are averaged per target, learned qualities per quality. PSNR and MS-SSIM are
    arithmetic means over images; MS-SSIM dB is taken of the mean MS-SSIM, as CompressAI's
    plots do. ``n`` images contributed out of ``n_images``: a point with ``n < n_images``
    (a codec failed on some image) is shown but kept out of BD numbers.
    """

    codec: str
    family: str
    kind: JobKind
    value: float | int
    n: int
    n_images: int
    bpp: float | None = None
    psnr: float | None = None
    ms_ssim: float | None = None
    ms_ssim_db: float | None = None
    ssim: float | None = None
    delta_theta_deg: float | None = None
    flip_share: float | None = None
    all_within_tolerance: bool | None = None

    @property
    def complete(self) -> bool:
        return self.n == self.n_images and self.n > 0

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({f.name: getattr(self, f.name) for f in fields(self)})


def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    return sum(vals) / len(vals) if vals else None


def _stripe(r: CodecResult, name: str) -> float | None:
    v = (r.stripes or {}).get(name)
    return float(v) if isinstance(v, (int, float)) else None


def average_points(points: Sequence[SweepPoint], families: dict[str, str],
                   n_images: int) -> list[AveragePoint]:
    """Per (codec, kind, value): the mean over the images whose job succeeded."""
    from codeccmp.metrics import ms_ssim_db

    groups: dict[tuple[str, str, Any], list[CodecResult]] = {}
    order: list[tuple[str, str, Any]] = []
    for p in points:
        k = (p.result.codec, p.kind, p.value)
        if k not in groups:
            groups[k] = []
            order.append(k)
        if p.result.ok:
            groups[k].append(p.result)
    out = []
    for k in order:
        rs = groups[k]
        codec, kind, value = k
        ms = _mean([r.ms_ssim for r in rs])
        flags = [r.within_tolerance for r in rs if r.within_tolerance is not None]
        out.append(AveragePoint(
            codec=codec, family=families.get(codec, ""), kind=kind,  # type: ignore[arg-type]
            value=value, n=len(rs), n_images=n_images,
            bpp=_mean([r.bpp for r in rs]), psnr=_mean([r.psnr for r in rs]), ms_ssim=ms,
            ms_ssim_db=ms_ssim_db(ms) if ms is not None else None,
            ssim=_mean([r.ssim for r in rs]),
            delta_theta_deg=_mean([_stripe(r, "delta_theta_deg") for r in rs]),
            flip_share=_mean([_stripe(r, "flip_share") for r in rs]),
            all_within_tolerance=all(flags) if flags else None))
    out.sort(key=lambda a: (list(families).index(a.codec) if a.codec in families else 0,
                            a.bpp if a.bpp is not None else math.inf))
    return out


def curve(points: Sequence[AveragePoint], codec: str, metric: str,
          complete_only: bool = True) -> tuple[list[float], list[float]]:
    """(bpp, metric) of one codec's points, sorted by rate."""
    pts = sorted((p.bpp, getattr(p, metric)) for p in points
                 if p.codec == codec and p.bpp is not None and getattr(p, metric) is not None
                 and (p.complete or not complete_only))
    return [b for b, _ in pts], [q for _, q in pts]


def bd_table(points: Sequence[AveragePoint], codecs: Sequence[str], anchor: str,
             method: str) -> dict[str, dict[str, dict[str, Any]]]:
    """``{metric: {codec: BDResult dict}}`` for every codec but the anchor."""
    from codeccmp.bdrate import bd

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for metric in QUALITY_METRICS:
        ar, aq = curve(points, anchor, metric)
        out[metric] = {}
        for c in codecs:
            if c == anchor:
                continue
            tr, tq = curve(points, c, metric)
            out[metric][c] = bd(ar, aq, tr, tq, method=method).to_dict()
    return out


@dataclass
class SweepResult:
    images: list[dict[str, Any]]
    targets: list[float]
    codecs: list[dict[str, str]]  # name, family, in the order given
    points: list[SweepPoint]
    averaged: list[AveragePoint]
    tolerance: float = DEFAULT_TOLERANCE
    anchor: str | None = None
    bd_method: str = "akima"
    bd: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bd_per_image: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(
        timespec="seconds"))

    @property
    def families(self) -> dict[str, str]:
        return {c["name"]: c["family"] for c in self.codecs}

    def failures(self) -> list[SweepPoint]:
        return [p for p in self.points if p.result.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({
            "schema": SCHEMA, "created": self.created, "elapsed_s": self.elapsed_s,
            "targets": self.targets, "tolerance": self.tolerance, "codecs": self.codecs,
            "anchor": self.anchor, "bd_method": self.bd_method, "images": self.images,
            "settings": self.settings, "environment": self.environment, "cache": self.cache,
            "averaged": [a.to_dict() for a in self.averaged],
            "bd": self.bd, "bd_per_image": self.bd_per_image,
            "points": [p.to_dict() for p in self.points],
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    CSV_COLUMNS = (
        "scope", "image", "codec", "family", "kind", "target_bpp", "quality", "param", "bpp",
        "deviation", "within_tolerance", "psnr", "ms_ssim", "ms_ssim_db", "ssim",
        "delta_theta_deg", "flip_share", "n", "status", "reason", "cached")

    def to_csv(self) -> str:
        """One row per job (scope ``image``), then one per averaged point (scope ``mean``)."""
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=self.CSV_COLUMNS, lineterminator="\n")
        w.writeheader()
        for p in self.points:
            r = p.result
            w.writerow(_csv_row({
                "scope": "image", "image": self.images[p.image].get("path", p.image),
                "codec": r.codec, "family": r.family, "kind": p.kind,
                "target_bpp": p.value if p.kind == "target" else None,
                "quality": p.value if p.kind == "quality" else None, "param": r.param,
                "bpp": r.bpp, "deviation": r.deviation, "within_tolerance": r.within_tolerance,
                "psnr": r.psnr, "ms_ssim": r.ms_ssim, "ms_ssim_db": r.ms_ssim_db,
                "ssim": r.ssim, "delta_theta_deg": _stripe(r, "delta_theta_deg"),
                "flip_share": _stripe(r, "flip_share"), "n": 1, "status": r.status,
                "reason": r.reason, "cached": p.cached}))
        for a in self.averaged:
            w.writerow(_csv_row({
                "scope": "mean", "image": f"mean of {a.n}/{a.n_images}", "codec": a.codec,
                "family": a.family, "kind": a.kind,
                "target_bpp": a.value if a.kind == "target" else None,
                "quality": a.value if a.kind == "quality" else None, "bpp": a.bpp,
                "within_tolerance": a.all_within_tolerance, "psnr": a.psnr,
                "ms_ssim": a.ms_ssim, "ms_ssim_db": a.ms_ssim_db, "ssim": a.ssim,
                "delta_theta_deg": a.delta_theta_deg, "flip_share": a.flip_share, "n": a.n,
                "status": "ok" if a.complete else ("partial" if a.n else "failed")}))
        return buf.getvalue()

    def write_csv(self, path: str | Path) -> Path:
        from codeccmp.fileio import atomic_write_text

        return atomic_write_text(path, self.to_csv())

    def write_json(self, path: str | Path) -> Path:
        from codeccmp.fileio import atomic_write_text

        return atomic_write_text(path, self.to_json())


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out[k] = ""
        elif isinstance(v, float):
            out[k] = repr(v)  # shortest exact form: no precision lost in the CSV
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------- the run

#: Progress callback: (task just finished, its outcome).
ProgressFn = Callable[[Task, TaskOutcome], None]


def build_jobs(n_images: int, codecs: Sequence[Codec], targets: Sequence[float],
               all_qualities: bool) -> list[Job]:
    """Every (image, codec, target) job, and the quality points of learned models.

    Quality points come *first* within a codec: once every quality of a learned model is
    encoded, each rate-matched target is settled from those encodings without a search.
    """
    jobs = []
    for i in range(n_images):
        for c in codecs:
            if all_qualities and c.family == "learned" and c.param_space.kind == "discrete":
                jobs += [Job(i, c.name, "quality", v) for v in sorted(c.param_space.values)]
            jobs += [Job(i, c.name, "target", float(t)) for t in targets]
    return jobs


def run_sweep(images: Sequence[SourceImage], registry: CodecRegistry, options: SweepOptions,
              progress: ProgressFn | None = None, on_start: Callable[[int], None] | None = None
              ) -> SweepResult:
    """Run every job of the sweep (or take it from the cache) and aggregate the curves."""
    t_start = time.perf_counter()
    if not images:
        raise UsageError("a sweep needs at least one image")
    if not options.targets:
        raise UsageError("a sweep needs at least one target bpp")
    for t in options.targets:
        validate_bpp(t)
    if not 0 < options.tolerance < 1:
        raise UsageError(f"--tolerance must be between 0 and 1, got {options.tolerance:g}")
    codecs = select_codecs(registry, options.codecs)
    if not codecs:
        raise UsageError("no codecs selected")
    names = [c.name for c in codecs]
    if options.anchor is not None and options.anchor not in names:
        raise UsageError(f"--anchor {options.anchor!r} is not among the codecs swept "
                         f"({', '.join(names)})")

    from codeccmp.executors import make_executor

    plugin_files = tuple(str(Path(f).resolve()) for f in options.plugin_files)
    executor = make_executor(options.executor, registry=registry, plugin_files=plugin_files,
                             jobs=options.jobs, address=options.ray_address,
                             device=options.settings.device)
    cache = ResultCache.open(options.cache_dir, read=options.cache_read, enabled=options.cache)
    measure = measure_fingerprint(options.rois, options.roi_count)
    stats = CacheStats()
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

        jobs = build_jobs(len(images), codecs, options.targets, options.all_qualities)
        points: dict[Job, SweepPoint] = {}
        pending: dict[tuple[int, str], list[Job]] = {}
        for job in jobs:
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

        rois: dict[int, list[Roi] | None] = {}
        for i in sorted({i for i, _ in pending}):
            rois[i] = _resolve_rois(images[i], options.rois, options.roi_count)
        tasks = []
        for (i, name), task_jobs in pending.items():
            c, fp, device, settings = usable[name]
            tasks.append(Task(
                image=images[i], image_index=i, codec=name, family=c.family, jobs=task_jobs,
                device=device, settings=settings, tolerance=options.tolerance,
                measure=measure, cache_root=str(cache.root) if cache.root else None,
                cache_read=options.cache_read, plugin_files=plugin_files, fingerprint=fp,
                rois=rois[i]))
        if on_start is not None:
            on_start(sum(len(t.jobs) for t in tasks))

        def done(task: Task, outcome: TaskOutcome) -> None:
            stats.merge(outcome.stats)
            for o in outcome.outcomes:
                points[o.job] = SweepPoint(o.job.image, o.job.kind, o.job.value, o.result,
                                           cached=o.cached, encodes=o.encodes)
            if progress is not None:
                progress(task, outcome)

        executor.run(tasks, done)
    finally:
        executor.close()

    ordered = [points[j] for j in jobs if j in points]
    families = {c.name: c.family for c in codecs}
    averaged = average_points(ordered, families, len(images))
    anchor = options.anchor
    result = SweepResult(
        images=[image_record(im) for im in images], targets=list(options.targets),
        codecs=[{"name": c.name, "family": c.family} for c in codecs], points=ordered,
        averaged=averaged, tolerance=options.tolerance, anchor=anchor,
        bd_method=options.bd_method,
        settings={
            "codecs": list(options.codecs) if options.codecs is not None else None,
            "all_qualities": options.all_qualities, "device": options.settings.device,
            "offline": options.settings.offline, "weights": dict(options.settings.weights),
            "weights_dir": options.settings.weights_dir, "executor": options.executor,
            "jobs": options.jobs, "cache_dir": str(cache.root) if cache.root else None,
            "cache_read": options.cache_read, "rois": measure["rois"],
            "roi_count": options.roi_count,
        },
        environment=environment(),
    )
    if anchor is not None:
        result.bd = bd_table(averaged, names, anchor, options.bd_method)
        result.bd_per_image = _bd_per_image(ordered, families, len(images), names, anchor,
                                            options.bd_method)
    result.cache = {**stats.to_dict(), "jobs": len(ordered),
                    "jobs_cached": sum(1 for p in ordered if p.cached),
                    "encodes": sum(p.encodes for p in ordered)}
    result.elapsed_s = time.perf_counter() - t_start
    return result


def _resolve_rois(image: SourceImage, spec: Sequence[Roi] | str | None, count: int
                  ) -> list[Roi] | None:
    """The image's stripe ROIs (detected once here, not once per codec); None: no analysis."""
    if spec is None:
        return None
    from codeccmp.analysis import resolve_rois

    try:
        return resolve_rois(image.pixels, spec, count)
    except UsageError as exc:
        raise UsageError(f"{image.path}: {exc}") from None


def _bd_per_image(points: Sequence[SweepPoint], families: dict[str, str], n_images: int,
                  names: Sequence[str], anchor: str, method: str
                  ) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """BD numbers image by image (and their mean), the other common way to report them."""
    if n_images < 2:
        return {}
    per: dict[str, dict[str, list[dict[str, Any]]]] = {m: {c: [] for c in names if c != anchor}
                                                      for m in QUALITY_METRICS}
    for i in range(n_images):
        avg = average_points([p for p in points if p.image == i], families, 1)
        table = bd_table(avg, names, anchor, method)
        for m, by_codec in table.items():
            for c, r in by_codec.items():
                per[m][c].append({"image": i, **r})
    return per


def mean_bd_rate(entries: Sequence[dict[str, Any]]) -> float | None:
    """Mean of the finite per-image BD-rates (``None`` when there are none)."""
    vals = [e["bd_rate_percent"] for e in entries if e.get("bd_rate_percent") is not None]
    return sum(vals) / len(vals) if vals else None
