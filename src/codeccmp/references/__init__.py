"""Published rate–distortion curves, to plot beside a sweep and to BD-measure against.

The curves are data shipped with the package (``data/compressai/``: CompressAI's
``results/`` folder, its licence beside it), each a JSON file in CompressAI's ``eval_model``
format: ``{"name", "description", "results": {"bpp": [...], "psnr-rgb": [...],
"ms-ssim-rgb": [...], ...}}``, one entry per quality, averaged over a data set's images.

**Ids.** A reference is named by an id derived from its file, unique within a data set:

- standard codecs as CompressAI ran them: ``vtm``, ``hm``, ``av1``, ``bpg`` (BPG 4:4:4,
  x265), ``jpeg``, ``webp``, ``jpeg2000``;
- CompressAI zoo models as CompressAI ran them: ``compressai-<model>_<metric>`` (the CUDA
  run), ``…@cpu`` (the CPU run), ``…@8bit`` (CUDA, metrics on 8-bit reconstructions);
  e.g. ``compressai-mbt2018_ms-ssim``, ``compressai-cheng2020-anchor_mse@cpu``;
  the variable-rate models keep their file names (``mbt2018-vbr-ans``);
- curves copied from papers: ``paper-<name>`` (``paper-mbt2018``, ``paper-elic2022_mse``).

A spec is ``ID`` (the Kodak curve when there is one, else the only data set that has it)
or ``DATASET/ID`` (``clic2020-mobile/vtm``). A path to a ``.json`` file is any curve in the
same format; its data set is unknown. In a sweep a reference is called ``ref:<id>`` (so
``ref:jpeg``, the published JPEG curve, never clashes with the ``jpeg`` codec).

**Data sets.** A published curve is a mean over one data set's images: it is comparable
with a sweep only over exactly those images. :func:`check_dataset` recognises the Kodak
set by its files' SHA-256 (or, for a re-encoded copy, by its decoded pixels); the CLIC
sets are not shipped, so they cannot be recognised and need the check turned off.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from codeccmp.errors import UsageError

if TYPE_CHECKING:
    from codeccmp.model.images import SourceImage

DATA = Path(__file__).parent / "data"
COMPRESSAI_ROOT = DATA / "compressai" / "image"
#: Where CompressAI's results were taken from (see data/compressai/README.md).
COMPRESSAI_SOURCE = "CompressAI@869a9f5"
DEFAULT_DATASET = "kodak"
DatasetCheck = Literal["on", "off"]
DATASET_CHECKS = ("on", "off")
#: How a sweep names a reference, so it never clashes with a codec's name.
PREFIX = "ref:"


@dataclass(frozen=True)
class Reference:
    """One published curve: where it comes from and what it was measured on."""

    id: str
    dataset: str | None  # None: a user's file, data set unknown
    path: Path
    kind: str  # codec, model, paper, file
    source: str  # what made the curve (a codec's version, a model, a paper)
    origin: str = COMPRESSAI_SOURCE  # where the file comes from
    device: str | None = None  # cuda or cpu, for CompressAI's own model runs
    decoded: str | None = None  # "8bit" where metrics were taken on 8-bit reconstructions

    @property
    def name(self) -> str:
        """The name in a sweep's tables, BD keys and JSON."""
        return PREFIX + self.id

    @property
    def spec(self) -> str:
        return f"{self.dataset}/{self.id}" if self.dataset else str(self.path)

    @property
    def label(self) -> str:
        """The legend entry of its curve."""
        return f"{self.id} (published)" if self.kind != "file" else f"{self.id} (file)"


@dataclass
class Curve:
    """A reference's points, in codeccmp's metric names (MS-SSIM dB of the mean MS-SSIM,
    as CompressAI's plot computes it)."""

    name: str
    description: str
    bpp: list[float]
    psnr: list[float | None] = field(default_factory=list)
    ms_ssim: list[float | None] = field(default_factory=list)
    ms_ssim_db: list[float | None] = field(default_factory=list)
    encode_s: list[float | None] = field(default_factory=list)
    decode_s: list[float | None] = field(default_factory=list)

    def metric(self, key: str) -> tuple[list[float], list[float]]:
        """(bpp, metric) pairs where both are finite, sorted by rate."""
        vals = getattr(self, key)
        pts = sorted((b, v) for b, v in zip(self.bpp, vals, strict=False)
                     if v is not None and math.isfinite(v))
        return [b for b, _ in pts], [v for _, v in pts]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "bpp": self.bpp,
                "psnr": self.psnr, "ms_ssim": self.ms_ssim, "ms_ssim_db": self.ms_ssim_db}


# --------------------------------------------------------------------------- catalogue

_MODEL = re.compile(r"compressai-(?P<base>.+?)(?:_ans)?_(?P<device>cuda|cpu)")


