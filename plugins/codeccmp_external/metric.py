"""A quality metric computed by an external program, as declared in a TOML file.

Each call writes the two images as PNG files in a fresh temporary directory (removed
afterwards, whatever happens), runs the command there with relative file names, and reads
one number from its output. The program runs through :func:`~codeccmp_external.process.
run_program`: in its own process group, killed whole on a timeout, and whatever it leaves
running when it exits is killed too. Everything that can go wrong at run time (the program
is missing, exits with an unexpected status, prints no number, runs past its timeout, or
leaves a process holding its output open, which then ends in the timeout) is one line naming
the metric and its file, raised from ``compute``: the metric's cell is then empty with that
note, and the other metrics and codecs finish (:func:`codeccmp.metric.compute_metrics`).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeccmp.codec import CodecUnavailable
from codeccmp.metric import Metric, MetricUnavailable
from codeccmp_external.codec import (
    _VERSION,
    _VERSION_TIMEOUT,
    _render,
    _sha256,
    _tail,
    tool_path,
)
from codeccmp_external.metric_config import MetricSpec
from codeccmp_external.process import run_program

if TYPE_CHECKING:
    import numpy as np

# The pixel files (NumPy, Pillow) are imported by ``compute``: registering a metric, which
# every run does and a shell completion of a ``--metrics`` name too, needs neither.

#: What a number looks like in a program's output (the whole output, stripped, must be one
#: when neither a regex nor a JSON field is given): decimal or scientific, or inf/nan.
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|inf|nan)",
                     re.IGNORECASE)


class MetricProgramError(RuntimeError):
    """The program ran but gave no value: the message is the one line the user sees."""


def _number(text: str) -> float:
    """``text`` as one number, or a ValueError whose message says what was there."""
    t = text.strip()
    if not _NUMBER.fullmatch(t):
        shown = t if len(t) <= 80 else t[:77] + "..."
        raise ValueError(f"no number in {shown!r}" if shown else "no output")
    return float(t)


def _json_field(text: str, path: tuple[str, ...]) -> float:
    try:
        node: Any = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"not JSON ({exc})") from None
    for i, key in enumerate(path):
        where = ".".join(path[:i + 1])
        if isinstance(node, dict) and key in node:
            node = node[key]
        elif isinstance(node, list) and key.lstrip("-").isdigit() and -len(node) <= int(key) \
                < len(node):
            node = node[int(key)]
        else:
            raise ValueError(f"JSON has no field {where!r}")
    if isinstance(node, bool) or not isinstance(node, (int, float, str)):
        raise ValueError(f"JSON field {'.'.join(path)!r} is {json.dumps(node)[:60]}, "
                         "not a number")
    return float(node) if not isinstance(node, str) else _number(node)


class ExternalMetric(Metric):
    """One metric of a TOML definition (see docs/metrics.md, "Metrics from programs")."""

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.name, self.description = spec.name, spec.description
        self.higher_is_better, self.per_roi = spec.higher_is_better, spec.per_roi
        self.value_range, self.unit = spec.value_range, spec.unit
        self._where: dict[str, str] | None = None
        self._identity: dict[str, Any] | None = None

    def _fail(self, what: str) -> MetricProgramError:
        return MetricProgramError(f"metric {self.name!r} ({self.spec.source}): {what}")

    # -- where the programs are, and what they are ----------------------------------------

    def _locations(self) -> dict[str, str]:
        """Absolute paths of the tools; MetricUnavailable with the reason when one is missing.

        The lookup is the codecs' (``$ENV`` wins, else a name on PATH or a path)."""
        try:
            return {k: tool_path(t) for k, t in self.spec.tools.items()}
        except CodecUnavailable as exc:
            raise MetricUnavailable(str(exc)) from None

    def availability(self) -> str | None:
        try:
            self._locations()
        except MetricUnavailable as exc:
            return str(exc)
        return None

    def _version_line(self, argv: list[str]) -> str:
        try:
            proc = run_program(argv, timeout=_VERSION_TIMEOUT)
        except (OSError, subprocess.SubprocessError):
            return "unknown"
        lines = [ln.strip() for ln in
                 (proc.stdout + proc.stderr).decode("utf-8", "replace").splitlines() if ln.strip()]
        if proc.returncode != 0 or not lines:
            return "unknown"
        return next((ln for ln in lines if _VERSION.search(ln)), lines[0])[:200]

    def _identities(self) -> dict[str, Any]:
        """Each tool's path, content hash and version line, and the ``version`` command's."""
        if self._identity is None:
            where = self._locations()
            tools = {k: {"path": where[k], "sha256": _sha256(where[k]),
                         "version": (self._version_line([where[k], *t.version])
                                     if t.version else "unknown")}
                     for k, t in self.spec.tools.items()}
            version = (self._version_line(_render(self.spec.version, where))
                       if self.spec.version else None)
            self._identity = {"tools": tools, "version": version}
        return self._identity

    def library(self) -> dict[str, str]:
        """``{metric name: version}`` from the ``version`` command, else each tool's."""
        try:
            ident = self._identities()
        except MetricUnavailable:
            return {}
        lines = ({self.name: ident["version"]} if ident["version"] is not None else
                 {k: v["version"] for k, v in ident["tools"].items()})
        out = {}
        for k, line in lines.items():
            found = _VERSION.search(line)
            out[k] = found.group(0) if found else line
        return out

    def cache_token(self) -> object:
        """The definition as written, every tool's identity, and the source of
        :mod:`codeccmp_external.pixels`, which writes the PNG files the program reads (a
        sweep's result keys: the cache digests the class's own file only)."""
        from codeccmp_external import pixels

        try:
            ident: Any = self._identities()
        except MetricUnavailable as exc:
            ident = {"unavailable": str(exc)}
        return {"config": dict(self.spec.raw), **ident,
                "pixels_source": _sha256(str(pixels.__file__))}

    # -- computing ---------------------------------------------------------------------

    def compute(self, original: np.ndarray, reconstruction: np.ndarray) -> float | None:
        import numpy as np

        from codeccmp_external import pixels

        spec = self.spec
        if original.shape != reconstruction.shape:
            raise ValueError(f"shapes differ: {original.shape} vs {reconstruction.shape}")
        if min(original.shape[:2]) < spec.min_size:
            return None  # "undefined for this image (too small)", as MS-SSIM below 161 px
        where = self._locations()
        if original.ndim == 2 and not spec.supports_gray:
            original, reconstruction = (np.repeat(a[..., None], 3, axis=2)
                                        for a in (original, reconstruction))
        values = {**where, "original": "original.png", "decoded": "decoded.png",
                  "out": spec.out}
        argv = _render(spec.command, values)
        with tempfile.TemporaryDirectory(prefix="codeccmp-metric-") as tmp:
            for key, img in (("original", original), ("decoded", reconstruction)):
                pixels.write_image(Path(tmp, values[key]), np.ascontiguousarray(img), "png",
                                   "bt601-full")
            try:  # in its own process group: a timeout kills what it started too
                proc = run_program(argv, cwd=tmp, timeout=spec.timeout)
            except subprocess.TimeoutExpired:
                raise self._fail(f"no result within {spec.timeout:g} s (timeout; the program "
                                 "and its children were killed)") from None
            except OSError as exc:
                raise self._fail(f"could not start {argv[0]}: {exc}") from None
            if proc.returncode not in spec.exit_codes:
                tail = _tail(proc.stderr) or _tail(proc.stdout) or "no output"
                raise self._fail(f"exited with status {proc.returncode}: {tail}")
            if proc.left_behind:  # its number may not be what the background work found
                raise self._fail("left processes running after it exited (they were "
                                 "killed); a metric program must finish its work itself")
            text = self._output(proc, Path(tmp, spec.out))
        return self._parse(text)

    def _output(self, proc: subprocess.CompletedProcess[bytes], out: Path) -> str:
        source = self.spec.value.source
        if source == "out":
            if not out.is_file():
                raise self._fail(f"wrote no {self.spec.out} (value.from = \"out\")")
            data = out.read_bytes()
        else:
            data = proc.stdout if source == "stdout" else proc.stderr
        return data.decode("utf-8", "replace")

    def _parse(self, text: str) -> float:
        value = self.spec.value
        where = "in the file it wrote" if value.source == "out" else f"on {value.source}"
        try:
            if value.regex is not None:
                found = value.regex.search(text)
                if found is None:
                    raise ValueError(f"regex '{value.regex.pattern}' does not match "
                                     f"{_tail(text.encode())[:80]!r}")
                names = value.regex.groupindex
                group = "value" if "value" in names else (1 if value.regex.groups else 0)
                v = _number(found.group(group) or "")
            elif value.json is not None:
                v = _json_field(text, value.json)
            else:
                v = _number(text)
        except ValueError as exc:
            raise self._fail(f"printed no number {where}: {exc}") from None
        if math.isnan(v):
            raise self._fail(f"printed nan {where}")
        return v
