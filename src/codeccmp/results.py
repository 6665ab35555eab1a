"""Result records and their JSON form: everything a table shows, and how to reproduce it."""

from __future__ import annotations

import contextlib
import json
import math
import platform
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any, Literal

import numpy as np

from codeccmp import __version__
from codeccmp.errors import UsageError

Status = Literal["ok", "skipped", "failed"]
SCHEMA = "codeccmp-results/1"

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
    target_bpp: float
    tolerance: float
    results: list[CodecResult]
    settings: dict[str, Any] = field(default_factory=dict)
    rois: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(
        timespec="seconds"))

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({
            "schema": SCHEMA,
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
        try:
            return cls(
                image=d["image"], target_bpp=float(d["target_bpp"]),
                tolerance=float(d.get("tolerance", 0.1)),
                results=[CodecResult.from_dict(r) for r in d["results"]],
                settings=d.get("settings", {}), rois=d.get("rois", []),
                environment=d.get("environment", {}), created=d.get("created", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UsageError(f"not a codeccmp results file (missing or bad {exc})") from None

    @classmethod
    def load(cls, path: str | Path) -> Comparison:
        p = Path(path)
        try:
            data = json.loads(p.read_text())
        except FileNotFoundError:
            raise UsageError(f"results file not found: {p}") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise UsageError(f"{p} is not valid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"{p} is not a codeccmp results file")
        return cls.from_dict(data)


def environment() -> dict[str, Any]:
    """Versions and platform, so a table can be reproduced later."""
    versions: dict[str, str] = {"codeccmp": __version__}
    for name in _TRACKED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
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
