"""The measurements behind ``benchmarks/cuda_check.py``: codeccmp commands in a child
process with their peaks, the drift check on written bitstreams, and the timing against
CompressAI's own ``compress``/``decompress``; the markdown table of it all.

Kept apart from the script so that a test can run each piece on a tiny model in seconds.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

_MB = 1024 * 1024


# --------------------------------------------------------------------------- commands


def run_codeccmp(argv: list[str], stem: Path, timeout: float) -> dict[str, Any]:
    """``codeccmp ARGV`` in a fresh process, as a user runs it: exit status, wall time,
    peak RSS, and the GPU memory peaks torch's allocator saw (the child reports them: the
    parent cannot see another process's allocator). Output goes to ``stem``.out/.err."""
    stats = stem.with_suffix(".stats.json")
    cmd = [sys.executable, str(Path(__file__).resolve().parent / "cuda_check.py"),
           "--child", str(stats), "--", *argv]
    t0 = time.perf_counter()
    with open(stem.with_suffix(".out"), "wb") as out, open(stem.with_suffix(".err"), "wb") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, start_new_session=True)
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            rc = 124
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    wall = time.perf_counter() - t0
    run: dict[str, Any] = {"argv": ["codeccmp", *argv], "rc": rc, "wall_s": round(wall, 2)}
    if stats.is_file():
        run.update(json.loads(stats.read_text()))
    if rc != 0:
        run["stderr_tail"] = stem.with_suffix(".err").read_text(errors="replace")[-2000:]
    return run


def child(stats_path: str, argv: list[str]) -> int:
    """Run codeccmp in this process, then record its peaks in ``stats_path``."""
    from codeccmp.cli import main

    rc = 0
    try:
        main(argv)
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        Path(stats_path).write_text(json.dumps(peaks()))
    return rc


