"""Result records and their JSON form: everything a table shows, and how to reproduce it."""

from __future__ import annotations

import functools
import json
import math
import platform
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import numpy as np

from codeccmp import __version__, installed
from codeccmp.errors import UsageError

Status = Literal["ok", "skipped", "failed"]
#: 2: the stripe figures are four classes per stripe pixel (kept, turned, redrawn, erased;
#: they sum to 1) and Δθ is over the pixels that still have an angle. 1 had an overlapping
#: ``flip_share`` (over every oriented pixel) and ``erased_share``; it is still read.
SCHEMA = "codeccmp-results/2"
SCHEMA_V1 = "codeccmp-results/1"
#: Shown wherever results of schema 1 are rendered (their shares overlap).
V1_NOTE = ("results of schema 1 (older stripe figures): turned and erased overlap there and "
           "redrawn was not measured; rerun `codeccmp compare` for the four classes")

#: Libraries whose versions decide the numbers; recorded with every result file.
_TRACKED = (
    "numpy", "pillow", "pillow-heif", "pillow-avif-plugin", "pillow-jxl-plugin", "torch",
    "torchvision", "compressai", "pytorch-msssim", "scipy",
)


@dataclass
class CodecResult:
    codec: str
    family: str
    status: Status
    reason: str | None = None
    param: float | int | None = None
    param_name: str | None = None
    target_bpp: float | None = None
    bpp: float | None = None
    nbytes: int | None = None
    deviation: float | None = None
    within_tolerance: bool | None = None
    psnr: float | None = None
    ms_ssim: float | None = None
    ms_ssim_db: float | None = None
    ssim: float | None = None
    #: Metrics chosen with ``--metrics`` (``codeccmp metrics`` lists them), by name; the
    #: fixed fields above stay so older result files load unchanged.
    metrics: dict[str, float | None] = field(default_factory=dict)
    encode_s: float | None = None
    decode_s: float | None = None
    search_s: float | None = None
    device: str | None = None
    library: dict[str, str] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    trials: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    rois: list[dict[str, Any]] = field(default_factory=list)
    stripes: dict[str, Any] = field(default_factory=dict)
    #: Files written for this codec, relative to the results file's directory where possible.
    outputs: dict[str, str] = field(default_factory=dict)
    # In memory only: the decoded pixels and the exact bitstream.
    reconstruction: np.ndarray | None = field(default=None, repr=False, compare=False)
    bitstream: bytes | None = field(default=None, repr=False, compare=False)
    extension: str = "bin"

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)
             if f.name not in ("reconstruction", "bitstream")}
        return _json_safe(d)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CodecResult:
        known = {f.name for f in fields(cls)} - {"reconstruction", "bitstream"}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Comparison:
    image: dict[str, Any]
    #: ``None`` when the codecs were matched at equal quality (``settings["match"]``).
    target_bpp: float | None
    tolerance: float
    results: list[CodecResult]
    settings: dict[str, Any] = field(default_factory=dict)
    rois: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(
        timespec="seconds"))
    #: The schema the results were made with (:data:`SCHEMA_V1` when read from an old file).
    schema: str = SCHEMA

    @property
    def stripe_classes(self) -> bool:
        """Whether the stripe figures are the four classes (schema 2 on)."""
        return self.schema != SCHEMA_V1

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({
            "schema": self.schema,
            "image": self.image,
            "target_bpp": self.target_bpp,
            "tolerance": self.tolerance,
            "settings": self.settings,
            "rois": self.rois,
            "environment": self.environment,
            "created": self.created,
            "results": [r.to_dict() for r in self.results],
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Comparison:
        problem = validate_comparison(d)
        if problem:
            raise UsageError(f"not a codeccmp results file: {problem}")
        if d.get("schema") == SCHEMA_V1:
            d = _upgrade_v1(d)
        return cls(
            image=d["image"],
            target_bpp=None if d["target_bpp"] is None else float(d["target_bpp"]),
            tolerance=float(d.get("tolerance", 0.1)),
            results=[CodecResult.from_dict(r) for r in d["results"]],
            settings=d.get("settings", {}), rois=d.get("rois", []),
            environment=d.get("environment", {}), created=d.get("created", ""),
            schema=SCHEMA_V1 if d.get("schema") == SCHEMA_V1 else SCHEMA,
        )

    @classmethod
    def load(cls, path: str | Path) -> Comparison:
        p = Path(path)
        if p.is_dir():
            raise UsageError(f"{p} is a directory; expected the results JSON that compare "
                             "wrote (--json FILE, or results.json inside --report)")
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise UsageError(f"results file not found: {p}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{p} is not valid JSON: {exc}") from None
        except OSError as exc:
            raise UsageError(f"cannot read {p}: {exc.strerror or exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{p} is not a codeccmp results file (not a JSON object)")
        schema = data.get("schema")
        if isinstance(schema, str) and schema.startswith("codeccmp-sweep/"):
            raise UsageError(f"{p} is a sweep's JSON; `codeccmp report` reads the results of "
                             "`codeccmp compare` (its --json, or results.json in --report)")
        if schema is not None and schema not in (SCHEMA, SCHEMA_V1):
            raise UsageError(f"{p} has schema {schema!r}; this codeccmp reads {SCHEMA} "
                             f"and {SCHEMA_V1}")
        try:
            return cls.from_dict(data)
        except UsageError as exc:
            raise UsageError(f"{p}: {exc}") from None


def _upgrade_v1(d: dict[str, Any]) -> dict[str, Any]:
    """Schema 1's stripe figures under schema 2's keys, for the renderers: its
    ``flip_share`` becomes ``turned_share`` (still overlapping ``erased_share``: every
    rendering says so, see :data:`V1_NOTE`); kept and redrawn stay unknown (None)."""
    def fix(e: Any) -> Any:
        if isinstance(e, dict) and "flip_share" in e:
            e = dict(e)
            e["turned_share"] = e.pop("flip_share")
            e.setdefault("kept_share", None)
            e.setdefault("redrawn_share", None)
        return e

    out = dict(d)
    out["results"] = [{**r, "stripes": fix(r.get("stripes") or {}),
                       "rois": [fix(e) for e in r.get("rois") or []]}
                      if isinstance(r, dict) else r for r in d["results"]]
    return out


_NUMBER = (int, float)
#: The JSON type each saved field must have (None is allowed for every optional one).
_RESULT_TYPES: dict[str, tuple[type, ...]] = {
    "codec": (str,), "family": (str,), "status": (str,), "reason": (str,),
    "param": _NUMBER, "param_name": (str,), "target_bpp": _NUMBER, "bpp": _NUMBER,
    "nbytes": (int,), "deviation": _NUMBER, "within_tolerance": (bool,), "psnr": _NUMBER,
    "ms_ssim": _NUMBER, "ms_ssim_db": _NUMBER, "ssim": _NUMBER, "encode_s": _NUMBER,
    "decode_s": _NUMBER, "search_s": _NUMBER, "device": (str,), "library": (dict,),
    "settings": (dict,), "trials": (list,), "notes": (list,), "rois": (list,),
    "stripes": (dict,), "outputs": (dict,), "extension": (str,), "metrics": (dict,),
}
_TOP_TYPES: dict[str, tuple[type, ...]] = {
    "image": (dict,), "target_bpp": _NUMBER, "tolerance": _NUMBER, "results": (list,),
    "settings": (dict,), "rois": (list,), "environment": (dict,), "created": (str,),
}
_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
               dict: "an object", list: "a list"}


def _type_problem(where: str, value: Any, types: tuple[type, ...]) -> str | None:
    # bool is an int in Python but not a number in a results file.
    ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
    if ok:
        return None
    want = " or ".join(dict.fromkeys(_TYPE_WORDS[t] for t in types))
    got = "null" if value is None else _TYPE_WORDS.get(type(value), type(value).__name__)
    return f"{where} is {got}, expected {want}"


def validate_result(r: Any, where: str = "result") -> str | None:
    """What is wrong with one saved :class:`CodecResult` dict; ``None`` when it is sound."""
    if not isinstance(r, dict):
        return f"{where} is not an object"
    for name in ("codec", "family", "status"):
        if name not in r:
            return f"{where} has no {name!r}"
    if r["status"] not in ("ok", "skipped", "failed"):
        return f"{where}.status is {r['status']!r}, expected ok, skipped or failed"
    for name, types in _RESULT_TYPES.items():
        if r.get(name) is not None:
            problem = _type_problem(f"{where}.{name}", r[name], types)
            if problem:
                return problem
    if r["status"] == "ok":
        for name in ("bpp", "nbytes"):
            if r.get(name) is None:
                return f"{where} is ok but has no {name!r}"
    for name in ("rois", "trials"):
        if any(not isinstance(e, dict) for e in r.get(name) or []):
            return f"{where}.{name} holds something other than objects"
    if any(not isinstance(e, str) for e in r.get("notes") or []):
        return f"{where}.notes holds something other than strings"
    if any(not isinstance(v, str) for v in (r.get("outputs") or {}).values()):
        return f"{where}.outputs holds something other than paths"
    return None


def validate_comparison(d: Any) -> str | None:
    """What is wrong with a results file's data, in one phrase; ``None`` when it is sound.

    Checked field by field so that a hand-edited or foreign file fails here with a line
    naming the field, not later in the middle of rendering.
    """
    if not isinstance(d, dict):
        return "not a JSON object"
    for name in ("image", "target_bpp", "results"):
        if name not in d:
            return f"missing field {name!r}"
    for name, types in _TOP_TYPES.items():
        matched = name == "target_bpp" and d.get(name) is None and isinstance(
            d.get("settings"), dict) and d["settings"].get("match")  # --match: no bpp target
        if name in d and not matched and (
                name in ("image", "target_bpp", "results") or d[name] is not None):
            problem = _type_problem(name, d[name], types)
            if problem:
                return problem
    for name in ("path", "sha256"):
        if d["image"].get(name) is not None and not isinstance(d["image"][name], str):
            return f"image.{name} is not a string"
    for i, r in enumerate(d["results"]):
        problem = validate_result(r, f"results[{i}]")
        if problem:
            return problem
    if any(not isinstance(e, dict) for e in d.get("rois") or []):
        return "rois holds something other than objects"
    return None


def environment() -> dict[str, Any]:
    """Versions and platform, so a table can be reproduced later.

    Read once a process (``_environment``): nothing here changes while it runs, and
    ``platform.platform()`` runs ``uname -p`` as a program (about 8 ms). The run's warm-up
    thread asks first (``pipeline.warmup``), while the codecs code."""
    env = _environment()
    return {**env, "versions": dict(env["versions"])}


@functools.cache
def _environment() -> dict[str, Any]:
    versions: dict[str, str] = {"codeccmp": __version__}
    for name in _TRACKED:
        found = installed.version(name)
        if found is not None:
            versions[name] = found
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": versions,
    }


def _json_safe(obj: Any) -> Any:
    """Plain JSON: no NaN or infinity (an identical reconstruction's PSNR becomes null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return _json_safe(obj.item())
    if isinstance(obj, dict):
        return {str(k): _json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_json_safe(v) for v in obj]
    if hasattr(obj, "__dataclass_fields__"):
        return _json_safe(asdict(obj))
    if isinstance(obj, Path):
        return str(obj)
    return obj
