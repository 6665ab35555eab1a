"""The comparison pipeline: for each codec, match the rate, decode from bytes, measure.

Plain functions over dataclasses, usable from Python without the CLI::

    from codeccmp.pipeline.compare import CompareOptions, compare_image
    from codeccmp.model.images import load_image
    from codeccmp.plugins import load_registry

    cmp = compare_image(load_image("barbara.png"), load_registry(), CompareOptions(0.3))
"""

from __future__ import annotations

import ctypes
import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from codeccmp.codec import Codec, CodecUnavailable, Encoded, RunSettings
from codeccmp.errors import UsageError
from codeccmp.measure.metrics import ms_ssim_db, psnr, ssim_ms_ssim
from codeccmp.metric import Metric, compute_metrics
from codeccmp.model.images import SourceImage, to_gray, to_rgb
from codeccmp.model.results import CodecResult, Comparison, environment
from codeccmp.pipeline import warmup
from codeccmp.pipeline.qualitymatch import QualityTarget, match_quality
from codeccmp.pipeline.ratejump import find_jump, jump_note
from codeccmp.pipeline.ratematch import DEFAULT_TOLERANCE, Trial, match_rate
from codeccmp.plugins import CodecRegistry
from codeccmp.stripes.roi import DEFAULT_ROI_COUNT, Roi

#: Above this a target cannot be meant: raw 8-bit RGB is 24 bpp.
MAX_BPP = 24.0

#: Progress callback: (codec name, event, detail). Events: start, trial, coded (a bitstream
#: is chosen; detail: the result so far), done (the result is final).
ProgressFn = Callable[[str, str, Any], None]

#: Images with more 8-bit values than this (4 megapixels of RGB) are coded by every codec
#: before any is decoded and measured, with torch (for the metrics, 0.5 GB resident) imported
#: only then: an encoder's working memory then never adds to torch's and the metrics'. At 24
#: megapixels libjxl at effort 7 alone takes 2 GB, AVIF and JPEG 2000 0.7 GB. Smaller images
#: import torch in the background while the first codecs code (``codeccmp.pipeline.warmup``), which
#: saves its import time (seconds) from a run that takes seconds.
LEAN_VALUES = 12_000_000


@dataclass
class CompareOptions:
    target_bpp: float
    codecs: Sequence[str] | None = None  # None: every codec usable here
    tolerance: float = DEFAULT_TOLERANCE
    settings: RunSettings = field(default_factory=RunSettings)
    keep_outputs: bool = True  # keep reconstructions and bitstreams in memory
    #: Stripe ROIs: "auto" (detected), explicit ROIs, or None to skip the stripe analysis.
    rois: Sequence[Roi] | str | None = "auto"
    roi_count: int = DEFAULT_ROI_COUNT
    #: Ground-truth orientation map of a generated chart (see ``stripes.truth.load_truth``).
    truth: dict[str, Any] | None = None
    #: Import what later codecs need on a background thread while the first ones run
    #: (``codeccmp.pipeline.warmup``); off only to measure what it saves.
    warm_up: bool = True
    #: Extra metrics (``--metrics``), resolved from a ``MetricRegistry``; their values go
    #: into ``CodecResult.metrics``.
    metrics: Sequence[Metric] = ()
    #: Match quality instead of rate (``--match ms-ssim=0.95``); ``target_bpp`` is unused.
    match: QualityTarget | None = None
    #: Look for an encoder's strategy switch next to the rate-matched parameter
    #: (``codeccmp.pipeline.ratejump``: two to five more encodes per codec); off
    #: (``--no-jump-check``) where each encode takes minutes, as a reference encoder's does.
    jump_check: bool = True


@functools.cache
def _malloc_trim() -> Callable[[int], int] | None:
    try:
        return ctypes.CDLL(None).malloc_trim  # the C library this interpreter runs on
    except (OSError, AttributeError):  # not glibc: nothing to trim, or no way to ask
        return None


