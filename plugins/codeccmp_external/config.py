"""Reading codec definitions from TOML: one ``[[codec]]`` table per codec.

Validation is hand-written (about as long as a pydantic model would be, without a new
dependency for one small schema): every error is one line that names the file, the codec
and the field, raised as a :class:`~codeccmp.errors.UsageError` (exit status 2).
The schema is documented in ``docs/external-codecs.md``.
"""

from __future__ import annotations

import re
import string
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from codeccmp.codec import ParamSpace
from codeccmp.errors import UsageError
from codeccmp_external.formats import COLOR, FORMATS, RAW, needs_color

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: Placeholders every command may use; tools and files add their own names.
COMMON = frozenset({"input", "output"})
#: Placeholders only the encode command may use (the decoder knows nothing but the bitstream).
ENCODE_ONLY = frozenset({"param", "ratio", "width", "height", "channels"})
_CODEC_KEYS = {"name", "family", "description", "extension", "input", "output", "color",
               "supports_gray", "timeout", "encode", "decode", "param", "tools", "files",
               "check"}
_PARAM_KEYS = {"name", "kind", "low", "high", "values", "rate_increases", "is_bpp",
               "typical_bpp"}
_TOOL_KEYS = {"program", "env", "version", "hint"}
_FILE_KEYS = {"path", "env", "hint"}
_CHECK_KEYS = {"command", "contains", "reason"}


@dataclass(frozen=True)
class ToolSpec:
    """A program a command runs: ``$env`` if set, else ``program`` (a path or a name on PATH)."""

    program: str
    env: str | None = None
    version: tuple[str, ...] = ()  # arguments that make it print its version
    hint: str = ""


@dataclass(frozen=True)
class FileSpec:
    """A file a command reads (an encoder configuration): ``$env`` if set, else ``path``."""

    path: str | None = None
    env: str | None = None
    hint: str = ""


@dataclass(frozen=True)
class CodecSpec:
    name: str
    description: str
    extension: str
    input: str
    output: str
    color: str
    supports_gray: bool
    timeout: float
    encode: tuple[str, ...]
    decode: tuple[str, ...]
    param_space: ParamSpace
    family: str = "traditional"
    tools: Mapping[str, ToolSpec] = field(default_factory=dict)
    files: Mapping[str, FileSpec] = field(default_factory=dict)
    check: tuple[tuple[str, ...], str, str] | None = None  # command, expected text, reason
    source: str = ""  # the file it came from
    raw: Mapping[str, Any] = field(default_factory=dict)  # the table as written (cache key)


class _Where:
    """Builds the one-line messages: ``FILE: codec 'x': field: problem``."""

    def __init__(self, path: Path, name: str | None = None) -> None:
        self.path, self.name = path, name

    def error(self, what: str) -> UsageError:
        codec = f"codec {self.name!r}: " if self.name else ""
        return UsageError(f"codec config {self.path}: {codec}{what}")


def _keys(table: Any, allowed: set[str], what: str, where: _Where) -> dict[str, Any]:
    if not isinstance(table, dict):
        raise where.error(f"{what} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise where.error(f"{what}: unknown field(s) {', '.join(unknown)} "
                          f"(allowed: {', '.join(sorted(allowed))})")
    return table


def _typed(table: dict[str, Any], key: str, kind: type | tuple[type, ...], where: _Where,
           default: Any = ..., what: str = "") -> Any:
    if key not in table:
        if default is ...:
            raise where.error(f"{what}{key} is required")
        return default
    value = table[key]
    if not isinstance(value, kind) or (kind in (int, float, (int, float)) and
                                       isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise where.error(f"{what}{key} must be a {names}, got {value!r}")
    return value


def _choice(table: dict[str, Any], key: str, choices: tuple[str, ...] | list[str],
            where: _Where, default: Any = ...) -> str:
    value = _typed(table, key, str, where, default)
    if value not in choices:
        raise where.error(f"{key} must be one of {', '.join(choices)}, got {value!r}")
    return value


def _command(value: Any, key: str, allowed: set[str], where: _Where) -> tuple[str, ...]:
    """A command as a list of arguments (or one string, split like a shell would)."""
    import shlex

    if isinstance(value, str):
        value = shlex.split(value)
    if not (isinstance(value, list) and value and all(isinstance(a, str) for a in value)):
        raise where.error(f"{key} must be a non-empty list of strings (or one string)")
    for arg in value:
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(arg) if f is not None]
        except ValueError as exc:
            raise where.error(f"{key}: bad template {arg!r}: {exc} (write {{{{ for a brace)") \
                from None
        for f in fields:
            if f not in allowed:
                raise where.error(f"{key}: unknown placeholder {{{f}}} in {arg!r} "
                                  f"(known here: {', '.join(sorted(allowed))})")
    return tuple(value)


