"""Where a sweep's tasks run: local processes (the default) or a Ray cluster.

Both executors run the same function, :func:`codeccmp.sweep.tasks.run_task`, on the same
picklable :class:`~codeccmp.sweep.tasks.Task` (codec names and plugin files, never codec
objects), against the same on-disk cache, and turn a task that dies into per-job failures
like any codec failure.

**local** — traditional codecs are single-threaded C libraries: they run in a
``ProcessPoolExecutor`` over the CPU cores. Workers start from a ``forkserver`` (``spawn``
where there is none), never a plain ``fork`` of a process that may hold torch threads or a
CUDA context; the server preloads numpy, Pillow, torch and the metrics once, so each worker
starts in milliseconds instead of importing torch again. Learned models run in this process
on their device, meanwhile, so the GPU (or the spare core) is busy at the same time; with
learned models on the CPU one core is left to them.

**ray** — imported only when chosen. ``ray.init(address=...)`` joins an existing cluster
(``None`` starts a local one, or uses ``RAY_ADDRESS``); each task is a remote call with one
CPU, and learned tasks ask for one GPU when the device is ``cuda`` (or ``auto`` and the
cluster has GPUs), so they are only placed on workers that have one. Workers write the cache
at the path the driver uses (share it across machines to share trials); the driver also
writes every result it receives, so reruns are answered from its cache in any case.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from codeccmp.codec import Codec, RunSettings
from codeccmp.errors import UsageError
from codeccmp.measure.metrics import threads as usable_cores
from codeccmp.sweep.forkserver import start_forkserver, stop_forkserver
from codeccmp.sweep.lanes import Lane, end_pool, exit_code

# The worker side lives in sweep_tasks, which imports neither this module nor the sweep
# driver: no import circle.
from codeccmp.sweep.tasks import (
    Task,
    TaskOutcome,
    failed_outcome,
    result_key,
    run_task,
    worker_registry,
)

if TYPE_CHECKING:
    from codeccmp.plugins import CodecRegistry

DoneFn = Callable[["Task", "TaskOutcome"], None]

#: Modules a forkserver imports once so that workers start warm.
#: Not torch: a sweep of standard codecs never needs it (the metrics are NumPy's).
_PRELOAD = ["numpy", "PIL.Image", "codeccmp.sweep.tasks", "codeccmp.measure.metrics"]

# --------------------------------------------------------------------------- worker side

def _init_worker(plugin_files: tuple[str, ...], environ: dict[str, str]) -> None:
    """One thread per worker: the pool already uses every core.

    Workers ignore Ctrl-C: the terminal sends SIGINT to the whole process group, and a
    worker's KeyboardInterrupt would come back as a traceback through its future. The
    driver handles Ctrl-C alone and terminates the workers (see ``LocalExecutor.run``).

    A worker takes the environment of the sweep that started it: it is forked from the
    forkserver, started by the process's first sweep, and would otherwise see the
    environment of that moment (the stdlib hands a forkserver's child the parent's working
    folder and ``sys.path``, not its variables). A program that sets, say, a tool's path
    (``CODECCMP_BPGENC``) between two sweeps got the old one in the workers and the new one
    with ``jobs=1``.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    os.environ.clear()
    os.environ.update(environ)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    worker_registry(plugin_files)


def _pool_task(task: Task) -> TaskOutcome:
    return run_task(task)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".strip().rstrip(":")


# --------------------------------------------------------------------------- local


