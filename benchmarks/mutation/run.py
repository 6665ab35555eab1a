#!/usr/bin/env python
"""Mutation testing of codeccmp's core modules with mutmut (slow: run by hand, not in CI).

    python benchmarks/mutation/run.py [MODULE ...] [--children N] [--resume]

MODULE is one of the keys of :data:`MODULES` (default: all). For each, mutmut makes small
changes to the module (an operator flipped, a constant changed, an argument dropped), runs the
tests that cover the changed function, and counts a mutant *killed* when a test fails. A
surviving mutant is either a gap in the tests or an equivalent change (same behaviour); each
survivor is listed so it can be killed with a test or explained in benchmarks/README.md.

Why a staging directory: mutmut imports the mutated code from ``mutants/src`` and names
mutants by their path under ``src/``; the learned plugin lives under ``plugins/``. The script
copies ``src/*`` and ``plugins/*`` side by side into ``STAGE/src`` (so every package keeps its
import name), the tests, and a pyproject.toml whose ``[tool.mutmut]`` section selects the
module and its tests, then runs ``mutmut run`` there. The worktree itself is never touched.

Scores are printed per module and written to ``STAGE/scores.json``; survivors to
``STAGE/<module>/survivors.txt`` (with ``mutmut show`` diffs).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: module -> (file to mutate, under the staged src/, or a list of them; tests that exercise
#: it; mutant-name patterns to run, None for all of the file's mutants).
MODULES: dict[str, tuple[str, list[str], list[str] | None]] = {
    "ratematch": ("src/codeccmp/pipeline/ratematch.py",
                  ["tests/test_ratematch.py", "tests/test_rate_priors.py",
                   "tests/test_ratematch_contract.py", "tests/test_properties.py",
                   "tests/test_known_answers.py", "tests/test_ratematch_cost.py"], None),
    "cache": ("src/codeccmp/sweep/cache.py",
              ["tests/test_cache.py", "tests/test_cache_contract.py",
               "tests/test_cache_mutants.py", "tests/test_properties.py",
               "tests/test_mutations_caught.py"], None),
    # The pipeline's own tests, in process. The CLI tests (test_cli, test_messages,
    # test_outputs, test_codec_options, test_measure_report, ...) also reach compare.py,
    # but 78 of them call validate_bpp and 45 code_with: a mutant then cost over a minute
    # on the shared VM (169 of 432 checked in 25 min, 166 killed), so they are left out.
    "compare": ("src/codeccmp/pipeline/compare.py",
                ["tests/test_compare_pipeline.py", "tests/test_compare_lean.py",
                 "tests/test_mutations_caught.py", "tests/test_qualitymatch.py",
                 "tests/test_warmup.py"], None),
    "metrics": ("src/codeccmp/measure/metrics.py",
                ["tests/test_metrics_edges.py", "tests/test_metrics_fast.py",
                 "tests/test_metrics_internals.py", "tests/test_known_answers.py",
                 "tests/test_metrics_torchless.py"], None),
    "fma": ("src/codeccmp/measure/fma.py",
            ["tests/test_metrics_torchless.py", "tests/test_metrics_fast.py"], None),
    # The whole package (field, spectral, detect, classes, error, roi).
    "stripes": ("src/codeccmp/stripes*",
                ["tests/test_stripe_classes.py", "tests/test_stripes_edges.py",
                 "tests/test_stripes.py",
                 "tests/test_stripes_detect.py", "tests/test_stripes_spectral.py",
                 "tests/test_stripes_error.py", "tests/test_stripes_roi.py",
                 "tests/test_stripes_field.py", "tests/test_stripes_real.py",
                 "tests/test_known_answers.py", "tests/test_properties.py"], None),
    # The container format has its own tests; the codec tests (real tiny models) would make
    # each mutant cost a minute and add nothing the format tests do not check.
    "bitstream": ("src/codeccmp_compressai/bitstream.py",
                  ["tests/test_compressai_bitstream.py", "tests/test_bitstream_limits.py"],
                  None),
    # The learned codec's rate path: its own search (quality_search.search_ladder and
    # analyse, which computes the estimate it ranks qualities by) and the codec methods
    # that feed it.
    "learned-rate": (["src/codeccmp_compressai/codecs.py",
                      "src/codeccmp_compressai/quality_search.py"],
                     ["tests/test_learned_rate.py", "tests/test_compressai_codec.py",
                      "tests/test_mutations_caught.py",
                      # match_rate's retry when a download fails mid-search
                      "tests/test_compressai_weights.py::"
                      "test_network_failure_keeps_local_qualities"],
                     ["codeccmp_compressai.quality_search.x_search_ladder__mutmut_*",
                      "codeccmp_compressai.quality_search.x_analyse__mutmut_*",
                      "codeccmp_compressai.codecs.xǁLearnedCodecǁ_match_rate__mutmut_*",
                      "codeccmp_compressai.codecs.xǁLearnedCodecǁmatch_rate__mutmut_*",
                      "codeccmp_compressai.codecs.xǁLearnedCodecǁestimate_bpp__mutmut_*"]),
}

#: Modules imported once in mutmut's fork server (as ``pytest -p MODULE``, which imports
#: it before collection) so that each mutant's forked test run inherits them: importing
#: torch costs about 3 s of CPU and compressai 7 s, paid per mutant otherwise.
PRELOAD: dict[str, tuple[str, ...]] = {
    "compare": ("torch",),
    "metrics": ("torch", "compressai"),
    "stripes": ("scipy.ndimage",),
    "bitstream": (),
    "learned-rate": ("torch", "compressai"),
}

#: Directories besides tests/ that tests read (relative to the repository root).
DATA_DIRS = ("samples", "docs")


def mutmut_section(module_file: str | list[str], tests: list[str],
                   preload: tuple[str, ...] = ()) -> str:
    files = module_file if isinstance(module_file, list) else [module_file]
    plugins = [arg for m in preload for arg in ("-p", m)]
    return "\n".join([
        "[tool.mutmut]",
        'source_paths = ["src"]',
        f"only_mutate = {json.dumps(files)}",
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}",
        # -p no:randomly etc. are not installed; keep pytest quiet and plugin-free.
        "pytest_add_cli_args = "
        + json.dumps(["-q", "-p", "no:cacheprovider", *plugins, "-m", "not slow"]),
        # torch in the tests: fork each mutant's run from a clean server process.
        'process_isolation = "forkserver"',
        "use_git_change_detection = false",
        # Data the tests read next to tests/ (samples/stripes.png, docs/*.md).
        f"also_copy = {json.dumps(list(DATA_DIRS))}",
        "",
    ])


def stage(dest: Path, module: str, resume: bool = False) -> Path:
    """A tree mutmut can work in: src/{codeccmp,codeccmp_compressai,codeccmp_pillow}, tests,
    pyproject.toml with this module's [tool.mutmut], and ../shared reachable as before.

    ``resume`` keeps an earlier run's ``mutants/`` (and so its verdicts): mutmut then
    re-checks only what a changed source, test selection or config can affect, e.g. the
    survivors after new tests were written."""
    module_file, tests, _ = MODULES[module]
    work = dest / module
    if work.exists() and not resume:
        shutil.rmtree(work)
    (work / "src").mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for base in (ROOT / "src", ROOT / "plugins"):
        for pkg in base.iterdir():
            if pkg.is_dir() and (pkg / "__init__.py").exists():
                shutil.copytree(pkg, work / "src" / pkg.name, ignore=ignore,
                                dirs_exist_ok=True)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=ignore, dirs_exist_ok=True)
    for d in DATA_DIRS:
        shutil.copytree(ROOT / d, work / d, ignore=ignore, dirs_exist_ok=True)
    text = (ROOT / "pyproject.toml").read_text()
    text = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", text)
    (work / "pyproject.toml").write_text(text.rstrip() + "\n\n" + mutmut_section(
        module_file, tests, PRELOAD.get(module, ())))
    shared = ROOT.parent / "shared"
    if shared.exists() and not (work / "shared").exists():
        # tests find data at ROOT.parent / "shared"; mutmut runs them from work/mutants.
        (work / "shared").symlink_to(shared)
    return work


def run(module: str, dest: Path, children: int, resume: bool = False,
        only: list[str] | None = None) -> dict:
    work = stage(dest, module, resume)
    _, _, patterns = MODULES[module]
    patterns = only or patterns
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    before_path = work / "statuses.json"
    before: dict[str, str] = {}
    run_only = patterns or []
    if resume and before_path.exists():
        # mutmut resets every verdict when the test selection changes; rerun only the
        # previous survivors and keep the earlier kills (more tests cannot revive a mutant).
        before = json.loads(before_path.read_text())
        run_only = [k for k, s in before.items() if s in ("survived", "no tests", "suspicious")]
        if not run_only:
            print("   no survivors to re-check")
    cmd = [sys.executable, "-m", "mutmut", "run", "--max-children", str(children), *run_only]
    t0 = time.perf_counter()
    log = work / "mutmut.log"
    with log.open("w") as f:
        proc = subprocess.run(cmd, cwd=work, env=env, stdout=f, stderr=subprocess.STDOUT)
    seconds = time.perf_counter() - t0
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"],
                         cwd=work, env=env, capture_output=True, text=True).stdout
    status: dict[str, str] = {}
    for line in out.splitlines():
        m = re.match(r"\s+(\S+): (.+)$", line)
        if m and (patterns is None or any(_match(m.group(1), p) for p in patterns)):
            status[m.group(1)] = m.group(2).strip()
    for k, st in before.items():
        if st not in ("survived", "no tests", "suspicious") or status.get(k) in (None,
                                                                                 "not checked"):
            status[k] = st
    before_path.write_text(json.dumps(status, indent=0))
    counts: dict[str, int] = {}
    for s in status.values():
        counts[s] = counts.get(s, 0) + 1
    # A mutant whose tests time out or crash the test process ("segfault": mutmut's name for
    # any death by signal, e.g. the OOM killer) was detected, as a failing test would be.
    killed = sum(counts.get(s, 0) for s in ("killed", "timeout", "segfault"))
    # "no tests": no selected test even calls the function: a gap, counted as surviving.
    considered = sum(v for k, v in counts.items() if k not in ("skipped", "not checked"))
    survivors = sorted(k for k, s in status.items()
                       if s in ("survived", "no tests", "suspicious"))
    # The diffs, in one process (``mutmut show`` per mutant costs seconds each).
    with (work / "survivors.txt").open("w") as f:
        subprocess.run([sys.executable, "-c", _SHOW, *survivors], cwd=work, env=env,
                       stdout=f, stderr=subprocess.STDOUT)
    return {"module": module, "file": MODULES[module][0], "exit": proc.returncode,
            "seconds": round(seconds), "counts": counts, "killed": killed,
            "considered": considered,
            "score": round(killed / considered, 4) if considered else None,
            "survivors": survivors, "log": str(log)}


_SHOW = """
import sys
import mutmut.__main__ as mm
for name in sys.argv[1:]:
    try:
        m = mm.find_mutant(name)
        print(f"# {name}: {mm.status_by_exit_code[m.exit_code_by_key[name]]}")
        print(mm.get_diff_for_mutant(name, path=m.path))
    except Exception as e:
        print(f"# {name}: no diff ({type(e).__name__}: {e})")
