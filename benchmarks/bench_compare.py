#!/usr/bin/env python
"""Time ``codeccmp compare IMAGE --bpp 0.3`` against CompressAI's own tooling and the floor.

Side by side, in one run, on the codecs both can run:

- **codeccmp**: the comparison pipeline (rate search on real bitstreams, one decode, PSNR,
  MS-SSIM and SSIM) for JPEG and WebP, and for the learned ``bmshj2018-factorized`` with the
  checkpoint given by ``--weights`` when the learned plugin is registered;
- **CompressAI tooling**: ``compressai.utils.find_close`` (bisection over quality with its own
  Pillow codec classes, every trial encoded, decoded and measured) for JPEG and WebP, and
  ``compressai.utils.eval_model`` (compress, decompress and measure at every quality it is given:
  here the same checkpoint) for the learned model;
- **the floor**: one encode and one decode per codec at the parameter codeccmp finally chose,
  plus the same metrics (and, for the learned model, loading it once).

Two views: *in-process* (library calls, imports done, median of ``--repeat`` runs, torch on one
thread for everyone as CompressAI's evaluation sets it) and *CLI* (each tool run as a user would,
in fresh processes, imports included). The CLI ratio mostly counts process start-up (CompressAI's
tooling is one process per codec, each importing torch); the in-process ratio is the work itself.

With ``--learned-qualities N`` the learned search is also timed over a ladder of N qualities at
several targets *inside* the ladder's range of real rates, each reported on its own row (a
target outside the range is settled in two analyses and would flatter the search), plus
``--bpp`` itself, labelled when it lies outside.

Any run that fails (a codec not ``ok`` in-process, a non-zero exit on the command line) stops
the benchmark: a failed run is never timed as a success. Run from the repository root::

    python benchmarks/bench_compare.py [--image ../shared/images/barbara.png] [--bpp 0.3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
LEARNED = "bmshj2018-factorized"
ARCH = "bmshj2018-factorized"  # CompressAI's name for the same architecture


def median_time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median wall time of ``repeat`` calls, and the last call's value."""
    times, value = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), value


def fresh_registry():  # noqa: ANN201 - CodecRegistry
    """A new registry with the learned plugin's model caches emptied: no run reuses a model
    another run loaded, so every path pays for loading it."""
    from codeccmp.plugins import load_registry

    with contextlib.suppress(ImportError):
        from codeccmp_compressai import weights

        weights.clear_caches()
    return load_registry()


# --------------------------------------------------------------------------- in-process


def codeccmp_run(image_path: Path, codec: str, bpp: float, weights: dict[str, str]):  # noqa: ANN201
    from codeccmp.codec import RunSettings
    from codeccmp.model.images import load_image
    from codeccmp.pipeline.compare import CompareOptions, compare_image

    img = load_image(image_path)
    opts = CompareOptions(target_bpp=bpp, codecs=[codec], rois=None,
                          settings=RunSettings(device="cpu", weights=weights, offline=True))
    res = compare_image(img, fresh_registry(), opts).results[0]
    if not res.ok:  # a failed or skipped codec is not a timing
        raise SystemExit(f"codeccmp {codec} at {bpp} bpp did not finish: {res.status} "
                         f"{res.reason}")
    return res


def floor_run(image_path: Path, codec: str, param: Any, weights: dict[str, str]) -> float:
    """One encode, one decode, the metrics; returns the bpp it got."""
    from codeccmp.codec import RunSettings
    from codeccmp.measure.metrics import ms_ssim, psnr, ssim
    from codeccmp.model.images import load_image, to_gray, to_rgb

    img = load_image(image_path)
    c = fresh_registry().get(codec)
    c.configure(RunSettings(device="cpu", weights=weights, offline=True))
    pixels = img.pixels
    replicate = img.is_gray and not c.supports_gray
    if replicate:
        pixels = to_rgb(pixels)
    enc = c.encode(pixels, param)
    rec = c.decode(enc.data)
    if replicate:
        rec = to_gray(rec)
    psnr(img.pixels, rec), ms_ssim(img.pixels, rec), ssim(img.pixels, rec)
    return 8 * enc.nbytes / img.num_pixels


def compressai_find_close(image_path: Path, codec: str, bpp: float) -> dict[str, float]:
    from compressai.utils.bench.codecs import JPEG, WebP
    from compressai.utils.find_close.__main__ import find_closest

    cls = {"jpeg": JPEG, "webp": WebP}[codec]
    with contextlib.redirect_stderr(io.StringIO()):  # its progress line
        quality, metrics, _ = find_closest(cls(argparse.Namespace()), str(image_path), bpp,
                                           "bpp")
    return {"quality": quality, **metrics}


