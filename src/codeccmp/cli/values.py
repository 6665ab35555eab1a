"""Command-line values turned into Python values without importing pydantic.

Why: typer 0.29 converts every parameter's value through a pydantic ``TypeAdapter``, built
the first time the parameter is processed, and every command processes all of its
parameters (their defaults too). Importing pydantic for that costs about 90 ms at every start
on the development VM: a fifth of ``codeccmp compare IMAGE --bpp 0.3 --codecs jpeg``, the run
that should cost little more than the encodes it makes. The commands' parameters are plain
``str``, ``int``, ``float``, ``bool`` and ``Path`` values, optional or repeated, which need
no validation library; for those, :func:`install` gives each parameter a converter of its
own before the arguments are parsed. Anything else (choices, ranges, custom parsers, files,
paths that must exist) keeps typer's own conversion, as do all parameters on a typer that
converts values another way (older releases use click's types, which are already light).

The converters say what was wrong the way click always has, with the value ("'abc' is not a
valid float."), where pydantic's words left it out. ``tests/test_cli_values.py`` checks every
parameter of every command against typer's own conversion. The slot filled here is typer's
private one, so pyproject.toml keeps typer below its next minor release until that test has
passed on it.
"""

from __future__ import annotations

import os
import re
import types
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

#: pydantic's words for a boolean (its lax mode), so a value from an environment variable or
#: a ``default_map`` means the same as under typer's own conversion.
_TRUE = frozenset({"1", "on", "t", "true", "y", "yes"})
_FALSE = frozenset({"", "0", "off", "f", "false", "n", "no"})  # "": typer's own reading
#: An integer written with a zero fraction.
_WHOLE = re.compile(r"([+-]?[0-9][0-9_]*)\.0+")


def _convert_int(text: Any) -> int:
    if isinstance(text, bool):
        raise ValueError
    if isinstance(text, int):
        return text
    if isinstance(text, float):
        if text.is_integer():
            return int(text)
        raise ValueError
    s = str(text).strip()
    if not s.isascii():  # int() reads other scripts' digits; typer's conversion does not
        raise ValueError
    whole = _WHOLE.fullmatch(s)  # "3.0" is 3, as for typer
    return int(whole.group(1) if whole else s)


def _convert_float(text: Any) -> float:
    if isinstance(text, bool):
        raise ValueError
    if isinstance(text, (int, float)):
        return float(text)
    s = str(text).strip()
    if not s.isascii():
        raise ValueError
    return float(s)


def _convert_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    s = str(text).strip().lower()
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise ValueError


def _convert_str(text: Any) -> str:
    if isinstance(text, bytes):
        return os.fsdecode(text)
    return str(text)


_CONVERTERS: dict[Any, tuple[Callable[[Any], Any], str]] = {
    int: (_convert_int, "integer"),
    float: (_convert_float, "float"),
    bool: (_convert_bool, "boolean"),
    str: (_convert_str, "string"),
}


def _leaf(annotation: Any) -> Any:
    """The plain type inside ``X | None``, or None when it is not one of ours."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _leaf(args[0]) if len(args) == 1 else None
    if annotation in _CONVERTERS or annotation is Path:
        return annotation
    return None


def plain_type(annotation: Any) -> tuple[Any, bool] | None:
    """``(leaf type, repeated)`` for an annotation this module converts, else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return plain_type(args[0]) if len(args) == 1 else None
    if origin is list:
        (item,) = typing.get_args(annotation) or (None,)
        leaf = _leaf(item)
        return None if leaf is None else (leaf, True)
    leaf = _leaf(annotation)
    return None if leaf is None else (leaf, False)


def _plain_path_info(info: Any) -> bool:
    """A ``Path`` parameter with none of typer's checks but the default one (readable)."""
    return not (getattr(info, "exists", False) or getattr(info, "resolve_path", False)
                or getattr(info, "allow_dash", False) or getattr(info, "writable", False)
                or getattr(info, "path_type", None) is not None
                or not getattr(info, "file_okay", True) or not getattr(info, "dir_okay", True))


