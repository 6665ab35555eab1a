#!/usr/bin/env python
"""Every learned architecture on one device, end to end: correctness first, then speed.

Nothing in CI has a GPU, so a CUDA regression in the learned codecs (the rate search, the
drift check, device placement, the cache keys) would go unseen until someone lends one.
This script is the check to run when one is lent; ``--device cpu`` runs the same steps on
a CPU, which is how it is kept working:

1. **Models.** A seeded, untrained quality ladder per architecture (``learned_ladders``):
   every architecture codeccmp registers, with real rates bracketing the targets, made
   in seconds, nothing downloaded. Plus the shared CPU-trained checkpoints
   (``../shared/weights``) when present.
2. **compare.** ``codeccmp compare IMAGE --bpp B`` with every learned codec on the device,
   run as a user runs it (a fresh process; wall time, peak RSS and GPU memory peak).
3. **Drift.** Each bitstream ``compare`` wrote is decoded again on the device, in this
   process, and must give exactly the pixels ``compare`` decoded in its own (twice on the
   device, nothing shared); and on the CPU, where a stream from another device must decode
   to the same latents (factorized priors: their entropy tables are fixed; the other
   architectures derive their tables from floats computed on the decoding device, so
   there a mismatch is reported, not failed).
4. **Timing.** Per architecture, codeccmp's ``encode``/``decode`` (analysis, real
   entropy coding, container, the drift check) against CompressAI's own
   ``compress``/``decompress`` on the same model and padded image, interleaved, medians of
   ``--repeat`` (``--repeat-autoregressive`` for the context models), GPU peaks; the ratio
   is the cost of what codeccmp adds.
5. **Sweep.** ``codeccmp sweep`` over Kodak (or its first ``--kodak-limit`` images) with
   one architecture at four targets: wall time, peak RSS, GPU memory peak.

Everything goes to one JSON (``--json``) and one markdown table (``--table``, also
printed). Exit status 0 when every check passed, 1 when any failed (each listed under
``problems``), 2 for bad input. The models are untrained: their timings, memory and
determinism mean something, their pictures and quality figures do not. Run from the
repository root::

    python benchmarks/cuda_check.py --device cuda --json cuda-check.json --table cuda-check.md
    python benchmarks/cuda_check.py --device cpu --size tiny --crop 192x160 --kodak-limit 2 \\
        --json /tmp/cpu.json --table /tmp/cpu.md
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import cuda_measure as measure  # noqa: E402
import learned_ladders as ladders  # noqa: E402

SHARED_CODECS = {"bmshj2018-factorized": "bmshj2018-factorized-ms-ssim-cpu.pth",
                 "bmshj2018-factorized-mse": "bmshj2018-factorized-mse-cpu.pth"}


class BadInput(Exception):
    """One line for stderr, exit status 2."""


# --------------------------------------------------------------------------- arguments


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (default cuda)")
    ap.add_argument("--image", type=Path, default=ROOT / "samples" / "barbara.png")
    ap.add_argument("--crop", default=None, metavar="WxH",
                    help="code the centre WxH of the image only (quick CPU runs)")
    ap.add_argument("--bpp", type=float, default=0.3, help="compare's target (default 0.3)")
    ap.add_argument("--archs", default=",".join(ladders.ARCHS),
                    help="comma-separated architectures (default: all eight)")
    ap.add_argument("--size", choices=ladders.SIZES, default="zoo",
                    help="model width: zoo (the zoo's low-quality configuration, default) or "
                         "tiny (8 channels, for CPU checks)")
    ap.add_argument("--qualities", type=int, default=5, help="ladder length (default 5)")
    ap.add_argument("--shared-weights", type=Path, default=SHARED / "weights",
                    help="folder of the shared CPU checkpoints ('none' to leave them out)")
    ap.add_argument("--kodak", type=Path, default=SHARED / "datasets" / "kodak")
    ap.add_argument("--kodak-limit", type=int, default=None,
                    help="sweep only the first N Kodak images (sorted by name)")
    ap.add_argument("--kodak-arch", default="mbt2018-mean")
    ap.add_argument("--kodak-bpp", default="0.1,0.2,0.3,0.5", help="four sweep targets")
    ap.add_argument("--no-kodak", action="store_true", help="leave the sweep out")
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per side (median)")
    ap.add_argument("--repeat-autoregressive", type=int, default=1,
                    help="timed runs per side for the autoregressive architectures (default "
                         "1: seconds each even on a GPU, their coders loop in Python)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed runs per side first, alone, for its GPU peak (default 1)")
    ap.add_argument("--cpu-decode-all", action="store_true",
                    help="also decode the autoregressive architectures' streams on the CPU "
                         "(minutes: their decoders loop over latent positions)")
    ap.add_argument("--step-timeout", type=float, default=900.0,
                    help="seconds allowed to each codeccmp command (default 900)")
    ap.add_argument("--json", dest="json_path", type=Path, required=True)
    ap.add_argument("--table", type=Path, default=None, help="also write the table here")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the work folder (models, bitstreams, outputs) here")
    ap.add_argument("--force", action="store_true", help="overwrite --json/--table/--keep")
    return ap.parse_args(argv)


def validate(args: argparse.Namespace) -> None:
    """Everything checkable before minutes of work, each failure one line."""
    import re

    dev = args.device.strip().lower()
    if not re.fullmatch(r"cpu|cuda(:\d+)?", dev):
        raise BadInput(f"bad --device {args.device!r}: use cpu, cuda or cuda:N")
    args.device = dev
    if not args.image.is_file():
        raise BadInput(f"image not found: {args.image}")
    if args.crop is not None:
        m = re.fullmatch(r"(\d+)x(\d+)", args.crop)
        if not m or min(int(m.group(1)), int(m.group(2))) < 64:
            raise BadInput(f"bad --crop {args.crop!r}: WxH, both at least 64")
        args.crop = (int(m.group(1)), int(m.group(2)))
    archs = [a.strip() for a in args.archs.split(",") if a.strip()]
    unknown = [a for a in archs if a not in ladders.ARCHS]
    if unknown or not archs:
        raise BadInput(f"unknown --archs {','.join(unknown) or '(none)'}: choose from "
                       f"{','.join(ladders.ARCHS)}")
    args.archs = archs
    if not 0 < args.bpp <= 4:
        raise BadInput(f"--bpp must be in (0, 4], got {args.bpp:g}")
    if args.qualities < 2:
        raise BadInput("--qualities must be at least 2 (the rate search needs a choice)")
    if min(args.repeat, args.repeat_autoregressive, args.warmup) < 1:
        raise BadInput("--repeat, --repeat-autoregressive and --warmup must be at least 1")
    try:
        args.kodak_bpp = [float(v) for v in args.kodak_bpp.split(",")]
    except ValueError:
        raise BadInput(f"bad --kodak-bpp {args.kodak_bpp!r}: comma-separated bpp") from None
    if not args.no_kodak:
        if args.kodak_arch not in ladders.ARCHS:
            raise BadInput(f"unknown --kodak-arch {args.kodak_arch}")
        if not args.kodak.is_dir() or not kodak_images(args.kodak):
            raise BadInput(f"no PNG images in --kodak {args.kodak} (or give --no-kodak)")
        if args.kodak_limit is not None and args.kodak_limit < 1:
            raise BadInput("--kodak-limit must be at least 1")
    if str(args.shared_weights) == "none":
        args.shared_weights = None
    for path, what in ((args.json_path, "--json"), (args.table, "--table"),
                       (args.keep, "--keep")):
        if path is not None and path.exists() and not args.force:
            raise BadInput(f"{what} {path} exists (use --force to overwrite)")
        if path is not None and not path.resolve().parent.is_dir():
            raise BadInput(f"{what}: folder {path.resolve().parent} does not exist")
    if dev.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise BadInput(f"--device {dev}: torch sees no CUDA device (run with --device cpu)")
        index = int(dev.split(":")[1]) if ":" in dev else 0
        if index >= torch.cuda.device_count():
            raise BadInput(f"--device {dev}: only {torch.cuda.device_count()} CUDA device(s)")


def say(line: str) -> None:
    """Progress on stderr as each step ends: a run cut short by a time limit (a lent GPU
    has one) still shows what it measured."""
    print(line, file=sys.stderr, flush=True)


def kodak_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() == ".png")


# --------------------------------------------------------------------------- steps


def prepare_image(args: argparse.Namespace, work: Path) -> tuple[Path, Any]:
    """The image ``compare`` codes (cropped into ``work`` with ``--crop``) and its pixels."""
    import numpy as np
    from PIL import Image

    rgb = np.asarray(Image.open(args.image).convert("RGB"))
    if args.crop is None:
        return args.image, rgb
    w, h = args.crop
    H, W = rgb.shape[:2]
    if w > W or h > H:
        raise BadInput(f"--crop {w}x{h} is larger than the image ({W}x{H})")
    top, left = (H - h) // 2, (W - w) // 2
    rgb = np.ascontiguousarray(rgb[top:top + h, left:left + w])
    path = work / f"{args.image.stem}-{w}x{h}.png"
    Image.fromarray(rgb).save(path)
    return path, rgb


def make_ladders(args: argparse.Namespace, rgb: Any, wdir: Path) -> dict[str, Any]:
    """One ladder per architecture, its rates spanning every target with room both sides."""
    targets = [args.bpp] + ([] if args.no_kodak else args.kodak_bpp)
    rates = ladders.geometric_rates(0.6 * min(targets), 1.7 * max(targets), args.qualities)
    x = ladders.calibration_tensor(rgb)
    archs = list(dict.fromkeys(args.archs + ([] if args.no_kodak else [args.kodak_arch])))
    out: dict[str, Any] = {}
    for arch in archs:
        t0 = time.perf_counter()
        out[arch] = {"qualities": ladders.make_ladder(arch, args.size, rates, x, wdir,
                                                      device=args.device),
                     "seconds": round(time.perf_counter() - t0, 2)}
        say(f"ladder {arch}: {len(rates)} qualities in {out[arch]['seconds']} s")
    return out


def shared_weights(args: argparse.Namespace) -> dict[str, str]:
    if args.shared_weights is None:
        return {}
    found = {c: args.shared_weights / f for c, f in SHARED_CODECS.items()}
    return {c: str(p) for c, p in found.items() if p.is_file()}


def compare_runs(args: argparse.Namespace, image: Path, work: Path, wdir: Path,
                 shared: dict[str, str]) -> dict[str, Any]:
    """``compare`` with the ladders, and with the shared checkpoints (one quality each,
    so in a run of their own: ``--weights CODEC=PATH`` would replace a ladder)."""
    runs: dict[str, Any] = {}
    plans = [("ladders", args.archs, ["--weights-dir", str(wdir)])]
    if shared:
        plans.append(("shared", list(shared),
                      [a for c, p in shared.items() for a in ("--weights", f"{c}={p}")]))
    for label, codecs, extra in plans:
        out_dir, json_path = work / f"compare-{label}", work / f"compare-{label}.json"
        argv = ["compare", str(image), "--bpp", str(args.bpp), "--codecs", ",".join(codecs),
                "--device", args.device, "--offline", "--json", str(json_path),
                "--out", str(out_dir), "-q", *extra]
        run = measure.run_codeccmp(argv, work / f"compare-{label}", args.step_timeout)
        run["codecs"] = []
        if json_path.is_file():
            data = json.loads(json_path.read_text())
            for r in data["results"]:
                s = r.get("settings") or {}
                run["codecs"].append({
                    "codec": r["codec"], "status": r["status"], "reason": r.get("reason"),
                    "quality": r.get("param"), "bpp": r.get("bpp"), "psnr": r.get("psnr"),
                    "ms_ssim": r.get("ms_ssim"), "encode_s": r.get("encode_s"),
                    "decode_s": r.get("decode_s"), "device": r.get("device"),
                    "drift_check": s.get("drift_check"), "weights": s.get("weights"),
                    "bitstream": str(out_dir / f"{r['codec']}.lcb"),
                    "reconstruction": str(out_dir / f"{r['codec']}.png"),
                })
        runs[label] = run
    return runs


def sweep_run(args: argparse.Namespace, work: Path, wdir: Path) -> dict[str, Any]:
    """``sweep`` of one architecture at four targets over Kodak (or its first images);
    result cache off and private, stripe analysis off: the learned path is what is timed."""
    images = kodak_images(args.kodak)[: args.kodak_limit]
    subset = work / "kodak"
    subset.mkdir()
    for p in images:
        (subset / p.name).symlink_to(p.resolve())
    json_path = work / "sweep.json"
    argv = ["sweep", str(subset), "--bpp", ",".join(str(b) for b in args.kodak_bpp),
            "--codecs", args.kodak_arch, "--device", args.device, "--weights-dir", str(wdir),
            "--offline", "--no-cache", "--cache-dir", str(work / "cache"), "--roi", "none",
            "--json", str(json_path), "-q"]
    run = measure.run_codeccmp(argv, work / "sweep", args.step_timeout)
    run.update(arch=args.kodak_arch, images=len(images), targets=args.kodak_bpp)
    if json_path.is_file():
        run.update(summarize_sweep(json.loads(json_path.read_text()), args.kodak_arch))
    return run


def summarize_sweep(data: dict[str, Any], codec: str) -> dict[str, Any]:
    """From a sweep's JSON: the mean point per target, how many points there were, how
    many came out ``ok``, how many came from the cache (with ``--no-cache``, none may: a
    cached point would time nothing) and how many encodes they took."""
    mine = [p for p in data.get("points", []) if (p.get("result") or {}).get("codec") == codec]
    return {
        "averaged": [{"target_bpp": p.get("value"),
                      **{k: p.get(k) for k in ("bpp", "psnr", "ms_ssim", "n")}}
                     for p in data.get("averaged", []) if p.get("codec") == codec],
        "points": len(mine),
        "points_ok": sum(1 for p in mine if p["result"].get("status") == "ok"),
        "points_cached": sum(1 for p in mine if p.get("cached")),
        "encodes": sum(int(p.get("encodes") or 0) for p in mine),
    }


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return measure.child(argv[1], argv[3:] if argv[2:3] == ["--"] else argv[2:])
    args = parse_args(argv)
    try:
        validate(args)
    except BadInput as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="cuda-check-"))
    try:
        try:
            image, rgb = prepare_image(args, work)
        except BadInput as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        report = run_all(args, image, rgb, work)
        table = measure.markdown_table(report)
        write_outputs(args, report, table, work)
        print(table)
        for line in report["problems"]:
            print(f"problem: {line}", file=sys.stderr)
        return 1 if report["problems"] else 0
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run_all(args: argparse.Namespace, image: Path, rgb: Any, work: Path) -> dict[str, Any]:
    from codeccmp_compressai import zoo

    from codeccmp.codec import RunSettings

    wdir = work / "weights"
    t0 = time.perf_counter()
    report: dict[str, Any] = {
        "script": "benchmarks/cuda_check.py", "argv": sys.argv[1:],
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "environment": measure.environment(args.device),
        "image": {"path": str(args.image), "crop": args.crop, "size": list(rgb.shape[:2])},
        "bpp": args.bpp, "size": args.size, "repeat": args.repeat,
        "repeat_autoregressive": args.repeat_autoregressive, "problems": [],
    }
    report["ladders"] = make_ladders(args, rgb, wdir)
    shared = shared_weights(args)
    report["shared_weights"] = shared
    report["compare"] = compare_runs(args, image, work, wdir, shared)
    for label, run in report["compare"].items():
        say(f"compare ({label}): exit {run['rc']}, {run['wall_s']} s, " + ", ".join(
            f"{c['codec']} {c['status']} {c['bpp'] or 0:.3f} bpp" for c in run["codecs"]))
    settings = {"ladders": RunSettings(device=args.device, weights_dir=str(wdir),
                                       offline=True),
                "shared": RunSettings(device=args.device, weights=dict(shared), offline=True)}
    report["drift"], report["timing"] = [], []
    for label, run in report["compare"].items():
        if run["rc"] not in (0, 1):
            report["problems"].append(f"compare ({label}) exited {run['rc']}: "
                                      f"{run.get('stderr_tail', '')[-300:]}")
        for c in run["codecs"]:
            if c["status"] != "ok":
                report["problems"].append(f"compare ({label}) {c['codec']}: {c['status']}: "
                                          f"{c['reason']}")
                continue
            drift = measure.drift_check(c, settings[label], args.device,
                                        cpu_decode=_cpu_decode(c["codec"], args))
            drift["run"] = label  # the shared checkpoints' codecs share names with ladders
            report["drift"].append(drift)
            say(f"drift {c['codec']}: " + ("ok" if drift["ok"] else "; ".join(drift["problems"]))
                + "".join(f", {k} {drift[k]}" for k in ("device_twice", "cpu") if k in drift))
            report["problems"] += drift["problems"]
            arch = zoo.split_codec_name(c["codec"])[0].name
            repeat = (args.repeat_autoregressive if arch in ladders.AUTOREGRESSIVE
                      else args.repeat)
            timing = measure.time_codec(c["codec"], settings[label], rgb, int(c["quality"]),
                                        repeat, args.warmup)
            timing["run"] = label
            report["timing"].append(timing)
            say(f"timing {c['codec']} q{timing['quality']}: encode {timing['encode_s']} s "
                f"({timing['encode_ratio']}x CompressAI), decode {timing['decode_s']} s "
                f"({timing['decode_ratio']}x), GPU peak {timing['gpu_peak_mb']} MB")
            report["problems"] += timing.get("problems", [])
    if not args.no_kodak:
        report["sweep"] = sweep_run(args, work, wdir)
        sw = report["sweep"]
        say(f"sweep: exit {sw['rc']}, {sw['wall_s']} s, {sw.get('points_ok')} points ok, "
            f"GPU peak {sw.get('gpu_peak_allocated_mb')} MB")
        expected = len(args.kodak_bpp) * sw["images"]
        if sw["rc"] != 0 or sw.get("points_ok") != expected or sw.get("points_cached"):
            report["problems"].append(f"sweep exited {sw['rc']}, {sw.get('points_ok')} of "
                                      f"{expected} points ok, {sw.get('points_cached')} "
                                      "cached: "
                                      f"{sw.get('stderr_tail', '')[-300:]}")
    report["total_s"] = round(time.perf_counter() - t0, 1)
    return report


def _cpu_decode(codec: str, args: argparse.Namespace) -> str:
    """Whether a CPU decode of this codec's device-made stream is required to match
    ("required"), tried and reported ("informational"), or skipped ("skipped: why")."""
    from codeccmp_compressai import zoo

    arch = zoo.split_codec_name(codec)[0].name
    if args.device == "cpu":
        return "skipped: the device is the CPU"
    if arch in ladders.FACTORIZED:
        return "required"
    if arch in ladders.AUTOREGRESSIVE and not args.cpu_decode_all:
        return "skipped: autoregressive, minutes on a CPU (--cpu-decode-all)"
    return "informational"


def write_outputs(args: argparse.Namespace, report: dict[str, Any], table: str,
                  work: Path) -> None:
    """The JSON, the table and the kept work folder, each staged then moved into place."""
    staged: list[tuple[Path, Path]] = []
    for path, text in ((args.json_path, json.dumps(report, indent=1) + "\n"),
                       (args.table, table + "\n")):
        if path is not None:
            tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
            tmp.write_text(text)
            staged.append((tmp, path))
    if args.keep is not None:
        if args.keep.exists():
            shutil.rmtree(args.keep) if args.keep.is_dir() else args.keep.unlink()
        shutil.copytree(work, args.keep, symlinks=True)
    for tmp, path in staged:
        os.replace(tmp, path)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


if __name__ == "__main__":
    # ``timeout`` (how a lent GPU's time limit arrives) sends SIGTERM: unwind like Ctrl-C,
    # so the child process group is killed and the work folder removed.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("error: interrupted; no output written", file=sys.stderr)
        sys.exit(130)
