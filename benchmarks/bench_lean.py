#!/usr/bin/env python
"""Peak memory and wall time of standard-codec ``compare`` runs against a bare Pillow floor.

A run with no learned codec and no torch-based metric must not import torch: it costs about
1.5 s and half a gigabyte for nothing. Each command runs in a fresh process, in ``--repeat``
rounds of every command once (median wall; the largest peak resident set size; and the
median over rounds of its wall divided by the same round's floor 2, which a shared VM's
drifting load moves far less than a ratio of medians taken minutes apart):

- **floor**: a bare Python process that opens the image with Pillow, encodes it once as JPEG
  at the quality codeccmp chose (optimised Huffman tables, 4:2:0, as codeccmp's JPEG) and
  decodes it: the least any tool that codes the image once can do;
- **floor, the search by hand**: Pillow and NumPy, the JPEG encodes codeccmp's rate search
  made (the trial qualities its JSON records), the chosen bitstream decoded, its bpp and PSNR:
  the least a script that answers the same question ("JPEG at 0.3 bpp: what quality?") can do;
- ``codeccmp compare IMAGE --bpp 0.3 --codecs jpeg --roi none`` (the rate search, PSNR,
  SSIM, MS-SSIM, the table), the same with the stripe analysis, and the six standard codecs.

Run from the repository root; ``--src DIR`` (repeatable) measures other checkouts (their
``src`` and ``plugins``) instead of this one, e.g. the commit before the change
(``git archive COMMIT src plugins | tar -x -C DIR``). With several, the runs alternate
between them, so that a machine whose load changes meanwhile (a shared VM) weighs on each
alike::

    python benchmarks/bench_lean.py [--image samples/barbara.png] [--repeat 5] [--src DIR]...

Peak memory is ``ru_maxrss`` of each child from ``os.wait4``; this process imports nothing
heavy, so the high-water mark a child inherits over fork and exec is below every figure.
Python's bytecode caches are used and written (``PYTHONDONTWRITEBYTECODE`` is dropped from the
children's environment, and each source runs once before the timed runs), as in an installed
copy: without them every run compiles codeccmp's modules again (about 80 ms on the
development VM, whose shell sets that variable).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STANDARD = "jpeg,jpeg2000,webp,avif,heif,jpegxl"

FLOOR = """
import io, sys
from PIL import Image
im = Image.open(sys.argv[1]); im.load()
buf = io.BytesIO()
im.convert("RGB").save(buf, format="JPEG", quality=int(sys.argv[2]), optimize=True)
out = Image.open(io.BytesIO(buf.getvalue())); out.load()
"""

FLOOR_SEARCH = """
import io, sys
import numpy as np
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB")
chosen, data = int(sys.argv[2]), b""
for q in map(int, sys.argv[3].split(",")):
    buf = io.BytesIO()
    im.save(buf, format="JPEG", quality=q, optimize=True)
    if q == chosen:
        data = buf.getvalue()
ref = np.asarray(im, dtype=np.float64)
out = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.float64)
mse = np.mean((out - ref) ** 2)
print(8 * len(data) / (im.width * im.height), 10 * np.log10(255**2 / mse))
"""

PROBE = """
import sys
from codeccmp.cli.app import main
try:
    main(sys.argv[1:])
finally:
    print("torch imported:", "torch" in sys.modules, file=sys.stderr)
"""


def measure(cmd: list[str], env: dict[str, str]) -> tuple[float, float, str]:
    """(wall s, peak MB, stderr tail) of one fresh process."""
    with tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err,
                                cwd=ROOT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace")[-2000:]
    if proc.returncode:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{tail}")
    return wall, usage.ru_maxrss / 1024, tail


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--image", type=Path, default=ROOT / "samples" / "barbara.png")
    ap.add_argument("--bpp", type=float, default=0.3)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--src", type=Path, action="append", help="checkout to measure")
    ap.add_argument("--no-six", action="store_true", help="skip the six-codec run")
    args = ap.parse_args()
    srcs = args.src or [ROOT]
    base_env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    envs = [{**base_env, "PYTHONPATH": f"{s / 'src'}{os.pathsep}{s / 'plugins'}",
             "CODECCMP_OFFLINE": "1"} for s in srcs]
    image = str(args.image.resolve())
    base = [sys.executable, "-c", PROBE, "compare", image, "--bpp", str(args.bpp)]
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "r.json"
        for env in envs:  # also writes each source's bytecode caches
            measure([*base, "--codecs", "jpeg", "--roi", "none", "--json", str(js), "--force"],
                    env)
        jpeg = json.loads(js.read_text())["results"][0]
        quality = int(jpeg["param"])
        trials = ",".join(str(int(t["param"])) for t in jpeg["trials"])
    runs = {
        f"floor: Pillow JPEG q={quality}, encode + decode": [sys.executable, "-c", FLOOR,
                                                              image, str(quality)],
        f"floor: Pillow + NumPy, the search's encodes (q {trials}), decode, PSNR": [
            sys.executable, "-c", FLOOR_SEARCH, image, str(quality), trials],
        "compare --codecs jpeg --roi none": [*base, "--codecs", "jpeg", "--roi", "none"],
        "compare --codecs jpeg (stripes)": [*base, "--codecs", "jpeg"],
    }
    if not args.no_six:
        runs["compare --codecs (six standard) --roi none"] = [*base, "--codecs", STANDARD,
                                                               "--roi", "none"]
    print(f"{args.image.name}, {args.bpp} bpp, median of {args.repeat} rounds (peak: largest); "
          "each round runs every command once, sources alternating; ÷ floor 2: the median "
          "(quartiles) of each round's wall over that round's floor 2\n")
    print("| run | source | wall s | ÷ floor 2 | peak MB | torch imported |")
    print("| --- | --- | ---: | ---: | ---: | --- |")
    # Rounds, not one command repeated then the next: a shared VM's load drifts over
    # minutes, and a floor measured in a quiet minute against a run in a busy one (or the
    # reverse) moved the ratio between 1.9 and 2.5 from one invocation to the next.
    jobs = [(name, i, env) for name in runs
            for i, env in enumerate(envs[:1] if name.startswith("floor") else envs)]
    got: dict[tuple[str, int], list[tuple[float, float, str]]] = {j[:2]: [] for j in jobs}
    for _ in range(args.repeat):
        for name, i, env in jobs:
            got[name, i].append(measure(runs[name], env))
    floor2 = next(name for name in runs if name.startswith("floor: Pillow + NumPy"))
    for (name, i), g in got.items():
        torch = "–" if name.startswith("floor") else \
            "yes" if "torch imported: True" in g[-1][2] else "no"
        src = "–" if name.startswith("floor") else str(srcs[i])
        ratios = [x[0] / f[0] for x, f in zip(g, got[floor2, 0], strict=True)]
        print(f"| {name} | {src} | {statistics.median(x[0] for x in g):.2f} | "
              f"{_spread(ratios)} | {max(x[1] for x in g):.0f} | {torch} |", flush=True)


def _spread(values: list[float]) -> str:
    """The median and, from four rounds on, the quartiles: ``2.04 (1.98–2.10)``. Half the
    rounds lie between the quartiles, so a target inside them is not met or missed by this
    machine's noise alone."""
    mid = statistics.median(values)
    if len(values) < 4:
        return f"{mid:.2f}"
    q1, _, q3 = statistics.quantiles(values, n=4)
    return f"{mid:.2f} ({q1:.2f}–{q3:.2f})"


if __name__ == "__main__":
    main()