def _param_space(table: Any, where: _Where) -> ParamSpace:
    t = _keys(table, _PARAM_KEYS, "param", where)
    kind = _choice(t, "kind", ("integer", "continuous", "discrete"), where)
    num = (int, float)
    values: tuple[Any, ...] = ()
    if kind == "discrete":
        raw = _typed(t, "values", list, where, what="param.")
        if not raw or not all(isinstance(v, num) and not isinstance(v, bool) for v in raw):
            raise where.error("param.values must be a non-empty list of numbers")
        values = tuple(raw)
        low, high = float(min(values)), float(max(values))
    else:
        low = _typed(t, "low", num, where, what="param.")
        high = _typed(t, "high", num, where, what="param.")
        if kind == "integer" and not (isinstance(low, int) and isinstance(high, int)):
            raise where.error("param.low and param.high of an integer space must be integers")
    typical = _typed(t, "typical_bpp", list, where, None, "param.")
    try:
        return ParamSpace(
            name=_typed(t, "name", str, where, "param", "param."), kind=kind, low=low,
            high=high, values=values,
            rate_increases=_typed(t, "rate_increases", bool, where, what="param."),
            is_bpp=_typed(t, "is_bpp", bool, where, False, "param."),
            typical_bpp=tuple(tuple(p) for p in typical) if typical else None)
    except (ValueError, TypeError) as exc:
        raise where.error(f"param: {exc}") from None


def _env(t: dict[str, Any], what: str, where: _Where) -> str | None:
    env = _typed(t, "env", str, where, None, what)
    if env is not None and not _IDENT.match(env):
        raise where.error(f"{what}env must be an environment variable name, got {env!r}")
    return env


def _tools(table: Any, where: _Where) -> dict[str, ToolSpec]:
    tools: dict[str, ToolSpec] = {}
    for key, t in _keys(table, set(table or {}), "tools", where).items():
        if not _IDENT.match(key) or key in COMMON | ENCODE_ONLY:
            raise where.error(f"tools: {key!r} cannot be a placeholder name")
        if isinstance(t, str):
            t = {"program": t}
        what = f"tools.{key}."
        t = _keys(t, _TOOL_KEYS, f"tools.{key}", where)
        version = _typed(t, "version", list, where, [], what)
        if not all(isinstance(a, str) for a in version):
            raise where.error(f"{what}version must be a list of strings")
        tools[key] = ToolSpec(program=_typed(t, "program", str, where, what=what),
                              env=_env(t, what, where), version=tuple(version),
                              hint=_typed(t, "hint", str, where, "", what))
    return tools


def _files(table: Any, where: _Where, taken: set[str]) -> dict[str, FileSpec]:
    files: dict[str, FileSpec] = {}
    for key, t in _keys(table, set(table or {}), "files", where).items():
        if not _IDENT.match(key) or key in COMMON | ENCODE_ONLY | taken:
            raise where.error(f"files: {key!r} cannot be a placeholder name")
        what = f"files.{key}."
        t = _keys(t, _FILE_KEYS, f"files.{key}", where)
        spec = FileSpec(path=_typed(t, "path", str, where, None, what), env=_env(t, what, where),
                        hint=_typed(t, "hint", str, where, "", what))
        if spec.path is None and spec.env is None:
            raise where.error(f"files.{key} needs a path or an env")
        files[key] = spec
    return files


def table_name(t: Mapping[str, Any], where: _Where) -> str:
    """A table's ``name``, checked, and named in every later message about the table."""
    name = _typed(t, "name", str, where)
    if not _NAME.match(name):
        raise where.error(f"name must be lowercase letters, digits, '.', '_' or '-', got {name!r}")
    where.name = name
    return name