def compressai_eval(image_path: Path, checkpoints: list[Path]) -> dict[str, Any]:
    """``eval_model`` as its ``checkpoint`` command runs it: load, update, evaluate, per file."""
    from compressai.utils.eval_model.__main__ import eval_model, load_checkpoint

    results = {}
    for ckpt in checkpoints:
        model = load_checkpoint(ARCH, False, str(ckpt))
        results[ckpt.name] = dict(eval_model(
            model, "", str(image_path.parent), [image_path], entropy_estimation=False,
            trained_net=ckpt.stem, description="ans", architecture=ARCH, half=False,
            per_image=False))
    return results


def untrained_checkpoints(n: int, dest: Path) -> dict[int, Path]:
    """``n`` qualities of the zoo's ``bmshj2018-factorized`` configurations, seeded and
    updated but untrained: only their *timing* means anything. They stand in for a model's
    full quality ladder, which is what ``eval_model`` walks and codeccmp's rate search
    avoids walking (the shared checkpoints are one quality each).

    An untrained analysis transform outputs latents near zero, so the rate is set by the
    entropy model's initial density: its width (``init_scale``) grows by 1.6× per quality,
    so the rate rises with quality as in a trained ladder (the search relies on that order;
    seeded untrained models alone give nearly equal rates in random order). The width
    changes no shape and no amount of computation.
    """
    import torch
    from compressai.zoo.image import cfgs, model_architectures

    out = {}
    for q in range(1, n + 1):
        torch.manual_seed(q)
        model = model_architectures[ARCH](*cfgs[ARCH][q])
        eb = model.entropy_bottleneck
        model.entropy_bottleneck = type(eb)(eb.channels, init_scale=0.15 * 1.6 ** (q - 1))
        model.update(force=True)
        out[q] = dest / f"{ARCH}-untrained-q{q}.pth"
        torch.save(model.state_dict(), out[q])
    return out


# --------------------------------------------------------------------------- CLI


def run_cli(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one fresh process. Any non-zero exit aborts the benchmark: a run that
    failed (``codeccmp compare --codecs ...`` exits 1 when a named codec failed or was
    skipped) did less work and must never be timed as a success."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=ROOT)
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr[-2000:]}")
    return seconds


def cli_floor_command(py: str, image: Path, choices: dict[str, Any],
                      weights: dict[str, str]) -> list[str]:
    """A fresh process doing only the floor's work (imports, then one encode, one decode and
    the metrics per codec at the parameter codeccmp chose): the least a command line can
    cost."""
    code = ("import sys; sys.path.insert(0, {!r})\n"
            "import bench_compare as b\n"
            "from pathlib import Path\n"
            "for codec, param in {!r}.items():\n"
            "    b.floor_run(Path({!r}), codec, param, {!r})\n").format(
        str(ROOT / "benchmarks"), choices, str(image), weights)
    return [py, "-c", code]


# --------------------------------------------------------------------------- ladder


def ladder_rates(image_path: Path, weights: dict[str, str]) -> dict[int, float]:
    """The real bpp of every quality of the ladder on this image (codeccmp's own encode)."""
    from codeccmp.codec import RunSettings
    from codeccmp.model.images import load_image, to_rgb

    img = load_image(image_path)
    c = fresh_registry().get(LEARNED)
    c.configure(RunSettings(device="cpu", weights=weights, offline=True))
    pixels = to_rgb(img.pixels) if img.is_gray and not c.supports_gray else img.pixels
    return {int(q): 8 * c.encode(pixels, q).nbytes / img.num_pixels
            for q in sorted(c.param_space.values)}


def inside_targets(rates: dict[int, float], count: int) -> list[float]:
    """``count`` targets spread over the ladder, each the geometric mean of two adjacent
    qualities' real rates: inside the range, and never at a quality's own rate, so the
    search has to find and code both neighbours."""
    r = [rates[q] for q in sorted(rates)]
    mids = [math.sqrt(a * b) for a, b in zip(r, r[1:], strict=False)]
    if not mids:
        return []
    picks = sorted({round(i * (len(mids) - 1) / max(count - 1, 1)) for i in range(count)})
    return [round(mids[i], 4) for i in picks]


