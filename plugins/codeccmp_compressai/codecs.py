"""``LearnedCodec``: one CompressAI-style model and metric, coded to real bitstreams.

One codec per (architecture, metric): ``bmshj2018-factorized`` is the MS-SSIM model (this
tool studies those), ``bmshj2018-factorized-mse`` the MSE one. Its rate parameter is the
discrete quality. torch and compressai are imported inside methods only, so registering the
codecs costs nothing at start-up.

Every bitstream this codec encodes is checked when decoded: the quantized latents the decoder
recovers from the bytes must be those the encoder coded; a mismatch (entropy-coding drift) is
an error, never a result. See docs/models.md for the bitstream, the drift check and the
memory policy.
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import time
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from codeccmp.codec import (
    Codec,
    CodecError,
    CodecUnavailable,
    Encoded,
    Param,
    ParamSpace,
    RunSettings,
)
from codeccmp_compressai import bitstream, stages, zoo
from codeccmp_compressai import device as devices
from codeccmp_compressai import weights as wts

#: Bitstream files written with ``--out`` get this extension.
EXTENSION = "lcb"
_CACHE_SIZE = 16
#: Analyses keep the analysis transform's output ``y`` (activation-sized) for ``compress`` to
#: reuse; only the latest few do.
_KEEP_ANALYSIS_OUTPUT = 2


@dataclass
class _Analysis:
    """One image through one quality's analysis side (see ``LearnedCodec._analyse``)."""

    est: float  # estimated bpp
    y: Any  # g_a's output on the device, or None once evicted
    y_s: float  # seconds g_a took: part of the encode time of a compress that reuses y
    ref: Any  # encoder-side quantized latents (CPU float32) for ``forward`` models, or None


