"""The Ray executor against a local Ray started here: same results, same cache, same failures.

Skipped when Ray is not installed (it is the optional extra ``codeccmp[ray]``).
"""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ray = pytest.importorskip("ray")

sys.path.insert(0, str(Path(__file__).parent))
from procs import short_tempdir  # noqa: E402
from test_sweep import FAKE_PLUGIN, count, make_image, stable  # noqa: E402

from codeccmp.errors import UsageError  # noqa: E402
from codeccmp.model.images import from_array  # noqa: E402
from codeccmp.plugins import load_registry  # noqa: E402
from codeccmp.sweep.runner import SweepOptions, run_sweep  # noqa: E402


@pytest.fixture(scope="module")
def local_ray(tmp_path_factory: pytest.TempPathFactory):
    """A two-CPU Ray on this machine; its workers count encodes in ``counter``."""
    tmp = tmp_path_factory.mktemp("ray")
    plugin = tmp / "fake_codecs.py"
    plugin.write_text(FAKE_PLUGIN)
    counter = tmp / "encodes.txt"
    # Its sessions (sockets and logs, 200 KB a run) in a folder of their own, removed after;
    # a short one, since a socket's path has a length limit that pytest's folders can pass.
    # Its home too: ``ray.init`` writes ``~/.ray/auth_token``.
    with short_tempdir("ray-") as sessions, pytest.MonkeyPatch.context() as mp:
        mp.setenv("HOME", str(sessions))
        ray.init(num_cpus=2, include_dashboard=False, logging_level="warning",
                 log_to_driver=False, _temp_dir=str(sessions),
                 runtime_env={"env_vars": {"FAKE_COUNT_FILE": str(counter)}})
        try:
            yield SimpleNamespace(plugin=plugin, counter=counter, tmp=tmp)
        finally:
            ray.shutdown()


def _options(env: SimpleNamespace, cache: Path, **kw) -> SweepOptions:
    base = dict(targets=[0.5, 1.0, 2.0], codecs=["quant", "jpeg"], cache_dir=cache, jobs=1,
                rois=None, plugin_files=[env.plugin], executor="ray")
    base.update(kw)
    return SweepOptions(**base)


def test_ray_matches_local_and_shares_the_cache(local_ray: SimpleNamespace,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    env = local_ray
    monkeypatch.setenv("FAKE_COUNT_FILE", str(env.counter))
    reg = load_registry([env.plugin])
    imgs = [from_array(make_image(s), f"img{s}") for s in (1, 2)]
    cache = env.tmp / "cache"
    # The counter is the module's (the Ray workers' environment is set once): what the
    # other tests here encoded is already in it, in whatever order they ran.
    before = count(env.counter, "quant")
    remote = run_sweep(imgs, reg, _options(env, cache))
    assert all(p.result.ok for p in remote.points) and len(remote.points) == 12
    n = count(env.counter, "quant") - before
    assert n == sum(p.encodes for p in remote.points if p.result.codec == "quant") > 0
    # The same sweep run locally from scratch gives the same numbers...
    local = run_sweep(imgs, reg, _options(env, env.tmp / "fresh", executor="local"))
    assert [stable(p.result) for p in local.points] == [stable(p.result) for p in remote.points]
    # ...and a local rerun against the cache the Ray workers filled computes nothing.
    m = count(env.counter)
    again = run_sweep(imgs, reg, _options(env, cache, executor="local"))
    assert count(env.counter) == m
    assert again.cache["jobs_cached"] == 12
    # A Ray rerun is answered by the driver alone.
    rerun = run_sweep(imgs, reg, _options(env, cache))
    assert rerun.cache["jobs_cached"] == 12 and count(env.counter) == m


def test_ray_failures_are_per_job(local_ray: SimpleNamespace) -> None:
    env = local_ray
    reg = load_registry([env.plugin])
    imgs = [from_array(make_image(3), "img3")]
    res = run_sweep(imgs, reg, _options(env, env.tmp / "c2", codecs=["quant", "broken",
                                                                      "crash"]))
    status = {}
    for p in res.points:
        status.setdefault(p.result.codec, set()).add(p.result.status)
    assert status == {"quant": {"ok"}, "broken": {"failed"}, "crash": {"failed"}}
    reasons = {p.result.codec: p.result.reason for p in res.points if not p.result.ok}
    assert "always fails" in reasons["broken"]
    assert reasons["crash"]  # Ray's worker-died error, one line


def test_cuda_without_gpus_is_a_usage_error(local_ray: SimpleNamespace) -> None:
    env = local_ray
    reg = load_registry([env.plugin])
    from codeccmp.codec import RunSettings

    with pytest.raises(UsageError, match="no GPU"):
        run_sweep([from_array(make_image(1), "a")], reg,
                  _options(env, env.tmp / "c3", settings=RunSettings(device="cuda")))


class _FakeRay:
    """Just enough of the ray module to see how tasks are placed on a cluster with GPUs."""

    def __init__(self, gpus: float) -> None:
        self.gpus = gpus
        self.placed: list[tuple[str, dict]] = []

    def is_initialized(self) -> bool:
        return True

    def cluster_resources(self) -> dict:
        return {"CPU": 8.0, "GPU": self.gpus}

    def put(self, obj):  # noqa: ANN001, ANN201
        return obj

    def remote(self, fn):  # noqa: ANN001, ANN201
        fake = self

        class Remote:
            def options(self, **opts):  # noqa: ANN003, ANN201
                class Call:
                    def remote(self, task, image):  # noqa: ANN001, ANN201
                        fake.placed.append((task.codec, opts))
                        return object()  # an opaque, hashable reference
                return Call()
        return Remote()

    def wait(self, refs, num_returns=1):  # noqa: ANN001, ANN201
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):  # noqa: ANN001, ANN201
        from codeccmp.sweep.runner import TaskOutcome

        return TaskOutcome([])

    def cancel(self, ref, force=False) -> None:  # noqa: ANN001
        pass


@pytest.mark.parametrize("device, gpus, want", [
    ("auto", 1.0, 1), ("cuda", 2.0, 1), ("auto", 0.0, 0), ("cpu", 1.0, 0)])
def test_learned_tasks_ask_for_a_gpu(monkeypatch: pytest.MonkeyPatch, device: str,
                                     gpus: float, want: int) -> None:
    from codeccmp.codec import RunSettings
    from codeccmp.sweep.executors import RayExecutor
    from codeccmp.sweep.runner import Job, Task

    fake = _FakeRay(gpus)
    monkeypatch.setitem(sys.modules, "ray", fake)
    ex = RayExecutor((), None, device)
    ex.start()

    def task(codec: str, family: str) -> Task:
        return Task(image=from_array(make_image(1), "a"), image_index=0, codec=codec,
                    family=family, jobs=[Job(0, codec, "target", 1.0)], device="cpu",
                    settings=RunSettings(), tolerance=0.1, measure={}, cache_root=None,
                    cache_read=True)

    learned = SimpleNamespace(family="learned")
    assert ex.device_for(learned) == ("cuda" if want else "cpu")
    assert ex.settings_for(learned, RunSettings(device=device)).device == (
        "cuda" if want else "cpu")
    ex.run([task("net", "learned"), task("jpeg", "traditional")], lambda t, o: None)
    placed = dict(fake.placed)
    assert placed["net"]["num_gpus"] == want and placed["jpeg"]["num_gpus"] == 0
    assert placed["jpeg"]["num_cpus"] == 1 and placed["net"]["max_retries"] == 0
