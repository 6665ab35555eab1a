"""Finding and loading plugins: entry points (group ``codeccmp``) and ``--plugin`` files."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable
from pathlib import Path
from types import CodeType, ModuleType
from typing import Any

import pluggy

from codeccmp import hookspecs, installed
from codeccmp.codec import Codec
from codeccmp.errors import UsageError
from codeccmp.model.codecspec import configured, parse_spec

ENTRY_POINT_GROUP = "codeccmp"


class _FreshSourceLoader(importlib.machinery.SourceFileLoader):
    """Compiles a ``--plugin`` file from its source at every load, without bytecode caches.

    A plugin file is input, like the image: edited between two runs it must run as edited.
    Python's cache in ``__pycache__`` is checked by the source's size and mtime in whole
    seconds, so a file rewritten within the same second at the same size (one digit
    changed) ran its old code, and a sweep cached results of the old code under the new
    file's fingerprint. Not caching also leaves no ``__pycache__`` in the user's folder."""

    def get_code(self, fullname: str) -> CodeType:
        return self.source_to_code(self.get_data(self.path), self.path)


def _load_file(path: Path) -> ModuleType:
    if not path.is_file():
        raise UsageError(f"plugin file not found: {path}")
    name = f"codeccmp_local_plugin_{path.stem}_{abs(hash(path.resolve())) & 0xFFFF:x}"
    source = path.suffix in importlib.machinery.SOURCE_SUFFIXES  # else Python's own choice
    spec = importlib.util.spec_from_file_location(
        name, path, loader=_FreshSourceLoader(name, str(path)) if source else None)
    if spec is None or spec.loader is None:
        raise UsageError(f"cannot load plugin file: {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # a broken plugin file is the user's input: one clear line
        del sys.modules[name]
        raise UsageError(f"plugin file {path} failed to load: {type(exc).__name__}: {exc}") from exc
    return module


def load_entry_points(pm: pluggy.PluginManager) -> None:
    """Register every plugin of the ``codeccmp`` entry-point group, as pluggy's
    ``load_setuptools_entrypoints`` does (the first of a name wins; blocked names are
    skipped), from ``codeccmp.installed``'s reading where it can answer (pluggy's reads
    through ``importlib.metadata``: 15–20 ms more at every start)."""
    eps = installed.entry_points(ENTRY_POINT_GROUP)
    if eps is None:
        pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP)
        return
    for ep in eps:
        if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
            continue
        pm.register(ep.load(), name=ep.name)


def get_plugin_manager(plugin_files: Iterable[str | Path] = ()) -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    load_entry_points(pm)
    seen: dict[Path, str] = {}
    for f in plugin_files:
        resolved = Path(f).resolve()
        if resolved in seen:
            same = "" if str(f) == seen[resolved] else f" (as {seen[resolved]})"
            kind = "--codec-config" if resolved.suffix.lower() == ".toml" else "--plugin"
            raise UsageError(f"{kind} {f} given twice{same}: give each file once")
        seen[resolved] = str(f)
        # A file some plugin reads (--codec-config FILE.toml: codeccmp_external), else Python.
        # Either rides with the plugin files, so sweep workers load it too.
        plugin = pm.hook.load_plugin_file(path=Path(f))
        if plugin is not None:
            pm.register(plugin, name=getattr(plugin, "__name__", None) or f"file:{resolved}")
            continue
        module = _load_file(Path(f))
        pm.register(module, name=f"file:{resolved}")
    return pm


def _collect(hook: pluggy.HookCaller, kind: type, noun: str, into: dict[str, Any],
             owner: dict[str, str]) -> None:
    """Call every plugin's ``register_*`` hook with a ``register`` that checks what it is
    given and records which plugin gave it.

    Why not ``hook(register=...)``: each plugin gets its own ``register`` so that a wrong
    object, a missing name or a name given twice is reported with the plugin to blame, as
    a UsageError (one line, exit 2): a broken plugin is input to codeccmp, not its bug.
    """
    for impl in hook.get_hookimpls():
        plugin_name = impl.plugin_name

        def register(obj: Any, _plugin: str = plugin_name) -> None:
            if not isinstance(obj, kind):
                raise UsageError(
                    f"plugin {_plugin} registered {obj!r}, not a {kind.__name__}")
            if not obj.name:
                raise UsageError(f"plugin {_plugin} registered a {noun} without a name")
            if obj.name in into:
                raise UsageError(f"{noun} name {obj.name!r} registered twice "
                                 f"(by {owner[obj.name]} and {_plugin})")
            into[obj.name] = obj
            owner[obj.name] = _plugin

        try:
            impl.function(register=register)
        except UsageError:
            raise
        except Exception as exc:  # the plugin's own bug: name it, in one line
            raise UsageError(f"plugin {plugin_name} failed in {hook.name}: "
                             f"{type(exc).__name__}: {exc}") from exc


class CodecRegistry:
    """All codecs registered by all plugins, by name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm
        self._codecs: dict[str, Codec] = {}
        self._owner: dict[str, str] = {}
        self._configured: dict[str, Codec] = {}
        _collect(pm.hook.register_codecs, Codec, "codec", self._codecs, self._owner)

    def names(self) -> list[str]:
        return list(self._codecs)

    def get(self, name: str) -> Codec:
        """The codec registered as ``name``, or configured by a spec ``NAME[KEY=VALUE,...]``.

        A spec gives a configured copy, made once per label: asking again (a sweep's
        worker, the anchor) returns the same object.
        """
        if name in self._codecs:
            return self._codecs[name]
        spec = parse_spec(name)
        base = self._codecs.get(spec.name)
        if base is None:
            raise UsageError(f"unknown codec {spec.name!r}{did_you_mean(spec.name, self._codecs)}"
                             f"; known: {', '.join(sorted(self._codecs))}")
        codec = configured(base, spec)
        return self._configured.setdefault(codec.name, codec)

    def plugin_of(self, name: str) -> str:
        return self._owner[name.split("[", 1)[0]]

    def all(self) -> list[Codec]:
        return list(self._codecs.values())


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'jpeg'?)`` for a near miss (``jpg``), as git and ruff suggest; else
    nothing. The names the given one begins (``bmshj2018``: its variants), else difflib's
    closest, only where most of the name matches."""
    import difflib

    name, names = name.lower(), sorted(known)
    close = [k for k in names if k.startswith(name)] if len(name) >= 3 else []
    if len(close) > 4:
        return f" ({len(close)} names begin with it)"
    if not close:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    if not close:
        return ""
    quoted = [repr(k) for k in close]
    either = quoted[0] if len(quoted) == 1 else f"{', '.join(quoted[:-1])} or {quoted[-1]}"
    return f" (did you mean {either}?)"


def load_registry(plugin_files: Iterable[str | Path] = ()) -> CodecRegistry:
    return CodecRegistry(get_plugin_manager(plugin_files))


class MetricRegistry:
    """All metrics registered by all plugins (``register_metrics``), by name."""

    def __init__(self, pm: pluggy.PluginManager) -> None:
        from codeccmp.metric import Metric

        self._metrics: dict[str, Metric] = {}
        self._owner: dict[str, str] = {}
        _collect(pm.hook.register_metrics, Metric, "metric", self._metrics, self._owner)

    def names(self) -> list[str]:
        return list(self._metrics)

    def get(self, name: str):  # noqa: ANN201 - Metric (imported lazily)
        key = name.strip().lower()
        if key not in self._metrics:
            raise UsageError(f"unknown metric {name.strip()!r}{did_you_mean(key, self._metrics)}"
                             f"; known: {', '.join(sorted(self._metrics))}")
        return self._metrics[key]

    def select(self, names: Iterable[str]) -> list:  # noqa: ANN201 - list[Metric]
        """The metrics named, in order, each once; unknown or unusable names are a
        UsageError (checked before any coding)."""
        chosen: dict[str, object] = {}
        for n in names:
            m = self.get(n)
            reason = m.availability()
            if reason:
                raise UsageError(f"metric {m.name} is not usable here: {reason}")
            chosen.setdefault(m.name, m)
        return list(chosen.values())

    def plugin_of(self, name: str) -> str:
        return self._owner[name]

    def all(self) -> list:  # noqa: ANN201 - list[Metric]
        return list(self._metrics.values())


def parse_metric_list(text: str | None) -> list[str]:
    """``--metrics psnr,ms-ssim`` → names; empty items are a usage error."""
    if text is None:
        return []
    names = [t.strip().lower() for t in text.split(",")]
    if not all(names):
        raise UsageError(f"--metrics {text!r}: give comma-separated metric names")
    return names


def load_metrics(plugin_files: Iterable[str | Path] = (),
                 pm: pluggy.PluginManager | None = None) -> MetricRegistry:
    """The metric registry; reuse ``pm`` (a codec registry's) so ``--plugin`` files count."""
    return MetricRegistry(pm if pm is not None else get_plugin_manager(plugin_files))
