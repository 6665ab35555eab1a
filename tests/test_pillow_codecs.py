"""Round trips of every standard codec, through the same registry users get."""

from __future__ import annotations

import numpy as np
import pytest

from codeccmp.measure.metrics import psnr
from codeccmp.model.images import from_array
from codeccmp.pipeline.compare import CompareOptions, compare_image
from codeccmp.plugins import load_registry

TRADITIONAL = ["jpeg", "jpeg2000", "avif", "webp", "heif", "jpegxl"]


@pytest.fixture(scope="module")
def registry():  # noqa: ANN201
    return load_registry()


def test_first_party_codecs_come_from_the_entry_point(registry) -> None:  # noqa: ANN001
    for name in TRADITIONAL:
        assert registry.plugin_of(name) == "pillow"
        assert registry.get(name).availability() is None, name


def _high_param(codec) -> float:  # noqa: ANN001
    space = codec.param_space
    return 2.0 if space.is_bpp else int(space.low + 0.9 * (space.high - space.low))


def _low_param(codec) -> float:  # noqa: ANN001
    space = codec.param_space
    return 0.3 if space.is_bpp else int(space.low + 0.1 * (space.high - space.low))


@pytest.mark.parametrize("name", TRADITIONAL)
@pytest.mark.parametrize("kind", ["rgb", "gray"])
def test_round_trip_from_bytes(registry, name: str, kind: str,  # noqa: ANN001
                               rgb_image: np.ndarray, gray_image: np.ndarray) -> None:
    codec = registry.get(name)
    img = rgb_image if kind == "rgb" else gray_image
    if img.ndim == 2 and not codec.supports_gray:
        img = np.repeat(img[..., None], 3, axis=2)
    hi = codec.encode(img, _high_param(codec))
    lo = codec.encode(img, _low_param(codec))
    assert isinstance(hi.data, bytes) and hi.nbytes > 0
    assert lo.nbytes < hi.nbytes, "a lower rate parameter must give fewer bytes"
    rec_hi = codec.decode(hi.data)
    assert rec_hi.dtype == np.uint8 and rec_hi.shape == img.shape
    assert psnr(img, rec_hi) > 24  # 4:2:0 codecs lose some of the red grating
    assert psnr(img, codec.decode(lo.data)) < psnr(img, rec_hi)
    # Decoding is a pure function of the bytes: twice, and from a copy, the same pixels.
    assert np.array_equal(codec.decode(bytes(bytearray(hi.data))), rec_hi)


def test_gray_is_coded_as_one_channel_where_possible(registry, gray_image) -> None:  # noqa: ANN001
    one = registry.get("jpeg").encode(gray_image, 75)
    three = registry.get("jpeg").encode(np.repeat(gray_image[..., None], 3, axis=2), 75)
    assert one.nbytes < three.nbytes
    # what the result records: no chroma subsampling for an image without chroma
    assert "subsampling" not in one.settings and three.settings["subsampling"] == "4:2:0"
    for name in ("jpeg", "avif"):
        codec = registry.get(name)
        if codec.availability() is None:
            assert "subsampling" not in codec.encode(gray_image, 50).settings, name


def test_pipeline_rate_matches_every_codec(registry, rgb_image) -> None:  # noqa: ANN001
    cmp = compare_image(from_array(rgb_image), registry, CompareOptions(1.0, TRADITIONAL))
    by = {r.codec: r for r in cmp.results}
    for name in TRADITIONAL:
        r = by[name]
        assert r.status == "ok", (name, r.reason)
        assert r.bpp == pytest.approx(8 * r.nbytes / rgb_image[..., 0].size)
        assert abs(r.deviation) < 0.25, (name, r.bpp)
        assert r.ms_ssim is None and "too small" in " ".join(r.notes)  # 80 px < 161 px
        assert r.psnr > 20
    assert abs(by["jpeg2000"].deviation) < 0.02  # rate given directly


def test_gray_through_rgb_only_codec_is_averaged_back(registry, gray_image) -> None:  # noqa: ANN001
    cmp = compare_image(from_array(gray_image), registry, CompareOptions(1.5, ["webp"]))
    r = cmp.results[0]
    assert r.ok and r.reconstruction.ndim == 2
    assert any("replicated" in n for n in r.notes)
