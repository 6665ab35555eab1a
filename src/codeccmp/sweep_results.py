"""A sweep's result: every point, the averaged curves, BD numbers; as JSON and CSV."""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from codeccmp.ratematch import DEFAULT_TOLERANCE
from codeccmp.results import _json_safe
from codeccmp.sweep_average import AveragePoint, SweepPoint, _stripe

#: 2: the averaged points carry the stripe classes (``turned_share``, ``redrawn_share``,
#: ``erased_share``) instead of schema 1's overlapping ``flip_share``.
SCHEMA = "codeccmp-sweep/2"


@dataclass
class SweepResult:
    images: list[dict[str, Any]]
    targets: list[float]
    codecs: list[dict[str, str]]  # name, family, in the order given
    points: list[SweepPoint]
    averaged: list[AveragePoint]
    tolerance: float = DEFAULT_TOLERANCE
    anchor: str | None = None
    bd_method: str = "akima"
    #: How points were averaged over images: "target" or "quality".
    average: str = "target"
    #: Published curves drawn beside the codecs: provenance, data-set check and points.
    references: list[dict[str, Any]] = field(default_factory=list)
    bd: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    bd_per_image: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    #: What the run had to tell (worker processes that could not start, say); printed with
    #: the tables and kept in the JSON when there is any.
    notes: list[str] = field(default_factory=list)
    created: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(
        timespec="seconds"))

    @property
    def families(self) -> dict[str, str]:
        return {c["name"]: c["family"] for c in self.codecs}

    def failures(self) -> list[SweepPoint]:
        return [p for p in self.points if p.result.status == "failed"]

    def to_dict(self) -> dict[str, Any]:
        return _json_safe({
            "schema": SCHEMA, "created": self.created, "elapsed_s": self.elapsed_s,
            "targets": self.targets, "tolerance": self.tolerance, "codecs": self.codecs,
            "anchor": self.anchor, "bd_method": self.bd_method, "average": self.average,
            "references": self.references, "images": self.images,
            "settings": self.settings, "environment": self.environment, "cache": self.cache,
            "averaged": [a.to_dict() for a in self.averaged],
            "bd": self.bd, "bd_per_image": self.bd_per_image,
            "points": [p.to_dict() for p in self.points],
            **({"notes": self.notes} if self.notes else {}),
        })

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n"

    CSV_COLUMNS = (
        "scope", "image", "codec", "family", "kind", "target_bpp", "quality", "param", "bpp",
        "deviation", "within_tolerance", "psnr", "ms_ssim", "ms_ssim_db", "ssim",
        "delta_theta_deg", "turned_share", "redrawn_share", "erased_share", "n", "status",
        "reason", "cached", "target_quality")

    def to_csv(self) -> str:
        """One row per job (scope ``image``), then one per averaged point (scope ``mean``)."""
        buf = io.StringIO()
        # --metrics columns, as metric:NAME after the fixed ones (means on mean rows).
        extra = list(dict.fromkeys(n for p in self.points for n in p.result.metrics))
        columns = [*self.CSV_COLUMNS[:15], *(f"metric:{n}" for n in extra),
                   *self.CSV_COLUMNS[15:]]
        w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        w.writeheader()
        for p in self.points:
            r = p.result
            w.writerow(_csv_row({
                "scope": "image", "image": self.images[p.image].get("path", p.image),
                "codec": r.codec, "family": r.family, "kind": p.kind,
                "target_bpp": p.value if p.kind == "target" else None,
                "quality": p.value if p.kind == "quality" else None, "param": r.param,
                "bpp": r.bpp, "deviation": r.deviation, "within_tolerance": r.within_tolerance,
                "psnr": r.psnr, "ms_ssim": r.ms_ssim, "ms_ssim_db": r.ms_ssim_db,
                "ssim": r.ssim, "delta_theta_deg": _stripe(r, "delta_theta_deg"),
                **{k: _stripe(r, k) for k in ("turned_share", "redrawn_share",
                                               "erased_share")}, "n": 1, "status": r.status,
                "reason": r.reason, "cached": p.cached,
                "target_quality": p.value if p.kind == "match" else None,
                **{f"metric:{n}": r.metrics.get(n) for n in extra}}))
        for a in self.averaged:
            w.writerow(_csv_row({
                "scope": "mean", "image": f"mean of {a.n}/{a.n_images}", "codec": a.codec,
                "family": a.family, "kind": a.kind,
                "target_bpp": a.value if a.kind == "target" else None,
                "quality": a.value if a.kind == "quality" else None, "bpp": a.bpp,
                "within_tolerance": a.all_within_tolerance, "psnr": a.psnr,
                "ms_ssim": a.ms_ssim, "ms_ssim_db": a.ms_ssim_db, "ssim": a.ssim,
                "delta_theta_deg": a.delta_theta_deg, "turned_share": a.turned_share,
                "redrawn_share": a.redrawn_share, "erased_share": a.erased_share, "n": a.n,
                "status": "ok" if a.complete else ("partial" if a.n else "failed"),
                "target_quality": a.value if a.kind == "match" else None,
                **{f"metric:{n}": a.metrics.get(n) for n in extra}}))
        return buf.getvalue()

    def write_csv(self, path: str | Path) -> Path:
        from codeccmp.fileio import atomic_write_text

        return atomic_write_text(path, self.to_csv())

    def write_json(self, path: str | Path) -> Path:
        from codeccmp.fileio import atomic_write_text

        return atomic_write_text(path, self.to_json())


def _csv_row(row: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in row.items():
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            out[k] = ""
        elif isinstance(v, float):
            out[k] = repr(v)  # shortest exact form: no precision lost in the CSV
        else:
            out[k] = v
    return out
