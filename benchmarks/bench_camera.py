#!/usr/bin/env python
"""Speed and memory of ``codeccmp compare`` and of its metrics at camera resolution.

Two measurements per image, in one run:

- **metrics**: SSIM and MS-SSIM of the image against a JPEG (quality 30) of it, by
  pytorch-msssim as codeccmp called it before (torch single-threaded, one library call per
  metric) and by ``codeccmp.measure.metrics`` (tiled, on every core; alone and both in one pass),
  with wall and CPU seconds and the largest difference between the two;
- **compare**: ``codeccmp compare IMAGE --bpp 0.3`` with the six standard codecs and
  ``--roi none``, in a fresh process under ``/usr/bin/time -v`` (wall seconds, peak resident
  memory), against the floor: in one process, the encodes its rate search made (the
  parameters its JSON records) and the one decode of the chosen bitstream, per codec, timed
  alone. ``--stripes`` runs the command once more with the stripe analysis on.

The default images are a 24-megapixel (6000×4000) photograph made from nine Kodak images
upsampled 2.6× with Lanczos (camera-like: smooth at the pixel scale, detailed at the scale
of the scene; written once to the temporary directory) and Barbara. Run from the repository
root::

    python benchmarks/bench_camera.py [IMAGE ...] [--no-reference] [--no-compare] [--stripes]

``/usr/bin/time`` is Debian's ``time`` package (``apt-get install time``).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
STANDARD = "jpeg,jpeg2000,webp,avif,heif,jpegxl"


def camera_image(width: int = 6000, height: int = 4000) -> Path:
    """A camera-sized test image: 3 × 3 landscape Kodak images, each upsampled to a third of
    the frame (Lanczos), so that it compresses like a photograph and not like noise."""
    path = Path(tempfile.gettempdir()) / f"codeccmp-camera-{width}x{height}.png"
    if path.exists():
        return path
    kodak = SHARED / "datasets" / "kodak"
    landscape = [p for p in sorted(kodak.glob("kodim*.png"))
                 if Image.open(p).size == (768, 512)][:9]
    if len(landscape) < 9:
        sys.exit(f"need 9 landscape Kodak images in {kodak}")
    canvas = Image.new("RGB", (width, height))
    xs = [round(i * width / 3) for i in range(4)]
    ys = [round(j * height / 3) for j in range(4)]
    for i, p in enumerate(landscape):
        r, c = divmod(i, 3)
        tile = Image.open(p).convert("RGB").resize((xs[c + 1] - xs[c], ys[r + 1] - ys[r]),
                                                   Image.LANCZOS)
        canvas.paste(tile, (xs[c], ys[r]))
    tmp = path.with_suffix(".part.png")
    canvas.save(tmp)
    tmp.replace(path)
    return path


def timed(fn, *args):  # noqa: ANN001, ANN002, ANN201
    """(wall s, CPU s of the whole process, value) of ``fn(*args)``."""
    w0, c0 = time.perf_counter(), time.process_time()
    value = fn(*args)
    return time.perf_counter() - w0, time.process_time() - c0, value


# ------------------------------------------------------------------------------ metrics


def reference_metrics(a: np.ndarray, b: np.ndarray) -> dict[str, tuple[float, float, float]]:
    """pytorch-msssim as codeccmp called it until 2026-12: a float32 copy in [0, 1] per
    call, torch on one thread, one library call per metric."""
    import torch
    from pytorch_msssim import ms_ssim, ssim

    def tensor(x: np.ndarray):  # noqa: ANN202
        t = torch.from_numpy(np.array(x, dtype=np.float32)) / 255.0
        return t[None, None] if x.ndim == 2 else t.permute(2, 0, 1)[None]

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = {}
        out["ms_ssim"] = timed(lambda: float(ms_ssim(tensor(a), tensor(b), data_range=1.0,
                                                     win_size=11)))
        out["ssim"] = timed(lambda: float(ssim(tensor(a), tensor(b), data_range=1.0,
                                               win_size=11)))
    finally:
        torch.set_num_threads(before)
    return out


def bench_metrics(path: Path, reference: bool) -> dict:
    from codeccmp.measure import metrics
    from codeccmp.model.images import load_image

    a = load_image(path).pixels
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="JPEG", quality=30)
    b = np.asarray(Image.open(buf).convert(Image.fromarray(a).mode))
    row: dict = {"image": path.name, "size": f"{a.shape[1]}×{a.shape[0]}",
                 "threads": metrics.threads()}
    row["new_ms_ssim"] = timed(lambda: metrics.ms_ssim(a, b))
    row["new_ssim"] = timed(lambda: metrics.ssim(a, b))
    row["new_both"] = timed(lambda: metrics.ssim_ms_ssim(a, b))
    row["psnr"] = timed(lambda: metrics.psnr(a, b))
    if reference:
        ref = reference_metrics(a, b)
        row["ref_ms_ssim"], row["ref_ssim"] = ref["ms_ssim"], ref["ssim"]
        row["diff_ms_ssim"] = abs(row["new_both"][2][1] - ref["ms_ssim"][2])
        row["diff_ssim"] = abs(row["new_both"][2][0] - ref["ssim"][2])
    return row


# ------------------------------------------------------------------------------ compare


def run_compare(path: Path, out: Path, stripes: bool) -> dict:
    """``codeccmp compare`` in a fresh process under ``/usr/bin/time -v``."""
    cmd = ["/usr/bin/time", "-v", sys.executable, "-m", "codeccmp", "compare", str(path),
           "--bpp", "0.3", "--codecs", STANDARD, "--json", str(out), "--force"]
    if not stripes:
        cmd += ["--roi", "none"]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode not in (0, 1):
        sys.exit(f"compare failed ({proc.returncode}):\n{proc.stderr[-3000:]}")

    def field(name: str) -> str:
        m = re.search(rf"{re.escape(name)}: (.+)", proc.stderr)
        return m.group(1).strip() if m else "nan"

    h, m, s = ([0.0] * 3 + [float(x) for x in field("Elapsed (wall clock) time (h:mm:ss or m:ss)")
                            .split(":")])[-3:]
    lines = [ln for ln in proc.stderr.splitlines() if re.match(r"^[\w-]+: \d", ln)]
    return {"wall_s": h * 3600 + m * 60 + s,
            "cpu_s": float(field("User time (seconds)")) + float(field("System time (seconds)")),
            "peak_mb": int(field("Maximum resident set size (kbytes)")) / 1024,
            "progress": lines}


def floor(path: Path, results: list[dict]) -> dict[str, tuple[float, float]]:
    """Per codec: its rate search's encodes (the trial parameters the JSON records, each
    once) and one decode of the chosen bitstream, each timed alone, the image loaded:
    (wall s, CPU s)."""
    from codeccmp.model.images import load_image, to_rgb
    from codeccmp.plugins import load_registry

    img = load_image(path)
    registry = load_registry()
    out = {}
    for r in results:
        if r["status"] != "ok":
            continue
        codec = registry.get(r["codec"])
        pixels = to_rgb(img.pixels) if img.is_gray and not codec.supports_gray else img.pixels
        codec.encode(pixels[:64, :64], r["param"])  # the library's own first-call setup
        wall = cpu = 0.0
        chosen = None
        for param in dict.fromkeys(t["param"] for t in r["trials"]):
            w, c, enc = timed(codec.encode, pixels, param)
            wall, cpu = wall + w, cpu + c
            if param == r["param"]:
                chosen = enc
        if chosen is None:
            chosen = codec.encode(pixels, r["param"])
        w, c, _ = timed(codec.decode, chosen.data)
        out[r["codec"]] = (wall + w, cpu + c)
    return out


def bench_compare(path: Path, stripes: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        js = Path(tmp) / "r.json"
        run = run_compare(path, js, stripes=False)
        results = json.loads(js.read_text())["results"]
        row = {"image": path.name, "run": run,
               "codecs": {r["codec"]: {"bpp": r.get("bpp"), "trials": len(r.get("trials") or []),
                                       "search_s": r.get("search_s"),
                                       "decode_s": r.get("decode_s")} for r in results}}
        # In its own process: its peak memory is the codecs' own (no torch, no metrics).
        # Under /usr/bin/time: a child forked straight from this process would inherit its
        # peak memory (Linux carries the high-water mark across fork and exec).
        proc = subprocess.run(["/usr/bin/time", "-v", sys.executable, __file__, "--floor",
                               str(path), str(js)], capture_output=True, text=True, cwd=ROOT)
        if proc.returncode:
            sys.exit(f"floor failed:\n{proc.stderr[-3000:]}")
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", proc.stderr)
        row["floor"] = json.loads(proc.stdout)["codecs"]
        row["floor_peak_mb"] = int(m.group(1)) / 1024 if m else float("nan")
        if stripes:
            row["stripes_run"] = run_compare(path, js, stripes=True)
    return row


# ------------------------------------------------------------------------------ report


def report_metrics(rows: list[dict]) -> None:
    print("\n| image | metric | pytorch-msssim wall / CPU s | codeccmp wall / CPU s | "
          "speed-up wall / CPU | abs. difference |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for r in rows:
        for name, new, ref, diff in [
            ("MS-SSIM", r["new_ms_ssim"], r.get("ref_ms_ssim"), r.get("diff_ms_ssim")),
            ("SSIM", r["new_ssim"], r.get("ref_ssim"), r.get("diff_ssim")),
        ]:
            refs = f"{ref[0]:.2f} / {ref[1]:.2f}" if ref else "–"
            ratio = f"{ref[0] / new[0]:.1f}× / {ref[1] / new[1]:.1f}×" if ref else "–"
            d = f"{diff:.1e}" if diff is not None else "–"
            print(f"| {r['image']} {r['size']} | {name} | {refs} | {new[0]:.2f} / {new[1]:.2f} "
                  f"| {ratio} | {d} |")
        both = r["new_both"]
        ref_both = (r["ref_ms_ssim"][0] + r["ref_ssim"][0],
                    r["ref_ms_ssim"][1] + r["ref_ssim"][1]) if "ref_ssim" in r else None
        ratio = (f"{ref_both[0] / both[0]:.1f}× / {ref_both[1] / both[1]:.1f}×"
                 if ref_both else "–")
        refs = f"{ref_both[0]:.2f} / {ref_both[1]:.2f}" if ref_both else "–"
        print(f"| {r['image']} {r['size']} | both (one pass) | {refs} | "
              f"{both[0]:.2f} / {both[1]:.2f} | {ratio} | |")
        print(f"| {r['image']} {r['size']} | PSNR | | {r['psnr'][0]:.2f} / {r['psnr'][1]:.2f} "
              f"| | |")
    print(f"\n(threads used by codeccmp.measure.metrics: {rows[0]['threads']}; load average now "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")


def report_compare(rows: list[dict]) -> None:
    for r in rows:
        run, fl = r["run"], r["floor"]
        floor_wall = sum(v[0] for v in fl.values())
        floor_cpu = sum(v[1] for v in fl.values())
        print(f"\n**{r['image']}**: `codeccmp compare --bpp 0.3 --codecs {STANDARD} "
              f"--roi none`: {run['wall_s']:.1f} s wall, {run['cpu_s']:.1f} s CPU, peak "
              f"{run['peak_mb']:.0f} MB; floor (encodes + one decode) {floor_wall:.1f} s "
              f"wall, {floor_cpu:.1f} s CPU, peak {r['floor_peak_mb']:.0f} MB: "
              f"**{run['wall_s'] / floor_wall:.2f}× the floor** "
              f"(CPU {run['cpu_s'] / floor_cpu:.2f}×)")
        print("\n| codec | bpp | encodes | search s | decode s | floor s |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for name, c in r["codecs"].items():
            bpp = f"{c['bpp']:.3f}" if c["bpp"] is not None else "–"
            s = f"{c['search_s']:.2f}" if c["search_s"] is not None else "–"
            d = f"{c['decode_s']:.2f}" if c["decode_s"] is not None else "–"
            f = f"{fl[name][0]:.2f}" if name in fl else "–"
            print(f"| {name} | {bpp} | {c['trials']} | {s} | {d} | {f} |")
        if "stripes_run" in r:
            s = r["stripes_run"]
            print(f"\nwith the stripe analysis (default `--roi auto`): {s['wall_s']:.1f} s wall, "
                  f"{s['cpu_s']:.1f} s CPU, peak {s['peak_mb']:.0f} MB "
                  f"(+{s['wall_s'] - run['wall_s']:.1f} s)")
        print("\nprogress lines (stderr is a pipe here):")
        for ln in run["progress"]:
            print(f"    {ln}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("images", nargs="*", type=Path,
                    help="default: the 24-megapixel Kodak mosaic and Barbara")
    ap.add_argument("--no-reference", action="store_true",
                    help="skip pytorch-msssim (a minute on 24 megapixels)")
    ap.add_argument("--no-compare", action="store_true", help="metrics only")
    ap.add_argument("--no-metrics", action="store_true", help="compare only")
    ap.add_argument("--stripes", action="store_true",
                    help="also time compare with the stripe analysis")
    ap.add_argument("--floor", nargs=2, type=Path, metavar=("IMAGE", "JSON"),
                    help=argparse.SUPPRESS)  # internal: the floor, in a process of its own
    args = ap.parse_args()
    if args.floor:
        fl = floor(args.floor[0], json.loads(args.floor[1].read_text())["results"])
        print(json.dumps({"codecs": fl}))
        return 0
    images = args.images or [camera_image(), SHARED / "images" / "barbara.png"]
    if not args.no_metrics:
        report_metrics([bench_metrics(p, not args.no_reference) for p in images])
    if not args.no_compare:
        report_compare([bench_compare(p, args.stripes) for p in images])
    return 0


if __name__ == "__main__":
    sys.exit(main())
