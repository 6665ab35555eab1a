"""Reading metric definitions from TOML: one ``[[metric]]`` table per metric program.

The same hand-written validation as the codec definitions (:mod:`codeccmp_external.config`,
whose helpers this reuses): every error is one line naming the file, the metric and the
field, raised as a :class:`~codeccmp.errors.UsageError` (exit status 2) before any work.
The schema is documented in ``docs/metrics.md`` ("Metrics from programs").
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeccmp.errors import UsageError
from codeccmp.metric import ValueRange
from codeccmp_external.config import (
    ToolSpec,
    _command,
    _keys,
    _tools,
    _typed,
    _Where,
    read_document,
    table_name,
    tables_of,
)

#: Placeholders of a metric's command: the two images, and the file the program may write.
FILES = frozenset({"original", "decoded", "out"})
_METRIC_KEYS = {"name", "description", "command", "value", "higher_is_better", "range",
                "unit", "per_roi", "min_size", "supports_gray", "timeout", "exit_codes",
                "out", "version", "tools"}
_VALUE_KEYS = {"from", "regex", "json"}
_SOURCES = ("stdout", "stderr", "out")


@dataclass(frozen=True)
class ValueSpec:
    """Where the number is: a stream or the ``{out}`` file, read whole, by a regex, or as
    a field of a JSON document (a dotted path, list items by index: ``results.0.score``)."""

    source: str = "stdout"
    regex: re.Pattern[str] | None = None
    json: tuple[str, ...] | None = None


@dataclass(frozen=True)
class MetricSpec:
    name: str
    description: str
    command: tuple[str, ...]
    value: ValueSpec
    higher_is_better: bool
    value_range: ValueRange
    unit: str = ""
    per_roi: bool = False
    min_size: int = 1
    supports_gray: bool = False
    timeout: float = 120.0
    exit_codes: frozenset[int] = frozenset({0})
    out: str = "out.txt"
    version: tuple[str, ...] = ()
    tools: Mapping[str, ToolSpec] = field(default_factory=dict)
    source: str = ""
    raw: Mapping[str, Any] = field(default_factory=dict)


class _MetricWhere(_Where):
    """``metric config FILE: metric 'x': field: problem``."""

    def error(self, what: str) -> UsageError:
        metric = f"metric {self.name!r}: " if self.name else ""
        return UsageError(f"metric config {self.path}: {metric}{what}")


def _value(table: Any, command: tuple[str, ...], where: _Where) -> ValueSpec:
    t = _keys(table if table is not None else {}, _VALUE_KEYS, "value", where)
    source = _typed(t, "from", str, where, "stdout", "value.")
    if source not in _SOURCES:
        raise where.error(f"value.from must be one of {', '.join(_SOURCES)}, got {source!r}")
    if source == "out" and not any("{out" in a for a in command):
        raise where.error("value.from = \"out\" needs {out} in the command "
                          "(the file the program writes its value to)")
    if "regex" in t and "json" in t:
        raise where.error("value: give regex or json, not both")
    regex = None
    if "regex" in t:
        text = _typed(t, "regex", str, where, what="value.")
        try:
            regex = re.compile(text)
        except re.error as exc:
            raise where.error(f"value.regex {text!r} is not a regular expression: {exc}") \
                from None
    path = None
    if "json" in t:
        text = _typed(t, "json", str, where, what="value.")
        path = tuple(text.split("."))
        if not all(path):
            raise where.error(f"value.json must be a dotted path like 'score' or "
                              f"'results.0.score', got {text!r}")
    return ValueSpec(source, regex, path)


def _range(value: Any, where: _Where) -> ValueRange:
    """``range = [low, high]``; ``"inf"``/``"-inf"`` (or TOML's ``inf``) for no bound."""
    if value is None:
        return ValueRange()
    if not (isinstance(value, list) and len(value) == 2):
        raise where.error(f"range must be [low, high], got {value!r}")
    bounds: list[float | None] = []
    for v in value:
        if isinstance(v, str) and v.strip().lower() in ("inf", "+inf", "-inf"):
            v = float(v)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or math.isnan(v):
            raise where.error(f"range bounds must be numbers (or \"inf\"), got {v!r}")
        bounds.append(None if math.isinf(v) else float(v))
    low, high = bounds
    if low is not None and high is not None and not low < high:
        raise where.error(f"range must have low < high, got {value!r}")
    return ValueRange(low, high)


def parse_metric(table: Any, path: Path) -> MetricSpec:
    where = _MetricWhere(path)
    if isinstance(table, dict) and isinstance(table.get("name"), str):
        where.name = table["name"]  # named in every message, a misspelt field's included
    t = _keys(table, _METRIC_KEYS, "[[metric]]", where)
    name = table_name(t, where)
    tools = _tools(t.get("tools", {}), where)
    clash = sorted(set(tools) & FILES)
    if clash:
        raise where.error(f"tools: {clash[0]!r} cannot be a placeholder name")
    if "command" not in t:
        raise where.error("command is required")
    command = _command(t["command"], "command", FILES | set(tools), where)
    version: tuple[str, ...] = ()
    if "version" in t:
        version = _command(t["version"], "version", set(tools), where)
    timeout = _typed(t, "timeout", (int, float), where, 120)
    if not timeout > 0:
        raise where.error(f"timeout must be positive, got {timeout}")
    min_size = _typed(t, "min_size", int, where, 1)
    if min_size < 1:
        raise where.error(f"min_size must be at least 1, got {min_size}")
    codes = _typed(t, "exit_codes", list, where, [0])
    if not codes or not all(isinstance(c, int) and not isinstance(c, bool) for c in codes):
        raise where.error(f"exit_codes must be a non-empty list of integers, got {codes!r}")
    out = _typed(t, "out", str, where, "out.txt")
    if not re.match(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", out) or out in ("original.png",
                                                                       "decoded.png"):
        raise where.error(f"out must be a plain file name (no directory), got {out!r}")
    if "higher_is_better" not in t:
        raise where.error("higher_is_better is required (true for a score, false for a "
                          "distance)")
    return MetricSpec(
        name=name, description=_typed(t, "description", str, where,
                                      f"external metric ({path.name})"),
        command=command, value=_value(t.get("value"), command, where),
        higher_is_better=_typed(t, "higher_is_better", bool, where),
        value_range=_range(t.get("range"), where), unit=_typed(t, "unit", str, where, ""),
        per_roi=_typed(t, "per_roi", bool, where, False), min_size=min_size,
        supports_gray=_typed(t, "supports_gray", bool, where, False), timeout=float(timeout),
        exit_codes=frozenset(codes), out=out, version=version, tools=tools, source=str(path),
        raw=t)


def metrics_of(doc: Mapping[str, Any], path: Path) -> list[MetricSpec]:
    """The ``[[metric]]`` tables of a parsed file (none is fine: it may define codecs)."""
    return tables_of(doc, path, "metric", parse_metric)


def load_metric_file(path: Path) -> list[MetricSpec]:
    """Every ``[[metric]]`` of a file that defines metrics only (``metrics.d/``)."""
    doc = read_document(path, "metric config", {"metric"})
    specs = metrics_of(doc, path)
    if not specs:
        raise UsageError(f"metric config {path}: defines no metric (expected [[metric]] "
                         "tables)")
    return specs