def release_memory() -> None:
    """Hand the memory a codec library freed back to the system (glibc's ``malloc_trim``).

    An encoder frees its working memory when it returns, but glibc keeps much of it on its
    free lists, resident. At 24 megapixels, one encode each of JPEG 2000, AVIF, HEIF and
    JPEG XL in one process left 378, 573, 657 and 653 MB resident after each (117 MB
    before), and 121, 123, 151 and 148 MB with a trim after each. Peaks drop less (JPEG
    XL's: 2417 → 2362 MB), since the next encoder reuses those free lists first; what the
    trim saves is what the metrics and torch would otherwise add on top of them. Best
    effort; a no-op where there is no glibc.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def validate_bpp(bpp: float) -> float:
    if not np.isfinite(bpp) or bpp <= 0:
        raise UsageError(f"--bpp must be a positive number of bits per pixel, got {bpp:g}")
    if bpp > MAX_BPP:
        raise UsageError(f"--bpp {bpp:g} is absurd: raw 8-bit RGB is {MAX_BPP:g} bpp")
    return bpp


def select_codecs(registry: CodecRegistry, names: Sequence[str] | None) -> list[Codec]:
    if names is None:
        # Standard codecs first: they are the reference a reader looks for in the table.
        return sorted((c for c in registry.all() if c.in_default_set),
                      key=lambda c: c.family != "traditional")
    # Specs are resolved first so two spellings of one setting (avif[speed=2] and
    # avif[speed=02]) count once, under their canonical label.
    chosen: dict[str, Codec] = {}
    for n in names:
        codec = registry.get(n)
        chosen.setdefault(codec.name, codec)
    return list(chosen.values())


def run_codec(codec: Codec, image: SourceImage, options: CompareOptions,
              progress: ProgressFn | None = None) -> CodecResult:
    """One codec, start to finish: rate search, decode from the bytes, measurements; the
    ``done`` event comes once it is measured, so a failure while measuring is reported.
    Never raises for the codec's own failures."""
    coded = search(codec, image, options, progress)
    if not coded.was_coded:
        return coded.res  # skipped or failed: ``search`` said so
    res, recon = decode_chosen(coded)
    measure(res, image, recon, options)
    if progress:
        progress(codec.name, "done", res)
    return res


def code_with(codec: Codec, image: SourceImage, options: CompareOptions,
              progress: ProgressFn | None = None) -> tuple[CodecResult, np.ndarray | None]:
    """Match the rate and decode the chosen bitstream from its bytes: the result so far
    (``failed`` until :func:`measure` marks it ``ok``) and the reconstruction (``None`` when
    the codec was skipped or failed). ``done`` is the caller's to emit once it has measured,
    except for a skipped or failed codec, for which ``search`` emitted it."""
    return decode_chosen(search(codec, image, options, progress))


@dataclass
class Coded:
    """A codec between its search and its decode: the chosen bitstream, a few hundred
    kilobytes where its reconstruction is 72 MB at 24 megapixels. ``encoded`` is ``None``
    when there is nothing to decode (skipped, failed, or ``recon`` already decoded by a
    quality search); ``recon`` beside ``encoded`` is its decode made by ``search``."""

    codec: Codec
    res: CodecResult
    encoded: Encoded | None = None
    shape: tuple[int, ...] = ()
    replicated: bool = False
    recon: np.ndarray | None = None

    @property
    def was_coded(self) -> bool:
        """A bitstream (or, after a quality search, its reconstruction) to go on with."""
        return self.encoded is not None or self.recon is not None


def search(codec: Codec, image: SourceImage, options: CompareOptions,
           progress: ProgressFn | None = None, *, decode: bool = True) -> Coded:
    """The rate (or quality) search: events ``start``, ``trial`` and, once a bitstream is
    chosen, ``coded``; ``done`` here only when the codec was skipped or failed. Never
    raises for the codec's own failures.

    ``decode``: decode the chosen bitstream here, for :func:`decode_chosen` to hand over,
    so that the jump check (which needs its PSNR) and the result share one decode: a few
    milliseconds for Pillow's codecs on Barbara, seconds for a reference decoder run as a
    program (VTM's, through a TOML codec with an integer QP). False where the
    reconstruction must not be held yet (a large image's codecs all code before any
    decodes: see ``LEAN_VALUES``)."""
    target = options.target_bpp if options.match is None else None
    res = CodecResult(codec=codec.name, family=codec.family, status="failed",
                      target_bpp=target, extension=codec.extension)
    coded = Coded(codec, res)

    def emit(event: str, detail: Any = None) -> None:
        if progress:
            progress(codec.name, event, detail)

    emit("start")
    try:
        codec.configure(options.settings)
        reason = codec.availability()
        if reason:
            res.status, res.reason = "skipped", reason
        else:
            _search(coded, image, options, lambda t: emit("trial", t), decode)
    except CodecUnavailable as exc:
        res.status, res.reason = "skipped", str(exc)
    except Exception as exc:  # a failing codec fails alone; the others finish
        res.status, res.reason = "failed", f"{type(exc).__name__}: {exc}".strip()
    if not coded.was_coded:
        emit("done", res)
    else:
        emit("coded", res)
    return coded


