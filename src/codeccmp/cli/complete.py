"""Shell completion of option values: codec specs, metric names.

typer (through click) completes commands, options and files itself once
``--install-completion`` has set the shell up (bash, zsh, fish, PowerShell); these
functions add what only codeccmp knows. ``--codecs`` takes a comma-separated list of specs
``NAME[KEY=VALUE,...]``, so the word being completed is the list so far: everything before
the last comma outside brackets is kept as it is, and only the last item is completed, as a
codec name, then ``NAME[`` with an option key, then that option's values and the closing
bracket. Nothing here may import torch: the registry lists the learned codecs without
loading a model.
"""

from __future__ import annotations

import contextlib


def _last_item(text: str) -> tuple[str, str]:
    """(what precedes the item being typed, the item) in a comma list with brackets."""
    depth, cut = 0, 0
    for i, ch in enumerate(text):
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            cut = i + 1
    return text[:cut], text[cut:]


def _registry():  # noqa: ANN202 - CodecRegistry
    from codeccmp.plugins import load_registry

    return load_registry()


def codec_completions(incomplete: str) -> list[tuple[str, str]]:
    """Completions of ``--codecs`` for ``incomplete`` (the whole word typed so far)."""
    head, item = _last_item(incomplete)
    try:
        registry = _registry()
    except Exception:  # a broken plugin must not break the shell: nothing to offer
        return []
    name, bracket, inside = item.partition("[")
    if not bracket:
        out = []
        for codec in registry.all():
            if codec.name.startswith(name):
                out.append((head + codec.name, codec.description or ""))
                if codec.option_specs:
                    out.append((head + codec.name + "[", "with encoder options"))
        return out
    codec = None
    with contextlib.suppress(Exception):
        codec = registry.get(name)
    if codec is None:
        return []
    specs = {o.name: o for o in codec.option_specs}
    given, _, current = inside.rpartition(",")
    prefix = f"{head}{name}[{given + ',' if given else ''}"
    used = {part.partition("=")[0] for part in given.split(",") if part}
    key, eq, value = current.partition("=")
    if not eq:
        return [(f"{prefix}{k}=", o.help) for k, o in specs.items()
                if k.startswith(key) and k not in used]
    spec = specs.get(key)
    if spec is None:
        return []
    values = (list(spec.choices) if spec.kind == "choice" else
              ["true", "false"] if spec.kind == "bool" else [str(spec.default)])
    return [(f"{prefix}{key}={v}]", f"default {spec.default}" if str(v) == str(spec.default)
             else "") for v in values if str(v).startswith(value)]


def metric_completions(incomplete: str) -> list[tuple[str, str]]:
    """Completions of ``--metrics`` (a comma list of metric names)."""
    head, item = _last_item(incomplete)
    try:
        from codeccmp.plugins import load_metrics

        metrics = load_metrics()
    except Exception:
        return []
    return [(head + m.name, getattr(m, "description", "") or "") for m in metrics.all()
            if m.name.startswith(item.lower())]
