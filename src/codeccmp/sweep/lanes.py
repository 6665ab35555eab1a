"""A lane of a local sweep: a thread feeding one worker process, and how it ends.

:class:`codeccmp.sweep.executors.LocalExecutor` runs each lane as a thread with a pool of
one worker process. Ending one cleanly when the run is interrupted takes more than the
stdlib's ``shutdown``: the worker is stopped mid-task, the pool's manager thread is waited
for, and the run waits on the lane's own event rather than on ``Thread.join``. Each step
answers a way an interrupted run printed a traceback under its one line, said below.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

# How long an interrupted lane waits for its pool's manager thread (see ``end_pool``).
MANAGER_JOIN_S = 3.0


class Lane:
    """A lane's thread, and an event it sets once it has finished, clean-up included.

    The run waits on that event rather than on ``Thread.join``: a Ctrl-C that interrupts
    ``join`` makes CPython before 3.13 mark the thread, still running, as stopped
    (python/cpython#90882). The run then went on to exit while the lane was still shutting
    its pool down, and the exit's wake-up of that pool raced the closing ("Exception
    ignored ... OSError: [Errno 9] Bad file descriptor" under the one line of a Ctrl-C).
    """

    def __init__(self, work: Callable[[], None], name: str) -> None:
        self.finished = threading.Event()
        self.thread = threading.Thread(target=self._body, args=(work,), name=name,
                                       daemon=True)

    def _body(self, work: Callable[[], None]) -> None:
        try:
            work()
        finally:
            self.finished.set()

    def start(self) -> None:
        self.thread.start()

    def wait(self, timeout: float) -> bool:
        """Whether the lane has finished, waiting up to ``timeout`` seconds for it."""
        return self.finished.wait(timeout)

    def running(self) -> bool:
        return not self.finished.is_set()


def end_pool(pool: Any, *, interrupted: bool) -> None:
    """Shut a lane's pool down; interrupted (or broken), stop its worker mid-task and wait
    (briefly) for the pool's manager thread to finish closing the pool.

    Interrupted, ``shutdown`` cannot wait for the worker's task, and without ``wait`` it
    returns while the manager thread is still closing the pool's wake-up pipe. The
    interpreter's exit then wakes that thread through the same pipe without taking the
    lock the closing holds (``concurrent.futures.process._python_exit``), and a run
    stopped by Ctrl-C printed "Exception ignored ... OSError: [Errno 9] Bad file
    descriptor" under its one line. The worker is already terminated, so the manager
    thread ends within milliseconds; the bound only keeps a stuck one from holding up the
    exit.
    """
    manager = getattr(pool, "_executor_manager_thread", None)  # gone after shutdown
    if interrupted:
        terminate(pool)
    pool.shutdown(wait=not interrupted, cancel_futures=True)
    if interrupted and manager is not None:
        manager.join(MANAGER_JOIN_S)


def terminate(pool: Any) -> None:
    """Stop a pool's worker processes now, mid-task (the run was interrupted).

    ``ProcessPoolExecutor.shutdown`` only cancels tasks not yet started, and the
    interpreter's exit waits for running ones; Python 3.14 has ``terminate_workers()``,
    older ones only the private process table used here.
    """
    stop_all = getattr(pool, "terminate_workers", None)
    if callable(stop_all):
        stop_all()
        return
    for proc in list((getattr(pool, "_processes", None) or {}).values()):
        if proc.is_alive():
            proc.terminate()


def exit_code(pool: Any) -> str:
    """The exit code of a broken single-worker pool's process, when it can be read."""
    procs = getattr(pool, "_processes", None) or {}
    codes = [p.exitcode for p in list(procs.values()) if p.exitcode is not None]
    return str(codes[0]) if codes else "unknown"