def parse_codec(table: Any, path: Path) -> CodecSpec:
    where = _Where(path)
    t = _keys(table, _CODEC_KEYS, "[[codec]]", where)
    name = table_name(t, where)
    tools = _tools(t.get("tools", {}), where)
    files = _files(t.get("files", {}), where, set(tools))
    named = set(tools) | set(files)
    fmt_in = _choice(t, "input", list(FORMATS), where)
    fmt_out = _choice(t, "output", list(FORMATS), where)
    color = _choice(t, "color", COLOR, where, "bt601-full")
    decode_allowed = COMMON | named | ({"width", "height"} if fmt_out in RAW else set())
    gray = _typed(t, "supports_gray", bool, where, False)
    if gray and (needs_color(fmt_in) or needs_color(fmt_out)):
        raise where.error("supports_gray needs PNG or PPM input and output (YUV is colour)")
    timeout = _typed(t, "timeout", (int, float), where, 300)
    if not timeout > 0:
        raise where.error(f"timeout must be positive, got {timeout}")
    check = None
    if "check" in t:
        c = _keys(t["check"], _CHECK_KEYS, "check", where)
        check = (_command(c.get("command"), "check.command", named, where),
                 _typed(c, "contains", str, where, what="check."),
                 _typed(c, "reason", str, where, what="check."))
    extension = _typed(t, "extension", str, where, "bin")
    if not re.match(r"^[A-Za-z0-9]+$", extension):
        raise where.error(f"extension must be letters and digits (no dot), got {extension!r}")
    return CodecSpec(
        name=name, family=_choice(t, "family", ("traditional", "learned"), where, "traditional"),
        description=_typed(t, "description", str, where, f"external codec ({path.name})"),
        extension=extension, input=fmt_in, output=fmt_out, color=color, supports_gray=gray,
        timeout=float(timeout),
        encode=_command(t.get("encode"), "encode", COMMON | ENCODE_ONLY | named, where),
        decode=_command(t.get("decode"), "decode", decode_allowed, where),
        param_space=_param_space(t.get("param"), where), tools=tools, files=files,
        check=check, source=str(path), raw=t)


def read_document(path: Path, label: str, allowed: set[str]) -> dict[str, Any]:
    """The parsed TOML of a definitions file whose top-level keys are among ``allowed``
    (``codec``, ``metric``); any problem is one UsageError line starting ``LABEL PATH:``."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{label} {path}: cannot read: {exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{label} {path}: not valid TOML: {exc}") from None
    unknown = sorted(set(doc) - allowed)
    if unknown:
        kinds = " and ".join(f"[[{k}]]" for k in sorted(allowed))
        raise UsageError(f"{label} {path}: unknown top-level key(s) {', '.join(unknown)}; "
                         f"define {kinds} tables")
    return doc


def tables_of(doc: Mapping[str, Any], path: Path, kind: str,
              parse: Callable[[Any, Path], Any]) -> list[Any]:
    """The ``[[kind]]`` tables of a parsed file, each parsed, names unique (none is fine: a
    file may define codecs, metrics or both)."""
    tables = doc.get(kind, [])
    if not isinstance(tables, list):
        raise UsageError(f"{kind} config {path}: define {kind}s as [[{kind}]] tables")
    specs = [parse(t, path) for t in tables]
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise UsageError(f"{kind} config {path}: {kind} {dup[0]!r} defined twice")
    return specs


def codecs_of(doc: dict[str, Any], path: Path) -> list[CodecSpec]:
    """The ``[[codec]]`` tables of a parsed file (none is fine: it may define metrics)."""
    return tables_of(doc, path, "codec", parse_codec)


def load_file(path: Path) -> list[CodecSpec]:
    """Every ``[[codec]]`` of a file that defines codecs only (``codecs.d/``, shipped)."""
    specs = codecs_of(read_document(path, "codec config", {"codec"}), path)
    if not specs:
        raise UsageError(f"codec config {path}: defines no codec (expected [[codec]] tables)")
    return specs
