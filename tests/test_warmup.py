"""The pipeline warms codecs up on a background thread, and never depends on it."""

from __future__ import annotations

import threading
import time

import numpy as np

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.compare import CompareOptions, compare_image
from codeccmp.images import SourceImage

IMG = (np.arange(200 * 180 * 3) % 253).astype(np.uint8).reshape(180, 200, 3)


class RawCodec(Codec):
    """Stores the pixels as they are: one rate, whatever the parameter."""

    family = "traditional"
    param_space = ParamSpace("q", "integer", low=1, high=3)

    def __init__(self, name: str, reason: str | None = None, fail: bool = False) -> None:
        self.name, self.reason, self.fail = name, reason, fail
        self.warmed: list[str] = []
        self.finished = False

    def availability(self) -> str | None:
        return self.reason

    def warm_up(self) -> None:
        self.warmed.append(threading.current_thread().name)
        if self.fail:
            raise ImportError("no such library")
        time.sleep(0.2)
        self.finished = True

    def encode(self, image: np.ndarray, param: float) -> Encoded:
        return Encoded(image.tobytes(), param)

    def decode(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data, np.uint8).reshape(IMG.shape).copy()


class Registry:
    def __init__(self, *codecs: Codec) -> None:
        self.codecs = {c.name: c for c in codecs}

    def get(self, name: str) -> Codec:
        return self.codecs[name]

    def all(self) -> list[Codec]:
        return list(self.codecs.values())


def _image() -> SourceImage:
    return SourceImage(pixels=IMG, path="mem.png", sha256="0" * 64, source_mode="RGB",
                       source_format="PNG")


def test_available_codecs_are_warmed_in_the_background_and_joined() -> None:
    ok, skipped, broken = RawCodec("ok"), RawCodec("skipped", reason="no weights"), \
        RawCodec("broken", fail=True)
    cmp = compare_image(_image(), Registry(ok, skipped, broken),
                        CompareOptions(24.0, codecs=["ok", "skipped", "broken"], rois=None))
    status = {r.codec: r.status for r in cmp.results}
    assert status == {"ok": "ok", "skipped": "skipped", "broken": "ok"}  # warm-up is advisory
    assert ok.warmed == ["codeccmp-warm-up"] and ok.finished  # joined before returning
    assert skipped.warmed == []  # a codec that will be skipped costs nothing
    assert broken.warmed == ["codeccmp-warm-up"]


def test_warm_up_can_be_turned_off() -> None:
    ok = RawCodec("ok")
    compare_image(_image(), Registry(ok),
                  CompareOptions(24.0, codecs=["ok"], rois=None, warm_up=False))
    assert ok.warmed == []