"""


def _match(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatch(name, pattern)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("modules", nargs="*", metavar="MODULE",
                    help=f"one or more of {', '.join(MODULES)} (default: all)")
    ap.add_argument("--children", type=int, default=max(1, (os.cpu_count() or 2) - 1),
                    help="mutants run in parallel (default: CPU count - 1)")
    ap.add_argument("--dest", type=Path, default=Path(tempfile.gettempdir()) / "codeccmp-mutation",
                    help="staging directory (default: %(default)s)")
    ap.add_argument("--resume", action="store_true",
                    help="keep the previous run's verdicts; re-check what changed")
    ap.add_argument("--only", action="append", metavar="PATTERN",
                    help="run only mutants whose names match (fnmatch, repeatable), e.g. "
                         "'codeccmp.stripes.field.*': a part of a large module at a time")
    args = ap.parse_args()
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        ap.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    args.dest.mkdir(parents=True, exist_ok=True)
    scores_path = args.dest / "scores.json"
    scores = json.loads(scores_path.read_text()) if scores_path.exists() else {}
    for module in modules:
        print(f"== {module}: mutating {MODULES[module][0]} ...", flush=True)
        r = run(module, args.dest, args.children, args.resume, args.only)
        scores[module] = r
        scores_path.write_text(json.dumps(scores, indent=1))
        score = f"{r['score']:.0%}" if r["score"] is not None else "n/a"
        print(f"   {r['killed']}/{r['considered']} killed ({score}) in {r['seconds']} s; "
              f"{r['counts']}; survivors: {args.dest / module / 'survivors.txt'}", flush=True)
        if r["exit"] != 0:
            print(f"   mutmut exited {r['exit']}: see {r['log']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