def _describe(rel: Path) -> Reference:
    """The id, data set and provenance of a shipped file from its place in the tree."""
    parts = rel.parts
    eightbit = parts[0] == "8bit-decoded"
    dataset = parts[1] if eightbit else parts[0]
    stem = rel.stem
    path = COMPRESSAI_ROOT / rel
    m = _MODEL.fullmatch(stem)
    if m:
        device = m["device"]
        suffix = "@8bit" if eightbit else ("@cpu" if device == "cpu" else "")
        return Reference(f"compressai-{m['base']}{suffix}", dataset, path, "model",
                         "CompressAI zoo model", device=device,
                         decoded="8bit" if eightbit else "float")
    if stem.startswith("paper-"):
        return Reference(stem, dataset, path, "paper",
                         "the paper's figures")
    if stem.endswith("-vbr-ans"):
        return Reference(stem, dataset, path, "model",
                         "CompressAI variable-rate model")
    ident = "bpg" if stem.startswith("bpg_") else stem
    return Reference(ident, dataset, path, "codec", _description(path))


def _description(path: Path) -> str:
    try:
        return str(json.loads(path.read_text()).get("description", "")).strip()
    except (OSError, ValueError):
        return ""


@cache
def catalogue() -> tuple[Reference, ...]:
    """Every shipped reference, sorted by data set then id.

    A file whose curve (bpp, PSNR, MS-SSIM) is identical to another's in the same data set
    is left out: in CompressAI's ``8bit-decoded`` folder each ``*_ms-ssim_ans_cuda.json``
    holds the very numbers of the matching ``*_mse_ans_cuda.json`` (the MSE model's curve under an
    MS-SSIM name), so offering it would plot the wrong model.
    """
    seen: dict[tuple[str | None, str], Reference] = {}
    refs = []
    files = sorted(COMPRESSAI_ROOT.rglob("*.json"), key=lambda p: ("_mse" not in p.name, p))
    for p in files:
        ref = _describe(p.relative_to(COMPRESSAI_ROOT))
        res = json.loads(p.read_text()).get("results", {})
        key = (ref.dataset, json.dumps([res.get(k) for k in ("bpp", "psnr-rgb", "ms-ssim-rgb")]))
        if key in seen:
            continue
        seen[key] = ref
        refs.append(ref)
    return tuple(sorted(refs, key=lambda r: (r.dataset != DEFAULT_DATASET, r.dataset or "",
                                             r.id)))


def datasets() -> dict[str, Any]:
    """The data sets references were measured on, with what recognises their images."""
    return json.loads((Path(__file__).parent / "datasets.json").read_text())


def resolve(spec: str) -> Reference:
    """A shipped reference by ``ID`` or ``DATASET/ID``, or a user's ``.json`` file."""
    text = spec.strip()
    if text.startswith(PREFIX):
        text = text[len(PREFIX):]
    if text.lower().endswith(".json") or Path(text).is_file():
        p = Path(text)
        if not p.is_file():
            raise UsageError(f"--reference file not found: {p}")
        load_curve(p)  # a file that is not a curve fails here, before any work
        return Reference(p.stem, None, p.resolve(), "file", load_curve(p).description,
                         origin=str(p))
    if text.endswith("@cuda"):
        text = text[: -len("@cuda")]
    refs = catalogue()
    dataset, _, ident = text.rpartition("/")
    matches = [r for r in refs if r.id == ident and (not dataset or r.dataset == dataset)]
    if not matches:
        ids = sorted({r.id for r in refs})
        near = difflib.get_close_matches(ident, ids, n=3)
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        where = f" for data set {dataset!r}" if dataset else ""
        raise UsageError(f"unknown reference {spec!r}{where}{hint}; "
                         "`codeccmp references` lists them")
    if len(matches) > 1:
        kodak = [r for r in matches if r.dataset == DEFAULT_DATASET]
        if kodak:
            return kodak[0]
        raise UsageError(f"reference {spec!r} exists for "
                         f"{', '.join(str(r.dataset) for r in matches)}: "
                         f"name one, e.g. {matches[0].dataset}/{ident}")
    return matches[0]


# --------------------------------------------------------------------------- curves


def _numbers(results: dict[str, Any], key: str, n: int, where: str) -> list[float | None]:
    vals = results.get(key)
    if vals is None:
        return [None] * n
    if not isinstance(vals, list) or len(vals) != n:
        raise UsageError(f"{where}: results.{key} must be a list as long as results.bpp ({n})")
    out: list[float | None] = []
    for v in vals:
        if v is None:
            out.append(None)
        elif isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
        else:
            raise UsageError(f"{where}: results.{key} has a non-number {v!r}")
    return out


