"""Codec specs: ``NAME`` or ``NAME[KEY=VALUE,...]``, wherever a codec name is accepted.

``--codecs heif,heif[chroma=420],avif[speed=2]`` puts two settings of one codec side by side
in one table. The grammar is small enough that a hand-written scanner is clearer than a
parser library: names and keys are ``[a-z0-9_.-]+`` (case-insensitive, stored lower-case),
values are anything without ``,``, ``[``, ``]`` or ``=``. A list of specs is split on the
commas outside brackets.

A spec's *label* is its canonical spelling: the name, then the options it gives in the
codec's declared order, values in canonical form (``avif[speed=2,chroma=444]`` and
``avif[ chroma=444 , speed=02 ]`` are the same label). The label is the configured codec's
``name``: it is what tables, plots, montages, result files and the sweep's cache key see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from codeccmp.errors import UsageError

if TYPE_CHECKING:
    from codeccmp.codec import Codec

_NAME = re.compile(r"[a-z0-9][a-z0-9_.\-]*\Z")


@dataclass(frozen=True)
class CodecSpec:
    """A parsed spec: the codec's registered name and the raw ``KEY=VALUE`` texts."""

    name: str
    options: tuple[tuple[str, str], ...] = ()

    def __str__(self) -> str:
        if not self.options:
            return self.name
        return f"{self.name}[{','.join(f'{k}={v}' for k, v in self.options)}]"


def parse_spec(text: str) -> CodecSpec:
    """One spec; ``UsageError`` naming the problem for anything malformed."""
    t = text.strip()
    name, bracket, rest = t.partition("[")
    name = name.strip().lower()
    if not _NAME.match(name):
        raise UsageError(f"bad codec name {name!r} in {text!r}: "
                         "expected NAME or NAME[KEY=VALUE,...]")
    if not bracket:
        return CodecSpec(name)
    if not rest.endswith("]") or "[" in rest or "]" in rest[:-1]:
        raise UsageError(f"bad codec spec {text!r}: options go in one [...] at the end, "
                         "e.g. heif[chroma=444,preset=slow]")
    body = rest[:-1].strip()
    if not body:
        raise UsageError(f"bad codec spec {text!r}: empty [] (leave the brackets out)")
    pairs: list[tuple[str, str]] = []
    for item in body.split(","):
        key, eq, value = item.partition("=")
        key, value = key.strip().lower(), value.strip()
        if not eq or not _NAME.match(key) or not value or "=" in value:
            raise UsageError(f"bad option {item.strip()!r} in {text!r}: expected KEY=VALUE")
        if any(k == key for k, _ in pairs):
            raise UsageError(f"option {key!r} given twice in {text!r}")
        pairs.append((key, value))
    return CodecSpec(name, tuple(pairs))


def split_specs(text: str) -> list[str]:
    """Split a comma-separated list of specs on the commas outside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise UsageError(f"unbalanced ']' in codec list {text!r}")
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    if depth:
        raise UsageError(f"unclosed '[' in codec list {text!r}")
    parts.append(text[start:].strip())
    if not all(parts):
        raise UsageError(f"--codecs expects comma-separated names, got {text!r}")
    return parts


def resolve_options(codec: Codec, spec: CodecSpec) -> tuple[dict[str, Any], str]:
    """Check ``spec``'s options against what ``codec`` declares: typed values and the label.

    An unknown key or a bad value is a usage error that names what is valid.
    """
    declared = {o.name: o for o in codec.option_specs}
    values: dict[str, Any] = {}
    for key, raw in spec.options:
        opt = declared.get(key)
        if opt is None:
            valid = ", ".join(f"{o.name} ({o.describe()})" for o in codec.option_specs)
            raise UsageError(f"codec {codec.name} has no option {key!r}; "
                             + (f"valid: {valid}" if valid else "it takes no options"))
        try:
            values[key] = opt.parse(raw)
        except ValueError as exc:
            raise UsageError(f"codec {codec.name}: {exc}") from None
    order = [o.name for o in codec.option_specs]
    ordered = sorted(values, key=order.index)
    label = codec.name if not ordered else (
        f"{codec.name}[{','.join(f'{k}={declared[k].format(values[k])}' for k in ordered)}]")
    return {k: values[k] for k in ordered}, label


def configured(codec: Codec, spec: CodecSpec) -> Codec:
    """``codec`` itself when ``spec`` gives no options, else a copy labelled by the spec."""
    if not spec.options:
        return codec
    options, label = resolve_options(codec, spec)
    return codec.with_options(options, label)