def _search(coded: Coded, image: SourceImage, options: CompareOptions,
            on_trial: Callable[[Trial], None], decode: bool) -> None:
    codec, res = coded.codec, coded.res
    res.library = dict(codec.library())
    res.device = codec.device()
    res.param_name = codec.param_space.name
    pixels = image.pixels
    replicated = image.is_gray and not codec.supports_gray
    if replicated:
        pixels = to_rgb(pixels)
        res.notes.append("grayscale replicated to 3 channels; decoded channels averaged")
    if options.match is not None:
        coded.recon = _code_at_quality(codec, image, pixels, replicated, options, res,
                                       on_trial)[1]
        return
    rm = match_rate(codec, pixels, options.target_bpp, on_trial=on_trial)
    enc = rm.encoded
    res.param = enc.param
    res.nbytes = enc.nbytes
    res.bpp = rm.bpp
    res.deviation = rm.deviation
    res.within_tolerance = rm.within(options.tolerance)
    if not res.within_tolerance:
        res.notes.append(
            f"achieved {rm.bpp:.3f} bpp is {rm.deviation:+.0%} from the target "
            f"(tolerance ±{options.tolerance:.0%})")
    decoded = _decode_early(codec, res, enc, pixels.shape) if decode else None
    try:  # a discontinuity near the chosen parameter (see codeccmp.pipeline.ratejump)
        jump = find_jump(codec, pixels, enc, options.target_bpp, options.tolerance,
                         known=rm.encoded_here, chosen_decoded=decoded) \
            if options.jump_check else None
    except Exception:  # noqa: BLE001 - a failing probe only means no note
        jump = None
    if jump is not None:
        res.notes.append(jump_note(codec, jump, enc.param))
    res.encode_s = rm.encode_s
    res.search_s = rm.search_s
    res.settings = dict(enc.settings)
    res.trials = [{"param": t.param, "bpp": t.bpp, "nbytes": t.nbytes} for t in rm.trials]
    if options.keep_outputs:
        res.bitstream = enc.data
    coded.encoded, coded.shape, coded.replicated = enc, pixels.shape, replicated
    if decoded is not None:
        coded.recon = to_gray(decoded) if replicated else decoded


def _decode(codec: Codec, res: CodecResult, data: bytes, shape: tuple[int, ...]) -> np.ndarray:
    """The codec's decode of ``data`` as it came (timed into ``res``), checked."""
    t0 = time.perf_counter()
    decoded = np.asarray(codec.decode(data))
    res.decode_s = time.perf_counter() - t0
    if decoded.dtype != np.uint8 or decoded.shape != shape:
        raise ValueError(f"decoder returned {decoded.dtype} {decoded.shape}, "
                         f"expected uint8 {shape}")
    return decoded


def _decode_early(codec: Codec, res: CodecResult, enc: Encoded,
                  shape: tuple[int, ...]) -> np.ndarray | None:
    """The chosen bitstream decoded now (see :func:`search`), or ``None`` if that failed:
    :func:`decode_chosen` then tries again and reports it as it reports every failed
    decode."""
    try:
        return _decode(codec, res, enc.data, shape)
    except Exception:  # noqa: BLE001 - reported by decode_chosen, which decodes again
        res.decode_s = None
        return None


