#!/usr/bin/env python
"""Tables and montages of the orientation experiment (docs/training.md), from compare's JSON.

Reads ``OUT/<checkpoint>-<image>.json`` as written by ``benchmarks/orientation_experiment.sh
compare`` (one ``codeccmp compare`` run per checkpoint and image, each with its
reconstruction under ``OUT/<checkpoint>-<image>/``) and writes nothing but:

- on stdout, two markdown tables: whole image (bpp, PSNR, MS-SSIM, mean Δθ, the stripe
  classes ``turned / redrawn / erased`` and contrast retention over the image's stripe ROIs)
  and per ROI (Δθ, kept, turned, redrawn, erased, contrast retention), every checkpoint side
  by side. JSON written before the classes (schema 1) shows its ``flip_share`` as turned and
  no redrawn share: those two shares overlapped;
- ``OUT/montage-<image>.png``: compare's ROI montage with the original and every checkpoint's
  reconstruction side by side (``codeccmp.render.report.write_montage`` on the runs' results,
  labelled by checkpoint). The ROIs are compare's own: every run on an image found the same
  ones (checked here), since they are detected on the original.

Every figure comes from the JSON files; nothing is measured again. Run from the repository
root::

    python benchmarks/orientation_table.py out/orient
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ORDER = ("start", "plain")  # then orient-w* in the order of their weights


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return format(v, spec)


def _ckpt_key(name: str) -> tuple[int, float, float]:
    """start, plain, then orient-w<W>[-l<λ>] by weight, the default λ before lower ones."""
    if name in ORDER:
        return ORDER.index(name), 0.0, 0.0
    m = re.fullmatch(r"orient-w([\d.]+)(?:-l([\d.]+))?", name)
    if m is None:
        return len(ORDER) + 1, 0.0, 0.0
    return len(ORDER), float(m.group(1)), -float(m.group(2) or "inf")


def load_runs(out: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """``{image: {checkpoint: compare JSON}}`` for every ``<ckpt>-<image>.json`` in ``out``."""
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    for path in sorted(out.glob("*.json")):
        data = json.loads(path.read_text())
        if "results" not in data or "image" not in data:
            continue
        image = Path(data["image"]["path"]).stem
        ckpt = path.stem[: -len(image) - 1] if path.stem.endswith(f"-{image}") else path.stem
        runs.setdefault(image, {})[ckpt] = data
    return runs


def result_of(data: dict[str, Any]) -> dict[str, Any]:
    (row,) = [r for r in data["results"] if r["codec"].startswith("bmshj2018-factorized")]
    if row["status"] != "ok":
        sys.exit(f"{data['image']['path']}: {row['codec']} failed: {row.get('reason')}")
    return row


def _share(d: dict[str, Any], key: str) -> Any:
    """A class share; schema 1's ``flip_share`` stands in for ``turned_share``."""
    if key == "turned_share" and key not in d:
        return d.get("flip_share")
    return d.get(key)


def _classes(d: dict[str, Any]) -> str:
    return " / ".join(_fmt(_share(d, k), ".1%")
                      for k in ("turned_share", "redrawn_share", "erased_share"))


def tables(runs: dict[str, dict[str, dict[str, Any]]]) -> str:
    lines = ["| image | checkpoint | bpp | PSNR dB | MS-SSIM | ROI Δθ ° | "
             "ROI turned / redrawn / erased | ROI contrast |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    per_roi = ["| image | ROI x,y,w,h | checkpoint | Δθ ° | kept | turned | redrawn | erased "
               "| contrast |", "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for image, by_ckpt in runs.items():
        names = sorted(by_ckpt, key=_ckpt_key)
        for name in names:
            r = result_of(by_ckpt[name])
            s = r.get("stripes") or {}
            lines.append(
                f"| {image} | {name} | {_fmt(r['bpp'], '.4f')} | {_fmt(r['psnr'], '.2f')} | "
                f"{_fmt(r['ms_ssim'], '.4f')} | {_fmt(s.get('delta_theta_deg'), '.2f')} | "
                f"{_classes(s)} | {_fmt(s.get('contrast_retention'), '.3f')} |")
        rois = [tuple(int(v[k]) for k in ("x", "y", "w", "h"))
                for v in by_ckpt[names[0]]["rois"]]
        for name in names:
            got = [tuple(int(v[k]) for k in ("x", "y", "w", "h")) for v in by_ckpt[name]["rois"]]
            if got != rois:
                sys.exit(f"{image}: the {name} run found other ROIs ({got} vs {rois})")
        for i, roi in enumerate(rois):
            for name in names:
                e = result_of(by_ckpt[name])["rois"][i]
                per_roi.append(
                    f"| {image} | {','.join(map(str, roi))} | {name} | "
                    f"{_fmt(e.get('delta_theta_deg'), '.2f')} | "
                    f"{_fmt(e.get('kept_share'), '.1%')} | "
                    f"{_fmt(_share(e, 'turned_share'), '.1%')} | "
                    f"{_fmt(e.get('redrawn_share'), '.1%')} | "
                    f"{_fmt(e.get('erased_share'), '.1%')} | "
                    f"{_fmt(e.get('contrast_retention'), '.3f')} |")
    return "\n".join(lines) + "\n\n" + "\n".join(per_roi)


def montages(runs: dict[str, dict[str, dict[str, Any]]], out: Path,
             only: list[str] | None = None) -> list[Path]:
    from codeccmp.images import load_image
    from codeccmp.render.report import write_montage
    from codeccmp.results import CodecResult, Comparison

    written = []
    for image, by_ckpt in runs.items():
        names = [n for n in (only or sorted(by_ckpt, key=_ckpt_key)) if n in by_ckpt]
        first = Comparison.from_dict(by_ckpt[names[0]])
        results, recons = [], {}
        for name in names:
            row = result_of(by_ckpt[name])
            rel = row["outputs"]["reconstruction"]
            path = Path(rel) if Path(rel).is_absolute() else out / rel
            res = CodecResult.from_dict({**row, "codec": name})
            results.append(res)
            recons[name] = load_image(path).pixels
        first.results = results
        original = load_image(Path(first.image["path"])).pixels
        written.append(write_montage(first, original, recons, out / f"montage-{image}.png"))
    return written


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="the experiment's folder (out/orient)")
    ap.add_argument("--no-montage", action="store_true")
    ap.add_argument("--montage-checkpoints", default=None,
                    help="comma-separated checkpoints for the montages, in this order "
                    "(default: all)")
    args = ap.parse_args()
    runs = load_runs(args.out)
    if not runs:
        sys.exit(f"no compare JSON in {args.out}")
    print(tables(runs))
    if not args.no_montage:
        only = args.montage_checkpoints.split(",") if args.montage_checkpoints else None
        for p in montages(runs, args.out, only):
            print(f"wrote {p}", file=sys.stderr)


if __name__ == "__main__":
    main()