class LocalExecutor:
    """Traditional-codec tasks in worker processes, learned ones in this process."""

    name = "local"

    def __init__(self, registry: CodecRegistry, plugin_files: tuple[str, ...],
                 jobs: int | None = None) -> None:
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1, got {jobs}")
        self.registry = registry
        self.plugin_files = plugin_files
        # The cores this process may use (its CPU affinity: a container's cpuset, taskset),
        # not os.cpu_count(), which counts the whole host: a CI runner given 2 of 64 cores
        # would start 64 workers.
        self.jobs = jobs or usable_cores()
        self._rebuildable: set[str] | None = None
        #: What the run should tell the user (a pool that could not start, say).
        self.notes: list[str] = []
        self._no_pool: str | None = None  # why worker processes cannot start, once seen

    def start(self) -> None:
        pass

    def close(self) -> None:
        pass

    def device_for(self, codec: Codec) -> str:
        """Learned codecs run here, on the device they resolved; the rest on the CPU."""
        return codec.device() if codec.family == "learned" else "cpu"

    def settings_for(self, codec: Codec, settings: RunSettings) -> RunSettings:
        return settings

    def _can_rebuild(self, name: str) -> bool:
        """Whether worker processes can get this codec (entry points and plugin files only:
        a registry built in memory by a script has codecs a worker cannot recreate)."""
        if self._rebuildable is None:
            try:
                self._rebuildable = set(worker_registry(self.plugin_files).names())
            except Exception:
                self._rebuildable = set()
        return name in self._rebuildable

    def run(self, tasks: Sequence[Task], done: DoneFn) -> None:
        here = [t for t in tasks if t.family == "learned" or not self._can_rebuild(t.codec)]
        pooled = [t for t in tasks if t not in here]
        workers = min(self.jobs, len(pooled))
        learned_on_cpu = any(t.family == "learned" and t.device == "cpu" for t in here)
        if learned_on_cpu and workers > 1:
            workers = min(workers, max(1, self.jobs - 1))
        if workers >= 2 and len(pooled) < workers:
            pooled = _split(pooled, workers)
        if workers < 2:
            here, pooled = pooled + here, []

        lock = threading.Lock()

        def report(task: Task, outcome: TaskOutcome) -> None:
            with lock:
                done(task, outcome)

        if pooled:
            try:
                start_forkserver(_PRELOAD)
            except BaseException:  # Ctrl-C, held off while it was spawned, arrives here
                stop_forkserver()
                raise
        queue = list(reversed(pooled))  # popped from the end: submission order
        stop = threading.Event()
        lanes = [Lane(lambda: self._lane(queue, lock, stop, report), f"codeccmp-lane-{i}")
                 for i in range(workers if pooled else 0)]
        for lane in lanes:
            lane.start()
        try:
            self._run_here(here, report)
            for lane in lanes:
                while not lane.wait(0.2):  # short waits keep Ctrl-C responsive
                    pass
            if queue:  # the lanes stopped because no worker process could start
                left = list(reversed(queue))
                queue.clear()
                self.notes.append(
                    f"worker processes could not start ({self._no_pool}); ran {len(left)} "
                    f"task{'s' if len(left) != 1 else ''} in this process instead, one at a "
                    "time" + _hint(self._no_pool or ""))
                self._run_here(left, report)
        finally:
            stop.set()
            # Interrupted (Ctrl-C, an error here): each lane ends its worker within one
            # poll; wait for that, so no worker outlives the run or delays the exit.
            deadline = time.monotonic() + 1.0
            for lane in lanes:
                lane.wait(max(0.0, deadline - time.monotonic()))
            if any(lane.running() for lane in lanes):
                # A lane still waits in ``submit`` for the forkserver, busy with its
                # preload, to start a worker: stop the server, which answers it at once.
                stop_forkserver()
                for lane in lanes:
                    lane.wait(5.0)

    def _run_here(self, tasks: Sequence[Task], report: DoneFn) -> None:
        for t in tasks:
            try:
                with _torch_threads(1 if t.family != "learned" else None):
                    outcome = run_task(t, self.registry)
            except Exception as exc:
                outcome = failed_outcome(t, _reason(exc))
            report(t, outcome)

    def _lane(self, queue: list[Task], lock: threading.Lock, stop: threading.Event,
              report: DoneFn) -> None:
        """One worker process, fed one task at a time.

        A pool of one per lane (rather than one pool of N) means a worker that dies —
        a codec library crashing, the OOM killer — takes down only the task it was
        running, which is reported as failed; the lane starts a new worker and goes on.
        """
        from concurrent.futures import TimeoutError as FutureTimeout
        from concurrent.futures.process import BrokenProcessPool

        pool = None
        try:
            while not stop.is_set():
                with lock:
                    if not queue or self._no_pool is not None:
                        return
                    task = queue.pop()
                try:
                    if pool is None:
                        pool = self._pool(1)
                    fut = pool.submit(_pool_task, task)  # starts the worker process
                except Exception as exc:  # no worker can start here: ``run`` falls back
                    with lock:
                        queue.append(task)
                        self._no_pool = self._no_pool or _reason(exc)
                    return
                while True:
                    try:
                        outcome = fut.result(timeout=0.2)
                        break
                    except FutureTimeout:
                        if stop.is_set():
                            return
                    except BrokenProcessPool:
                        outcome = _failed(task, "the worker process died (exit code "
                                                f"{exit_code(pool)})")
                        end_pool(pool, interrupted=True)  # its worker is gone: no waiting
                        pool = None
                        break
                    except Exception as exc:  # an error outside run_task (pickling, say)
                        outcome = _failed(task, _reason(exc))
                        break
                report(task, outcome)
        finally:
            if pool is not None:
                end_pool(pool, interrupted=stop.is_set())

    def _pool(self, workers: int):  # noqa: ANN202 - ProcessPoolExecutor
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        if "forkserver" in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context("forkserver")
            ctx.set_forkserver_preload(_PRELOAD)
        else:
            ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                                   initializer=_init_worker,
                                   initargs=(self.plugin_files, dict(os.environ)))


