"""The comparison pipeline: for each codec, match the rate, decode from bytes, measure.

Plain functions over dataclasses, usable from Python without the CLI::

    from codeccmp.compare import CompareOptions, compare_image
    from codeccmp.images import load_image
    from codeccmp.plugins import load_registry

    cmp = compare_image(load_image("barbara.png"), load_registry(), CompareOptions(0.3))
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from codeccmp import warmup
from codeccmp.analysis import DEFAULT_ROI_COUNT, analyse_result, resolve_rois, truth_error
from codeccmp.codec import Codec, CodecUnavailable, RunSettings
from codeccmp.errors import UsageError
from codeccmp.images import SourceImage, to_gray, to_rgb
from codeccmp.metrics import ms_ssim, ms_ssim_db, psnr, ssim
from codeccmp.plugins import CodecRegistry
from codeccmp.ratematch import DEFAULT_TOLERANCE, Trial, match_rate
from codeccmp.results import CodecResult, Comparison, environment
from codeccmp.stripes import Roi

#: Above this a target cannot be meant: raw 8-bit RGB is 24 bpp.
MAX_BPP = 24.0

#: Progress callback: (codec name, event, detail). Events: start, trial, done.
ProgressFn = Callable[[str, str, Any], None]


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
    #: Ground-truth orientation map of a generated chart (see ``analysis.load_truth``).
    truth: dict[str, Any] | None = None
    #: Import what later codecs need on a background thread while the first ones run
    #: (``codeccmp.warmup``); off only to measure what it saves.
    warm_up: bool = True


def validate_bpp(bpp: float) -> float:
    if not np.isfinite(bpp) or bpp <= 0:
        raise UsageError(f"--bpp must be a positive number of bits per pixel, got {bpp:g}")
    if bpp > MAX_BPP:
        raise UsageError(f"--bpp {bpp:g} is absurd: raw 8-bit RGB is {MAX_BPP:g} bpp")
    return bpp


def select_codecs(registry: CodecRegistry, names: Sequence[str] | None) -> list[Codec]:
    if names is None:
        # Standard codecs first: they are the reference a reader looks for in the table.
        return sorted(registry.all(), key=lambda c: c.family != "traditional")
    seen: list[str] = []
    for n in names:
        if n not in seen:
            seen.append(n)
    return [registry.get(n) for n in seen]


def run_codec(codec: Codec, image: SourceImage, options: CompareOptions,
              progress: ProgressFn | None = None) -> CodecResult:
    """One codec, start to finish. Never raises for the codec's own failures."""
    target = options.target_bpp
    res = CodecResult(codec=codec.name, family=codec.family, status="failed",
                      target_bpp=target, extension=codec.extension)

    def emit(event: str, detail: Any = None) -> None:
        if progress:
            progress(codec.name, event, detail)

    emit("start")
    try:
        codec.configure(options.settings)
        reason = codec.availability()
        if reason:
            res.status, res.reason = "skipped", reason
            return res
        res.library = dict(codec.library())
        res.device = codec.device()
        res.param_name = codec.param_space.name
        pixels = image.pixels
        replicated = image.is_gray and not codec.supports_gray
        if replicated:
            pixels = to_rgb(pixels)
            res.notes.append("grayscale replicated to 3 channels; decoded channels averaged")

        def on_trial(t: Trial) -> None:
            emit("trial", t)

        rm = match_rate(codec, pixels, target, on_trial=on_trial)
        enc = rm.encoded
        t0 = time.perf_counter()
        recon = codec.decode(enc.data)
        decode_s = time.perf_counter() - t0
        recon = np.asarray(recon)
        if recon.dtype != np.uint8 or recon.shape != pixels.shape:
            raise ValueError(
                f"decoder returned {recon.dtype} {recon.shape}, expected uint8 {pixels.shape}")
        if replicated:
            recon = to_gray(recon)
        res.status = "ok"
        res.param = enc.param
        res.nbytes = enc.nbytes
        res.bpp = rm.bpp
        res.deviation = rm.deviation
        res.within_tolerance = rm.within(options.tolerance)
        if not res.within_tolerance:
            res.notes.append(
                f"achieved {rm.bpp:.3f} bpp is {rm.deviation:+.0%} from the target "
                f"(tolerance ±{options.tolerance:.0%})")
        res.encode_s = rm.encode_s
        res.decode_s = decode_s
        res.search_s = rm.search_s
        res.settings = dict(enc.settings)
        res.trials = [{"param": t.param, "bpp": t.bpp, "nbytes": t.nbytes} for t in rm.trials]
        res.psnr = psnr(image.pixels, recon)
        res.ms_ssim = ms_ssim(image.pixels, recon)
        res.ms_ssim_db = ms_ssim_db(res.ms_ssim)
        res.ssim = ssim(image.pixels, recon)
        if res.ms_ssim is None:
            res.notes.append("image too small for 5-scale MS-SSIM")
        if options.keep_outputs:
            res.reconstruction = recon
            res.bitstream = enc.data
    except CodecUnavailable as exc:
        res.status, res.reason = "skipped", str(exc)
    except Exception as exc:  # a failing codec fails alone; the others finish
        res.status, res.reason = "failed", f"{type(exc).__name__}: {exc}".strip()
    finally:
        emit("done", res)
    return res


def compare_image(image: SourceImage, registry: CodecRegistry, options: CompareOptions,
                  progress: ProgressFn | None = None) -> Comparison:
    """Code ``image`` with every selected codec at the target rate and measure each."""
    validate_bpp(options.target_bpp)
    codecs = select_codecs(registry, options.codecs)
    warming = warmup.start(codecs, options.settings) if options.warm_up else None
    try:
        rois = resolve_rois(image.pixels, options.rois, options.roi_count)
        results = [run_codec(c, image, options, progress) for c in codecs]
    finally:
        if warming is not None:
            warming.join()
    if options.rois is not None:
        for r in results:
            analyse_result(image.pixels, r, rois, options.truth)
    record = image_record(image)
    if options.truth is not None:
        record["truth"] = {"path": options.truth.get("path"),
                           "original": truth_error(image.pixels, options.truth)}
    return Comparison(
        image=record,
        target_bpp=options.target_bpp,
        tolerance=options.tolerance,
        results=results,
        settings={
            "codecs": list(options.codecs) if options.codecs is not None else None,
            "device": options.settings.device,
            "offline": options.settings.offline,
            "weights": dict(options.settings.weights),
            "weights_dir": options.settings.weights_dir,
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