def peaks() -> dict[str, Any]:
    """This process's peak RSS and, if it used CUDA, torch's allocated/reserved peaks."""
    out: dict[str, Any] = {"peak_rss_mb": _peak_rss_mb()}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        out["gpu_peak_allocated_mb"] = round(
            max(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
            / _MB, 1)
        out["gpu_peak_reserved_mb"] = round(
            max(torch.cuda.max_memory_reserved(i) for i in range(torch.cuda.device_count()))
            / _MB, 1)
    return out


def _peak_rss_mb() -> float:
    """This process's own peak resident memory: ``VmHWM``, the high-water mark of its
    address space, which starts afresh at exec. Not ``ru_maxrss``: Linux keeps that across
    fork and exec, so a child reports at least its parent's peak (the script's, with every
    model loaded) whatever it used itself."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def environment(device: str) -> dict[str, Any]:
    """What the numbers were measured on."""
    from importlib.metadata import version

    import torch

    env: dict[str, Any] = {"device": device, "python": platform.python_version(),
                           "torch": torch.__version__, "compressai": version("compressai"),
                           "cpu": platform.processor() or platform.machine(),
                           "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        env.update(gpu=torch.cuda.get_device_name(torch.device(device)),
                   cuda=torch.version.cuda,
                   gpu_memory_gb=round(torch.cuda.get_device_properties(
                       torch.device(device)).total_memory / 1024**3, 1))
    return env


# --------------------------------------------------------------------------- drift


def _codec(name: str, settings: Any) -> Any:
    """A fresh learned codec object (models stay cached process-wide, per device)."""
    from codeccmp_compressai.codecs import LearnedCodec
    from codeccmp_compressai.zoo import split_codec_name

    arch, metric = split_codec_name(name)
    codec = LearnedCodec(arch.name, metric)
    codec.configure(settings)
    return codec


def decode_with_latents(name: str, settings: Any, data: bytes) -> tuple[Any, Any]:
    """Decode ``data`` from scratch: the pixels and the latents the decoder recovered
    (what ``g_s`` was given; the codec's own drift check compares the same tensor)."""
    return _codec(name, settings)._decode_rgb(data, latents=True)


def compare_decodes(a: tuple[Any, Any], b: tuple[Any, Any]) -> dict[str, Any]:
    """Latents that differ (by more than half a step: a different symbol) and pixels
    that differ, with the largest pixel difference in levels."""
    import numpy as np

    (pa, la), (pb, lb) = a, b
    out: dict[str, Any] = {}
    if la is not None and lb is not None:
        out["latents_differing"] = (int(((la - lb).abs() > 0.5).sum())
                                    if la.shape == lb.shape else -1)
    diff = np.abs(pa.astype(np.int16) - pb.astype(np.int16))
    out["pixels_differing"] = int((diff > 0).sum())
    out["max_pixel_diff"] = int(diff.max()) if diff.size else 0
    return out


def drift_check(c: dict[str, Any], settings: Any, device: str,
                cpu_decode: str) -> dict[str, Any]:
    """Decode the bitstream ``compare`` wrote, from scratch, on ``device``: it must give
    exactly the pixels ``compare`` decoded in its own process (two decodes on the device,
    in two processes, so no state is shared between them). Then on the CPU
    (``cpu_decode``): "required" means the same latents and pixels within one level (the
    other device's arithmetic in the synthesis transform); "informational" is reported
    only."""
    import numpy as np
    from PIL import Image

    from codeccmp.codec import CodecError

    name = c["codec"]
    res: dict[str, Any] = {"codec": name, "cpu_decode": cpu_decode, "problems": []}
    data = Path(c["bitstream"]).read_bytes()
    res["bytes"] = len(data)
    try:
        here = decode_with_latents(name, settings, data)
    except CodecError as exc:
        res["problems"].append(f"{name}: decoding on {device} failed: {exc}")
        res["ok"] = False
        return res
    png = np.asarray(Image.open(c["reconstruction"]).convert("RGB"))
    res["device_twice"] = compare_decodes(here, (png, None))
    if res["device_twice"]["pixels_differing"]:
        res["problems"].append(f"{name}: decoded again on {device}, the stream gives other "
                               f"pixels than in compare: {res['device_twice']}")
    if cpu_decode in ("required", "informational"):
        from dataclasses import replace

        try:
            cpu = decode_with_latents(name, replace(settings, device="cpu"), data)
        except CodecError as exc:
            res["cpu"] = {"error": str(exc)}
        else:
            res["cpu"] = compare_decodes(here, cpu)
        bad = ("error" in res["cpu"] or res["cpu"].get("latents_differing")
               or res["cpu"].get("max_pixel_diff", 0) > 1)
        if bad and cpu_decode == "required":
            res["problems"].append(f"{name}: {device} stream decoded on the CPU: {res['cpu']}")
    res["ok"] = not res["problems"]
    return res


# --------------------------------------------------------------------------- timing


def time_codec(name: str, settings: Any, rgb: Any, quality: int, repeat: int,
               warmup: int) -> dict[str, Any]:
    """codeccmp's ``encode``/``decode`` against CompressAI's ``compress``/``decompress`` on
    the same model and padded image. codeccmp's encode is timed cold (a fresh codec object
    each time, so the analysis it reuses is part of it), its decode with the drift check it
    runs in every ``compare``; CompressAI's side is the model calls alone, synchronised."""
    import torch
    from codeccmp_compressai import tensors
    from codeccmp_compressai import weights as wts

    codec = _codec(name, settings)
    device = codec.device()  # "cuda" -> "cuda:0": the very model instance the codec codes with
    cuda = device.startswith("cuda")

    def sync() -> None:
        if cuda:
            torch.cuda.synchronize(device)

    lm = wts.get_model(codec.resolutions()[quality], device)
    x = tensors.padded_tensor(rgb, lm, 1, name)
    res: dict[str, Any] = {"codec": name, "quality": quality, "device": device,
                           "padded": [int(x.shape[3]), int(x.shape[2])], "problems": []}

    def reset() -> None:
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)

    def peak() -> float | None:
        return round(torch.cuda.max_memory_allocated(device) / _MB, 1) if cuda else None

    def ca_encode() -> Any:
        with torch.inference_mode():
            out = lm.model.compress(x)
        sync()
        return out

    def ca_decode(out: Any) -> Any:
        with torch.inference_mode():
            x_hat = lm.model.decompress(out["strings"], out["shape"])["x_hat"]
        sync()
        return x_hat

    state: dict[str, Any] = {}

    def cc_encode() -> Any:
        state["codec"] = _codec(name, settings)
        state["enc"] = state["codec"].encode(rgb, quality)
        return state["enc"]

    def cc_decode() -> Any:
        return state["codec"].decode(state["enc"].data)

    def ca_pair() -> None:
        state["out"] = ca_encode()
        ca_decode(state["out"])

    # Untimed first passes (lazy initialisation, cuDNN's kernel choice), each side alone so
    # its GPU peak is its own.
    for label, fn in (("compressai_gpu_peak_mb", ca_pair),
                      ("gpu_peak_mb", lambda: (cc_encode(), cc_decode()))):
        reset()
        for _ in range(max(warmup, 1)):
            fn()
        res[label] = peak()
    # Timed runs interleaved, so that load from other processes (a shared machine) falls
    # on both sides alike.
    times: dict[str, list[float]] = {k: [] for k in (
        "compressai_encode_s", "encode_s", "compressai_decode_s", "decode_s")}
    for _ in range(repeat):
        for key, fn in (("compressai_encode_s", lambda: state.update(out=ca_encode())),
                        ("encode_s", cc_encode),
                        ("compressai_decode_s", lambda: ca_decode(state["out"])),
                        ("decode_s", cc_decode)):
            t0 = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - t0)
    for key, values in times.items():
        res[key] = statistics.median(values)
    enc, out = state["enc"], state["out"]
    for k in ("compressai_encode_s", "compressai_decode_s", "encode_s", "decode_s"):
        res[k] = round(res[k], 4)
    res["encode_ratio"] = round(res["encode_s"] / res["compressai_encode_s"], 2)
    res["decode_ratio"] = round(res["decode_s"] / res["compressai_decode_s"], 2)
    payload = len(enc.data) - int(enc.settings["header_bytes"])
    theirs = sum(len(s) for group in out["strings"]
                 for s in (group if isinstance(group, (list, tuple)) else [group]))
    res.update(payload_bytes=payload, compressai_bytes=theirs)
    if payload != theirs:
        res["problems"].append(f"{name}: codeccmp's payload is {payload} bytes, CompressAI's "
                               f"compress of the same model and image {theirs}")
    return res


