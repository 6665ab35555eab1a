"""Which metrics see turned stripes? Controlled distortions of stripe regions, every metric.

    python benchmarks/experiments/turned_stripes.py \
        [--images samples/stripes.png samples/barbara.png]
        [--metrics psnr,ms-ssim,...] [--markdown]

For each stripe region the detector finds (k = 3 per image), in a 192×192 window centred on
it (MS-SSIM needs ≥ 161 px), only the region's pixels are distorted:

- **rot δ**: the window's content rotated by δ ∈ {2, 5, 10, 20, 45}° about the region's centre
  (cubic spline, reflected borders), pasted back inside the region only;
- **blur**: a Gaussian blur of the region whose σ is bisected so that the window's MSE equals
  that rotation's MSE (to 0.5 %); "unreachable" when even σ = 20 px blurs less;
- **noise**: Gaussian noise (seeded) in the region, its σ bisected to the same MSE.

At equal MSE, PSNR cannot tell them apart; the question (the study's "investigating the
MS-SSIM metric") is which metrics rank the turned stripes as *worse* than the blur or noise
of equal MSE. The summary counts, per metric and δ, the regions where the rotation scores
worse than the blur (and than the noise). Then the lee2019 reconstructions
(``../shared/external/lee2019/``, the authors' MS-SSIM- and MSE-trained models) are measured
whole-image and on the original's detected windows, pairing each MS-SSIM reconstruction with
the MSE one of nearest bpp (the bpp from that folder's README table, the authors' figures).

Nothing is asserted; it prints (``--markdown`` prints the tables as docs/metrics.md has them).
"""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

from codeccmp.model.images import load_image
from codeccmp.pipeline.analysis import resolve_rois
from codeccmp.plugins import load_metrics
from codeccmp.stripes import Roi

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
DELTAS = (2, 5, 10, 20, 45)
WIN = 192


def window(img: np.ndarray, roi: Roi) -> tuple[np.ndarray, tuple[slice, slice]]:
    """A WIN×WIN window centred on ``roi`` (shifted to fit the image), and the ROI's slices
    inside it."""
    h, w = img.shape[:2]
    cx, cy = roi.x + roi.w // 2, roi.y + roi.h // 2
    x0 = min(max(cx - WIN // 2, 0), max(w - WIN, 0))
    y0 = min(max(cy - WIN // 2, 0), max(h - WIN, 0))
    win = img[y0:y0 + WIN, x0:x0 + WIN]
    return win, (slice(roi.y - y0, roi.y - y0 + roi.h), slice(roi.x - x0, roi.x - x0 + roi.w))


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))


def paste(win: np.ndarray, changed: np.ndarray, box: tuple[slice, slice]) -> np.ndarray:
    out = win.copy()
    out[box] = np.clip(np.rint(changed[box]), 0, 255).astype(np.uint8)
    return out


def per_channel(f, img: np.ndarray) -> np.ndarray:  # noqa: ANN001
    x = img.astype(np.float64)
    if x.ndim == 2:
        return f(x)
    return np.stack([f(x[..., c]) for c in range(x.shape[2])], axis=-1)


def rotated(win: np.ndarray, box: tuple[slice, slice], delta: float) -> np.ndarray:
    cy = (box[0].start + box[0].stop - 1) / 2
    cx = (box[1].start + box[1].stop - 1) / 2
    t = np.deg2rad(delta)
    rot = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]])
    centre = np.array([cy, cx])
    offset = centre - rot @ centre  # rotate about the region's centre

    def f(ch: np.ndarray) -> np.ndarray:
        return ndi.affine_transform(ch, rot, offset=offset, order=3, mode="reflect")

    return paste(win, per_channel(f, win), box)


def _bisect(make, target: float, lo: float, hi: float) -> np.ndarray | None:  # noqa: ANN001
    """``make(s)`` for the s in [lo, hi] whose MSE is within 0.5 % of ``target`` (MSE grows
    with s); None if even ``hi`` falls short."""
    out = make(hi)
    if out[1] < target * 0.995:
        return None
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        out = make(mid)
        if abs(out[1] - target) <= 0.005 * target:
            break
        lo, hi = (mid, hi) if out[1] < target else (lo, mid)
    return out[0]


def blurred(win: np.ndarray, box: tuple[slice, slice], target: float) -> np.ndarray | None:
    def make(s: float):  # noqa: ANN202
        d = paste(win, per_channel(lambda ch: ndi.gaussian_filter(ch, s, mode="reflect"), win),
                  box)
        return d, mse(win, d)

    return _bisect(make, target, 0.05, 20.0)


def noisy(win: np.ndarray, box: tuple[slice, slice], target: float) -> np.ndarray | None:
    z = np.random.default_rng(0).standard_normal(win.shape)

    def make(s: float):  # noqa: ANN202
        d = paste(win, win + s * z, box)
        return d, mse(win, d)

    return _bisect(make, target, 0.0, 200.0)


