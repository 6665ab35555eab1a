"""``LearnedCodec``: one CompressAI-style model and metric, coded to real bitstreams.

One codec per (architecture, metric): ``bmshj2018-factorized`` is the MS-SSIM model (this
tool studies those), ``bmshj2018-factorized-mse`` the MSE one. Its rate parameter is the
discrete quality. torch and compressai are imported inside methods only, and so are this
plugin's helper modules below (a few milliseconds that every run with only standard codecs
paid): registering the codecs costs nothing at start-up.

Every bitstream this codec encodes is checked when decoded: the quantized latents the decoder
recovers from the bytes must be those the encoder coded; a mismatch (entropy-coding drift) is
an error, never a result. See docs/models.md for the bitstream, the drift check and the
memory policy.

The class holds the codec's state and its steps; the work is done in
:mod:`~codeccmp_compressai.tensors` (images to and from tensors),
:mod:`~codeccmp_compressai.latents` (the encoder's latents and the drift check),
:mod:`~codeccmp_compressai.quality_search` (estimates and the search over qualities),
:mod:`~codeccmp_compressai.bitstream` (the container) and
:mod:`~codeccmp_compressai.weights` (where each quality's model comes from).
"""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from codeccmp.codec import (
    Codec,
    CodecError,
    CodecUnavailable,
    Encoded,
    Param,
    ParamSpace,
    RunSettings,
)
from codeccmp_compressai import zoo

if TYPE_CHECKING:
    import numpy as np

    from codeccmp_compressai import weights as wts
    from codeccmp_compressai.quality_search import Analysis

#: Bitstream files written with ``--out`` get this extension.
EXTENSION = "lcb"
_CACHE_SIZE = 16
#: Analyses keep the analysis transform's output ``y`` (activation-sized) for ``compress`` to
#: reuse; only the latest few do.
_KEEP_ANALYSIS_OUTPUT = 2