# --------------------------------------------------------------------------- table


def _f(v: Any, fmt: str = "{:.3f}") -> str:
    return "–" if v is None else fmt.format(v)


def _decodes(d: dict[str, Any] | None) -> str:
    if d is None:
        return "–"
    if "error" in d:
        return "error"
    if d.get("latents_differing"):
        return f"{d['latents_differing']} latents differ"
    if d.get("pixels_differing"):
        return f"same latents, ≤{d['max_pixel_diff']} level"
    return "identical"


def markdown_table(report: dict[str, Any]) -> str:
    """One row per codec: compare's result, the drift checks, the timing; then the sweep."""
    env = report["environment"]
    where = env.get("gpu") or f"{env['cpu']} ({env['cpu_count']} cores)"
    lines = [f"cuda_check on {env['device']} ({where}), torch {env['torch']}, compressai "
             f"{env['compressai']}; {report['size']} models, image "
             f"{report['image']['size'][1]}x{report['image']['size'][0]}, "
             f"{report['bpp']} bpp, medians of {report['repeat']} (autoregressive: "
             f"{report.get('repeat_autoregressive', report['repeat'])})", "",
             "| codec | q | bpp | decoded again | on CPU | enc s | "
             "CompressAI enc s | × | dec s | CompressAI dec s | × | GPU peak MB |",
             "| --- | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    drift = {(d.get("run"), d["codec"]): d for d in report.get("drift", [])}
    timing = {(t.get("run"), t["codec"]): t for t in report.get("timing", [])}
    for label, run in report.get("compare", {}).items():
        for c in run["codecs"]:
            name = c["codec"] + (" (shared)" if label == "shared" else "")
            if c["status"] != "ok":
                lines.append(f"| {name} | {c['status']}: {c['reason']} |" + " |" * 10)
                continue
            d, t = drift.get((label, c["codec"]), {}), timing.get((label, c["codec"]), {})
            cpu = d.get("cpu_decode", "")
            cpu_cell = _decodes(d.get("cpu")) if "cpu" in d else (cpu.split(":")[0] or "–")
            lines.append(
                f"| {name} | {c['quality']} | {_f(c['bpp'])} | {_decodes(d.get('device_twice'))}"
                f" | {cpu_cell} | {_f(t.get('encode_s'))} | "
                f"{_f(t.get('compressai_encode_s'))} | {_f(t.get('encode_ratio'), '{:.2f}')} | "
                f"{_f(t.get('decode_s'))} | {_f(t.get('compressai_decode_s'))} | "
                f"{_f(t.get('decode_ratio'), '{:.2f}')} | {_f(t.get('gpu_peak_mb'), '{:.0f}')} |")
    lines.append("")
    for label, run in report.get("compare", {}).items():
        lines.append(f"compare ({label}): exit {run['rc']}, {run['wall_s']} s, peak RSS "
                     f"{_f(run.get('peak_rss_mb'), '{:.0f}')} MB, GPU peak "
                     f"{_f(run.get('gpu_peak_allocated_mb'), '{:.0f}')} MB allocated")
    sw = report.get("sweep")
    if sw:
        rates = ", ".join(f"{p['target_bpp']}→{_f(p['bpp'])}" for p in sw.get("averaged", []))
        lines.append(f"sweep {sw['arch']} over {sw['images']} Kodak image(s) at "
                     f"{len(sw['targets'])} targets: exit {sw['rc']}, {sw['wall_s']} s, "
                     f"{sw.get('points_ok')}/{sw.get('points')} points ok, peak RSS "
                     f"{_f(sw.get('peak_rss_mb'), '{:.0f}')} MB, GPU peak "
                     f"{_f(sw.get('gpu_peak_allocated_mb'), '{:.0f}')} MB allocated; "
                     f"mean bpp per target {rates}")
    problems = report.get("problems", [])
    lines.append(f"problems: {len(problems)}" + "".join(f"\n- {p}" for p in problems))
    return "\n".join(lines)
