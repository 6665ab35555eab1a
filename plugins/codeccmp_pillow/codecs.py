"""JPEG, JPEG 2000, AVIF, WebP, HEIF/HEVC and JPEG XL, each decoded from its own bytes.

Every decode opens the bytes with a new ``Image.open`` (a fresh decoder object), so nothing
from the encoder can leak into the reconstruction.
"""

from __future__ import annotations

import importlib
import io
import math
from typing import TYPE_CHECKING, Any

from codeccmp import installed
from codeccmp.codec import Codec, CodecError, Encoded, OptionSpec, Param, ParamSpace
from codeccmp_pillow.rate_priors import TYPICAL_BPP

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

# NumPy and Pillow are imported where they are used, not here: registering these codecs
# (every run, and every shell completion of a codec name) then costs no image library.

#: Chroma sampling as users write it (``chroma=444``) and as Pillow's encoders spell it.
CHROMA = ("420", "422", "444")
_PIL_SUBSAMPLING = {"420": "4:2:0", "422": "4:2:2", "444": "4:4:4"}


def chroma_option(default: str, why: str) -> OptionSpec:
    return OptionSpec("chroma", "choice", default, f"chroma sampling ({why})", choices=CHROMA)


def quality_space(codec: str, low: int, high: int) -> ParamSpace:
    """An integer quality with the codec's measured typical rate curve, when there is one.

    The curve (``rate_priors.py``, made by ``python -m codeccmp_pillow.make_priors``) only
    lets the rate search start near the target; the quality it settles on is the same.
    """
    return ParamSpace("quality", "integer", low, high, typical_bpp=TYPICAL_BPP.get(codec))


def _pil_version() -> str:
    import PIL

    return PIL.__version__


def _to_pil(pixels: np.ndarray) -> Image.Image:
    from PIL import Image

    return Image.fromarray(pixels, "L" if pixels.ndim == 2 else "RGB")


def _from_pil(img: Image.Image, want_gray: bool | None = None) -> np.ndarray:
    import numpy as np

    if img.mode not in ("L", "RGB"):
        img = img.convert("RGB")
    return np.asarray(img, dtype=np.uint8).copy()


class PillowCodec(Codec):
    """A codec Pillow can write and read under ``pil_format``."""

    pil_format: str = ""
    feature: str | None = None  # Pillow feature name to check and report

    def availability(self) -> str | None:
        from PIL import features

        if self.feature and not features.check(self.feature):
            return f"this Pillow ({_pil_version()}) was built without {self.feature}"
        return None

    def library(self) -> dict[str, str]:
        from PIL import features

        lib = {"pillow": _pil_version()}
        if self.feature:
            lib[self.feature] = features.version(self.feature) or "unknown"
        return lib

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        """Everything passed to ``Image.save``: fixed settings, options, the parameter.

        Built afresh on every call: some plugins (pillow-heif) modify the dicts they get.
        """
        return {"quality": int(param)}

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        opts = self.save_options(image, param)
        buf = io.BytesIO()
        try:
            _to_pil(image).save(buf, format=self.pil_format, **opts)
        except (OSError, ValueError) as exc:
            raise CodecError(f"{self.name} encoder failed at {param}: {exc}") from exc
        settings = {"format": self.pil_format, **opts}
        if self.options:
            settings["user_options"] = dict(self.options)
        return Encoded(buf.getvalue(), param, settings)

    def decode(self, data: bytes) -> np.ndarray:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as img:
            img.load()
            return _from_pil(img)


