"""A sweep's curves in CompressAI's ``eval_model`` format, one file per codec.

What ``python -m compressai.utils.plot -f FILE...`` reads and what CompressAI publishes in
its ``results/`` folder: ``{"name", "description", "results": {"bpp", "psnr-rgb",
"ms-ssim-rgb", "encoding_time", "decoding_time"}}``, one entry per curve point. We write
the sweep's averaged points (only those every image reached, as in the plots and BD
numbers), and keep what CompressAI's format has no place for — the averaging, the fixed
parameters, the image count — under a ``codeccmp`` key its tools ignore.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeccmp.errors import UsageError

if TYPE_CHECKING:
    from codeccmp.sweep.results import SweepResult


def export_name(codec: str) -> str:
    """A file name for a codec's curve (codec specs may hold ``[``, ``=``, ``,``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", codec).strip("_") + ".json"


def check_export_dir(folder: Path, codecs: Sequence[str], force: bool) -> None:
    """Refuse, before any work, a folder that is a file or files that would be overwritten."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--compressai-json {folder} exists and is not a folder")
    names = [export_name(c) for c in codecs]
    if len(set(names)) != len(names):
        raise UsageError("--compressai-json: two codecs map to one file name")
    if folder.is_dir() and not force:
        clash = [n for n in names if (folder / n).exists()]
        if clash:
            raise UsageError(f"{folder / clash[0]} exists (use --force to overwrite)")


def compressai_curves(result: SweepResult) -> dict[str, dict[str, Any]]:
    """``{file name: eval_model document}`` for every codec with at least one full point."""
    from codeccmp import __version__

    how = ("per quality: every image at the same fixed codec parameter"
           if result.average == "quality" else
           "per target bpp: each image rate-matched to the target")
    n = len(result.images)
    out: dict[str, dict[str, Any]] = {}
    for c in result.codecs:
        pts = sorted((a for a in result.averaged if a.codec == c["name"] and a.complete
                      and a.bpp is not None and a.psnr is not None),
                     key=lambda a: a.bpp or 0.0)
        if not pts:
            continue
        results: dict[str, list[Any]] = {"bpp": [a.bpp for a in pts],
                                         "psnr-rgb": [a.psnr for a in pts]}
        # MS-SSIM is undefined on images under 161 px: then the key is left out, as in
        # CompressAI's own files for curves without it (its plot cannot read nulls).
        if all(a.ms_ssim is not None for a in pts):
            results["ms-ssim-rgb"] = [a.ms_ssim for a in pts]
        results["encoding_time"] = [a.encode_s for a in pts]
        results["decoding_time"] = [a.decode_s for a in pts]
        out[export_name(c["name"])] = {
            "name": c["name"],
            "description": f"codeccmp {__version__}: {c['family']} codec {c['name']}, mean "
                           f"over {n} image(s) {how}",
            "results": results,
            "codeccmp": {
                "average": result.average, "images": n, "family": c["family"],
                "points": [{"kind": a.kind, "value": a.value, "param_name": a.param_name}
                           for a in pts],
                "note": "times are mean seconds per image of the encode and decode kept "
                        "(not the rate search)",
            },
        }
    return out


def write_compressai(result: SweepResult, folder: str | Path) -> list[Path]:
    """Write the files; a new folder appears whole or not at all."""
    from codeccmp.model.fileio import atomic_write_text, is_staged

    docs = compressai_curves(result)
    target = Path(folder)
    texts = {name: json.dumps(doc, indent=2, allow_nan=False) + "\n"
             for name, doc in docs.items()}
    if target.is_dir() or is_staged(target / "x"):  # file by file; staged with a run's outputs
        return [atomic_write_text(target / name, text) for name, text in texts.items()]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        for name, text in texts.items():
            (tmp / name).write_text(text)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return [target / name for name in texts]
