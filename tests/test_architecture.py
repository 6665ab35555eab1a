"""The architecture's import rules (pyproject.toml, ``[tool.importlinter]``) hold, and they
would catch a break: a copy of the tree with one forbidden import added fails the contract
that names the rule. docs/architecture.md explains the parts and why each rule exists."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which(
    "lint-imports")

pytestmark = pytest.mark.skipif(LINT is None, reason="import-linter is not installed")


def _lint(root: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on the tree at ``root`` (its src/ and plugins/ first on the path), no
    cache, so a copy is analysed as it is now."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root / "src"),
                                                         str(root / "plugins")])}
    return subprocess.run([LINT, "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=300)


def test_the_tree_keeps_every_contract() -> None:
    proc = _lint(ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "0 broken" in proc.stdout


@pytest.mark.parametrize(("module", "line", "contract"), [
    ("src/codeccmp/pipeline/compare.py", "import codeccmp_pillow",
     "The core imports no first-party plugin"),
    ("src/codeccmp/stripes/field.py", "import codeccmp.render.montage",
     "Measures never import rendering"),
    ("src/codeccmp/model/results.py", "import codeccmp.pipeline.compare", "Layers"),
    ("src/codeccmp/model/images.py", "import torch",
     "No torch or CompressAI in the core"),
    ("plugins/codeccmp_pillow/codecs.py", "import codeccmp_external", "Plugins stand apart"),
    ("plugins/codeccmp_compressai/train_data.py", "import codeccmp_compressai.training",
     "No import cycles"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path: Path, module: str, line: str,
                                                contract: str) -> None:
    for part in ("src", "plugins"):
        shutil.copytree(ROOT / part, tmp_path / part,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}  # the deliberate break\n")
    proc = _lint(tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    report = proc.stdout.split("Broken contracts", 1)[1]  # headed by each broken one's name
    headings = [ln for ln in report.splitlines() if ln and not ln.startswith(("-", " "))]
    assert any(h.startswith(contract) for h in headings), report[:1500]


def test_the_plugin_api_is_importable_from_the_package_root() -> None:
    """``codeccmp.Codec`` and friends: what docs/plugins.md shows plugins importing, at the
    top level as well as from their modules, the same objects."""
    import codeccmp
    from codeccmp import codec, errors, hookspecs, metric

    assert codeccmp.Codec is codec.Codec and codeccmp.Encoded is codec.Encoded
    assert codeccmp.ParamSpace is codec.ParamSpace and codeccmp.Metric is metric.Metric
    assert codeccmp.UsageError is errors.UsageError and codeccmp.hookimpl is hookspecs.hookimpl
    assert set(codeccmp.__all__) <= set(dir(codeccmp))


def test_the_plugin_api_loads_nothing_heavy() -> None:
    """``import codeccmp`` (a plugin's first line) loads neither NumPy nor Pillow: NumPy
    appears in the API's annotations only, and the package docstring promises no more than
    ``hookspecs`` costs."""
    from procs import python_argv, run

    code = ("import sys, codeccmp\n"
            "print('HEAVY', [m for m in ('numpy', 'PIL', 'torch', 'scipy', 'rich', 'typer')"
            " if m in sys.modules])")
    p = run(python_argv(code), timeout=120)
    assert p.returncode == 0 and "HEAVY []" in p.stdout, p.stderr[-1000:]