class JpegCodec(PillowCodec):
    name = "jpeg"
    description = "JPEG (libjpeg-turbo through Pillow), 4:2:0, optimised Huffman tables"
    extension = "jpg"
    pil_format = "JPEG"
    feature = "jpg"
    param_space = quality_space("jpeg", 1, 100)
    option_specs = (
        chroma_option("420", "cjpeg's default"),
        OptionSpec("optimize", "bool", True, "optimised Huffman tables (cjpeg -optimize)"),
        OptionSpec("progressive", "bool", False, "progressive scans (cjpeg -progressive)"),
    )

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        opts: dict[str, Any] = {"optimize": self.option("optimize"),
                                "progressive": self.option("progressive"),
                                "quality": int(param)}
        if pixels.ndim == 3:  # gray: one component, nothing to subsample (as AVIF below)
            opts["subsampling"] = _PIL_SUBSAMPLING[self.option("chroma")]
        return opts

    def library(self) -> dict[str, str]:
        from PIL import features

        lib = super().library()
        turbo = features.version("libjpeg_turbo")
        if turbo:
            lib["libjpeg-turbo"] = turbo
        return lib


class Jpeg2000Codec(PillowCodec):
    """JPEG 2000 with OpenJPEG's own rate control: the parameter is the requested bpp.

    Set up as ``opj_compress -I -r RATIO`` sets it up for colour input: irreversible 9/7
    wavelet with the irreversible RGB→YCbCr component transform (``mct``; Pillow's default
    is off, which codes R, G and B as independent planes and costs about 3 dB on Barbara at
    0.3 bpp), one quality layer at the requested rate, OpenJPEG's default 6 resolutions
    (5 decomposition levels) where the image is large enough.
    """

    name = "jpeg2000"
    description = ("JPEG 2000 (OpenJPEG through Pillow), irreversible 9/7 wavelet, "
                   "RGB→YCbCr transform, rate control")
    extension = "j2k"
    pil_format = "JPEG2000"
    feature = "jpg_2000"
    param_space = ParamSpace("rate", "continuous", 0.001, 24.0, is_bpp=True)
    option_specs = (
        OptionSpec("mct", "bool", True,
                   "RGB→YCbCr component transform for colour input (opj_compress -mct 1)"),
        OptionSpec("wavelet", "choice", "97", "97: irreversible 9/7 (opj_compress -I); "
                   "53: reversible 5/3", choices=("97", "53")),
        OptionSpec("levels", "int", 6, "resolution levels, capped by the image size "
                   "(opj_compress -n)", low=1, high=12),
    )

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        channels = 1 if pixels.ndim == 2 else 3
        # Pillow's "rates" are compression ratios against the raw 8-bit samples.
        ratio = 8.0 * channels / float(param)
        # OpenJPEG needs the lowest resolution level to keep at least one pixel.
        levels = max(1, min(int(self.option("levels")), int(math.log2(min(pixels.shape[:2]))) + 1))
        return {"no_jp2": True, "irreversible": self.option("wavelet") == "97",
                "mct": int(channels == 3 and self.option("mct")),
                "quality_mode": "rates", "quality_layers": [ratio], "num_resolutions": levels}


class WebpCodec(PillowCodec):
    name = "webp"
    description = "WebP lossy (libwebp through Pillow), method 6"
    extension = "webp"
    pil_format = "WEBP"
    feature = "webp"
    supports_gray = False  # libwebp codes YUV 4:2:0 only
    param_space = quality_space("webp", 0, 100)
    option_specs = (
        OptionSpec("method", "int", 6, "effort 0–6 (cwebp -m; cwebp's default is 4)",
                   low=0, high=6),
    )

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        return {"method": self.option("method"), "lossless": False, "quality": int(param)}


class AvifCodec(PillowCodec):
    """AVIF through Pillow's own support when built in, else pillow-avif-plugin."""

    name = "avif"
    description = "AVIF (libavif/AOM), 4:4:4, speed 6 (avifenc's defaults)"
    extension = "avif"
    pil_format = "AVIF"
    param_space = quality_space("avif", 0, 100)
    option_specs = (
        OptionSpec("speed", "int", 6, "encoder speed, 0 slowest (avifenc -s; default 6)",
                   low=0, high=10),
        chroma_option("444", "avifenc's default for PNG input"),
    )

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        opts: dict[str, Any] = {"speed": self.option("speed"), "quality": int(param)}
        if pixels.ndim == 3:  # gray: libavif codes a monochrome (4:0:0) image
            opts["subsampling"] = _PIL_SUBSAMPLING[self.option("chroma")]
        return opts

    def _backend(self) -> str | None:
        from PIL import features

        if features.check("avif"):
            return "pillow"
        try:
            importlib.import_module("pillow_avif")
        except ImportError:
            return None
        return "pillow-avif-plugin"

    def availability(self) -> str | None:
        if self._backend() is None:
            return "no AVIF support: Pillow lacks it and pillow-avif-plugin is not installed"
        return None

    def library(self) -> dict[str, str]:
        backend = self._backend()
        lib = {"pillow": _pil_version(), "backend": backend or "none"}
        if backend == "pillow":
            from PIL import features

            lib["libavif"] = features.version("avif") or "unknown"
        elif backend:
            lib["pillow-avif-plugin"] = installed.version("pillow-avif-plugin") or "unknown"
        return lib


