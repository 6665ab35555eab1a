"""Quality jumps near the rate-matched parameter: is the row next to a switch of the encoder?

Why: an encoder may switch strategy between two neighbouring settings. libjxl 0.12 (through
pillow-jxl-plugin) downsamples the image 2x2 from distance 10 on: on Barbara quality 18
(distance 10.02) gives 0.359 bpp at 25.3 dB and quality 19 (distance 9.53) 0.321 bpp at
27.8 dB. The rate search only sees bytes, so at 0.3 bpp it settles on quality 13, below the
switch, and the row describes the switch, not the format at that rate. This module looks for
such a jump near the chosen parameter and words a note for the results.

How, cheaply: PSNR rises with the parameter on a smooth encoder, so if it moves by at most
``JUMP_DB`` between the chosen value and the one ``REACH`` steps away, no pair of neighbours
in between can jump by more; only when it moves more is the span bisected (about log2
``REACH`` more encodes) down to the neighbouring pair with the jump, stopping as soon as
neither half moves by more than ``JUMP_DB`` (at low rates a smooth encoder's PSNR often moves
2–3 dB over ``REACH`` steps: JPEG on Barbara at 0.3 bpp took 8 probes to the end, 6 so).
Each probe is a real encode and a decode from its bytes; the chosen value's bitstream, and
any other value the rate search encoded on its way (``known``), is the search's own, not
encoded again, so a smooth encoder costs at most two encodes (each AVIF,
HEIF or JPEG XL encode of Barbara takes 0.15–0.5 s: the check was most of a six-codec run's
time). Only fine-grained integer scales (at least ``MIN_VALUES`` values) are checked: a
learned model's few qualities are meant to be far apart, and continuous rate control has no
neighbours.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from codeccmp.codec import Codec, Encoded, Param
from codeccmp.measure.metrics import psnr
from codeccmp.pipeline.ratematch import bits_per_pixel

#: A PSNR step larger than this between neighbouring parameter values is a discontinuity.
JUMP_DB: float = 1.0
#: How many parameter steps on each side of the chosen value are looked at.
REACH: int = 6
#: How every such note begins (the terminal prints these notes under the table).
JUMP_PREFIX = "PSNR jumps by"
#: Parameter scales with fewer values than this are not checked (see module docstring).
MIN_VALUES: int = 16


def find_jump(codec: Codec, pixels: np.ndarray, chosen: Encoded, target_bpp: float,
              tolerance: float, known: Mapping[Param, Encoded] | None = None,
              chosen_decoded: np.ndarray | None = None,
              ) -> tuple[tuple[Param, float, float], tuple[Param, float, float]] | None:
    """The neighbouring pair ``((p, bpp, psnr), (q, bpp, psnr))`` within ``REACH`` steps of
    the ``chosen`` bitstream's parameter whose PSNR differs by more than ``JUMP_DB`` with at
    least one of the two within ``tolerance`` of the target rate (the largest such jump), or
    None. ``known``: bitstreams already encoded by parameter (the rate search's), decoded
    rather than encoded again; ``chosen_decoded``: the decoder's output for ``chosen``,
    where the caller has it, not decoded again."""
    space = codec.param_space
    if space.kind != "integer" or space.high - space.low + 1 < MIN_VALUES:
        return None
    lo, hi = int(space.low), int(space.high)
    num_pixels = pixels.shape[0] * pixels.shape[1]
    seen: dict[int, tuple[float, float]] = {}

    def measured(enc: Encoded, decoded: np.ndarray | None = None) -> tuple[float, float]:
        if decoded is None:
            decoded = codec.decode(enc.data)
        return bits_per_pixel(enc.nbytes, num_pixels), psnr(pixels, decoded)

    def probe(p: int) -> tuple[float, float]:
        if p not in seen:
            enc = (known or {}).get(p)
            seen[p] = measured(enc if enc is not None else codec.encode(pixels, p))
        return seen[p]

    def near(p: int) -> bool:
        return abs(probe(p)[0] - target_bpp) <= tolerance * target_bpp

    best: tuple[float, int, int] | None = None
    c = int(chosen.param)
    seen[c] = measured(chosen, chosen_decoded)
    for end in (max(lo, c - REACH), min(hi, c + REACH)):
        a, b = sorted((c, end))
        if b - a < 1 or abs(probe(b)[1] - probe(a)[1]) <= JUMP_DB:
            continue
        best = _bisect(a, b, probe, near, best)
    if best is None:
        return None
    _, a, b = best
    return (a, *probe(a)), (b, *probe(b))


def _bisect(a: int, b: int, probe: Callable[[int], tuple[float, float]],
            near: Callable[[int], bool],
            best: tuple[float, int, int] | None) -> tuple[float, int, int] | None:
    """Narrow ``[a, b]`` (PSNR differing by more than ``JUMP_DB``) to neighbours, following
    the half with the larger PSNR change; keep the largest jump found near the target."""
    while b - a > 1:
        m = (a + b) // 2
        left = abs(probe(m)[1] - probe(a)[1])
        right = abs(probe(b)[1] - probe(m)[1])
        if max(left, right) <= JUMP_DB:
            return best  # neither half can hold a jump: the same bound as the span's
        a, b = (a, m) if left >= right else (m, b)
    step = abs(probe(b)[1] - probe(a)[1])
    if step > JUMP_DB and (near(a) or near(b)) and (best is None or step > best[0]):
        return step, a, b
    return best


def jump_note(codec: Codec, pair: tuple[tuple[Param, float, float],
                                        tuple[Param, float, float]], chosen: Param) -> str:
    """The results' note for a jump found by :func:`find_jump`, saying where the jump lies
    against the ``chosen`` value (a note saying "next to the chosen quality" was read as the
    neighbouring value when the pair was five steps away)."""
    (p, bp, qp), (q, bq, qq) = pair
    name = codec.param_space.name
    c = int(chosen)

    def value(v: Param, bpp: float, db: float, first: bool) -> str:
        label = f"the chosen {name} {v}" if int(v) == c else f"{name} {v}" if first else f"{v}"
        return f"{label} ({bpp:.3f} bpp, {db:.2f} dB)"

    where = f"between {value(p, bp, qp, True)} and {value(q, bq, qq, False)}"
    if c not in (int(p), int(q)):
        steps = min(abs(int(p) - c), abs(int(q) - c))
        where += (f", {steps} step{'s' if steps != 1 else ''} "
                  f"{'above' if int(p) > c else 'below'} the chosen {name} {c}")
    return (f"{JUMP_PREFIX} {abs(qq - qp):.1f} dB {where}: the encoder switches strategy "
            "there, close enough to the target rate that this row's figures describe that "
            "switch as much as the format at this rate")