def count_analyses(image: Path, target: float, weights: dict[str, str]) -> int | None:
    """How many qualities the learned search ran the analysis transform for (one untimed
    run; ``None`` if the plugin's internals changed name)."""
    try:
        from codeccmp_compressai.codecs import LearnedCodec
    except ImportError:
        return None
    original = getattr(LearnedCodec, "_analysis_cached", None)
    if original is None:
        return None
    seen: set[int] = set()

    def counting(self, rgb, quality, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        seen.add(int(quality))
        return original(self, rgb, quality, *a, **k)

    LearnedCodec._analysis_cached = counting  # type: ignore[method-assign]
    try:
        codeccmp_run(image, LEARNED, target, weights)
    finally:
        LearnedCodec._analysis_cached = original  # type: ignore[method-assign]
    return len(seen)


def ladder_section(image: Path, n: int, args: argparse.Namespace) -> None:
    """The learned search over an N-quality ladder, at targets inside its range, each row
    on its own: codeccmp against ``eval_model`` over the ladder and against the floor."""
    ladder_dir = Path(tempfile.mkdtemp(prefix="bench-ladder-"))
    try:
        ladder = untrained_checkpoints(n, ladder_dir)
        weights = {f"{LEARNED}:{q}": str(p) for q, p in ladder.items()}
        rates = ladder_rates(image, weights)
        qs = sorted(rates)
        monotone = all(rates[a] < rates[b] for a, b in zip(qs, qs[1:], strict=False))
        print(f"\nlearned ladder: {n} UNTRAINED zoo-sized {ARCH} qualities (timing only); "
              "real bpp on this image: "
              + ", ".join(f"q{q} {rates[q]:.3f}" for q in qs)
              + ("" if monotone else "  WARNING: not increasing with quality"))
        targets = [(t, "inside") for t in inside_targets(rates, args.ladder_points)]
        if not rates[qs[0]] <= args.bpp <= rates[qs[-1]]:
            targets.append((args.bpp, "OUTSIDE the ladder (settled in two analyses)"))
        checkpoints = [ladder[q] for q in qs]
        compressai_eval(image, checkpoints)  # warm-up, untimed
        t_cai, _ = median_time(lambda: compressai_eval(image, checkpoints), args.repeat)
        print(f"eval_model over the {n} qualities (what CompressAI's tooling needs to find the "
              f"quality closest to any target): {t_cai:.3f} s in-process")
        head = (f"{'target bpp':>10} {'where':8} {'codeccmp':>9} {'eval_model':>10} "
                f"{'floor':>7} {'CAI/ccmp':>9} {'ccmp/floor':>10} {'analyses':>8} "
                f"{'encodes':>7}  result")
        print(head)
        print("-" * len(head))
        rows = []
        for target, where in targets:
            codeccmp_run(image, LEARNED, target, weights)  # warm-up, untimed
            t_c, res = median_time(
                lambda t=target: codeccmp_run(image, LEARNED, t, weights), args.repeat)
            t_f, _ = median_time(
                lambda p=res.param: floor_run(image, LEARNED, p, weights), args.repeat)
            analyses = count_analyses(image, target, weights)
            rows.append((target, where, t_c, t_f, res))
            print(f"{target:10.4f} {where.split()[0].lower():8} {t_c:9.3f} {t_cai:10.3f} "
                  f"{t_f:7.3f} {t_cai / t_c:8.2f}× {t_c / t_f:9.2f}× "
                  f"{analyses if analyses is not None else '?':>8} {len(res.trials):7d}  "
                  f"q{res.param} {res.bpp:.4f} bpp ({res.deviation:+.1%})"
                  + ("" if where == "inside" else f"  [{where}]"))
        if args.no_cli:
            return
        env = dict(os.environ)
        py = sys.executable
        wargs = [a for k, v in weights.items() for a in ("--weights", f"{k}={v}")]
        ds = ladder_dir / "dataset"
        ds.mkdir()
        shutil.copy(image, ds / image.name)
        cai_cmd = [py, "-m", "compressai.utils.eval_model", "checkpoint", str(ds), "-a", ARCH,
                   "-p", *map(str, checkpoints)]
        t_cai_cli = statistics.median(run_cli(cai_cmd, env) for _ in range(args.cli_repeat))
        print(f"\nladder, command line (fresh processes; eval_model over {n} qualities: "
              f"{t_cai_cli:.2f} s)")
        for target, where, *_ in rows:
            cmd = [py, "-m", "codeccmp", "compare", str(image), "--bpp", str(target),
                   "--codecs", LEARNED, "--roi", "none", "-q", "--device", "cpu",
                   "--offline", *wargs]
            t = statistics.median(run_cli(cmd, env) for _ in range(args.cli_repeat))
            print(f"  codeccmp compare --bpp {target:<8} ({where.split()[0].lower()}): "
                  f"{t:6.2f} s   CompressAI / codeccmp {t_cai_cli / t:.2f}×")
    finally:
        shutil.rmtree(ladder_dir, ignore_errors=True)


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--image", type=Path, default=SHARED / "images" / "barbara.png")
    ap.add_argument("--bpp", type=float, default=0.3)
    ap.add_argument("--weights", type=Path,
                    default=SHARED / "weights" / "bmshj2018-factorized-ms-ssim-cpu.pth")
    ap.add_argument("--repeat", type=int, default=3, help="in-process runs per measurement")
    ap.add_argument("--cli-repeat", type=int, default=1, help="CLI runs per command")
    ap.add_argument("--no-cli", action="store_true", help="skip the fresh-process timings")
    ap.add_argument("--learned-qualities", type=int, default=0, metavar="N",
                    help="also time the learned search over a ladder of N untrained zoo-sized "
                         "qualities (timing only) at targets inside its range")
    ap.add_argument("--ladder-points", type=int, default=3, metavar="K",
                    help="how many targets inside the ladder's range (default 3)")
    ap.add_argument("--skip-main", action="store_true",
                    help="only the ladder section (with --learned-qualities)")
    args = ap.parse_args()
    image = args.image.resolve()
    if not image.is_file():
        raise SystemExit(f"image not found: {image}")

    import torch

    torch.set_num_threads(1)  # what compressai.utils.eval_model sets on import, for everyone
    from codeccmp.plugins import load_registry

    names = load_registry().names()
    print(f"image {image.name}, torch threads 1, median of {args.repeat}; machine: "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}")
    if not args.skip_main:
        main_section(image, names, args)
    if args.learned_qualities > 0:
        if LEARNED not in names:
            print(f"note: {LEARNED} is not registered (learned plugin missing): no ladder")
        else:
            ladder_section(image, args.learned_qualities, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


def main_section(image: Path, names: list[str], args: argparse.Namespace) -> None:
    """JPEG, WebP and the one-checkpoint learned codec at ``--bpp``."""
    codecs = ["jpeg", "webp"]
    weights: dict[str, str] = {}
    checkpoints = [args.weights]
    if LEARNED in names and args.weights.is_file():
        codecs.append(LEARNED)
        weights = {LEARNED: str(args.weights.resolve())}
    elif LEARNED not in names:
        print(f"note: {LEARNED} is not registered (learned plugin missing): skipped")
    else:
        print(f"note: weights {args.weights} not found: {LEARNED} skipped")

    print(f"target {args.bpp} bpp")
    rows = []
    choices: dict[str, Any] = {}
    for codec in codecs:
        w = weights if codec == LEARNED else {}
        # Warm up imports and file caches once, untimed.
        res = codeccmp_run(image, codec, args.bpp, w)
        t_ccmp, res = median_time(lambda c=codec, w=w: codeccmp_run(image, c, args.bpp, w),
                                  args.repeat)
        t_floor, floor_bpp = median_time(
            lambda c=codec, w=w, p=res.param: floor_run(image, c, p, w), args.repeat)
        if codec == LEARNED:
            compressai_eval(image, checkpoints)
            t_cai, cai = median_time(lambda: compressai_eval(image, checkpoints),
                                     args.repeat)
            cai_desc = "eval_model bpp " + ", ".join(f"{v['bpp']:.3f}" for v in cai.values())
        else:
            compressai_find_close(image, codec, args.bpp)
            t_cai, cai = median_time(lambda c=codec: compressai_find_close(image, c, args.bpp),
                                     args.repeat)
            cai_desc = f"find_close q={cai['quality']} bpp {cai['bpp']:.4f}"
        choices[codec] = res.param
        rows.append((codec, t_ccmp, t_cai, t_floor, len(res.trials),
                     f"param {res.param} bpp {res.bpp:.4f}", cai_desc))
    print("\nin-process (seconds)")
    head = (f"{'codec':22} {'codeccmp':>9} {'CompressAI':>10} {'floor':>7} "
            f"{'CAI/ccmp':>9} {'ccmp/floor':>10} {'encodes':>8}  result")
    print(head)
    print("-" * len(head))
    tot = [0.0, 0.0, 0.0]
    for codec, a, b, f, n, desc, cdesc in rows:
        tot[0] += a
        tot[1] += b
        tot[2] += f
        print(f"{codec:22} {a:9.3f} {b:10.3f} {f:7.3f} {b / a:8.2f}× {a / f:9.2f}× {n:8d}  "
              f"{desc}; CompressAI: {cdesc}")
    print(f"{'total':22} {tot[0]:9.3f} {tot[1]:10.3f} {tot[2]:7.3f} {tot[1] / tot[0]:8.2f}× "
          f"{tot[0] / tot[2]:9.2f}×")

    if args.no_cli:
        return
    env = dict(os.environ)
    py = sys.executable
    common = [str(image), "--bpp", str(args.bpp), "--codecs", ",".join(codecs), "-q",
              "--device", "cpu", "--offline"]
    for k, v in weights.items():
        common += ["--weights", f"{k}={v}"]
    ccmp_none = [py, "-m", "codeccmp", "compare", *common, "--roi", "none"]
    ccmp_default = [py, "-m", "codeccmp", "compare", *common]
    cai_cmds = [[py, "-m", "compressai.utils.find_close", c, str(image), str(args.bpp),
                 "--metric", "bpp"] for c in codecs if c != LEARNED]
    tmpdir = Path(tempfile.mkdtemp(prefix="bench-"))
    try:
        if LEARNED in codecs:
            ds = tmpdir / "dataset"
            ds.mkdir()
            shutil.copy(image, ds / image.name)
            cai_cmds.append([py, "-m", "compressai.utils.eval_model", "checkpoint", str(ds),
                             "-a", ARCH, "-p", *map(str, checkpoints)])

        def cli_time(cmds: list[list[str]]) -> float:
            return statistics.median(sum(run_cli(c, env) for c in cmds)
                                     for _ in range(args.cli_repeat))

        run_cli([py, "-c", "import torch, compressai"], env)  # warm the page cache, untimed
        t_none = cli_time([ccmp_none])
        t_default = cli_time([ccmp_default])
        t_cai = cli_time(cai_cmds)
        t_import = cli_time([[py, "-c", "import torch"]])
        # torch on one thread, as CompressAI's eval_model sets it for itself: what the
        # metrics would cost if codeccmp.measure.metrics ran torch single-threaded.
        env1 = {**env, "OMP_NUM_THREADS": "1"}
        t_one = statistics.median(run_cli(ccmp_none, env1) for _ in range(args.cli_repeat))
        t_cli_floor = cli_time([cli_floor_command(py, image, choices, weights)])
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
    print(f"\nCLI, fresh processes, imports included (seconds; one `import torch` here "
          f"takes {t_import:.2f})")
    print(f"  codeccmp compare --roi none (no stripe analysis)  : {t_none:7.2f}")
    print(f"  codeccmp compare (default: with stripe analysis)  : {t_default:7.2f}")
    print(f"  codeccmp compare --roi none, OMP_NUM_THREADS=1    : {t_one:7.2f}")
    print(f"  CompressAI tooling ({len(cai_cmds)} processes)              : {t_cai:7.2f}")
    print(f"  floor in one fresh process (imports + floor work)  : {t_cli_floor:7.2f}")
    print(f"  ratio CompressAI / codeccmp --roi none: {t_cai / t_none:.2f}×, "
          f"/ default: {t_cai / t_default:.2f}×, / one torch thread: {t_cai / t_one:.2f}×")
    print(f"  codeccmp --roi none / process floor: {t_none / t_cli_floor:.2f}×")
    print(f"  of CompressAI's {t_cai:.2f} s, about {len(cai_cmds) * t_import:.2f} s is "
          f"{len(cai_cmds)} fresh `import torch` (one per process); codeccmp pays one")
    print("\ntargets: ≥ 3× faster than CompressAI's tooling, ≤ 1.5× the floor")
    print(f"  command line: {t_cai / t_none:.2f}× faster "
          f"({'met' if t_cai / t_none >= 3 else 'NOT met'}); "
          f"{t_none / t_cli_floor:.2f}× the process floor "
          f"({'met' if t_none / t_cli_floor <= 1.5 else 'NOT met'})")
    print(f"  in-process:   {tot[1] / tot[0]:.2f}× faster "
          f"({'met' if tot[1] / tot[0] >= 3 else 'NOT met'}); {tot[0] / tot[2]:.2f}× the floor "
          f"({'met' if tot[0] / tot[2] <= 1.5 else 'NOT met'})")


if __name__ == "__main__":
    sys.exit(main())