def lee2019_pairs() -> list[tuple[str, Path, float, str]]:
    """(image id, file, bpp, trained for) from the lee2019 README's tables, files present."""
    folder = SHARED / "external" / "lee2019"
    readme = (SHARED / "external" / "README.md").read_text()
    rows = re.findall(r"^\| `([\w.-]+\.png)` \| ([\w-]+) \| [\d.]+ \| ([\d.]+) \|", readme,
                      flags=re.M)
    out = []
    for name, trained, bpp in rows:
        if (folder / name).is_file():
            out.append((name.split("-")[0], folder / name, float(bpp), trained))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--images", nargs="*",
                    default=[str(ROOT / "samples" / "stripes.png"),
                             str(ROOT / "samples" / "barbara.png")])
    ap.add_argument("--metrics", default=None, help="comma-separated (default: all usable)")
    ap.add_argument("--no-lee2019", action="store_true")
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()

    reg = load_metrics()
    names = args.metrics.split(",") if args.metrics else [
        m.name for m in reg.all() if m.availability() is None and m.name != "ms-ssim-db"]
    metrics = [reg.get(n) for n in names]
    skipped = [f"{m.name} ({m.availability()})" for m in reg.all()
               if m.availability() is not None]
    times: dict[str, float] = dict.fromkeys(names, 0.0)

    def score(a: np.ndarray, b: np.ndarray) -> dict[str, float | None]:
        out = {}
        for m in metrics:
            t = time.perf_counter()
            out[m.name] = m.compute(a, b)
            times[m.name] += time.perf_counter() - t
        return out

    # worse[(metric, delta)] = [rotation worse than blur count, comparable, than noise, n]
    worse: dict[tuple[str, int], list[int]] = {}
    for path in args.images:
        img = load_image(path).pixels
        for roi in resolve_rois(img, "auto", 3):
            win, box = window(img, roi)
            for delta in DELTAS:
                rot = rotated(win, box, delta)
                target = mse(win, rot)
                blur, noise = blurred(win, box, target), noisy(win, box, target)
                s_rot = score(win, rot)
                s_blur = score(win, blur) if blur is not None else {}
                s_noise = score(win, noise) if noise is not None else {}
                for m in metrics:
                    c = worse.setdefault((m.name, delta), [0, 0, 0, 0])
                    r = s_rot[m.name]
                    if r is None:
                        continue
                    if s_blur.get(m.name) is not None:
                        c[1] += 1
                        c[0] += m.better(s_blur[m.name], r)
                    if s_noise.get(m.name) is not None:
                        c[3] += 1
                        c[2] += m.better(s_noise[m.name], r)
                if not args.markdown:
                    print(f"{Path(path).name} {roi} δ={delta}° MSE {target:.1f} "
                          f"blur {'ok' if blur is not None else 'unreachable'}: "
                          + "  ".join(f"{n} {s_rot[n]:.4g}/{s_blur.get(n, float('nan')):.4g}/"
                                      f"{s_noise.get(n, float('nan')):.4g}"
                                      for n in names if s_rot[n] is not None))

    print("\nRegions where a rotation by δ scores worse than a blur / than noise of equal MSE "
          "(count / regions where both exist):\n")
    print("| metric | " + " | ".join(f"δ = {d}°" for d in DELTAS) + " |")
    print("| --- |" + " --- |" * len(DELTAS))
    for n in names:
        cells = []
        for d in DELTAS:
            b, nb, z, nz = worse.get((n, d), [0, 0, 0, 0])
            cells.append(f"{b}/{nb} · {z}/{nz}")
        print(f"| {n} | " + " | ".join(cells) + " |")
    if skipped:
        print(f"\nnot measured here: {'; '.join(skipped)}")

    if not args.no_lee2019 and (SHARED / "external" / "lee2019").is_dir():
        pairs = lee2019_pairs()
        by_image: dict[str, list] = {}
        for img_id, f, bpp, trained in pairs:
            by_image.setdefault(img_id, []).append((f, bpp, trained))
        print("\nlee2019: does the metric prefer the MS-SSIM model's reconstruction to the MSE "
              "model's of nearest bpp? (whole image; then each detected window)\n")
        for img_id, recs in sorted(by_image.items()):
            orig = load_image(SHARED / "datasets" / "kodak" / f"{img_id}.png").pixels
            rois = resolve_rois(orig, "auto", 3)
            mse_recs = [r for r in recs if r[2] == "MSE"]
            for f, bpp, trained in recs:
                if trained != "MS-SSIM" or not mse_recs:
                    continue
                g, gbpp, _ = min(mse_recs, key=lambda r: abs(r[1] - bpp))
                a, b = load_image(f).pixels, load_image(g).pixels
                whole = (score(orig, a), score(orig, b))
                wins = []
                for roi in rois:
                    w0, _ = window(orig, roi)
                    wa, _ = window(a, roi)
                    wb, _ = window(b, roi)
                    wins.append((score(w0, wa), score(w0, wb)))
                print(f"{f.name} ({bpp:.3f} bpp) vs {g.name} ({gbpp:.3f} bpp):")
                for m in metrics:
                    def pref(pair, m=m) -> str:  # noqa: ANN001
                        x, y = pair[0][m.name], pair[1][m.name]
                        if x is None or y is None:
                            return "–"
                        return "MS-SSIM" if m.better(x, y) else "MSE"
                    print(f"  {m.name:12s} whole {whole[0][m.name]:.4g} vs "
                          f"{whole[1][m.name]:.4g} → {pref(whole)};  windows: "
                          + ", ".join(pref(p) for p in wins))
    print("\nseconds spent per metric (all evaluations above): "
          + ", ".join(f"{n} {t:.1f}" for n, t in times.items()))


if __name__ == "__main__":
    main()