def load_curve(path: str | Path) -> Curve:
    """Read a curve in CompressAI's ``eval_model`` format; a bad file is a usage error."""
    p = Path(path)
    try:
        data = json.loads(p.read_text())
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read reference {p}: {exc}") from None
    except ValueError as exc:
        raise UsageError(f"reference {p} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise UsageError(f"reference {p}: expected a JSON object with \"results\"")
    results = data.get("results", data)  # as compressai.utils.plot reads it
    bpp = results.get("bpp") if isinstance(results, dict) else None
    if not isinstance(bpp, list) or not bpp:
        raise UsageError(f"reference {p}: no results.bpp list (CompressAI eval_model format)")
    n = len(bpp)
    rates = _numbers(results, "bpp", n, str(p))
    if any(r is None or r <= 0 for r in rates):
        raise UsageError(f"reference {p}: results.bpp must be positive numbers")
    psnr = _numbers(results, "psnr-rgb", n, str(p))
    ms = _numbers(results, "ms-ssim-rgb", n, str(p))
    ms_db = _numbers(results, "ms-ssim-db-rgb", n, str(p))
    if any(v is not None and not 0 <= v <= 1 for v in ms):
        raise UsageError(f"reference {p}: results.ms-ssim-rgb must lie in [0, 1]")
    ms_db = [d if d is not None else (-10 * math.log10(1 - m) if m is not None and m < 1
                                      else None) for m, d in zip(ms, ms_db, strict=True)]
    if all(v is None for v in psnr + ms_db):
        raise UsageError(f"reference {p}: needs psnr-rgb, ms-ssim-rgb or ms-ssim-db-rgb")
    return Curve(name=str(data.get("name", p.stem)),
                 description=str(data.get("description", "")),
                 bpp=[float(r) for r in rates if r is not None], psnr=psnr, ms_ssim=ms,
                 ms_ssim_db=ms_db,
                 encode_s=_numbers(results, "encoding_time", n, str(p)),
                 decode_s=_numbers(results, "decoding_time", n, str(p)))


def metrics_of(curve: Curve) -> list[str]:
    """Which of PSNR and MS-SSIM a curve has (for the listing)."""
    out = []
    if any(v is not None for v in curve.psnr):
        out.append("psnr")
    if any(v is not None for v in curve.ms_ssim_db):
        out.append("ms-ssim")
    return out


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- data sets


def check_dataset(ref: Reference, images: Sequence[SourceImage], mode: DatasetCheck = "on"
                  ) -> str:
    """Whether the sweep's images are the set ``ref`` was measured on: a status word for
    the JSON (``passed``, ``off``, ``unknown data set``), or a :class:`UsageError`."""
    if mode not in DATASET_CHECKS:
        raise UsageError(f"--reference-dataset-check must be on or off, got {mode!r}")
    if ref.dataset is None:
        return "unknown data set"
    if mode == "off":
        return "off"
    known = datasets().get(ref.dataset, {})
    files = known.get("files")
    if not files:
        raise UsageError(
            f"reference {ref.spec} was measured on {ref.dataset}, whose images codeccmp "
            "cannot recognise; pass --reference-dataset-check off to compare anyway")
    from codeccmp.model.images import pixels_sha256

    by_hash: dict[str, str] = {}
    for fname, h in files.items():
        by_hash[h["sha256"]] = fname
        by_hash[h["pixels_sha256"]] = fname
    seen: list[str] = []
    others = 0
    for im in images:
        hit = by_hash.get(im.sha256) or by_hash.get(pixels_sha256(im.pixels))
        if hit is None:
            others += 1
        else:
            seen.append(hit)
    if others or len(set(seen)) != len(files) or len(seen) != len(files):
        found = len(set(seen))
        raise UsageError(
            f"reference {ref.spec} is the mean over the {len(files)} {ref.dataset} images; "
            f"the sweep has {found} of them"
            + (f" and {others} other image(s)" if others else "")
            + (" (some twice)" if len(seen) != found else "")
            + ": sweep exactly that set, or pass --reference-dataset-check off")
    return "passed"


# --------------------------------------------------------------------------- in a sweep


def sweep_references(specs: Sequence[str], images: Sequence[SourceImage],
                     check: DatasetCheck = "on") -> list[dict[str, Any]]:
    """Resolve, check and load the references of a sweep, as plain data for its JSON.

    Each entry records where the curve comes from (file and its SHA-256), what the data-set
    check said (``passed``; ``off`` when the user turned it off; ``unknown data set`` for a
    user's file, which cannot be checked) and the curve itself, so the figure can be redrawn
    from the JSON alone.
    """
    if check not in DATASET_CHECKS:
        raise UsageError(f"--reference-dataset-check must be on or off, got {check!r}")
    out: list[dict[str, Any]] = []
    for spec in specs:
        ref = resolve(spec)
        if any(r["name"] == ref.name for r in out):
            raise UsageError(f"--reference {spec!r} names {ref.name} twice")
        status = check_dataset(ref, images, check)
        curve = load_curve(ref.path)
        try:
            file = str(ref.path.relative_to(DATA))
        except ValueError:
            file = str(ref.path)
        out.append({
            "name": ref.name, "id": ref.id, "spec": ref.spec, "label": ref.label,
            "dataset": ref.dataset, "dataset_check": status, "kind": ref.kind,
            "source": ref.source, "origin": ref.origin, "device": ref.device,
            "decoded": ref.decoded, "file": file, "sha256": file_sha256(ref.path),
            "averaged": "per quality" if ref.kind != "file" else "as given in the file",
            "curve": curve.to_dict(),
        })
    return out
