"""The pipeline warms codecs up on a background thread, and never depends on it."""

from __future__ import annotations

import threading

import numpy as np

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.model.images import SourceImage
from codeccmp.pipeline.compare import CompareOptions, compare_image

IMG = (np.arange(200 * 180 * 3) % 253).astype(np.uint8).reshape(180, 200, 3)


PEERS: list[RawCodec] = []


class RawCodec(Codec):
    """Stores the pixels as they are: one rate, whatever the parameter."""

    family = "traditional"
    param_space = ParamSpace("q", "integer", low=1, high=3)

    def __init__(self, name: str, reason: str | None = None, fail: bool = False,
                 gate: threading.Event | None = None, opens: threading.Event | None = None,
                 ) -> None:
        self.name, self.reason, self.fail = name, reason, fail
        self.gate, self.opens = gate, opens
        self.warmed: list[str] = []
        self.finished = False

    def availability(self) -> str | None:
        return self.reason

    def warm_up(self) -> None:
        """Finishes only once ``gate`` is set (by a peer's encode), so "a peer coded during
        this warm-up" is an order of events, not a race against a sleep."""
        self.warmed.append(threading.current_thread().name)
        if self.fail:
            raise ImportError("no such library")
        if self.gate is not None:
            self.gate.wait(timeout=60)  # a pipeline that waited for this deadlocks till then
        self.finished = True

    def encode(self, image: np.ndarray, param: float) -> Encoded:
        self.saw = {c.name: c.finished for c in PEERS}
        if self.opens is not None:
            self.opens.set()
        return Encoded(image.tobytes(), param)

    def decode(self, data: bytes) -> np.ndarray:
        return np.frombuffer(data, np.uint8).reshape(IMG.shape).copy()


class PlainCodec(RawCodec):
    """Nothing to warm up (the base class's ``warm_up``)."""

    warm_up = Codec.warm_up


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


def test_only_codecs_without_warm_up_run_while_it_imports() -> None:
    """Importing one package graph from two threads at once is unsafe: a codec that warms
    up, and every measurement, wait; a codec with nothing to warm up need not."""
    gate = threading.Event()
    heavy, plain = RawCodec("heavy", gate=gate), PlainCodec("plain", opens=gate)
    PEERS[:] = [heavy]
    try:
        cmp = compare_image(_image(), Registry(heavy, plain),
                            CompareOptions(24.0, codecs=["heavy", "plain"], rois=None))
    finally:
        PEERS.clear()
    assert [r.codec for r in cmp.results] == ["heavy", "plain"]  # the order asked for
    assert all(r.status == "ok" and r.psnr == float("inf") for r in cmp.results)
    assert plain.saw == {"heavy": False}  # coded while heavy's warm-up was still waiting
    assert heavy.saw == {"heavy": True}  # started only after the warm-up finished


def test_garbage_collector_untouched_in_a_library_call() -> None:
    import gc

    frozen = gc.get_freeze_count()
    compare_image(_image(), Registry(RawCodec("ok")), CompareOptions(24.0, codecs=["ok"],
                                                                     rois=None))
    assert gc.isenabled() and gc.get_freeze_count() == frozen


def test_command_line_run_pauses_collection_while_importing(monkeypatch) -> None:  # noqa: ANN001
    import gc

    from codeccmp.pipeline import warmup

    monkeypatch.setattr(warmup, "_OWN_PROCESS", True)
    seen: list[bool] = []
    ok = RawCodec("ok")
    monkeypatch.setattr(ok, "warm_up", lambda: seen.append(gc.isenabled()))
    try:
        compare_image(_image(), Registry(ok), CompareOptions(24.0, codecs=["ok"], rois=None))
        assert seen == [False]  # off while importing
        assert gc.isenabled() and gc.get_freeze_count() > 0  # back on; imports frozen
    finally:
        gc.unfreeze()


def test_a_command_line_start_pauses_collection_until_the_last_holder_lets_go(
        monkeypatch) -> None:  # noqa: ANN001
    """The start-up's pause ends after ``STARTUP_PAUSE_S`` (a run of minutes must not go
    without the collector) or, when the warm-up still holds it, when the warm-up lets go,
    which freezes its imports first."""
    import gc
    import time

    from codeccmp.pipeline import warmup

    monkeypatch.setattr(warmup, "_OWN_PROCESS", False)
    monkeypatch.setattr(warmup, "STARTUP_PAUSE_S", 0.2)
    monkeypatch.setattr(warmup, "_PAUSE", {"holders": 0, "freeze": False})
    frozen = gc.get_freeze_count()

    def wait_for(done) -> None:  # noqa: ANN001 - the timer's thread, however loaded the box
        deadline = time.monotonic() + 30
        while not done() and time.monotonic() < deadline:
            time.sleep(0.02)

    try:
        warmup.own_process()
        assert not gc.isenabled()
        warmup._pause()  # the warm-up starts, and is still importing when the timer fires
        wait_for(lambda: warmup._PAUSE["holders"] == 1)
        assert warmup._PAUSE["holders"] == 1 and not gc.isenabled()
        warmup._resume(freeze=True)  # the warm-up ends: the last holder
        assert gc.isenabled() and gc.get_freeze_count() > frozen
        gc.unfreeze()
        warmup.own_process()  # alone: the timer turns it back on, nothing frozen
        assert not gc.isenabled()
        wait_for(gc.isenabled)
        assert gc.isenabled() and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.enable()
