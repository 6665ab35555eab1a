#!/usr/bin/env python
"""Deliberate bugs that once passed the whole suite, applied by hand one at a time; each must fail the suite.

    python benchmarks/mutation/deliberate_bugs.py [NAME[+NAME] ...]   (default: all)

Each entry replaces one exact piece of source (NAME+NAME applies several at once), runs the
tests named with it, reports which failed, and restores the files. A mutant that passes
every test is a regression of the suite. An entry whose text no longer exists (the code was
rewritten) is reported as stale: update its pattern. Complements ``mutation/run.py`` (mutmut's
generic mutants) with the specific bugs that once slipped through.
"""

# ruff: noqa: E501  (the patterns are exact lines of source)
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: name -> (file, exact text, its replacement, test files that must catch it)
MUTANTS: dict[str, tuple[str, str, str, str]] = {
    "wrap": (
        "src/codeccmp/stripes/field.py",
        "return np.minimum(d, 180.0 - d)",
        "return np.abs(np.asarray(a) - np.asarray(b))",
        "test_known_answers.py test_mutations_caught.py",
    ),
    "tol_default": (
        "src/codeccmp/pipeline/ratematch.py",
        "DEFAULT_TOLERANCE = 0.10",
        "DEFAULT_TOLERANCE = 0.20",
        "test_known_answers.py",
    ),
    "tol_cli_default": (
        "src/codeccmp/cli/compare.py",
        'deviates more than this fraction.")] = 0.10,',
        'deviates more than this fraction.")] = 0.20,',
        "test_mutations_caught.py",
    ),
    "tol_within": (
        "src/codeccmp/pipeline/ratematch.py",
        "return abs(self.deviation) <= tolerance",
        "return abs(self.deviation) <= 2 * tolerance",
        "test_known_answers.py test_mutations_caught.py",
    ),
    "tol_ignored_cli": (
        "src/codeccmp/cli/compare.py",
        "                             tolerance=tolerance,\n",
        "                             tolerance=0.10,\n",
        "test_mutations_caught.py",
    ),
    "tol_ignored_core": (
        "src/codeccmp/pipeline/compare.py",
        "rm.within(options.tolerance)",
        "rm.within(DEFAULT_TOLERANCE)",
        "test_mutations_caught.py",
    ),
    "tol_range_compare": (
        "src/codeccmp/cli/compare.py",
        "    if not 0 < tolerance < 1:\n",
        "    if False:\n",
        "test_mutations_caught.py",
    ),
    "tol_range_sweep": (
        "src/codeccmp/cli/sweep.py",
        "    if not 0 < tolerance < 1:\n",
        "    if False:\n",
        "test_mutations_caught.py",
    ),
    "key_measure": (
        "src/codeccmp/sweep/tasks.py",
        '"tolerance": tolerance, "measure": measure})',
        '"tolerance": tolerance})',
        "test_mutations_caught.py",
    ),
    "key_rois": (
        "src/codeccmp/sweep/tasks.py",
        '"tolerance": tolerance, "measure": measure})',
        '"tolerance": tolerance, "measure": {k: v for k, v in measure.items() if k not in ("rois", "roi_count")}})',
        "test_mutations_caught.py",
    ),
    "tol_range_sweep_core": (
        "src/codeccmp/sweep/runner.py",
        "    if not 0 < options.tolerance < 1:\n",
        "    if False:\n",
        "test_mutations_caught.py",
    ),
    "key_code": ("src/codeccmp/sweep/tasks.py", '"code": h.hexdigest(),', "", "test_mutations_caught.py"),
    "extra": (
        "src/codeccmp/sweep/cache.py",
        '            fp["extra"] = settings.extra',
        "            pass",
        "test_mutations_caught.py",
    ),
    "est_compare": (
        "src/codeccmp/pipeline/compare.py",
        "res.bpp = rm.bpp",
        "res.bpp = enc.settings.get('estimated_bpp', rm.bpp)",
        "test_mutations_caught.py",
    ),
    "est_ratematch": (
        "src/codeccmp/pipeline/ratematch.py",
        "bpp = bits_per_pixel(enc.nbytes, self.num_pixels)",
        "bpp = enc.settings.get('estimated_bpp') or bits_per_pixel(enc.nbytes, self.num_pixels)",
        "test_mutations_caught.py",
    ),
    "est_learned": (
        "plugins/codeccmp_compressai/quality_search.py",
        "return 8 * real[i].nbytes / pixels",
        "return real[i].settings['estimated_bpp']",
        "test_mutations_caught.py",
    ),
    "db_double": (
        "src/codeccmp/measure/metrics.py",
        "else -10.0 * math.log10(1.0 - value)",
        "else -20.0 * math.log10(1.0 - value)",
        "test_known_answers.py test_mutations_caught.py",
    ),
}


#: What runs by default: every entry alone, except the sweep's --tolerance check, which exists
#: twice (the CLI's and run_sweep's): removing one alone changes nothing, so both go together.
DEFAULT_RUNS = [
    *(k for k in MUTANTS if not k.startswith("tol_range_sweep")),
    "tol_range_sweep+tol_range_sweep_core",
]


def run(arg: str) -> str:
    saved: list[tuple[Path, str]] = []
    tests: set[str] = set()
    try:
        for name in arg.split("+"):
            path, old, new, test_files = MUTANTS[name]
            p = ROOT / path
            src = p.read_text()
            if src.count(old) != 1:
                return f"{arg}: STALE ({name}: text found {src.count(old)} times in {path})"
            saved.append((p, src))
            p.write_text(src.replace(old, new))
            tests.update(test_files.split())
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                *sorted(f"tests/{t}" for t in tests),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=900,
        )
        verdict = {0: "NOT CAUGHT", 1: "caught"}.get(r.returncode, f"error {r.returncode}")
        lines = r.stdout.strip().splitlines() or ["(no output)"]
        failed = [f"    {x[:150]}" for x in lines if x.startswith("FAILED")]
        return "\n".join([f"{arg}: {verdict}: {lines[-1]}", *failed])
    finally:
        for p, src in reversed(saved):
            p.write_text(src)


def main() -> int:
    names = sys.argv[1:] or DEFAULT_RUNS
    bad = [n for a in names for n in a.split("+") if n not in MUTANTS]
    if bad:
        raise SystemExit(f"unknown: {', '.join(bad)}; known: {', '.join(MUTANTS)}")
    results = [run(a) for a in names]
    print("\n".join(results))
    return 1 if any("NOT CAUGHT" in r or "STALE" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