def decode_chosen(coded: Coded) -> tuple[CodecResult, np.ndarray | None]:
    """Decode the chosen bitstream from its bytes alone (timed): the result and the
    reconstruction, ``None`` when there is none. The caller emits ``done`` once the result
    is measured. Never raises for the codec's own failures."""
    res, recon, enc = coded.res, coded.recon, coded.encoded
    if enc is None and recon is None:
        return res, None  # skipped or failed: ``search`` said so
    coded.encoded = coded.recon = None  # the caller's copy is all there is from here
    if recon is None and enc is not None:  # not decoded by ``search`` (or it failed there)
        try:
            decoded = _decode(coded.codec, res, enc.data, coded.shape)
            recon = to_gray(decoded) if coded.replicated else decoded
        except CodecUnavailable as exc:
            res.status, res.reason, recon = "skipped", str(exc), None
        except Exception as exc:  # a failing codec fails alone; the others finish
            res.status, res.reason = "failed", f"{type(exc).__name__}: {exc}".strip()
            recon = None
    return res, recon


def _code_at_quality(codec: Codec, image: SourceImage, pixels: np.ndarray, replicated: bool,
                     options: CompareOptions, res: CodecResult,
                     on_trial: Callable[[Trial], None]) -> tuple[CodecResult, np.ndarray]:
    """``code_with`` for ``--match``: search the parameter by the decoded quality."""
    target = options.match
    assert target is not None

    def decode(data: bytes) -> np.ndarray:
        out = np.asarray(codec.decode(data))
        if out.dtype != np.uint8 or out.shape != pixels.shape:
            raise ValueError(f"decoder returned {out.dtype} {out.shape}, "
                             f"expected uint8 {pixels.shape}")
        return to_gray(out) if replicated else out

    def quality(enc: Any) -> float | None:
        # Measured and dropped: a search's trials hold no reconstructions (72 MB each at
        # 24 megapixels).
        v = target.metric.compute(image.pixels, decode(enc.data))
        return None if v is None else float(v)

    qm = match_quality(codec, pixels, target, quality, on_trial)
    enc = qm.encoded
    t0 = time.perf_counter()
    recon = decode(enc.data)  # once more, timed, from the chosen bytes alone
    res.decode_s = time.perf_counter() - t0
    res.param, res.nbytes, res.bpp = enc.param, enc.nbytes, qm.bpp
    res.within_tolerance = qm.within()
    res.metrics[target.metric.name] = qm.value
    if not res.within_tolerance:
        res.notes.append(
            f"achieved {target.metric.name} {_fmt(qm.value)} is {_fmt(qm.deviation, '+')} "
            f"from the target {target.value:g} (tolerance ±{target.tolerance:g})")
    res.encode_s, res.search_s = qm.encode_s, qm.search_s
    res.settings = dict(enc.settings)
    res.trials = qm.trials
    if options.keep_outputs:
        res.bitstream = enc.data
    return res, recon


def _fmt(v: float | None, sign: str = "") -> str:
    return "–" if v is None else format(v, f"{sign}.4g")


def measure(res: CodecResult, image: SourceImage, recon: np.ndarray | None,
            options: CompareOptions) -> None:
    """PSNR, MS-SSIM and SSIM of a coded result; marks it ``ok`` (or ``failed`` when a
    metric raises). Nothing to do for a skipped or failed codec."""
    if recon is None:
        return
    try:
        res.psnr = psnr(image.pixels, recon)
        res.ssim, res.ms_ssim = ssim_ms_ssim(image.pixels, recon)  # one pass, shared scale
        res.ms_ssim_db = ms_ssim_db(res.ms_ssim)
    except Exception as exc:
        res.status, res.reason = "failed", f"measuring: {type(exc).__name__}: {exc}".strip()
        return
    if res.ms_ssim is None:
        res.notes.append("image too small for 5-scale MS-SSIM")
    if options.metrics:
        values, notes = compute_metrics(options.metrics, image.pixels, recon)
        res.metrics.update(values)
        res.notes += notes
    res.status = "ok"
    if options.keep_outputs:
        res.reconstruction = recon


