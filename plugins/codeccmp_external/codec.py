"""A codec that runs an encoder and a decoder program, as declared in a TOML file.

Each call gets its own temporary directory (removed afterwards, whatever happens), runs
there with file names relative to it (so the commands recorded in results hold no temporary
paths), and counts the exact bytes the encoder wrote. The decoder's directory holds the
bitstream and nothing else: the reconstruction comes from the bytes alone.

When the decoder writes raw YUV, which carries no picture size, the bitstream is prefixed
with the size (two big-endian uint16: width, height; 4 bytes, counted in the rate like any
header). PNG, PPM and Y4M carry their size.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import string
import struct
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from codeccmp.codec import Codec, CodecError, CodecUnavailable, Encoded, Param
from codeccmp_external import formats
from codeccmp_external.config import CodecSpec, FileSpec, ToolSpec
from codeccmp_external.process import run_program

if TYPE_CHECKING:
    import numpy as np

# The pixel files (NumPy, Pillow) are imported by encode and decode: registering the
# shipped definitions, which every run and every shell completion does, needs neither.

_SIZE = struct.Struct(">HH")
_TAIL_CHARS = 600
_VERSION_TIMEOUT = 20.0
_VERSION = re.compile(r"\d+(?:\.\d+)+(?:[-+~][0-9A-Za-z.+~-]*[0-9A-Za-z])?")


def _tail(text: bytes) -> str:
    lines = [ln.strip() for ln in text.decode("utf-8", "replace").splitlines() if ln.strip()]
    tail = " | ".join(lines[-4:])
    return tail if len(tail) <= _TAIL_CHARS else "…" + tail[-_TAIL_CHARS:]


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _render(template: tuple[str, ...], values: dict[str, Any]) -> list[str]:
    fmt = string.Formatter()
    return [fmt.vformat(arg, (), values) for arg in template]


def tool_path(tool: ToolSpec) -> str:
    """The program's absolute path: ``$env`` if set, else ``program`` (a path or a name on
    PATH). Raises CodecUnavailable with the reason (and the tool's hint) when it is missing."""
    given = os.environ.get(tool.env, "") if tool.env else ""
    name = given or tool.program
    found = shutil.which(name)
    if found:
        return str(Path(found).resolve())
    hint = f"; {tool.hint}" if tool.hint else ""
    if given:
        raise CodecUnavailable(f"{tool.env}={given} is not an executable program{hint}")
    how = f" (or set {tool.env} to its path)" if tool.env else ""
    raise CodecUnavailable(f"{name} not found on PATH{how}{hint}")


class ExternalCodec(Codec):
    """One codec of a TOML definition (see ``docs/external-codecs.md``)."""

    def __init__(self, spec: CodecSpec) -> None:
        self.spec = spec
        self.name, self.description = spec.name, spec.description
        self.family = spec.family  # type: ignore[assignment]
        self.extension, self.supports_gray = spec.extension, spec.supports_gray
        self.param_space = spec.param_space
        self._identity: dict[str, Any] | None = None
        self._reason: tuple[str | None] | None = None

    # -- locating what the commands need -------------------------------------------------

    def _tool_path(self, key: str, tool: ToolSpec) -> str:
        return tool_path(tool)

    def _file_path(self, key: str, spec: FileSpec) -> str:
        given = os.environ.get(spec.env, "") if spec.env else ""
        path = given or spec.path
        if path and Path(path).expanduser().is_file():
            return str(Path(path).expanduser().resolve())
        hint = f"; {spec.hint}" if spec.hint else ""
        if not path:
            raise CodecUnavailable(f"{key} file not set: set {spec.env}{hint}")
        how = f" (or set {spec.env})" if spec.env and not given else ""
        raise CodecUnavailable(f"{key} file not found: {path}{how}{hint}")

    def _locations(self) -> dict[str, str]:
        """Placeholder values for tools and files; raises CodecUnavailable with the reason."""
        out = {k: self._tool_path(k, t) for k, t in self.spec.tools.items()}
        out.update({k: self._file_path(k, f) for k, f in self.spec.files.items()})
        return out

    def availability(self) -> str | None:
        try:
            where = self._locations()
        except CodecUnavailable as exc:
            return str(exc)
        if self.spec.check is not None:
            if self._reason is None:  # the check runs a program: once per process is enough
                command, contains, reason = self.spec.check
                try:
                    proc = run_program(_render(command, where), timeout=_VERSION_TIMEOUT)
                    out = proc.stdout + proc.stderr
                    ok = contains.encode() in out
                except (OSError, subprocess.TimeoutExpired) as exc:
                    ok, reason = False, f"{reason} ({type(exc).__name__}: {exc})"
                self._reason = (None if ok else reason,)
            return self._reason[0]
        return None

    def _version(self, path: str, tool: ToolSpec) -> str:
        if not tool.version:
            return "unknown"
        try:
            proc = run_program([path, *tool.version], timeout=_VERSION_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            return "unknown"
        lines = [ln.strip() for ln in
                 (proc.stdout + proc.stderr).decode("utf-8", "replace").splitlines() if ln.strip()]
        # The first line with a dotted number ("... library v2.5.0."), else the first line.
        line = next((ln for ln in lines if _VERSION.search(ln)), lines[0] if lines else "")
        return line[:200] or "unknown"

    def _identities(self) -> dict[str, Any]:
        """Path, content hash and version line of every tool; hashes of every file."""
        if self._identity is None:
            where = self._locations()
            tools = {k: {"path": where[k], "sha256": _sha256(where[k]),
                         "version": self._version(where[k], t)}
                     for k, t in self.spec.tools.items()}
            files = {k: _sha256(where[k]) for k in self.spec.files}
            self._identity = {"tools": tools, "files": files}
        return self._identity

    def library(self) -> dict[str, str]:
        try:
            tools = self._identities()["tools"]
        except CodecUnavailable:
            return {}
        # The version number alone where the line has one; the whole line is in the cache key.
        out = {}
        for k, v in tools.items():
            found = _VERSION.search(v["version"])
            out[k] = found.group(0) if found else v["version"]
        return out

    def cache_token(self) -> object:
        """The definition as written, the identity of every program and file it uses, and
        the source of :mod:`codeccmp_external.pixels`: its colour conversion and chroma
        resampling decide the decoded pixels as much as the programs do (the cache keys the
        class's own file only)."""
        from codeccmp_external import pixels

        try:
            ident = self._identities()
        except CodecUnavailable as exc:
            ident = {"unavailable": str(exc)}
        config = dict(self.spec.raw)
        if isinstance(config.get("param"), dict):  # the prior changes no bitstream
            config["param"] = {k: v for k, v in config["param"].items() if k != "typical_bpp"}
        return {"config": config, **ident, "pixels_source": _sha256(str(pixels.__file__))}

    # -- running ----------------------------------------------------------------------

    def _run(self, argv: list[str], cwd: str, what: str) -> None:
        """Run one command; on a timeout or Ctrl-C its whole process group is killed."""
        try:
            proc = run_program(argv, cwd=cwd, timeout=self.spec.timeout)
        except subprocess.TimeoutExpired:
            raise CodecError(f"{self.name} {what} timed out after {self.spec.timeout:g} s") \
                from None
        except OSError as exc:
            raise CodecError(f"{self.name} {what} could not start {argv[0]}: {exc}") from None
        if proc.returncode != 0:
            tail = _tail(proc.stderr) or _tail(proc.stdout) or "no output"
            raise CodecError(f"{self.name} {what} failed (exit {proc.returncode}): {tail}")

    def _param_text(self, param: Param) -> Param:
        return int(param) if self.param_space.kind == "integer" else param

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        from codeccmp_external import pixels

        spec = self.spec
        if image.ndim == 2 and not spec.supports_gray:
            raise CodecError(f"{self.name} takes RGB images only")
        where = self._locations()
        h, w = image.shape[:2]
        raw_out = spec.output in formats.RAW
        if raw_out and max(h, w) > 0xFFFF:
            raise CodecError(f"{self.name}: images above 65535 pixels a side are not supported")
        channels = 1 if image.ndim == 2 else 3
        values = {**where, "input": f"input.{formats.FORMATS[spec.input]}",
                  "output": f"bitstream.{spec.extension}", "param": self._param_text(param),
                  "width": w, "height": h, "channels": channels,
                  "ratio": 8.0 * channels / float(param) if param else float("inf")}
        argv = _render(spec.encode, values)
        with tempfile.TemporaryDirectory(prefix="codeccmp-ext-") as tmp:
            pixels.write_image(Path(tmp, values["input"]), image, spec.input, spec.color)
            self._run(argv, tmp, f"encoder at {param}")
            out = Path(tmp, values["output"])
            if not out.is_file() or out.stat().st_size == 0:
                raise CodecError(f"{self.name} encoder at {param} wrote no bitstream "
                                 f"({values['output']})")
            data = out.read_bytes()
        if raw_out:
            data = _SIZE.pack(w, h) + data
        settings = {"encode": argv, "input": spec.input, "output": spec.output}
        if formats.needs_color(spec.input) or formats.needs_color(spec.output):
            settings["color"] = spec.color
        return Encoded(data, param, settings)

    def decode(self, data: bytes) -> np.ndarray:
        from codeccmp_external import pixels

        spec = self.spec
        where = self._locations()
        size = None
        if spec.output in formats.RAW:
            if len(data) <= _SIZE.size:
                raise CodecError(f"{self.name}: bitstream too short ({len(data)} bytes)")
            size, data = _SIZE.unpack_from(data), data[_SIZE.size:]
        values = {**where, "input": f"bitstream.{spec.extension}",
                  "output": f"decoded.{formats.FORMATS[spec.output]}"}
        if size is not None:
            values.update(width=size[0], height=size[1])
        with tempfile.TemporaryDirectory(prefix="codeccmp-ext-") as tmp:
            Path(tmp, values["input"]).write_bytes(data)
            self._run(_render(spec.decode, values), tmp, "decoder")
            out = Path(tmp, values["output"])
            if not out.is_file():
                raise CodecError(f"{self.name} decoder wrote no image ({values['output']})")
            return pixels.read_image(out, spec.output, spec.color, size)
