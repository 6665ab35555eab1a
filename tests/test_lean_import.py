"""compressai imported without torch_geometric: models still code exactly; nothing lingers."""

from __future__ import annotations

import pytest
from procs import python_argv, run

pytest.importorskip("compressai")

PROBE = """
import sys
import torch
from codeccmp_compressai import zoo
zoo.import_compressai()
from compressai.models import FactorizedPrior
print("tg-after-import", "torch_geometric" in sys.modules)
torch.manual_seed(0)
m = FactorizedPrior(8, 8).eval()
m.update(force=True)
x = torch.rand(1, 3, 64, 64)
with torch.inference_mode():
    out = m.compress(x)
    y = m.decompress(out["strings"], out["shape"])["x_hat"]
print("round-trip", tuple(y.shape))
from compressai.registry import TRANSFORMS
print("pyg-transforms", "KNNGraph" in TRANSFORMS)
import torch_geometric, torch_geometric.transforms
print("real-tg", hasattr(torch_geometric, "__version__"),
      hasattr(torch_geometric.transforms, "Compose"))
"""


def _run(env_full: bool) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if k != "CODECCMP_FULL_COMPRESSAI_IMPORT"}
    if env_full:
        env["CODECCMP_FULL_COMPRESSAI_IMPORT"] = "1"
    r = run(python_argv(PROBE, flags=("-W", "ignore")), env=env, timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    return dict(line.split(" ", 1) for line in r.stdout.splitlines())


def test_lean_import_codes_and_leaves_the_real_package_importable() -> None:
    pytest.importorskip("torch_geometric")
    out = _run(env_full=False)
    assert out["tg-after-import"] == "False"  # the stand-ins are gone again
    assert out["round-trip"] == "(1, 3, 64, 64)"
    assert out["pyg-transforms"] == "False"  # what changes: the point-cloud side
    assert out["real-tg"] == "True True"


def test_full_import_on_request() -> None:
    pytest.importorskip("torch_geometric")
    out = _run(env_full=True)
    assert out["tg-after-import"] == "True"
    assert out["pyg-transforms"] == "True"
    assert out["round-trip"] == "(1, 3, 64, 64)"


FALLBACK = """
import contextlib, sys, types
from codeccmp_compressai import lean_import, zoo

@contextlib.contextmanager
def too_lean():  # stand-ins missing what compressai reads: the lean import fails
    sys.modules["torch_geometric"] = types.ModuleType("torch_geometric")
    try:
        yield
    finally:
        del sys.modules["torch_geometric"]

lean_import.without_torch_geometric = too_lean
zoo.import_compressai()
from compressai.models import FactorizedPrior
from compressai.registry import TRANSFORMS
print("fell-back", "KNNGraph" in TRANSFORMS, FactorizedPrior.__name__)
"""


def test_failed_lean_import_falls_back_to_the_full_one() -> None:
    pytest.importorskip("torch_geometric")
    r = run(python_argv(FALLBACK, flags=("-W", "ignore")), timeout=120)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.split() == ["fell-back", "True", "FactorizedPrior"]
