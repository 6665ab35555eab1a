"""Measure the shipped external codecs' typical rate curves and write them into their TOML.

As for the Pillow codecs (``codeccmp_pillow.make_priors``), the curve only lets the rate
search start near the target: it changes how many encodes a search needs, never the
parameter it settles on. External encoders are slow to start and some (AV1, VVC) slow to
run, so a sparse grid on a few photos is enough::

    python -m codeccmp_external.make_priors [--kodak DIR] [--images 3] [--points 9]

For each shipped codec with an integer parameter that runs here, every image is encoded at
``--points`` values spread over the parameter's range, the geometric mean of the rates is
kept per value, made monotone in the codec's rate direction, and written as the
``typical_bpp`` line of the codec's ``[codec.param]`` table, with a comment saying how it was
made. Codecs that cannot run here keep the curve they have.
"""

from __future__ import annotations

import argparse
import datetime
import math
import re
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from codeccmp_external import shipped_files
from codeccmp_external.codec import ExternalCodec
from codeccmp_external.config import load_file

DEFAULT_KODAK = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "kodak"
_LINE = re.compile(r"^(# typical_bpp:.*\n)?typical_bpp = .*\n", re.M)


def grid(low: int, high: int, points: int) -> list[int]:
    return sorted({round(low + (high - low) * i / (points - 1)) for i in range(points)})


def curve(codec: ExternalCodec, images: list[np.ndarray], values: list[int]) -> list[list]:
    logs = []
    for pixels in images:
        n = pixels.shape[0] * pixels.shape[1]
        logs.append([math.log(8.0 * codec.encode(pixels, v).nbytes / n) for v in values])
        print(f"{codec.name}: {len(logs)}/{len(images)} images", file=sys.stderr)
    mean = np.mean(np.array(logs), axis=0)
    # The search relies on the rate moving one way with the parameter.
    mono = (np.maximum.accumulate(mean) if codec.param_space.rate_increases
            else np.minimum.accumulate(mean))
    return [[v, float(f"{math.exp(x):.4g}")] for v, x in zip(values, mono, strict=True)]


def write(path: Path, codec: ExternalCodec, pairs: list[list], note: str) -> None:
    text = _LINE.sub("", path.read_text())
    table = f"[[codec]]\nname = \"{codec.name}\""
    start = text.index(table)
    anchor = re.compile(r"^rate_increases = .*\n", re.M).search(text, start)
    assert anchor is not None, f"{path}: no rate_increases line after {codec.name}"
    line = "typical_bpp = [" + ", ".join(f"[{v}, {b!r}]" for v, b in pairs) + "]\n"
    path.write_text(text[:anchor.end()] + f"# typical_bpp: {note}\n" + line
                    + text[anchor.end():])


def main(argv: list[str] | None = None) -> None:
    from codeccmp.model.images import pick_spread

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kodak", type=Path, default=DEFAULT_KODAK)
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--points", type=int, default=9)
    parser.add_argument("--codecs", help="comma-separated subset (default: all)")
    args = parser.parse_args(argv)
    paths = pick_spread(args.kodak, args.images)
    images = [np.asarray(Image.open(p).convert("RGB")) for p in paths]
    wanted = set(args.codecs.split(",")) if args.codecs else None
    for path in shipped_files():
        for spec in load_file(path):
            codec = ExternalCodec(spec)
            space = codec.param_space
            if space.kind != "integer" or (wanted and codec.name not in wanted):
                continue
            reason = codec.availability()
            if reason:
                print(f"skipping {codec.name}: {reason}", file=sys.stderr)
                continue
            pairs = curve(codec, images, grid(int(space.low), int(space.high), args.points))
            lib = ", ".join(f"{k} {v}" for k, v in codec.library().items())
            note = (f"geometric mean over {', '.join(p.name for p in paths)}, {lib}, "
                    f"{datetime.date.today().isoformat()} (python -m "
                    "codeccmp_external.make_priors); speeds the rate search only")
            write(path, codec, pairs, note)
            print(f"{codec.name}: {pairs}", file=sys.stderr)


if __name__ == "__main__":
    main()
