"""``sweep --out DIR``: each point's bitstream and its reconstruction (PNG), as ``compare
--out`` saves them for one point (what users of CompressAI's scripts ask for).

The sweep's workers keep no reconstructions (a folder of camera images would hold
gigabytes); the points are coded again here, after the sweep, at the parameter each one
settled on, through the same caching proxy and pipeline: the encoding comes from the trial
cache (the very bytes that were measured) or, without it, from the codec again. A fresh
encoding is saved only when it has the recorded size to the byte, so a file in DIR is
always the bitstream the table reports; the reconstruction is decoded from those bytes
alone. Files: ``DIR/IMAGE/CODEC-POINT.EXT`` and ``.png`` (``barbara/jpeg-0.3bpp.jpg``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from codeccmp.model.images import SourceImage
    from codeccmp.plugins import CodecRegistry
    from codeccmp.sweep.runner import SweepResult


def point_name(codec: str, kind: str, value: Any, param_name: str | None) -> str:
    """``jpeg-0.3bpp``, ``jpeg-ms-ssim0.95``, ``jpeg-quality50``: the file stem of a point."""
    if kind == "target":
        return f"{codec}-{value:g}bpp"
    if kind == "match":
        return f"{codec}-{value:g}"  # the caller prefixes the metric
    return f"{codec}-{param_name or 'param'}{value:g}" if isinstance(value, float) else \
        f"{codec}-{param_name or 'param'}{value}"


def save_points(result: SweepResult, images: Sequence[SourceImage], registry: CodecRegistry,
                settings: Any, out: Path, cache_dir: Path | None) -> list[str]:
    """Write every ok point's bitstream and reconstruction under ``out`` (through the
    active :class:`~codeccmp.model.fileio.Outputs`); returns notes for points not saved."""
    from codeccmp.model.fileio import atomic_write_bytes
    from codeccmp.model.images import save_png
    from codeccmp.pipeline.compare import CompareOptions, decode_chosen, search
    from codeccmp.sweep.cache import CachingCodec, ResultCache, codec_fingerprint
    from codeccmp.sweep.tasks import _FixedParamCodec

    cache = ResultCache.open(cache_dir)
    match = result.settings.get("match")
    stems = image_stems(images)
    notes: list[str] = []
    proxies: dict[tuple[str, str], Any] = {}
    for p in result.points:
        r = p.result
        if not r.ok or r.param is None:
            continue
        key = (r.codec, r.device or "cpu")
        if key not in proxies:
            codec = registry.get(r.codec)
            codec.configure(settings)
            proxies[key] = CachingCodec(codec, cache, codec_fingerprint(codec, settings,
                                                                        key[1]))
        proxy = proxies[key]
        opts = CompareOptions(target_bpp=1.0, codecs=[r.codec], tolerance=math.inf,
                              settings=settings, keep_outputs=True)
        coded = search(_FixedParamCodec(proxy, r.param), images[p.image], opts)
        res, recon = decode_chosen(coded)
        stem = point_name(r.codec, p.kind, p.value, r.param_name)
        if p.kind == "match" and match:
            stem = f"{r.codec}-{match['metric']}{p.value:g}"
        where = f"{stems[p.image]}/{stem}"
        # (the status is set "ok" only once measured, which this does not need)
        if res.reason is not None or recon is None or res.bitstream is None:
            notes.append(f"--out: {where} not saved: {res.reason or 'no reconstruction'}")
            continue
        if r.nbytes is not None and len(res.bitstream) != r.nbytes:
            notes.append(f"--out: {where} not saved: coded again it took "
                         f"{len(res.bitstream)} bytes, not the {r.nbytes} measured (an "
                         "encoder that is not deterministic; the cache was off or cleared)")
            continue
        folder = out / stems[p.image]
        atomic_write_bytes(folder / f"{stem}.{r.extension or res.extension}", res.bitstream)
        save_png(recon, folder / f"{stem}.png")
        r.outputs = {"reconstruction": str((folder / f"{stem}.png").resolve()),
                     "bitstream": str((folder / f"{stem}.{r.extension}").resolve())}
    return notes


def expected_files(out: Path, images: Sequence[SourceImage], codecs: Sequence[Any],
                   targets: Sequence[float], match_metric: str | None,
                   by_parameter: bool = False) -> list[Path]:
    """The files of the rate- (or quality-) matched points, known before the sweep runs
    (so an existing one is refused before any coding), and with ``by_parameter`` (points
    named by their parameter in the sweep) the existing files :func:`parameter_files`
    finds."""
    stems = image_stems(images)
    out_files = []
    for stem in stems:
        for c in codecs:
            for t in targets:
                name = (f"{c.name}-{match_metric}{t:g}" if match_metric
                        else point_name(c.name, "target", t, None))
                out_files += [out / stem / f"{name}.png", out / stem / f"{name}.{c.extension}"]
    return out_files + (parameter_files(out, images, codecs) if by_parameter else [])


def parameter_files(out: Path, images: Sequence[SourceImage],
                    codecs: Sequence[Any]) -> list[Path]:
    """Files already in ``out`` that a point named by its parameter could replace
    (``jpeg-quality50.png``: ``--all-qualities``, and the pinned parameters of ``--average
    quality``, which only the sweep finds).

    Every such file of a swept codec counts, whether or not this sweep lands on its
    parameter: refused before the coding (without ``--force``) rather than after it, when the
    whole sweep would be thrown away with its outputs."""
    found: list[Path] = []
    for stem in image_stems(images):
        folder = out / stem
        if not folder.is_dir():
            continue
        names = sorted(f.name for f in folder.iterdir())
        for c in codecs:
            prefix = f"{c.name}-{c.param_space.name}"
            suffixes = (".png", f".{c.extension}")
            found += [folder / n for n in names
                      if n.startswith(prefix) and n[len(prefix):len(prefix) + 1].isdigit()
                      and n.endswith(suffixes)]
    return found


def image_stems(images: Sequence[SourceImage]) -> list[str]:
    """Each image's folder name under ``--out``: its file's stem; ``stdin`` for the image
    read from standard input (a folder called ``-`` is one a shell user cannot ``cd`` into
    by name)."""
    from codeccmp.model.images import STDIN

    return _stems(["stdin" if im.path == STDIN else Path(im.path).stem if im.path
                   else f"image{i + 1}" for i, im in enumerate(images)])


def _stems(names: list[str]) -> list[str]:
    """Image stems, made unique (``a``, ``a-2``) where two images share one."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        seen[n] = seen.get(n, 0) + 1
        out.append(n if seen[n] == 1 else f"{n}-{seen[n]}")
    return out
