#!/usr/bin/env python
"""Tables, target check and montage of the redraw experiment (docs/training.md, "Erasing
rather than redrawing"), from ``codeccmp compare``'s JSON and the checkpoints.

Reads ``DIR/<checkpoint>-<image>.json`` as written by
``benchmarks/experiments/objective_experiment.sh compare`` into ``out/objective/s<STEPS>/``
(each run coded one image with one checkpoint, on the named windows of ``WINDOWS``) and,
for the held-out validation, the checkpoint file each run names, and prints:

- per window: the image's bpp, PSNR and MS-SSIM, then the window's kept / turned / redrawn /
  erased shares of stripe pixels (docs/metrics.md, the stripe classes), Δθ and contrast
  retention at the stripes' own period, every checkpoint side by side;
- the held-out CBSD68 validation of each checkpoint (last record: real bitstreams);
- the target of the experiment checked for every checkpoint against ``plain``: redrawn share at
  most half of plain's on the trousers and the scarf, Barbara's bpp within ±5 % and MS-SSIM
  no more than 0.005 lower, and no window worse (more redrawn or turned pixels, by more than
  ``WORSE_PP`` points; and, separately, fewer kept).

With ``--montage A,B,C`` it also writes ``DIR/montage-barbara.png``: compare's ROI montage of
the trousers and the scarf for those checkpoints (``orientation_table.montages``). With
``--tradeoff FILE.png`` it plots every checkpoint against the target's two boxes: Barbara's
rate and MS-SSIM against ``plain``'s (±5 %, ≥ −0.005), and the scarf's redrawn against kept
share (at most half of ``plain``'s redrawn, at most ``WORSE_PP`` fewer kept).

Every figure comes from the files; nothing is measured again. From the repository root::

    python benchmarks/experiments/objective_table.py out/objective/s300 \
        --montage plain,orient-w4,redraw-w2
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from orientation_table import load_runs, montages, result_of  # noqa: E402

#: The windows of the experiment, by image: name → (x, y, w, h). Barbara's are the regions
#: `compare` finds there (docs/training.md); kodim08's the lee2019 authors' left roof
#: (shared/external/lee2019/README.md, docs/metrics.md); kodim07's the three shutter windows
#: the detector finds, on which the lee2019 pairs were measured. kodim22 has none (its barn
#: boards are wider than the detector's 12 px): whole image only.
WINDOWS: dict[str, dict[str, tuple[int, int, int, int]]] = {
    "barbara": {"trousers": (480, 432, 96, 96), "scarf": (480, 256, 96, 96)},
    "kodim08": {"roof": (200, 110, 80, 110)},
    "kodim07": {"shutter 192,272": (192, 272, 88, 88), "shutter 192,112": (192, 112, 88, 88),
                "shutter 320,328": (320, 328, 88, 88)},
    "kodim22": {},
}
#: Share points by which a window's redrawn or turned share may rise (or its kept share
#: fall) before it counts as worse: the class shares of one 96² window move by about this
#: much between checkpoints that look alike.
WORSE_PP = 2.0
CLASS_KEYS = ("kept_share", "turned_share", "redrawn_share", "erased_share")


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return format(v, spec)


def ckpt_key(name: str) -> tuple[Any, ...]:
    """start, plain, then orient, redraw, smse runs by weight, the default λ first, each
    loss's seeds after it."""
    seed_m = re.search(r"-seed(\d+)$", name)
    seed = int(seed_m.group(1)) if seed_m else 0
    base = name[:seed_m.start()] if seed_m else name
    if base in ("start", "plain"):
        return (0 if base == "start" else 1), "", 0.0, 0.0, 0.0, 0.0, seed
    m = re.fullmatch(r"([a-z]+)-w([\d.]+)(?:-o([\d.]+))?(?:-e([\d.]+))?(?:-l([\d.]+))?",
                     base)
    if m is None:
        return 9, name, 0.0, 0.0, 0.0, 0.0, seed
    order = {"orient": 2, "redraw": 3, "smse": 4}.get(m.group(1), 8)
    return (order, m.group(1), float(m.group(2)), float(m.group(3) or 0),
            float(m.group(4) or 0), -float(m.group(5) or "inf"), seed)


def window_figures(data: dict[str, Any], roi: tuple[int, int, int, int]) -> dict[str, Any]:
    """The ROI entry of compare's result for ``roi`` (compare was given the windows)."""
    row = result_of(data)
    for spec, fig in zip(data["rois"], row["rois"], strict=True):
        if tuple(int(spec[k]) for k in ("x", "y", "w", "h")) == roi:
            return fig
    sys.exit(f"{data['image']['path']}: no figures for window {roi}; rerun compare")