class PlainValue:
    """The converter of one parameter: what typer's ``RuntimeParam.coerce`` does for it."""

    def __init__(self, leaf: Any, repeated: bool, bad_parameter: type[Exception]) -> None:
        self.leaf, self.repeated = leaf, repeated
        self._bad = bad_parameter

    def coerce(self, value: Any, param: Any, ctx: Any) -> Any:
        multi = param.multiple or param.nargs == -1
        if value is None:
            return () if multi else None
        if multi and isinstance(value, str):
            raise self._bad("Value must be an iterable.", ctx=ctx, param=param)
        if self.repeated:
            items = value if isinstance(value, (list, tuple)) else [value]
            return [self._one(v, param, ctx) for v in items]
        return self._one(value, param, ctx)

    def _one(self, value: Any, param: Any, ctx: Any) -> Any:
        if self.leaf is Path:
            return self._path(value, param, ctx)
        convert, label = _CONVERTERS[self.leaf]
        try:
            return convert(value)
        except (TypeError, ValueError, OverflowError):
            raise self._bad(f"{value!r} is not a valid {label}.", ctx=ctx, param=param) \
                from None

    def _path(self, value: Any, param: Any, ctx: Any) -> Path:
        """``Path(value)``, refused only where typer refuses it by default: an existing path
        this process may not read."""
        path = value if isinstance(value, Path) else Path(os.fsdecode(value))
        readable = getattr(param.type_descriptor.parameter_info, "readable", True)
        if readable and os.path.exists(path) and not os.access(path, os.R_OK):
            raise self._bad(f"path {str(value)!r} is not readable.", ctx=ctx, param=param)
        return path


def converter_for(param: Any, bad_parameter: type[Exception]) -> PlainValue | None:
    """This module's converter for a typer parameter, or None where typer's own is needed."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is None:
        return None
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or getattr(info, "parser", None) is not None \
            or getattr(info, "min", None) is not None or getattr(info, "max", None) is not None:
        return None
    kind = plain_type(descriptor.annotation)
    if kind is None or (kind[0] is Path and not _plain_path_info(info)):
        return None
    return PlainValue(kind[0], kind[1], bad_parameter)


def _commands(command: Any) -> Iterator[Any]:
    yield command
    for sub in (getattr(command, "commands", None) or {}).values():
        yield from _commands(sub)


def _give(param: Any, bad_parameter: type[Exception]) -> bool:
    if not hasattr(param, "_runtime_param") or param._runtime_param is not None:
        return False
    converter = converter_for(param, bad_parameter)
    if converter is None:
        return False
    param._runtime_param = converter
    return True


def _with_plain_help(command: Any, bad_parameter: type[Exception]) -> None:
    """The ``--help`` option is made when a command is first parsed (its names come from
    the context), and processed like any other: it gets a converter when it is made."""
    make = command.get_help_option

    def get_help_option(ctx: Any) -> Any:
        option = make(ctx)
        if option is not None:
            _give(option, bad_parameter)
        return option

    command.get_help_option = get_help_option


def install(command: Any) -> int:
    """Give every plain parameter of ``command`` and its subcommands a converter of this
    module; the number given (``--help`` options not counted: they are made later). Nothing
    happens on a typer without per-parameter converters (``get_runtime_param``, filled on
    first use): there, its own conversion runs."""
    try:
        from typer._click.exceptions import BadParameter
        from typer.core import _TyperParameter
    except ImportError:  # pragma: no cover - depends on the installed typer
        return 0
    if not hasattr(_TyperParameter, "get_runtime_param"):  # pragma: no cover - as above
        return 0
    given = 0
    for cmd in _commands(command):
        given += sum(_give(param, BadParameter) for param in cmd.params)
        if callable(getattr(cmd, "get_help_option", None)):
            _with_plain_help(cmd, BadParameter)
    return given