def _hint(reason: str) -> str:
    if "AF_UNIX path too long" in reason:
        return (": the folder for the workers' socket (TMPDIR, "
                f"{len(tempfile.gettempdir())} characters) is too long a path; a shorter "
                "TMPDIR lets them run in parallel")
    return ""


def _failed(task: Task, reason: str) -> TaskOutcome:
    return failed_outcome(task, reason)


class _torch_threads:
    """Run a traditional-codec task with torch (used by the metrics where it is loaded: an
    earlier learned task or a torch-based metric loaded it) on one thread; where torch is
    not loaded, leave it so.

    The worker processes already use every core; on a 2-vCPU VM shared with other jobs,
    torch's default of one thread per core made MS-SSIM + SSIM of a 720×576 image take
    0.5–0.7 s against 0.13 s at one thread (seconds under load). Learned tasks (``None``)
    keep torch's default: their convolutions are large enough to share.
    """

    def __init__(self, n: int | None) -> None:
        self.n = n
        self.saved: int | None = None

    def __enter__(self) -> None:
        torch = sys.modules.get("torch")
        if self.n is None or torch is None:
            return
        self.saved = torch.get_num_threads()
        torch.set_num_threads(self.n)

    def __exit__(self, *exc: object) -> None:
        if self.saved is not None:
            sys.modules["torch"].set_num_threads(self.saved)


def _split(tasks: list[Task], workers: int) -> list[Task]:
    """Split the largest tasks until every worker has one: parallelism over a few codecs
    is worth re-doing the first, shared steps of their rate searches."""
    from dataclasses import replace

    tasks = list(tasks)
    while len(tasks) < workers:
        tasks.sort(key=lambda t: len(t.jobs), reverse=True)
        big = tasks[0]
        if len(big.jobs) < 2:
            break
        half = len(big.jobs) // 2
        tasks[0:1] = [replace(big, jobs=big.jobs[:half]), replace(big, jobs=big.jobs[half:])]
    return tasks


# --------------------------------------------------------------------------- ray


