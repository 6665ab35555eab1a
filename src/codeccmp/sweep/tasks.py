"""A sweep's unit of work: jobs, the tasks that group them, and running a task.

A **job** is one point of a sweep: an (image, codec, target) or, with ``all_qualities``,
an (image, learned codec, quality) encoded at that quality directly. Each target job is
exactly what ``codeccmp compare`` does for one codec (:func:`codeccmp.pipeline.compare.run_codec`),
with the codec wrapped in a :class:`~codeccmp.sweep.cache.CachingCodec` so encodings already made
for any earlier target are reused. Jobs of one (image, codec) run together as a **task**,
in order, so they share those encodings even when nothing is cached on disk.

This module is what a worker process (or a Ray worker) runs: :func:`run_task` on a picklable
:class:`Task`. It imports neither the driver (:mod:`codeccmp.sweep.runner`) nor the executors, so
:mod:`codeccmp.sweep.executors` can import it at the top without an import circle.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from codeccmp.codec import (
    Codec,
    CodecUnavailable,
    Param,
    ParamSpace,
    RunSettings,
    WrappedCodec,
)
from codeccmp.model.images import SourceImage
from codeccmp.model.results import CodecResult
from codeccmp.pipeline.compare import CompareOptions, run_codec
from codeccmp.plugins import CodecRegistry
from codeccmp.stripes.roi import DEFAULT_ROI_COUNT, Roi
from codeccmp.sweep.cache import (
    CacheStats,
    CachingCodec,
    ResultCache,
    _param_json,
    codec_fingerprint,
    pixels_sha256,
)

JobKind = Literal["target", "quality", "match"]
#: Bump when how a result is measured changes (metrics, conventions): results cached under
#: the old version are then recomputed from the cached encodings.
MEASURE_VERSION = 2  # 2: the stripe classes (kept, turned, redrawn, erased)
#: The libraries that compute the fixed measurements: PSNR, SSIM and MS-SSIM in NumPy with
#: SciPy's BLAS, the stripe analysis with SciPy (pytorch-msssim, keyed here before, runs in
#: none of them: codeccmp.measure.metrics reproduces its arithmetic).
_MEASURE_LIBRARIES = ("numpy", "scipy")


# --------------------------------------------------------------------------- worker side

_registries: dict[tuple[str, ...], CodecRegistry] = {}


def worker_registry(plugin_files: Sequence[str]) -> CodecRegistry:
    """The registry of a worker process, built once from entry points and plugin files."""
    key = tuple(plugin_files)
    if key not in _registries:
        from codeccmp.plugins import load_registry

        _registries[key] = load_registry(key)
    return _registries[key]


# --------------------------------------------------------------------------- jobs


@dataclass(frozen=True)
class Job:
    """One point of a sweep: an image, a codec, and a target bpp, a learned quality, or a
    target value of the ``--match`` metric (kind ``match``)."""

    image: int
    codec: str
    kind: JobKind
    value: float | int


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
    #: Extra metrics by name (``--metrics``), resolved in the worker from its registry.
    metrics: tuple[str, ...] = ()
    #: ``--match``: the metric whose value ``match`` jobs target, and the accepted deviation.
    match_metric: str | None = None
    match_tolerance: float | None = None
    #: Look for strategy switches next to each rate-matched parameter (``--no-jump-check``).
    jump_check: bool = True


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
#: A package counts with every module in it (the stripe analysis is one).
_MEASURE_MODULES = ("codeccmp.measure.metrics", "codeccmp.measure.fma", "codeccmp.stripes",
                    "codeccmp.pipeline.analysis", "codeccmp.pipeline.compare",
                    "codeccmp.pipeline.ratematch", "codeccmp.pipeline.ratejump")


def measure_sources() -> list[Path]:
    """The source files of :data:`_MEASURE_MODULES`, packages expanded to all their modules."""
    import importlib

    files: list[Path] = []
    for name in _MEASURE_MODULES:
        mod = importlib.import_module(name)
        if hasattr(mod, "__path__"):  # a package: every .py file in it, in a fixed order
            files += sorted(p for d in mod.__path__ for p in Path(d).glob("*.py"))
        elif getattr(mod, "__file__", None):
            files.append(Path(mod.__file__))
    return files


def measure_fingerprint(rois: Sequence[Roi] | str | None = "auto",
                        roi_count: int = DEFAULT_ROI_COUNT,
                        metrics: dict[str, Any] | None = None,
                        match: dict[str, Any] | None = None,
                        jump_check: bool = True) -> dict[str, Any]:
    """What decides a result besides the encoding: how it is measured.

    Includes a hash of the measuring code itself (metrics, stripe analysis, pipeline,
    rate search), so a changed metric or search recomputes results — from the cached
    encodings, which such a change does not touch.
    """
    import hashlib

    from codeccmp import installed

    h = hashlib.sha256()
    for src in measure_sources():
        h.update(src.name.encode() + b"\0" + src.read_bytes())
    spec: Any = rois if isinstance(rois, str) or rois is None else [str(r) for r in rois]
    out = {"version": MEASURE_VERSION, "code": h.hexdigest(),
           "rois": spec, "roi_count": roi_count if spec == "auto" else None}
    for lib in _MEASURE_LIBRARIES:
        out[lib] = installed.version(lib) or "none"
    if metrics:  # only when asked: a plain sweep keeps the keys it had
        out["metrics"] = metrics
    if not jump_check:  # a result without the check lacks the note one with it may have
        out["jump_check"] = False
    if match:  # --match: the metric, tolerance and the quality search's own code
        import codeccmp.pipeline.qualitymatch as qm

        out["match"] = {**match, "code": hashlib.sha256(
            Path(qm.__file__).read_bytes()).hexdigest()}
    return out


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
             tolerance: float, rois: list[Roi] | None, metrics: Sequence[Any] = (),
             match: Any = None, jump_check: bool = True) -> CodecResult:
    keep = rois is not None  # the stripe analysis needs the reconstruction
    if job.kind == "match":  # compare --match's own search, at this job's value
        from dataclasses import replace

        opts = CompareOptions(target_bpp=0.0, codecs=[proxy.name], tolerance=tolerance,
                              settings=settings, keep_outputs=keep, metrics=metrics,
                              match=replace(match, value=float(job.value)))
        res = run_codec(proxy, image, opts)
    elif job.kind == "target":
        opts = CompareOptions(target_bpp=float(job.value), codecs=[proxy.name],
                              tolerance=tolerance, settings=settings, keep_outputs=keep,
                              metrics=metrics, jump_check=jump_check)
        res = run_codec(proxy, image, opts)
    else:
        # A quality point: no target; an infinite tolerance keeps the pipeline from flagging.
        opts = CompareOptions(target_bpp=1.0, codecs=[proxy.name], tolerance=math.inf,
                              settings=settings, keep_outputs=keep, metrics=metrics)
        res = run_codec(_FixedParamCodec(proxy, job.value), image, opts)
        res.target_bpp = res.deviation = res.within_tolerance = None
        if res.ok:
            res.notes.append(f"encoded at {proxy.param_space.name} {job.value} directly "
                             "(--all-qualities or --average quality), not rate-matched")
    if rois is not None and res.ok:
        from codeccmp.pipeline.analysis import analyse_result

        try:
            analyse_result(image.pixels, res, rois, metrics=metrics)
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
    from codeccmp.plugins import load_metrics

    metric_registry = load_metrics(pm=registry.pm)
    metrics = metric_registry.select(task.metrics) if task.metrics else []
    match = None
    if task.match_metric is not None:
        from codeccmp.pipeline.qualitymatch import QualityTarget

        match = QualityTarget(metric_registry.get(task.match_metric), math.nan,
                              float(task.match_tolerance or 0.0))
    proxy = CachingCodec(codec, cache, fingerprint)
    for job in task.jobs:  # the driver already answered what the result cache holds
        key = result_key(cache, task.image, fingerprint, job, task.tolerance, task.measure)
        before = proxy.encodes
        proxy.from_cache.clear()
        res = _run_job(proxy, task.image, job, task.settings, task.tolerance, task.rois,
                       metrics, match, task.jump_check)
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