def compare_image(image: SourceImage, registry: CodecRegistry, options: CompareOptions,
                  progress: ProgressFn | None = None) -> Comparison:
    """Code ``image`` with every selected codec at the target rate and measure each.

    With ``options.warm_up``, slow imports (torch for the metrics, each codec's
    ``warm_up``) run on a background thread while the codecs that need none of them
    code; the rest, and every measurement, wait for it (``codeccmp.pipeline.warmup``). Above
    ``LEAN_VALUES`` every codec codes first, keeping only its chosen bitstream, and the
    imports, decodes and measurements follow.
    """
    if options.match is None:
        validate_bpp(options.target_bpp)
    codecs = select_codecs(registry, options.codecs)
    lean = image.pixels.size > LEAN_VALUES
    warming = warmup.start(codecs, options.settings) if options.warm_up and not lean else None

    def wait() -> None:
        if warming is not None:
            warming.join()

    # The stripe analysis (and SciPy's filters under it) is imported only by a run that
    # looks for stripe regions or has a ground truth: ``--roi none`` loads none of it.
    analysis: ModuleType | None = None
    if options.rois is not None or options.truth is not None:
        from codeccmp.pipeline import analysis
    try:
        rois = ([] if analysis is None else
                analysis.resolve_rois(image.pixels, options.rois, options.roi_count))
        done: dict[int, CodecResult] = {}
        waiting: list[tuple[CodecResult, np.ndarray | None]] = []
        later: list[Coded] = []

        def finish(res: CodecResult, recon: np.ndarray | None) -> None:
            # Measured and analysed as soon as coded, so that only the reconstructions the
            # caller keeps (``keep_outputs``) outlive their codec: at 24 megapixels each is
            # 72 MB, and six held at once made most of the peak memory.
            measure(res, image, recon, options)
            if analysis is not None and options.rois is not None and res.ok:
                res.reconstruction = recon
                analysis.analyse_result(image.pixels, res, rois, options.truth, [
                    *options.metrics, *([options.match.metric] if options.match else [])])
                if not options.keep_outputs:
                    res.reconstruction = None
            if progress:
                progress(res.codec, "done", res)  # measured: a failure there is reported

        # Codecs with nothing to warm up first: they run while the warm-up imports. What
        # they coded is measured once it is done (measuring imports torch: ``warmup``).
        for c in sorted(codecs, key=warmup.needs_warm_up):
            if warmup.needs_warm_up(c):
                if warming is None and options.warm_up:
                    warming = warmup.start(codecs, options.settings)
                wait()
            coded = search(c, image, options, progress, decode=not lean)
            release_memory()
            done[id(c)] = coded.res
            if not coded.was_coded:
                continue  # skipped or failed: ``search`` said so
            if lean and coded.encoded is not None:
                later.append(coded)  # decoded and measured once every codec has coded
                continue
            res, recon = decode_chosen(coded)
            del coded
            if warming is not None and warming.is_alive():
                waiting.append((res, recon))
                continue
            for early in waiting:
                finish(*early)
            waiting.clear()
            finish(res, recon)
            del recon
            release_memory()
        if later and warming is None and options.warm_up:
            warming = warmup.start(codecs, options.settings)
        wait()
        for early in waiting:
            finish(*early)
        waiting.clear()
        while later:
            finish(*decode_chosen(later.pop(0)))
            release_memory()
        results = [done[id(c)] for c in codecs]
    finally:
        wait()
    record = image_record(image)
    if analysis is not None and options.truth is not None:
        record["truth"] = {"path": options.truth.get("path"),
                           "original": analysis.truth_error(image.pixels, options.truth)}
    return Comparison(
        image=record,
        target_bpp=options.target_bpp if options.match is None else None,
        tolerance=options.tolerance,
        results=results,
        settings={
            "codecs": list(options.codecs) if options.codecs is not None else None,
            "device": options.settings.device,
            "offline": options.settings.offline,
            "weights": dict(options.settings.weights),
            "weights_dir": options.settings.weights_dir,
            "metrics": {m.name: dict(m.library()) for m in options.metrics},
            "match": options.match.to_dict() if options.match is not None else None,
            "jump_check": options.jump_check,
            "rois": ("auto" if isinstance(options.rois, str) else
                     None if options.rois is None else [str(r) for r in options.rois]),
        },
        rois=[r.to_dict() for r in rois],
        environment=environment(),
    )


def image_record(image: SourceImage) -> dict[str, Any]:
    return {
        "path": image.path,
        "sha256": image.sha256,
        "width": image.width,
        "height": image.height,
        "mode": "L" if image.is_gray else "RGB",
        "source_mode": image.source_mode,
        "format": image.source_format,
        "notes": list(image.notes),
    }