class LearnedCodec(Codec):
    """A learned image codec for one architecture and training metric."""

    family = "learned"
    supports_gray = False
    #: Decode every bitstream inside ``encode`` too. Off by default: the pipeline decodes
    #: the chosen bitstream anyway and :meth:`decode` checks the latents it recovers
    #: against the encoder's, so an extra decode per rate-search candidate only costs time (for the
    #: autoregressive models, seconds each). Turn on when using ``encode`` on its own.
    verify_on_encode: bool = False
    extension = EXTENSION

    def __init__(self, arch: str, metric: str = zoo.DEFAULT_METRIC) -> None:
        a = zoo.ARCHS[arch]
        self.arch = arch
        self.metric = metric
        self.name = a.codec_name(metric)
        origin = "CompressAI zoo" if a.zoo else "weights from `codeccmp train`"
        self.description = f"{a.title}, trained for {metric.upper()} ({origin})"
        self._settings = RunSettings()
        self._resolutions: dict[int, wts.Resolution] | None = None
        self._device: str | None = None
        # sha256 of a bitstream this codec produced -> the quantized latents it coded, so a
        # later decode of the same bytes is checked (bounded; never used to decode).
        self._expected: OrderedDict[str, Any] = OrderedDict()
        # (image digest, quality, device) -> its analysis (estimate, y, reference latents)
        self._analyses: OrderedDict[tuple[str, int, str], Analysis] = OrderedDict()

    # ------------------------------------------------------------------ configuration

    def configure(self, settings: RunSettings) -> None:
        """Take the run's device and weights options; loaded models stay cached. A
        ``--weights`` file of this codec that was not written by ``torch.save`` (a wrong
        path) is bad input, refused here: the CLI configures before any coding."""
        from codeccmp_compressai.checkpoints import check_weights_files

        check_weights_files(self.base_name, settings.weights)
        self._settings = settings
        self._resolutions = None
        self._device = None
        self._analyses.clear()
        self._expected.clear()  # other weights may decode the same bytes differently

    def _resolve(self) -> dict[int, wts.Resolution]:
        from codeccmp_compressai import weights as wts

        if self._resolutions is None:
            self._resolutions = wts.resolve_codec(self.arch, self.metric, self._settings)
        return self._resolutions

    def resolutions(self) -> dict[int, wts.Resolution]:
        """Where each quality's weights come from under the current settings."""
        return dict(self._resolve())

    @property  # type: ignore[override]
    def param_space(self) -> ParamSpace:
        """The qualities usable here: offline, only those whose weights are on disk."""
        try:
            usable = tuple(q for q, r in sorted(self._resolve().items()) if r.source != "missing")
        except Exception:  # no torch/compressai: availability() says why
            usable = ()
        if not usable:
            usable = zoo.ARCHS[self.arch].qualities or (0,)
        return ParamSpace("quality", "discrete", values=usable, rate_increases=True)

    def availability(self) -> str | None:
        """None when some quality's weights can be had here; else why not, in one line.

        Cheap on purpose (``codeccmp codecs`` calls it for every codec): torch and compressai
        are located, not imported, and the device is only probed when CUDA was asked for.
        """
        import importlib.util

        from codeccmp_compressai import weights as wts

        missing = [m for m in ("torch", "compressai") if importlib.util.find_spec(m) is None]
        if missing:
            return f"needs {' and '.join(missing)} (pip install codeccmp installs them)"
        try:
            if (self._settings.device or "auto").strip().lower() not in ("auto", "cpu"):
                self._resolved_device()
            if not zoo.ARCHS[self.arch].zoo and importlib.util.find_spec(
                "codeccmp_compressai.models"
            ) is None:
                return f"{self.arch} architecture not installed (codeccmp_compressai.models)"
        except CodecUnavailable as exc:
            return str(exc)
        res = self._resolve()
        if any(r.source != "missing" for r in res.values()):
            return None
        return wts.missing_reason(self.arch, self.metric, res)

    def weights_status(self) -> str:
        """Where this codec's weights are, in a few words (the weights line of ``codeccmp
        codecs -v``): ``on disk``, what a run would download, or why there are none.

        The same resolution ``compare`` and ``sweep`` use, so the listing and a run agree:
        a codec whose weights must be downloaded is listed as such, and a run that cannot
        download them says so in the same terms.
        """
        from codeccmp_compressai import weights as wts

        try:
            res = self._resolve()
        except Exception as exc:  # no torch/compressai: availability() says why
            return f"unknown ({type(exc).__name__})"
        return wts.status_line(self.arch, self.metric, res)

    def cache_token(self) -> object:
        """The sources of the modules this class codes through: the result cache digests
        the class's own file only, and editing a helper must change the keys too."""
        from codeccmp.model.digests import file_digest
        from codeccmp_compressai import bitstream, latents, quality_search, stages, tensors

        helpers = (tensors, latents, quality_search, bitstream, stages)
        return {"helper_sources": [file_digest(str(m.__file__)) for m in helpers]}

    def warm_up(self) -> None:
        """Import torch and compressai (seconds) ahead of the first encode."""
        zoo.import_compressai()

    def _pad_multiple(self) -> int:
        """Extra padding multiple from ``settings.extra["learned_pad_multiple"]`` (default 1).

        The model's own multiple is always honoured; a larger one (64) reproduces
        CompressAI's evaluation scripts, which pad every model to 64. The decoder needs no
        setting: a latent shape that is not the model's default is stored in the header.
        """
        value = (self._settings.extra or {}).get("learned_pad_multiple", 1)
        try:
            n = int(value)
        except (TypeError, ValueError):
            raise CodecError(f"learned_pad_multiple must be an integer, not {value!r}") from None
        if n < 1:
            raise CodecError(f"learned_pad_multiple must be >= 1, not {n}")
        return n

    def _resolved_device(self) -> str:
        if self._device is None:
            from codeccmp_compressai import device as devices

            self._device = devices.resolve_device(self._settings.device)
        return self._device

    def device(self) -> str:
        try:
            return self._resolved_device()
        except CodecUnavailable:
            return self._settings.device

    def library(self) -> dict[str, str]:
        """Versions from package metadata (no import); CUDA and GPU once torch is loaded."""
        import sys

        from codeccmp import installed
        from codeccmp_compressai import bitstream

        info: dict[str, str] = {}
        for pkg in ("compressai", "torch"):
            found = installed.version(pkg)
            if found is not None:
                info[pkg] = found
        info["bitstream"] = f"codeccmp-learned/{bitstream.FORMAT_VERSION}"
        torch = sys.modules.get("torch")
        dev = self.device() if torch is not None else ""
        if torch is not None and dev.startswith("cuda"):
            info["cuda"] = str(torch.version.cuda)
            info["gpu"] = torch.cuda.get_device_name(torch.device(dev))
        return info

    # ------------------------------------------------------------------ helpers

    def _model(self, quality: int) -> tuple[wts.Resolution, wts.LoadedModel]:
        res = self._resolve().get(int(quality))
        if res is None:
            have = ", ".join(str(q) for q in self.param_space.values)
            raise CodecError(f"{self.name} has no quality {quality} (qualities here: {have})")
        from codeccmp_compressai import weights as wts

        return res, wts.get_model(res, self._resolved_device())

    def _check_quality(self, param: Param) -> int:
        if isinstance(param, float) and not param.is_integer():
            raise CodecError(f"{self.name}: quality must be an integer, not {param}")
        return int(param)

    def _padded_tensor(self, rgb: np.ndarray, lm: wts.LoadedModel) -> Any:
        """(1, 3, Hp, Wp) float tensor in [0, 1] on the device, replicate-padded."""
        from codeccmp_compressai.tensors import padded_tensor

        return padded_tensor(rgb, lm, self._pad_multiple(), self.name)

    # ------------------------------------------------------------------ estimates

    def _analysis_cached(
        self, rgb: np.ndarray, quality: int, lm: wts.LoadedModel, x: Any | None = None
    ) -> Analysis:
        from codeccmp_compressai.quality_search import analyse
        from codeccmp_compressai.tensors import image_digest, quiet, torch_module

        key = (image_digest(rgb), quality, lm.device)
        hit = self._analyses.get(key)
        if hit is not None:
            self._analyses.move_to_end(key)
            return hit
        if x is None:
            x = self._padded_tensor(rgb, lm)
        torch = torch_module()
        with torch.inference_mode(), quiet():
            value = analyse(lm, x, *rgb.shape[:2])
        self._analyses[key] = value
        # ``y`` is an activation-sized tensor: only the latest few keep theirs.
        for i, old in enumerate(reversed(self._analyses.values())):
            if i >= _KEEP_ANALYSIS_OUTPUT:
                old.y = None
        while len(self._analyses) > _CACHE_SIZE:
            self._analyses.popitem(last=False)
        return value

    def estimate_bpp(self, image: np.ndarray, quality: int) -> float:
        """bpp estimated from the analysis side alone (no entropy coding, no synthesis):
        −Σlog2 p / pixels."""
        from codeccmp_compressai.tensors import as_rgb

        rgb, _ = as_rgb(image)
        _, lm = self._model(self._check_quality(quality))
        return self._analysis_cached(rgb, int(quality), lm).est

    # ------------------------------------------------------------------ coding

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        from codeccmp_compressai import bitstream, stages
        from codeccmp_compressai.latents import (
            check_drift,
            compress_autoregressive,
            decoded_latents,
            flatten_strings,
            nest,
            reference_mode,
        )
        from codeccmp_compressai.tensors import (
            as_rgb,
            image_digest,
            model_multiple,
            quiet,
            torch_module,
        )

        torch = torch_module()
        quality = self._check_quality(param)
        rgb, gray = as_rgb(image)
        h, w = rgb.shape[:2]
        res, lm = self._model(quality)
        x = self._padded_tensor(rgb, lm)
        model = lm.model
        mode = reference_mode(model, self.arch)
        if mode == "forward":
            a: Analysis | None = self._analysis_cached(rgb, quality, lm, x)
        else:
            a = self._analyses.get((image_digest(rgb), quality, lm.device))
        est = a.est if a is not None else None
        ref = a.ref if a is not None else None
        t0 = time.perf_counter()
        with torch.inference_mode(), quiet():
            y = a.y if a is not None else None
            if y is not None:  # g_a ran in the analysis: its time is part of this encode
                t0 -= a.y_s
            elif mode != "in-memory":
                y = model.g_a(x)
            if mode == "autoregressive":
                out, y_hat = compress_autoregressive(model, x, y)
                ref = y_hat.detach().float().cpu()
            elif y is not None:
                with stages.fixed_analysis(model, y):
                    out = model.compress(x)
            else:
                out = model.compress(x)
            if lm.device.startswith("cuda"):
                torch.cuda.synchronize(lm.device)
            encode_s = time.perf_counter() - t0
            strings, flat = flatten_strings(out["strings"], self.name)
            shape = tuple(int(d) for d in out["shape"])
            # What the decoder derives when the header stores no shape (see _decode_rgb).
            f = model_multiple(lm)
            derived = (-(-h // f), -(-w // f))
            if mode == "in-memory":
                ref = decoded_latents(model, nest(strings, flat), list(shape), x.shape)
        header = bitstream.Header(
            model_id=zoo.ARCHS[self.arch].model_id,
            metric=self.metric,
            quality=quality,
            height=h,
            width=w,
            shape=None if shape == derived else shape,
            gray=gray,
            flat=flat,
        )
        data = bitstream.pack(header, strings)
        if ref is None:  # every mode sets it; guard against a future one that does not
            raise CodecError(f"{self.name}: no encoder-side latents to check against")
        check: dict[str, Any] = {}
        if self.verify_on_encode:
            t1 = time.perf_counter()
            _, decoded = self._decode_rgb(data, latents=True)  # the bytes alone, as decode()
            check["check_decode_s"] = round(time.perf_counter() - t1, 4)
            differing, max_diff = check_drift(decoded, ref, f"{self.name} q{quality}",
                                              lm.device)
            check.update(drift_latents_differing=differing, drift_max_latent_diff=max_diff)
        self._expected[hashlib.sha256(data).hexdigest()] = ref
        while len(self._expected) > _CACHE_SIZE:
            self._expected.popitem(last=False)
        settings: dict[str, Any] = {
            "model": self.arch,
            "metric": self.metric,
            "quality": quality,
            "weights": str(res.path),
            "weights_sha256": lm.sha256,
            "weights_source": res.source,
            "device": lm.device,
            "device_name": (torch.cuda.get_device_name(torch.device(lm.device))
                            if lm.device.startswith("cuda") else "cpu"),
            "header_bytes": len(data) - sum(len(s) for s in strings),
            "padded_size": [int(x.shape[3]), int(x.shape[2])],
            "drift_check": mode,
            "drift_checked_at": "encode and decode" if self.verify_on_encode else "decode",
            "latents": int(ref.numel()),
            "encode_s": round(encode_s, 4),
            **check,
        }
        if est is not None:
            settings["estimated_bpp"] = round(est, 6)
        for k in ("format", "lmbda", "steps"):
            if k in lm.meta and isinstance(lm.meta[k], (str, int, float)):
                settings[f"checkpoint_{k}"] = lm.meta[k]
        return Encoded(data=data, param=quality, settings=settings)

    def _decode_rgb(self, data: bytes, latents: bool = False) -> tuple[np.ndarray, Any]:
        """Bytes -> (H, W, 3) uint8 (before averaging gray back), and with ``latents`` the
        quantized latents the decoder recovered (what ``g_s`` was given)."""
        from codeccmp_compressai import bitstream, stages
        from codeccmp_compressai import device as devices
        from codeccmp_compressai.latents import nest
        from codeccmp_compressai.tensors import model_multiple, quiet, to_uint8, torch_module

        torch = torch_module()
        header, strings = bitstream.unpack(data)
        arch = zoo.ARCH_BY_ID.get(header.model_id)
        if arch is None:
            raise CodecError(f"learned bitstream names unknown model id {header.model_id}")
        if arch.name != self.arch or header.metric != self.metric:
            other = arch.codec_name(header.metric)
            raise CodecError(f"bitstream is for {other}, not {self.name}")
        _, lm = self._model(header.quality)
        f = model_multiple(lm)
        hp, wp = -(-header.height // f) * f, -(-header.width // f) * f
        devices.check_memory(lm.model, hp, wp, lm.device, self.name)
        shape = list(header.shape) if header.shape is not None else [hp // f, wp // f]
        tap = (stages.synthesis_input(lm.model) if latents and stages.has_stages(lm.model)
               else contextlib.nullcontext([]))
        try:
            with torch.inference_mode(), quiet(), tap as seen:
                x_hat = lm.model.decompress(nest(strings, header.flat), shape)["x_hat"]
        except Exception as exc:  # a damaged payload can fail anywhere in the decoder
            raise CodecError(
                f"{self.name}: cannot decode bitstream ({type(exc).__name__}: {exc})"
            ) from None
        if x_hat.dim() != 4 or x_hat.shape[2] < header.height or x_hat.shape[3] < header.width:
            raise CodecError(
                f"{self.name}: decoded {tuple(x_hat.shape)} does not cover "
                f"{header.width}x{header.height}"
            )
        y_hat = seen[0].detach().float().cpu() if seen else None
        return to_uint8(x_hat, header.height, header.width), y_hat

    def decode(self, data: bytes) -> np.ndarray:
        """Decode from ``data`` alone. If this codec object encoded these very bytes, the
        latents the decoder recovered are also checked against those the encoder coded
        (entropy-decoding drift is an error, never a result)."""
        from codeccmp_compressai import bitstream
        from codeccmp_compressai.latents import check_drift
        from codeccmp_compressai.tensors import to_output

        header, _ = bitstream.unpack(data)
        ref = self._expected.get(hashlib.sha256(data).hexdigest())
        rgb, y_hat = self._decode_rgb(data, latents=ref is not None)
        if ref is not None:
            check_drift(y_hat, ref, self.name, self._device or "this device")
        return to_output(rgb, header.gray)

    # ------------------------------------------------------------------ rate matching

    def match_rate(self, image: np.ndarray, target_bpp: float) -> Sequence[Encoded] | None:
        """:meth:`_match_rate`, retried without qualities whose download just failed, so a
        network failure costs only the qualities that needed the network."""
        from codeccmp_compressai.zoo_download import DownloadError

        for _ in range(len(self.param_space.values)):
            try:
                return self._match_rate(image, target_bpp)
            except DownloadError:
                self._resolutions = None  # failed downloads now resolve as missing
                if not any(r.source != "missing" for r in self._resolve().values()):
                    raise
        return self._match_rate(image, target_bpp)

    def _match_rate(self, image: np.ndarray, target_bpp: float) -> list[Encoded]:
        """:func:`~codeccmp_compressai.quality_search.search_ladder` over this codec's
        qualities: estimates from the (cached) analyses, real bytes from :meth:`encode`."""
        from codeccmp_compressai.quality_search import search_ladder
        from codeccmp_compressai.tensors import as_rgb

        rgb, _ = as_rgb(image)

        def estimate(q: int) -> float:
            _, lm = self._model(q)
            return self._analysis_cached(rgb, q, lm).est

        return search_ladder(self.param_space.values, estimate,
                             lambda q: self.encode(image, q), rgb.shape[0] * rgb.shape[1],
                             target_bpp)


def all_codecs() -> list[LearnedCodec]:
    """Every learned codec, MS-SSIM variants first per architecture."""
    return [LearnedCodec(a, m) for a in zoo.ARCHS for m in zoo.METRICS]