class HeifCodec(PillowCodec):
    """HEIF with x265: the usual stand-in for BPG in the literature."""

    name = "heif"
    description = "HEIF/HEVC (x265 through pillow-heif), 4:4:4 as BPG is run in the literature"
    extension = "heic"
    pil_format = "HEIF"
    param_space = quality_space("heif", 0, 100)
    option_specs = (
        chroma_option("444", "BPG 4:4:4 is the usual HEVC anchor, as in CompressAI's curves"),
        OptionSpec("preset", "choice", "slow", "x265 preset (libheif's default: slow)",
                   choices=("ultrafast", "superfast", "veryfast", "faster", "fast", "medium",
                            "slow", "slower", "veryslow", "placebo")),
        OptionSpec("tune", "choice", "ssim", "x265 tuning (libheif's default: ssim)",
                   choices=("psnr", "ssim", "grain", "fastdecode")),
    )

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        return {"chroma": int(self.option("chroma")), "quality": int(param),
                "enc_params": {"preset": self.option("preset"), "tune": self.option("tune")}}

    def availability(self) -> str | None:
        try:
            pillow_heif = importlib.import_module("pillow_heif")
        except ImportError:
            return "pillow-heif is not installed (pip install pillow-heif)"
        if not pillow_heif.libheif_info().get("encoders", {}).get("x265"):
            return "pillow-heif was built without the x265 encoder"
        pillow_heif.register_heif_opener()
        return None

    def library(self) -> dict[str, str]:
        import pillow_heif

        info = pillow_heif.libheif_info()
        return {"pillow": _pil_version(), "pillow-heif": pillow_heif.__version__,
                "libheif": str(info.get("libheif")), "encoder": str(info.get("HEIF"))}

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        self.availability()  # registers the opener
        return super().encode(image, param)

    def decode(self, data: bytes) -> np.ndarray:
        self.availability()
        return super().decode(data)


class JxlCodec(PillowCodec):
    name = "jpegxl"
    description = "JPEG XL (libjxl through pillow-jxl-plugin), effort 7"
    extension = "jxl"
    pil_format = "JXL"
    param_space = quality_space("jpegxl", 1, 99)
    option_specs = (
        OptionSpec("effort", "int", 7, "encoder effort, 9 slowest (cjxl -e; default 7)",
                   low=1, high=9),
    )

    def save_options(self, pixels: np.ndarray, param: Param) -> dict[str, Any]:
        return {"effort": self.option("effort"), "lossless": False, "num_threads": 1,
                "quality": int(param)}

    def availability(self) -> str | None:
        try:
            importlib.import_module("pillow_jxl")
        except ImportError:
            return "pillow-jxl-plugin is not installed (pip install pillow-jxl-plugin)"
        return None

    def library(self) -> dict[str, str]:
        return {"pillow": _pil_version(),
                "pillow-jxl-plugin": installed.version("pillow-jxl-plugin") or "unknown"}

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        importlib.import_module("pillow_jxl")
        return super().encode(image, param)

    def decode(self, data: bytes) -> np.ndarray:
        importlib.import_module("pillow_jxl")
        return super().decode(data)


ALL_CODECS: tuple[type[Codec], ...] = (
    JpegCodec, Jpeg2000Codec, AvifCodec, WebpCodec, HeifCodec, JxlCodec,
)
