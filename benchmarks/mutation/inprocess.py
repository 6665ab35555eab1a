#!/usr/bin/env python
"""Run a staged module's mutants against chosen tests in one process (faster than mutmut
where each surviving mutant would rerun many slow tests in a fresh fork).

    cd STAGE/MODULE/mutants   # made by benchmarks/mutation/run.py (mutmut's generated tree)
    python ROOT/benchmarks/mutation/inprocess.py src/codeccmp/stripes/error.py 'x__whole_image' \\
        tests/test_a.py tests/test_b.py::test_c [--skip verdicts.json] [--out result.json]

Each mutant whose function name matches the regular expression is switched on as mutmut
does (``MUTANT_UNDER_TEST=<name>``, read by the trampolines in ``src/``), and the tests run
in process with ``pytest -x``; a mutant is killed when any test fails or errors. The tests
are given in the order to try them (fast ones first: ``-x`` stops at the first failure), e.g.
the new test files, then the tests mutmut's ``mutmut-stats.json`` maps to the function. A
control run with no mutant must pass. ``--skip`` takes a JSON object of names already killed
(value 1, as in mutmut's ``.meta`` files); ``--out`` gets ``{name: [failing tests]}`` (an
empty list: survived), written after every mutant. There is no timeout: a mutant that loops
forever hangs the run (none of the stripes package's functions has an unbounded loop).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path


class _Failures:
    def __init__(self) -> None:
        self.failed: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:  # noqa: ANN001 (pytest's hook)
        if report.failed:
            self.failed.append(report.nodeid.split("::")[-1])


def _run(name: str, tests: list[str]) -> tuple[int, list[str]]:
    import pytest

    os.environ["MUTANT_UNDER_TEST"] = name
    f = _Failures()
    rc = pytest.main(["-q", "-p", "no:cacheprovider", "--no-header", "--tb=no", "-W", "ignore",
                      "-x", *tests], plugins=[f])
    return int(rc), f.failed


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("module_file", help="the mutated file under src/, e.g. src/codeccmp/x.py")
    ap.add_argument("pattern", help="regular expression on the mutants' names")
    ap.add_argument("tests", nargs="+", help="pytest paths or node ids, in the order to try")
    ap.add_argument("--skip", type=Path, help="JSON {name: verdict}; verdict 1 = killed")
    ap.add_argument("--out", type=Path, default=Path("inprocess.json"))
    args = ap.parse_args()
    sys.path.insert(0, "src")  # the mutated tree, before any installed copy
    src = Path(args.module_file).read_text()
    pkg = args.module_file.removeprefix("src/").removesuffix(".py").replace("/", ".")
    names = sorted(set(re.findall(r"def (x\w+__mutmut_\d+)", src)),
                   key=lambda s: (s.split("__mutmut_")[0], int(s.split("__mutmut_")[1])))
    names = [f"{pkg}.{n}" for n in names if re.search(args.pattern, n)]
    if args.skip:
        killed = {k for k, v in json.loads(args.skip.read_text()).items() if v == 1}
        names = [n for n in names if n not in killed]
    rc, failed = _run("", args.tests)
    if rc != 0:
        print(f"control run failed: {failed}", file=sys.stderr)
        return 1
    res: dict[str, list[str]] = {}
    for n in names:
        rc, failed = _run(n, args.tests)
        res[n] = (failed or [f"exit {rc}"]) if rc != 0 else []
        args.out.write_text(json.dumps(res, indent=0))
    print(f"{sum(bool(v) for v in res.values())} of {len(res)} killed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
