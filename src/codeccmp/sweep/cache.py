"""On-disk cache of encodings and results, so a rerun or an extended sweep redoes nothing.

Two kinds of entries, both content-addressed by a sha256 key:

- **trials**: one real encoding of one image by one codec at one parameter — the exact
  bitstream and how long it took. The rate search for *any* target asks for encodings by
  parameter, so a new target reuses every trial an earlier search already paid for (binary
  searches over the same range share their first steps; learned models have few qualities).
  Bytes are kept, not just sizes, because the encoding finally chosen is decoded from its
  bytes: a rule of the tool is that reconstructions come from real bitstreams only.
- **results**: one finished :class:`~codeccmp.model.results.CodecResult` (rate, quality metrics,
  trials) for one (image, codec, target) job, so a rerun of the same sweep decodes nothing
  and measures nothing either.

Keys are the sha256 of a canonical JSON of everything that decides the output: the image's
pixels (their hash, not the file's, so the key follows what the codec actually sees), the
codec's name (with any options), class, parameter space, library versions and the effective
value of every encoder option, the settings that
change a learned codec's output (weights files by content, device), the parameter or target,
and for results the measurement settings. Change any of these and the entry is simply not
found.

The codec part of a key includes the source of the code that defines the codec (the files
of its class and base classes outside codeccmp's core, which for a ``--plugin`` file is that
file): an edited plugin is a different codec, and its results are recomputed.

Writes are atomic (a temporary file in the same directory, then ``os.replace``): a reader sees a
whole entry or none, an interrupted run leaves no half entry, and two processes writing the
same key write the same content, so the last rename wins and nothing needs a lock. Every
entry carries its key and a checksum over the whole record (header and payload); an entry
that fails to parse or verify (truncated, corrupted, edited by hand, from another version,
a result missing a field) counts as a miss and is recomputed and overwritten.

The cache is kept under a size limit (:mod:`codeccmp.sweep.cachedir`: ``codeccmp cache info``,
``clear``, ``trim``); a hit refreshes its entry's time, so the least recently used go first.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from codeccmp.codec import Codec, Encoded, Param, RunSettings, WrappedCodec
from codeccmp.model.digests import file_digest
from codeccmp.model.images import pixels_sha256

#: Bump when the entry format or the meaning of a key changes; old entries are then ignored.
#: 2: the checksum covers the whole record; codec keys include the codec's source.
CACHE_VERSION = 2
_MAGIC = b"CODECCMP-CACHE\x01"
_LEN = struct.Struct(">I")
#: Entries above this header size are not ours (guards against reading garbage lengths).
_MAX_HEADER = 64 * 1024 * 1024


def default_cache_dir() -> Path:
    """``$CODECCMP_CACHE_DIR``, else ``$XDG_CACHE_HOME/codeccmp``, else ``~/.cache/codeccmp``."""
    env = os.environ.get("CODECCMP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "codeccmp"




def make_key(kind: str, parts: Mapping[str, Any]) -> str:
    """sha256 of a canonical JSON of ``parts``; ``kind`` keeps trial and result keys apart."""
    text = json.dumps({"v": CACHE_VERSION, "kind": kind, **parts}, sort_keys=True,
                      separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()




def _dir_listing(path: str | Path) -> list[tuple[str, int, int]]:
    """Names, sizes and mtimes of a weights directory: cheap, and changes when a file does."""
    p = Path(path)
    try:
        return sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                      for e in p.iterdir() if e.is_file())
    except OSError:
        return []


def codec_fingerprint(codec: Codec, settings: RunSettings, device: str) -> dict[str, Any]:
    """Everything about ``codec`` (already configured) that can change its bitstreams.

    ``device`` is where the codec's jobs run, decided by the caller (the driver and the
    workers of a sweep must agree on it, and a learned model's entropy coding may differ
    between CPU and GPU). A codec can add its own identity by defining ``cache_token()``
    returning JSON-able data (for example the hashes of the weights it resolved).
    """
    fp: dict[str, Any] = {
        "codec": codec.name,
        # The class name, not its module: a --plugin file's module name is per process.
        "class": type(codec).__qualname__,
        "family": codec.family,
        "library": dict(codec.library()),
        "device": device,
        "param_space": {
            "name": codec.param_space.name, "kind": codec.param_space.kind,
            "low": codec.param_space.low, "high": codec.param_space.high,
            "values": list(codec.param_space.values),
        },
        "supports_gray": codec.supports_gray,
    }
    if codec.option_specs:  # every option's effective value: a changed default changes keys
        fp["options"] = {o.name: codec.option(o.name) for o in codec.option_specs}
    fp["source"] = source_digests(codec)
    token = getattr(codec, "cache_token", None)
    if callable(token):
        fp["token"] = token()
    if codec.family == "learned":
        fp["weights"] = {k: file_digest(v) for k, v in sorted(settings.weights.items())
                         if k.split(":", 1)[0] == codec.name}
        if settings.weights_dir:
            fp["weights_dir"] = _dir_listing(settings.weights_dir)
        if settings.extra:
            fp["extra"] = settings.extra
    return fp


#: Modules whose classes are codeccmp's own plumbing, not a codec's or a metric's code.
_CORE_MODULES = frozenset({"codeccmp.codec", "codeccmp.metric", "codeccmp.sweep.cache",
                           "builtins", "abc"})


def source_digests(obj: object) -> list[str]:
    """sha256 of each source file defining ``obj``'s class and its base classes: a codec's
    or a metric's code.

    Covers a ``--plugin`` file (where its classes live) and any module a class inherits
    from; an edited file gives a new key. Digests only, no paths or module names: a plugin
    file's module name differs from process to process.
    """
    import sys

    digests: list[str] = []
    for cls in type(obj).__mro__:
        if cls.__module__ in _CORE_MODULES:
            continue
        src = getattr(sys.modules.get(cls.__module__), "__file__", None)
        if src:
            d = file_digest(src)
            if d not in digests:
                digests.append(d)
    return digests


@dataclass
class CacheStats:
    """What the cache did during a run (reported by the CLI and in the JSON)."""

    trial_hits: int = 0
    trial_misses: int = 0
    result_hits: int = 0
    result_misses: int = 0
    writes: int = 0
    corrupt: int = 0

    def merge(self, other: CacheStats) -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def to_dict(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass
class ResultCache:
    """The on-disk store. ``read=False`` (``--no-cache``) recomputes everything but still
    writes, so the cache ends up holding the fresh values; ``root=None`` disables it."""

    root: Path | None
    read: bool = True
    stats: CacheStats = field(default_factory=CacheStats)

    @classmethod
    def open(cls, root: str | Path | None = None, read: bool = True,
             enabled: bool = True) -> ResultCache:
        if not enabled:
            return cls(None, read=False)
        return cls(Path(root) if root is not None else default_cache_dir(), read=read)

    @property
    def enabled(self) -> bool:
        return self.root is not None

    def _path(self, kind: str, key: str) -> Path:
        assert self.root is not None
        return self.root / f"v{CACHE_VERSION}" / kind / key[:2] / key

    # -- raw entries ---------------------------------------------------------------------

    def _read(self, kind: str, key: str) -> tuple[dict[str, Any], bytes] | None:
        if self.root is None or not self.read:
            return None
        path = self._path(kind, key)
        try:
            blob = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError:
            self.stats.corrupt += 1
            return None
        entry = _parse(blob, key)
        if entry is None:
            self.stats.corrupt += 1
            return None
        with contextlib.suppress(OSError):  # a hit is a use: eviction goes by last use
            os.utime(path)
        return entry

    def _write(self, kind: str, key: str, header: dict[str, Any], payload: bytes = b"") -> None:
        if self.root is None:
            return
        from codeccmp.model.fileio import atomic_write_bytes

        try:
            atomic_write_bytes(self._path(kind, key), _serialise(key, header, payload))
            self.stats.writes += 1
        except OSError:
            pass  # a cache that cannot be written (full disk, read-only) must not fail a run

    # -- trials --------------------------------------------------------------------------

    def trial_key(self, image_hash: str, fingerprint: Mapping[str, Any], param: Param) -> str:
        return make_key("trial", {"image": image_hash, "codec": fingerprint,
                                  "param": _param_json(param)})

    def get_trial(self, key: str) -> tuple[Encoded, float] | None:
        """The cached encoding for ``key`` and the seconds its encode took, or ``None``."""
        entry = self._read("trials", key)
        if entry is None:
            self.stats.trial_misses += 1
            return None
        header, payload = entry
        try:
            enc = Encoded(payload, _param_from_json(header["param"]),
                          dict(header.get("settings", {})))
            seconds = float(header.get("encode_s", 0.0))
        except (KeyError, TypeError, ValueError):
            self.stats.corrupt += 1
            self.stats.trial_misses += 1
            return None
        self.stats.trial_hits += 1
        return enc, seconds

    def put_trial(self, key: str, enc: Encoded, seconds: float) -> None:
        self._write("trials", key, {
            "param": _param_json(enc.param), "settings": _plain(enc.settings),
            "encode_s": seconds}, enc.data)

    # -- results -------------------------------------------------------------------------

    def result_key(self, parts: Mapping[str, Any]) -> str:
        return make_key("result", parts)

    def get_result(self, key: str) -> dict[str, Any] | None:
        """A stored result dict that passes the results-file checks, or ``None``."""
        from codeccmp.model.results import validate_result

        entry = self._read("results", key)
        if entry is None:
            self.stats.result_misses += 1
            return None
        result = entry[0].get("result")
        if validate_result(result) is not None:
            self.stats.corrupt += 1
            self.stats.result_misses += 1
            return None
        self.stats.result_hits += 1
        return result

    def put_result(self, key: str, result: dict[str, Any]) -> None:
        self._write("results", key, {"result": result})


def _param_json(param: Param) -> list[Any]:
    """Parameters keep their type in keys: quality 5 and rate 5.0 are different requests."""
    return ["int", int(param)] if isinstance(param, (int, np.integer)) else ["float",
                                                                            float(param)]


def _param_from_json(value: Any) -> Param:
    kind, v = value
    return int(v) if kind == "int" else float(v)


def _plain(obj: Any) -> Any:
    """JSON-able copy of encoder settings (numpy scalars to Python, tuples to lists)."""
    return json.loads(json.dumps(obj, default=lambda o: o.item() if isinstance(
        o, np.generic) else str(o)))


def _record_sha256(head: Mapping[str, Any], payload: bytes) -> str:
    """Checksum of a whole entry: its header (less this checksum) and its payload."""
    h = hashlib.sha256(json.dumps({k: v for k, v in head.items() if k != "record_sha256"},
                                  sort_keys=True, allow_nan=False).encode())
    h.update(payload)
    return h.hexdigest()


def _serialise(key: str, header: dict[str, Any], payload: bytes) -> bytes:
    head = dict(header)
    head["key"] = key
    head["payload_len"] = len(payload)
    head["record_sha256"] = _record_sha256(head, payload)
    hb = json.dumps(head, sort_keys=True, allow_nan=False).encode()
    return _MAGIC + _LEN.pack(len(hb)) + hb + payload


def _parse(blob: bytes, key: str) -> tuple[dict[str, Any], bytes] | None:
    """Header and payload of a valid entry for ``key``; ``None`` for anything else."""
    n = len(_MAGIC)
    if len(blob) < n + _LEN.size or blob[:n] != _MAGIC:
        return None
    (hlen,) = _LEN.unpack_from(blob, n)
    start = n + _LEN.size
    if hlen > _MAX_HEADER or start + hlen > len(blob):
        return None
    try:
        header = json.loads(blob[start:start + hlen])
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(header, dict) or header.get("key") != key:
        return None
    payload = blob[start + hlen:]
    if len(payload) != header.get("payload_len"):
        return None
    try:
        if _record_sha256(header, payload) != header.get("record_sha256"):
            return None
    except (TypeError, ValueError):  # a header JSON cannot reproduce (NaN, odd types)
        return None
    return header, payload


class CachingCodec(WrappedCodec):
    """A codec that serves encodings from the trial cache and records new ones.

    It wraps the real codec and is handed to the ordinary rate search and pipeline
    (:func:`codeccmp.pipeline.compare.run_codec`), which therefore need to know nothing about
    caching.
    Decoding always goes to the real codec, from the (cached or fresh) real bytes.
    """

    def __init__(self, inner: Codec, cache: ResultCache, fingerprint: Mapping[str, Any]) -> None:
        super().__init__(inner)
        self.cache = cache
        self.fingerprint = dict(fingerprint)
        #: Encodes really run by this proxy (tests and the benchmark count them).
        self.encodes = 0
        #: Parameters served from the cache, and the seconds their original encode took.
        self.from_cache: dict[Param, float] = {}
        self._memo: dict[tuple[str, Any], tuple[Encoded, float]] = {}
        self._hash_of: tuple[int, np.ndarray, str] | None = None

    def _image_hash(self, image: np.ndarray) -> str:
        # The rate search passes the same array for every trial: hash it once.
        if self._hash_of is not None and self._hash_of[0] == id(image) \
                and self._hash_of[1] is image:
            return self._hash_of[2]
        h = pixels_sha256(image)
        self._hash_of = (id(image), image, h)
        return h

    def _lookup(self, image_hash: str, param: Param) -> tuple[Encoded, float] | None:
        memo_key = (image_hash, _param_json(param)[1])
        if memo_key in self._memo:
            return self._memo[memo_key]
        hit = self.cache.get_trial(self.cache.trial_key(image_hash, self.fingerprint, param))
        if hit is not None:
            self._memo[memo_key] = hit
        return hit

    def _record(self, image_hash: str, enc: Encoded, seconds: float) -> None:
        self._memo[(image_hash, _param_json(enc.param)[1])] = (enc, seconds)
        self.cache.put_trial(self.cache.trial_key(image_hash, self.fingerprint, enc.param),
                             enc, seconds)

    def encode(self, image: np.ndarray, param: Param) -> Encoded:
        import time

        h = self._image_hash(image)
        hit = self._lookup(h, param)
        if hit is not None:
            self.from_cache[param] = hit[1]
            return hit[0]
        t0 = time.perf_counter()
        enc = self.inner.encode(image, param)
        seconds = time.perf_counter() - t0
        self.encodes += 1
        self.from_cache.pop(param, None)
        self._record(h, enc, seconds)
        return enc

    def decode(self, data: bytes) -> np.ndarray:
        return self.inner.decode(data)

    def match_rate(self, image: np.ndarray, target_bpp: float) -> list[Encoded] | None:
        """Defer to the real codec's own search; answer from the cache when it settles it.

        Only for codecs that have their own search (learned models rank qualities with a
        forward pass): when cached trials include two *adjacent* values that bracket the
        target, monotonicity settles the answer and no forward pass or encode is needed.
        Codecs using the generic bisection get ``None`` here and hit the cache through
        :meth:`encode`, so a cached search retraces the fresh one exactly.
        """
        if type(self.inner).match_rate is Codec.match_rate:
            return None
        h = self._image_hash(image)
        space = self.param_space
        if space.kind in ("integer", "discrete"):
            values = space.candidates()  # increasing rate order
            known = [(v, self._lookup(h, v)) for v in values]
            num_pixels = image.shape[0] * image.shape[1]
            for (va, a), (vb, b) in zip(known[:-1], known[1:], strict=True):
                if a is None or b is None:
                    continue
                ba = 8.0 * a[0].nbytes / num_pixels
                bb = 8.0 * b[0].nbytes / num_pixels
                if ba <= target_bpp <= bb:
                    self.from_cache[va], self.from_cache[vb] = a[1], b[1]
                    return [_with_time(a[0], a[1]), _with_time(b[0], b[1])]
            # Below the lowest or above the highest rate: the end point is the answer.
            first, last = known[0][1], known[-1][1]
            if first is not None and 8.0 * first[0].nbytes / num_pixels >= target_bpp:
                self.from_cache[values[0]] = first[1]
                return [_with_time(first[0], first[1])]
            if last is not None and 8.0 * last[0].nbytes / num_pixels <= target_bpp:
                self.from_cache[values[-1]] = last[1]
                return [_with_time(last[0], last[1])]
        proposed = self.inner.match_rate(image, target_bpp)
        if proposed is None:
            return None
        out = list(proposed)
        for enc in out:
            self.encodes += 1
            self.from_cache.pop(enc.param, None)
            self._record(h, enc, float(enc.settings.get("encode_s", 0.0)))
        return out


def _with_time(enc: Encoded, seconds: float) -> Encoded:
    """The rate search reads an proposed encoding's time from ``settings['encode_s']``."""
    if enc.settings.get("encode_s") == seconds:
        return enc
    return Encoded(enc.data, enc.param, {**enc.settings, "encode_s": seconds})
