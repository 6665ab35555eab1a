"""The sweep's forkserver, started and stopped so that Ctrl-C stays one line.

:mod:`codeccmp.sweep.executors` runs traditional codecs in worker processes forked from a
``multiprocessing`` forkserver; these two functions cover the moments the stdlib leaves
open: the server's own start (its preload runs before it ignores Ctrl-C) and an interrupted
run whose lane still waits for the server to start a worker.
"""

from __future__ import annotations

import os
import threading


def start_forkserver(preload: list[str]) -> None:
    """Start the forkserver now, from the main thread, with Ctrl-C held off.

    The forkserver imports its preload (NumPy, Pillow, the metrics) before it sets its own
    Ctrl-C handling (``multiprocessing.forkserver.main`` ignores SIGINT only after its
    preload): a Ctrl-C in that time, which the terminal sends to every process of the group,
    printed its KeyboardInterrupt traceback under codeccmp's one line. So SIGINT is blocked
    while the server is spawned, as the stdlib spawns its resource tracker: the server
    inherits the blocked signal (a Ctrl-C stays pending there, and is dropped once it
    ignores SIGINT), and here it is delivered as soon as it is unblocked, never lost. The
    lanes would start the server from their threads; they find it running.
    """
    import multiprocessing
    import signal

    if "forkserver" not in multiprocessing.get_all_start_methods():
        return
    short_socket_folder()
    if threading.current_thread() is not threading.main_thread():
        return
    from multiprocessing import forkserver, resource_tracker

    multiprocessing.get_context("forkserver").set_forkserver_preload(preload)
    old = signal.pthread_sigmask(signal.SIG_BLOCK, set())  # the mask as it is
    try:
        # The resource tracker first: starting it unblocks SIGINT, by design, on its way.
        resource_tracker.ensure_running()
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        forkserver.ensure_running()
    except Exception:  # noqa: S110 - the lanes meet the same failure and report it
        pass
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


#: The longest path of a Unix socket on Linux (``sun_path`` holds 108 bytes with the NUL).
SOCKET_PATH_MAX = 107
#: What multiprocessing adds to its temporary folder for the forkserver's socket:
#: ``/pymp-XXXXXXXX`` (its folder) and ``/listener-XXXXXXXX`` (the socket).
_SOCKET_SUFFIX = len("/pymp-XXXXXXXX") + len("/listener-XXXXXXXX")


def short_socket_folder() -> str | None:
    """Give multiprocessing a temporary folder in ``/tmp`` where the system's is too long a
    path for the forkserver's socket; the folder made, or ``None`` where nothing was needed.

    With a ``TMPDIR`` longer than 75 characters (a cluster job's, a build sandbox's) the
    forkserver could not bind its socket ("AF_UNIX path too long") and a sweep ran every
    task in its own process, one at a time. CPython 3.14 falls back to ``/tmp`` itself
    (python/cpython#132124); before it, ``multiprocessing.util.get_temp_dir`` takes the
    folder from the process's ``_config``, where this puts one made as it makes its own
    (removed at exit by the same finaliser). Private, as ``stop_forkserver``'s pid is: there
    is no public way to choose that folder."""
    import shutil
    import tempfile
    from multiprocessing import process, util

    config = process.current_process()._config  # noqa: SLF001 - see the docstring
    if config.get("tempdir") is not None or \
            len(tempfile.gettempdir()) + _SOCKET_SUFFIX <= SOCKET_PATH_MAX or \
            not os.access("/tmp", os.W_OK | os.X_OK):
        return None
    folder = tempfile.mkdtemp(prefix="pymp-", dir="/tmp")
    util.Finalize(None, util._remove_temp_dir, args=(shutil.rmtree, folder),  # noqa: SLF001
                  exitpriority=-100)
    config["tempdir"] = folder
    return folder


def stop_forkserver() -> None:
    """Kill the forkserver of an interrupted run, so that it starts no more workers.

    A lane may be waiting in ``submit`` for a worker the forkserver is still busy starting
    (its preload takes seconds on a busy machine); started after this process has gone, the
    worker found the pool's semaphores removed and printed a FileNotFoundError traceback.
    Killed, the forkserver answers the waiting lane with end-of-file, which it reports
    quietly; the next pool starts a new one (``ensure_running`` sees it gone). Only once the
    lanes have ended their running workers: those report their exit through the server, and
    a pool whose server died counts them as dead and would no longer stop them. There is no
    public handle on the server: this reads the stdlib's private pid, as
    ``lanes.terminate`` reads the pool's private process table."""
    import signal

    try:
        from multiprocessing import forkserver

        pid = getattr(getattr(forkserver, "_forkserver", None), "_forkserver_pid", None)
        if pid:
            os.kill(pid, signal.SIGKILL)
    except (ImportError, OSError):
        pass