def _torch() -> Any:
    import torch

    return torch


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
        self._analyses: OrderedDict[tuple[str, int, str], _Analysis] = OrderedDict()

    # ------------------------------------------------------------------ configuration

    def configure(self, settings: RunSettings) -> None:
        """Take the run's device and weights options; loaded models stay cached."""
        self._settings = settings
        self._resolutions = None
        self._device = None
        self._analyses.clear()
        self._expected.clear()  # other weights may decode the same bytes differently

    def _resolve(self) -> dict[int, wts.Resolution]:
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
        """Where this codec's weights are, in a few words (``codeccmp codecs``' weights
        column): ``on disk``, what a run would download, or why there are none.

        The same resolution ``compare`` and ``sweep`` use, so the listing and a run agree:
        a codec whose weights must be downloaded is listed as such, and a run that cannot
        download them says so in the same terms.
        """
        try:
            res = self._resolve()
        except Exception as exc:  # no torch/compressai: availability() says why
            return f"unknown ({type(exc).__name__})"
        local = [q for q, r in res.items() if r.local]
        fetch = [q for q, r in res.items() if r.source == "download"]
        if not local and not fetch:
            missing = [r for r in res.values() if r.source == "missing"]
            why = next((r.reason for r in missing if r.reason), "missing")
            return f"missing ({why})"
        if not fetch:
            return "on disk"
        pull = wts.pull_command(self.arch, self.metric)
        if not local:
            return f"not on disk: downloaded on first use, or now with `{pull}`"
        return (f"on disk for quality {_qualities(local)}; {_qualities(fetch)} downloaded on "
                f"first use (`{pull}`)")

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
        from importlib.metadata import PackageNotFoundError, version

        info: dict[str, str] = {}
        for pkg in ("compressai", "torch"):
            with contextlib.suppress(PackageNotFoundError):
                info[pkg] = version(pkg)
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
        return res, wts.get_model(res, self._resolved_device())

    def _check_quality(self, param: Param) -> int:
        if isinstance(param, float) and not param.is_integer():
            raise CodecError(f"{self.name}: quality must be an integer, not {param}")
        return int(param)

    @staticmethod
    def _multiple(lm: wts.LoadedModel) -> int:
        f = getattr(lm.model, "downsampling_factor", None)
        return int(f) if f else zoo.ARCHS[lm.arch].multiple

    @staticmethod
    def _as_rgb(image: np.ndarray) -> tuple[np.ndarray, bool]:
        arr = np.asarray(image)
        if arr.dtype != np.uint8:
            raise CodecError(f"learned codecs take uint8 images, not {arr.dtype}")
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim == 2:
            return np.repeat(arr[:, :, None], 3, axis=2), True
        if arr.ndim != 3 or arr.shape[2] != 3:
            raise CodecError(f"learned codecs take (H, W, 3) or (H, W) images, not {arr.shape}")
        if arr.shape[0] == 0 or arr.shape[1] == 0:
            raise CodecError("empty image")
        return arr, False

    def _padded_tensor(self, rgb: np.ndarray, lm: wts.LoadedModel) -> Any:
        """(1, 3, Hp, Wp) float tensor in [0, 1] on the device, replicate-padded."""
        torch = _torch()
        import torch.nn.functional as F

        h, w = rgb.shape[:2]
        f = math.lcm(self._multiple(lm), self._pad_multiple())
        hp, wp = -(-h // f) * f, -(-w // f) * f
        devices.check_memory(lm.model, hp, wp, lm.device, self.name)
        if not (rgb.flags.writeable and rgb.flags.c_contiguous):
            rgb = np.array(rgb, order="C")  # torch warns on read-only arrays
        x = torch.from_numpy(rgb).to(lm.device)
        x = x.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        if (hp, wp) != (h, w):
            x = F.pad(x, (0, wp - w, 0, hp - h), mode="replicate")
        return x

    @staticmethod
    def _to_uint8(x_hat: Any, h: int, w: int) -> np.ndarray:
        x = x_hat[0, :, :h, :w].clamp(0, 1).mul(255.0).round().to(dtype=_torch().uint8)
        return np.ascontiguousarray(x.permute(1, 2, 0).cpu().numpy())

    @staticmethod
    def _digest(rgb: np.ndarray) -> str:
        h = hashlib.blake2b(rgb.tobytes(), digest_size=16)
        h.update(repr(rgb.shape).encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ reference

    def _reference_mode(self, model: Any) -> str:
        """How the encoder knows which latents the decoder must recover (docs/models.md).

        - ``forward``: models whose eval-mode forward pass quantizes exactly as compress
          does (factorized, hyperprior, mean-scale; bls2017 and lee2019 by their docs; any
          model with ``forward_is_exact = True``);
        - ``autoregressive``: CompressAI's joint autoregressive coder, re-run here so the
          in-loop quantized latents are kept;
        - ``in-memory``: anything else: the strings decoded before packing (checks the
          packing only).
        """
        zoo.import_compressai()
        from compressai.models import (
            FactorizedPrior,
            JointAutoregressiveHierarchicalPriors,
            MeanScaleHyperprior,
            ScaleHyperprior,
        )

        if not stages.has_stages(model):
            return "in-memory"
        t = type(model)
        jar = JointAutoregressiveHierarchicalPriors
        if isinstance(model, jar):
            return "autoregressive" if t.compress is jar.compress else "in-memory"
        for cls in (MeanScaleHyperprior, ScaleHyperprior, FactorizedPrior):
            if (
                isinstance(model, cls)
                and t.forward is cls.forward
                and t.compress is cls.compress
                and t.decompress is cls.decompress
            ):
                return "forward"
        if getattr(model, "forward_is_exact", zoo.ARCHS[self.arch].forward_exact):
            return "forward"
        return "in-memory"

    @staticmethod
    def _compress_autoregressive(model: Any, x: Any, y: Any) -> tuple[dict[str, Any], Any]:
        """CompressAI's ``JointAutoregressiveHierarchicalPriors.compress``, keeping y_hat.

        ``_compress_ar`` writes the quantized latents into the padded ``y_hat`` it is given,
        so running it on our own tensor yields the encoder-side latents for free.
        """
        import torch.nn.functional as F

        z = model.h_a(y)
        z_strings = model.entropy_bottleneck.compress(z)
        z_hat = model.entropy_bottleneck.decompress(z_strings, z.size()[-2:])
        params = model.h_s(z_hat)
        s, kernel_size = 4, 5
        padding = (kernel_size - 1) // 2
        y_height, y_width = z_hat.size(2) * s, z_hat.size(3) * s
        y_hat = F.pad(y, (padding, padding, padding, padding))
        string = model._compress_ar(
            y_hat[0:1], params[0:1], y_height, y_width, kernel_size, padding
        )
        y_hat = F.pad(y_hat, (-padding, -padding, -padding, -padding))
        return {"strings": [[string], z_strings], "shape": z.size()[-2:]}, y_hat

    def _analyse(self, lm: wts.LoadedModel, x: Any, h: int, w: int) -> _Analysis:
        """The forward pass without the synthesis transform: the rate estimate from the
        model's own likelihoods, the analysis output ``y`` (which ``compress`` reuses) and,
        for ``forward`` models, the quantized latents the decoder must recover."""
        torch = _torch()
        model = lm.model
        t0, y_s = time.perf_counter(), 0.0
        if not stages.has_stages(model):
            out, y, y_hat = model(x), None, None
        else:
            y = model.g_a(x)
            if lm.device.startswith("cuda"):
                torch.cuda.synchronize(lm.device)
            y_s = time.perf_counter() - t0
            with stages.fixed_analysis(model, y), stages.skipped_synthesis(model, x.shape) as seen:
                out = model(x)
            y_hat = seen[0] if seen else None
        bits = 0.0
        for lik in out["likelihoods"].values():
            bits += float(-torch.log2(lik.double()).sum())
        n_latents = len(out["likelihoods"])
        # Header: fixed fields plus about 3 bytes of length per string.
        probe = bitstream.Header(1, self.metric, 8, h, w)
        header = len(bitstream.pack(probe, [])) + 3 * n_latents
        est = (bits + 8 * header) / (h * w)
        ref = None
        if y_hat is not None and self._reference_mode(model) == "forward":
            ref = y_hat.detach().float().cpu()
        return _Analysis(est, y, y_s, ref)

    def _analysis_cached(
        self, rgb: np.ndarray, quality: int, lm: wts.LoadedModel, x: Any | None = None
    ) -> _Analysis:
        key = (self._digest(rgb), quality, lm.device)
        hit = self._analyses.get(key)
        if hit is not None:
            self._analyses.move_to_end(key)
            return hit
        if x is None:
            x = self._padded_tensor(rgb, lm)
        torch = _torch()
        with torch.inference_mode(), _quiet():
            value = self._analyse(lm, x, *rgb.shape[:2])
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
        rgb, _ = self._as_rgb(image)
        _, lm = self._model(self._check_quality(quality))
        return self._analysis_cached(rgb, int(quality), lm).est

    # ------------------------------------------------------------------ coding

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        torch = _torch()
        quality = self._check_quality(param)
        rgb, gray = self._as_rgb(image)
        h, w = rgb.shape[:2]
        res, lm = self._model(quality)
        x = self._padded_tensor(rgb, lm)
        model = lm.model
        mode = self._reference_mode(model)
        if mode == "forward":
            a: _Analysis | None = self._analysis_cached(rgb, quality, lm, x)
        else:
            a = self._analyses.get((self._digest(rgb), quality, lm.device))
        est = a.est if a is not None else None
        ref = a.ref if a is not None else None
        t0 = time.perf_counter()
        with torch.inference_mode(), _quiet():
            y = a.y if a is not None else None
            if y is not None:  # g_a ran in the analysis: its time is part of this encode
                t0 -= a.y_s
            elif mode != "in-memory":
                y = model.g_a(x)
            if mode == "autoregressive":
                out, y_hat = self._compress_autoregressive(model, x, y)
                ref = y_hat.detach().float().cpu()
            elif y is not None:
                with stages.fixed_analysis(model, y):
                    out = model.compress(x)
            else:
                out = model.compress(x)
            if lm.device.startswith("cuda"):
                torch.cuda.synchronize(lm.device)
            encode_s = time.perf_counter() - t0
            strings, flat = _flatten_strings(out["strings"], self.name)
            shape = tuple(int(d) for d in out["shape"])
            # What the decoder derives when the header stores no shape (see _decode_rgb).
            f = self._multiple(lm)
            derived = (-(-h // f), -(-w // f))
            if mode == "in-memory":
                ref = self._decoded_latents(model, _nest(strings, flat), list(shape), x.shape)
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
            differing, max_diff = self._check_drift(decoded, ref, f"{self.name} q{quality}",
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

    @staticmethod
    def _decoded_latents(model: Any, strings: list[Any], shape: list[int],
                         image_shape: Any) -> Any:
        """What ``decompress`` hands ``g_s``, without running ``g_s``."""
        with stages.skipped_synthesis(model, image_shape) as seen:
            model.decompress(strings, shape)
        if not seen:
            raise CodecError(f"{type(model).__name__}.decompress never reached g_s")
        return seen[0].detach().float().cpu()

    def _decode_rgb(self, data: bytes, latents: bool = False) -> tuple[np.ndarray, Any]:
        """Bytes -> (H, W, 3) uint8 (before averaging gray back), and with ``latents`` the
        quantized latents the decoder recovered (what ``g_s`` was given)."""
        torch = _torch()
        header, strings = bitstream.unpack(data)
        arch = zoo.ARCH_BY_ID.get(header.model_id)
        if arch is None:
            raise CodecError(f"learned bitstream names unknown model id {header.model_id}")
        if arch.name != self.arch or header.metric != self.metric:
            other = arch.codec_name(header.metric)
            raise CodecError(f"bitstream is for {other}, not {self.name}")
        _, lm = self._model(header.quality)
        f = self._multiple(lm)
        hp, wp = -(-header.height // f) * f, -(-header.width // f) * f
        devices.check_memory(lm.model, hp, wp, lm.device, self.name)
        shape = list(header.shape) if header.shape is not None else [hp // f, wp // f]
        tap = (stages.synthesis_input(lm.model) if latents and stages.has_stages(lm.model)
               else contextlib.nullcontext([]))
        try:
            with torch.inference_mode(), _quiet(), tap as seen:
                x_hat = lm.model.decompress(_nest(strings, header.flat), shape)["x_hat"]
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
        return self._to_uint8(x_hat, header.height, header.width), y_hat

    def decode(self, data: bytes) -> np.ndarray:
        """Decode from ``data`` alone. If this codec object encoded these very bytes, the
        latents the decoder recovered are also checked against those the encoder coded
        (entropy-decoding drift is an error, never a result)."""
        header, _ = bitstream.unpack(data)
        ref = self._expected.get(hashlib.sha256(data).hexdigest())
        rgb, y_hat = self._decode_rgb(data, latents=ref is not None)
        if ref is not None:
            self._check_drift(y_hat, ref, self.name, self._device or "this device")
        return _to_output(rgb, header.gray)

    def _check_drift(self, decoded: Any, ref: Any, what: str, device: str) -> tuple[int, float]:
        """How many latents the decoder recovered differently, and the largest difference;
        raise when any did.

        Decoded latents are symbols plus the decoder's own means, so floating-point noise in
        those means (another kernel, a GPU) moves them by far less than half a step, while a
        wrong symbol, which is what drift produces, moves one by a whole step or more.
        """
        if decoded is None:
            raise CodecError(f"{what}: the decoder never reached g_s: drift cannot be checked")
        if tuple(decoded.shape) != tuple(ref.shape):
            raise CodecError(f"{what}: decoded latents {tuple(decoded.shape)} differ in shape "
                             f"from the encoder's {tuple(ref.shape)}")
        delta = (decoded - ref).abs()
        differing = int((delta > 0.5).sum())
        max_diff = float(delta.max()) if delta.numel() else 0.0
        if differing:
            raise CodecError(
                f"{what}: entropy decoding drift on {device}: {differing} of {ref.numel()} "
                f"latents decoded differently from what the encoder coded (by up to "
                f"{max_diff:.3g}); not reporting this result"
            )
        return differing, round(max_diff, 6)

    # ------------------------------------------------------------------ rate matching

    def match_rate(self, image: np.ndarray, target_bpp: float) -> Sequence[Encoded] | None:
        """:meth:`_match_rate`, retried without qualities whose download just failed, so a
        network failure costs only the qualities that needed the network."""
        for _ in range(len(self.param_space.values)):
            try:
                return self._match_rate(image, target_bpp)
            except wts.DownloadError:
                self._resolutions = None  # failed downloads now resolve as missing
                if not any(r.source != "missing" for r in self._resolve().values()):
                    raise
        return self._match_rate(image, target_bpp)

    def _match_rate(self, image: np.ndarray, target_bpp: float) -> list[Encoded]:
        """Rank qualities by analysis-side estimates, entropy-code only the nearest ones.

        Estimates are computed lazily by the core's ordered search (rate increases with
        quality; it checks the end on the target's side first, so a target beyond the
        ladder costs two analyses), so only a few models are loaded; the one or two
        qualities that bracket the target are coded for real, and neighbours are added
        only while the real rates do not yet bracket the target, so the real-closest
        quality is always among those returned.
        """
        from codeccmp.ratematch import bracket_ordered

        rgb, _ = self._as_rgb(image)
        qs = sorted(int(q) for q in self.param_space.values)
        if len(qs) == 1:
            return [self.encode(image, qs[0])]

        def estimate(q: int) -> float:
            _, lm = self._model(q)
            return self._analysis_cached(rgb, q, lm).est

        lo, hi = bracket_ordered(estimate, qs, target_bpp)
        picks = [i for i in (lo, hi) if 0 <= i < len(qs)]
        real: dict[int, Encoded] = {}

        def code(i: int) -> float:
            if i not in real:
                real[i] = self.encode(image, qs[i])
            return 8 * real[i].nbytes / (rgb.shape[0] * rgb.shape[1])

        for i in picks:
            code(i)
        a, b = min(picks), max(picks)
        while a > 0 and code(a) > target_bpp:
            a -= 1
            code(a)
        while b < len(qs) - 1 and code(b) < target_bpp:
            b += 1
            code(b)
        return [real[i] for i in sorted(real)]


class _quiet:
    """Silence CompressAI's "inference on GPU is not recommended" warning: the table says
    which device ran, and the user chose it."""

    def __enter__(self) -> None:
        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.filterwarnings("ignore", message="Inference on GPU is not recommended")

    def __exit__(self, *exc: object) -> None:
        self._cm.__exit__(*exc)


def _qualities(qs: Sequence[int]) -> str:
    return ", ".join(str(q) for q in sorted(qs))


def _flatten_strings(strings: Any, name: str) -> tuple[list[bytes], bool]:
    """CompressAI gives one list per latent, one bytes per batch item; we code one image."""
    if not isinstance(strings, (list, tuple)) or not strings:
        raise CodecError(f"{name}: compress() returned no strings")
    if all(isinstance(s, (bytes, bytearray)) for s in strings):
        return [bytes(s) for s in strings], True
    out: list[bytes] = []
    for s in strings:
        one = isinstance(s, (list, tuple)) and len(s) == 1
        if not (one and isinstance(s[0], (bytes, bytearray))):
            raise CodecError(f"{name}: compress() returned strings of an unsupported layout")
        out.append(bytes(s[0]))
    return out, False


def _nest(strings: list[bytes], flat: bool) -> list[Any]:
    return list(strings) if flat else [[s] for s in strings]


def _to_output(rgb: np.ndarray, gray: bool) -> np.ndarray:
    if not gray:
        return rgb
    return np.round(rgb.astype(np.float32).mean(axis=2)).astype(np.uint8)


def all_codecs() -> list[LearnedCodec]:
    """Every learned codec, MS-SSIM variants first per architecture."""
    return [LearnedCodec(a, m) for a in zoo.ARCHS for m in zoo.METRICS]