class RayExecutor:
    """Tasks as Ray remote calls; learned tasks on GPU workers when a GPU is wanted."""

    name = "ray"

    def __init__(self, plugin_files: tuple[str, ...], address: str | None, device: str,
                 jobs: int | None = None) -> None:
        self.plugin_files = plugin_files
        self.address = address
        self.device = device
        self.jobs = jobs
        self.started = False
        self.gpu = False
        self.ray: Any = None

    def start(self) -> None:
        try:
            import ray
        except ImportError:
            raise UsageError("--executor ray needs Ray: pip install 'codeccmp[ray]'") from None
        self.ray = ray
        if not ray.is_initialized():
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "logging_level": "warning"}
            if self.address is None and self.jobs is not None:
                kwargs["num_cpus"] = self.jobs
            try:
                ray.init(address=self.address, **kwargs)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                where = self.address or "a local cluster"
                raise UsageError(f"cannot start or reach Ray at {where}: "
                                 f"{_reason(exc)}") from None
            self.started = True
        gpus = float(ray.cluster_resources().get("GPU", 0))
        if self.device.startswith("cuda") and gpus <= 0:
            raise UsageError(f"--device {self.device} but the Ray cluster has no GPU")
        self.gpu = gpus > 0 and self.device != "cpu"

    def close(self) -> None:
        if self.started and self.ray is not None:
            self.ray.shutdown()
            self.started = False

    def device_for(self, codec: Codec) -> str:
        if codec.family != "learned":
            return "cpu"
        return "cuda" if self.gpu else "cpu"

    def settings_for(self, codec: Codec, settings: RunSettings) -> RunSettings:
        """A GPU worker sees the GPU Ray gave it as ``cuda``; a CPU one must not look."""
        from dataclasses import replace

        if codec.family != "learned":
            return settings
        return replace(settings, device=self.device_for(codec))

    def run(self, tasks: Sequence[Task], done: DoneFn) -> None:
        from dataclasses import replace

        ray = self.ray
        remote = ray.remote(_ray_task)
        images: dict[int, Any] = {}
        refs: dict[Any, Task] = {}
        for t in tasks:
            if t.image_index not in images:
                images[t.image_index] = ray.put(t.image)
            gpu = 1 if (t.family == "learned" and self.gpu) else 0
            ref = remote.options(num_cpus=1, num_gpus=gpu, max_retries=0).remote(
                replace(t, image=None), images[t.image_index])
            refs[ref] = t
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                for ref in ready:
                    t = refs.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as exc:  # task error, worker crash, lost node
                        outcome = failed_outcome(t, _reason(_ray_cause(exc)))
                    else:
                        # Workers may not share the driver's disk: keep the results here
                        # too, under the driver's key when the worker coded the same way.
                        _store_results(t, outcome)
                    done(t, outcome)
        finally:
            for ref in refs:
                ray.cancel(ref, force=True)


def _store_results(task: Task, outcome: TaskOutcome) -> None:
    from codeccmp.sweep.cache import ResultCache

    if not task.cache_root or outcome.fingerprint != task.fingerprint:
        return
    cache = ResultCache(_path(task.cache_root), read=False)
    for o in outcome.outcomes:
        if o.result.ok and not o.cached:
            cache.put_result(result_key(cache, task.image, task.fingerprint, o.job,
                                        task.tolerance, task.measure), o.result.to_dict())


def _path(root: str | None):  # noqa: ANN202 - Path | None
    from pathlib import Path

    return Path(root) if root else None


def _ray_cause(exc: BaseException) -> BaseException:
    """A RayTaskError wraps the worker's exception; report that one."""
    cause = getattr(exc, "cause", None)
    return cause if isinstance(cause, BaseException) else exc


def _ray_task(task: Task, image: Any) -> TaskOutcome:
    from dataclasses import replace

    return run_task(replace(task, image=image))


# --------------------------------------------------------------------------- factory


def make_executor(kind: str, *, registry: CodecRegistry, plugin_files: tuple[str, ...],
                  jobs: int | None, address: str | None, device: str
                  ) -> LocalExecutor | RayExecutor:
    if kind == "local":
        if address is not None:
            raise UsageError("--ray-address needs --executor ray")
        return LocalExecutor(registry, plugin_files, jobs)
    if kind == "ray":
        if jobs is not None and jobs < 1:
            raise UsageError(f"--jobs must be at least 1, got {jobs}")
        return RayExecutor(plugin_files, address, device, jobs)
    raise UsageError(f"--executor must be local or ray, got {kind!r}")
