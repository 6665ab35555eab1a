"""Slow imports on a background thread while the first codecs run.

A learned codec's first ``encode`` imports torch and compressai: about 3 s of one core on
the development machine, more than the standard codecs' whole rate searches. Imports that
wait until they are needed sit on the critical path; started at the beginning of a run they
overlap the standard codecs' work (Pillow's encoders release the GIL) and use the second
core. What is warmed: the metrics' BLAS kernel (``measure.metrics.prepare``: the first SSIM
would otherwise load and check it on the critical path, about 30 ms), the results'
provenance (``model.results.environment``: ``platform.platform()`` runs ``uname -p`` as a
program), then each available codec's ``Codec.warm_up`` (the metrics import nothing heavy:
a run with only standard codecs never imports torch).

Python cannot import one package graph from two threads at once safely: a thread that
imports a torch submodule while another is half-way through ``import torch`` can be handed
a partially initialised module (seen here: "cannot import name 'set_module' from partially
initialized module 'torch.utils'"). So while the warm-up runs, only codecs that have nothing
to warm up (``needs_warm_up`` is false: they import nothing heavy) may run, and only their
coding; codecs that warm up, and all measuring, wait for it to finish.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Sequence

from codeccmp.codec import Codec, RunSettings, WrappedCodec


def needs_warm_up(codec: Codec) -> bool:
    """Whether ``codec`` (or the codec a wrapper forwards to) implements ``warm_up``."""
    while isinstance(codec, WrappedCodec):
        codec = codec.inner
    return type(codec).warm_up is not Codec.warm_up


def start(codecs: Sequence[Codec], settings: RunSettings) -> threading.Thread:
    """Start warming up for ``codecs``; join the returned thread before the run returns.

    Availability is decided here, on the calling thread (it is cheap and may read state
    ``configure`` sets), so a codec that will be skipped (weights missing offline) costs
    nothing in the background.
    """
    ready: list[Codec] = []
    for codec in codecs:
        with contextlib.suppress(Exception):  # the run reports it when it gets there
            codec.configure(settings)
            if codec.availability() is None:
                ready.append(codec)
    thread = threading.Thread(target=_warm, args=(ready,), name="codeccmp-warm-up",
                              daemon=True)
    thread.start()
    return thread


_OWN_PROCESS = False
#: How long a command-line run keeps the cyclic garbage collector off from its start (see
#: :func:`own_process`): longer than any command's imports, short enough that no work of
#: minutes runs without it.
STARTUP_PAUSE_S = 1.0
_PAUSE = {"holders": 0, "freeze": False}
_PAUSE_LOCK = threading.Lock()


def own_process() -> None:
    """Declare that this process is a command-line run, not someone's Python session, and
    keep the cyclic garbage collector off for its start (``STARTUP_PAUSE_S``).

    Only then is the collector touched, since it is process-wide, which a library must not
    impose on the program that imports it. Imports make objects that live as long as the
    process, and each few hundred of them set off a collection that walks them: about 80
    collections and 10–15 ms of a 0.35 s JPEG ``compare`` on the development machine, and
    for torch and compressai, which the warm-up imports, 0.5 s of 2.3 s. So the start-up and
    the warm-up each hold the collector off (:func:`_pause`); when the last lets go it runs
    again, after the warm-up's imports are frozen (``gc.freeze``: later collections need not
    walk them again).
    """
    global _OWN_PROCESS
    _OWN_PROCESS = True
    _pause()
    timer = threading.Timer(STARTUP_PAUSE_S, _resume)
    timer.daemon = True  # never keeps a finished run waiting
    timer.start()


def _pause() -> None:
    with _PAUSE_LOCK:
        _PAUSE["holders"] += 1
        gc.disable()


def _resume(freeze: bool = False) -> None:
    """Let go of one :func:`_pause`; the last to let go turns the collector back on, first
    freezing what exists if any holder asked to (the warm-up: its imports)."""
    with _PAUSE_LOCK:
        _PAUSE["freeze"] = _PAUSE["freeze"] or freeze
        _PAUSE["holders"] -= 1
        if _PAUSE["holders"] > 0:
            return
        if _PAUSE["freeze"]:
            gc.freeze()
        _PAUSE["freeze"] = False
        gc.enable()


def _warm(codecs: Sequence[Codec]) -> None:
    paused = _OWN_PROCESS
    if paused:
        _pause()
    try:
        from codeccmp.measure import metrics
        from codeccmp.model.results import environment

        for fn in (metrics.prepare, environment, *(c.warm_up for c in codecs)):
            with contextlib.suppress(Exception):  # failures resurface where they matter
                fn()
    finally:
        if paused:
            _resume(freeze=True)