def table(runs: dict[str, dict[str, dict[str, Any]]]) -> str:
    head = ("| image | window | checkpoint | bpp | PSNR dB | MS-SSIM | kept | turned | redrawn "
            "| erased | Δθ ° | contrast |")
    lines = [head, "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: |"]
    for image, windows in WINDOWS.items():
        by_ckpt = runs.get(image, {})
        for window, roi in (windows or {"(whole image)": None}).items():
            for name in sorted(by_ckpt, key=ckpt_key):
                r = result_of(by_ckpt[name])
                f = window_figures(by_ckpt[name], roi) if roi else {}
                shares = [_fmt(f.get(k), ".1%") for k in CLASS_KEYS]
                lines.append(
                    f"| {image} | {window} | {name} | {_fmt(r['bpp'], '.4f')} | "
                    f"{_fmt(r['psnr'], '.2f')} | {_fmt(r['ms_ssim'], '.4f')} | "
                    + " | ".join(shares)
                    + f" | {_fmt(f.get('delta_theta_deg'), '.1f')} | "
                    f"{_fmt(f.get('contrast_retention'), '.2f')} |")
    return "\n".join(lines)


def validation(runs: dict[str, dict[str, dict[str, Any]]], names: list[str]) -> str:
    """The last validation record of each checkpoint compare coded with (its
    ``settings.weights``); the shared start file has none."""
    import torch

    lines = ["| checkpoint | steps | bpp | PSNR dB | MS-SSIM | Δθ ° |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for name in names:
        data = next(by[name] for by in runs.values() if name in by)
        path = Path(result_of(data)["settings"]["weights"])
        recs = torch.load(path, weights_only=True, map_location="cpu").get("validation")
        if not recs:
            continue
        rec = recs[-1]
        lines.append(f"| {name} | {rec.get('step', '–')} | {_fmt(rec.get('bpp'), '.4f')} | "
                     f"{_fmt(rec.get('psnr'), '.2f')} | {_fmt(rec.get('ms_ssim'), '.4f')} | "
                     f"{_fmt(rec.get('delta_theta_deg'), '.2f')} |")
    return "\n".join(lines)


def plain_of(name: str, barbara: dict[str, Any]) -> str:
    """The ``plain`` run a checkpoint is held against: the one of its seed, if run (another
    seed's ``plain`` against seed 0's: the spread between seeds of one loss)."""
    seed = re.search(r"-seed\d+$", name)
    if seed and not name.startswith("plain") and "plain" + seed.group() in barbara:
        return "plain" + seed.group()
    return "plain"


def target(runs: dict[str, dict[str, dict[str, Any]]]) -> str:
    """One line per checkpoint: each condition of the target, met or not, with the numbers,
    against ``plain`` of the same seed (``plain-seed1`` for ``redraw-w2-seed1``, where it
    was run; ``plain-seed1`` itself against ``plain``)."""
    barbara = runs.get("barbara", {})
    if "plain" not in barbara:
        return "(no plain run on Barbara: no target check)"
    lines = []
    for name in sorted(barbara, key=ckpt_key):
        ref = plain_of(name, barbara)
        if name in ("plain", "start"):
            continue
        base = result_of(barbara[ref])
        r = result_of(barbara[name])
        notes, ok = [], True
        for window in ("trousers", "scarf"):
            roi = WINDOWS["barbara"][window]
            p = window_figures(barbara[ref], roi)["redrawn_share"]
            v = window_figures(barbara[name], roi)["redrawn_share"]
            met = v is not None and p is not None and v <= 0.5 * p
            ok &= met
            notes.append(f"{window} redrawn {_fmt(v, '.1%')} vs ≤ {_fmt(0.5 * p, '.1%')} "
                         f"{'✓' if met else '✗'}")
        dr = r["bpp"] / base["bpp"] - 1
        dm = r["ms_ssim"] - base["ms_ssim"]
        ok &= abs(dr) <= 0.05 and dm >= -0.005
        notes.append(f"bpp {dr:+.1%} {'✓' if abs(dr) <= 0.05 else '✗'}")
        notes.append(f"MS-SSIM {dm:+.4f} {'✓' if dm >= -0.005 else '✗'}")
        worse, fewer = [], []
        for image, windows in WINDOWS.items():
            ck = runs.get(image, {})
            if name not in ck or ref not in ck:
                continue
            for window, roi in windows.items():
                a, b = window_figures(ck[ref], roi), window_figures(ck[name], roi)
                if any(b.get(k) is None or a.get(k) is None for k in CLASS_KEYS):
                    continue
                up = max(b["redrawn_share"] - a["redrawn_share"],
                         b["turned_share"] - a["turned_share"]) * 100
                if up > WORSE_PP:
                    worse.append(f"{image} {window} (+{up:.0f} pp)")
                lost = (a["kept_share"] - b["kept_share"]) * 100
                if lost > WORSE_PP:
                    fewer.append(f"{image} {window} (−{lost:.0f} pp)")
        ok &= not worse and not fewer
        notes.append("no window more redrawn or turned ✓" if not worse
                     else "more redrawn or turned: " + ", ".join(worse) + " ✗")
        notes.append("no window fewer kept ✓" if not fewer
                     else "fewer kept: " + ", ".join(fewer) + " ✗")
        lines.append(f"- **{name}** (against {ref}): {'MET' if ok else 'not met'}: "
                     + "; ".join(notes))
    return "\n".join(lines)


def seed_means(runs: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Each loss run with several seeds (``NAME``, ``NAME-seed1`` …): the mean and the
    range over its seeds of Barbara's rate and MS-SSIM and the target's windows, and the
    target checked on the means, against ``plain``'s means over the same seeds."""
    barbara = runs.get("barbara", {})
    families: dict[str, list[str]] = {}
    for name in barbara:
        families.setdefault(re.sub(r"-seed\d+$", "", name), []).append(name)
    families = {k: sorted(v, key=ckpt_key) for k, v in families.items() if len(v) > 1}
    if "plain" not in families:
        return "(no plain run with several seeds: no seed means)"
    windows = [("barbara", "trousers"), ("barbara", "scarf"), ("kodim08", "roof")]

    def figures(name: str) -> dict[str, float]:
        r = result_of(barbara[name])
        out = {"bpp": r["bpp"], "ms_ssim": r["ms_ssim"]}
        for image, window in windows:
            fig = window_figures(runs[image][name], WINDOWS[image][window])
            for k in CLASS_KEYS:
                out[f"{window} {k}"] = 100 * fig[k]
        return out

    def mean_of(names: list[str]) -> tuple[dict[str, float], dict[str, tuple[float, float]]]:
        per = [figures(n) for n in names if all(n in runs[i] for i, _ in windows)]
        keys = per[0].keys()
        return ({k: sum(f[k] for f in per) / len(per) for k in keys},
                {k: (min(f[k] for f in per), max(f[k] for f in per)) for k in keys})

    def cell(m: dict[str, float], rng: dict[str, tuple[float, float]], k: str,
             spec: str) -> str:
        lo, hi = rng[k]
        return f"{format(m[k], spec)} ({format(lo, spec)}–{format(hi, spec)})"

    lines = ["| loss (seeds) | bpp | MS-SSIM | trousers redrawn % | scarf kept % | "
             "scarf turned % | scarf redrawn % | roof redrawn % |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    means = {}
    for fam in sorted(families, key=ckpt_key):
        m, rng = mean_of(families[fam])
        means[fam] = m
        lines.append(f"| {fam} ({len(families[fam])}) | {cell(m, rng, 'bpp', '.4f')} | "
                     f"{cell(m, rng, 'ms_ssim', '.4f')} | "
                     f"{cell(m, rng, 'trousers redrawn_share', '.1f')} | "
                     f"{cell(m, rng, 'scarf kept_share', '.1f')} | "
                     f"{cell(m, rng, 'scarf turned_share', '.1f')} | "
                     f"{cell(m, rng, 'scarf redrawn_share', '.1f')} | "
                     f"{cell(m, rng, 'roof redrawn_share', '.1f')} |")
    base = means["plain"]
    lines.append("")
    for fam, m in means.items():
        if fam == "plain":
            continue
        notes = []
        for window in ("trousers", "scarf"):
            k = f"{window} redrawn_share"
            notes.append(f"{window} redrawn {m[k]:.1f} % vs ≤ {base[k] / 2:.1f} % "
                         f"{'✓' if m[k] <= base[k] / 2 else '✗'}")
        dr, dm = m["bpp"] / base["bpp"] - 1, m["ms_ssim"] - base["ms_ssim"]
        notes.append(f"bpp {dr:+.1%} {'✓' if abs(dr) <= 0.05 else '✗'}")
        notes.append(f"MS-SSIM {dm:+.4f} {'✓' if dm >= -0.005 else '✗'}")
        for _, window in windows:
            up = max(m[f"{window} redrawn_share"] - base[f"{window} redrawn_share"],
                     m[f"{window} turned_share"] - base[f"{window} turned_share"])
            lost = base[f"{window} kept_share"] - m[f"{window} kept_share"]
            if up > WORSE_PP:
                notes.append(f"{window} more redrawn or turned (+{up:.1f} pp) ✗")
            if lost > WORSE_PP:
                notes.append(f"{window} fewer kept (−{lost:.1f} pp) ✗")
        lines.append(f"- **{fam}**, means over seeds: " + "; ".join(notes))
    return "\n".join(lines)


def tradeoff(runs: dict[str, dict[str, dict[str, Any]]], path: Path) -> None:
    """The target's two boxes and every checkpoint (``--tradeoff``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    barbara = runs["barbara"]
    base = result_of(barbara["plain"])
    scarf = WINDOWS["barbara"]["scarf"]
    p_scarf = window_figures(barbara["plain"], scarf)
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(14, 6.2))
    ax1.add_patch(plt.Rectangle((-5, -0.005), 10, 0.01, color="#d8ecd8", zorder=0))
    ax2.add_patch(plt.Rectangle((-100, 100 * (p_scarf["kept_share"] - WORSE_PP / 100)), 100
                                + 50 * p_scarf["redrawn_share"], 200, color="#d8ecd8",
                                zorder=0))
    family_colour = {"plain": "black", "start": "grey", "orient": "tab:blue",
                     "smse": "tab:purple", "redraw": "tab:orange", "erase": "tab:red",
                     "both": "tab:green"}
    for name in sorted(barbara, key=ckpt_key):
        if name == "start":
            continue
        r = result_of(barbara[name])
        w = window_figures(barbara[name], scarf)
        family = ("erase" if re.search(r"-e[0-9]", name) else
                  "both" if re.search(r"-o[0-9]", name) else name.split("-")[0])
        colour = family_colour.get(family, "tab:green")
        x1, y1 = 100 * (r["bpp"] / base["bpp"] - 1), r["ms_ssim"] - base["ms_ssim"]
        x2, y2 = 100 * w["redrawn_share"], 100 * w["kept_share"]
        hollow = "-seed" in name  # the same loss from other crops and noise
        for ax, x, y in ((ax1, x1, y1), (ax2, x2, y2)):
            ax.plot(x, y, "o", color=colour, mfc="none" if hollow else colour)
            ax.annotate(name, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=6.5)
    ax1.set(xlabel="Barbara bpp against plain (%)", ylabel="Barbara MS-SSIM − plain's")
    ax1.set_title("Barbara (green: bpp ±5 %, MS-SSIM ≥ −0.005; hollow: another seed)",
                  fontsize=10)
    ax1.axhline(0, color="grey", lw=0.5)
    ax1.axvline(0, color="grey", lw=0.5)
    ax2.set(xlabel="scarf redrawn (% of stripe pixels)", ylabel="scarf kept (%)")
    ax2.set_title("scarf (green: redrawn ≤ ½ plain's, kept ≥ plain's − 2 pp)", fontsize=10)
    xs = [100 * window_figures(barbara[n], scarf)["redrawn_share"] for n in barbara]
    ys = [100 * window_figures(barbara[n], scarf)["kept_share"] for n in barbara]
    ax2.set_xlim(0, max(xs) * 1.15)
    ax2.set_ylim(min(ys) - 3, max(ys) + 3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="one step's compare folder (out/objective/s300)")
    ap.add_argument("--montage", default=None,
                    help="comma-separated checkpoints for Barbara's montage, in this order")
    ap.add_argument("--seeds", action="store_true",
                    help="also the means over each loss's seeds, and the target on them")
    ap.add_argument("--tradeoff", type=Path, default=None,
                    help="also plot every checkpoint against the target (PNG)")
    args = ap.parse_args()
    runs = load_runs(args.out)
    if not runs:
        sys.exit(f"no compare JSON in {args.out}")
    names = sorted({n for by in runs.values() for n in by}, key=ckpt_key)
    print(table(runs), "\n", sep="")
    print(validation(runs, names), "\n", sep="")
    print(target(runs))
    if args.seeds:
        print("\n" + seed_means(runs))
    if args.montage:
        only = args.montage.split(",")
        for p in montages({"barbara": runs["barbara"]}, args.out, only):
            print(f"wrote {p}", file=sys.stderr)
    if args.tradeoff:
        tradeoff(runs, args.tradeoff)
        print(f"wrote {args.tradeoff}", file=sys.stderr)


if __name__ == "__main__":
    main()
