"""The cache's finer promises, each pinned at its boundary: which cached trials settle a
learned codec's own search (targets just inside, exactly on and just outside cached rates),
the times replayed with cached encodings, counters over repeated hits and misses, and what
an entry keeps of odd encoder settings. Written to kill the mutants of ``cache.py`` that
survived ``benchmarks/mutation/run.py cache`` (see benchmarks/README.md)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from codeccmp.codec import Codec, Encoded, ParamSpace
from codeccmp.model.results import CodecResult
from codeccmp.sweep.cache import CachingCodec, ResultCache

# 4 x 16 = 64 px, not square (a rate from rows x rows would be 16 px): q bytes = q / 8 bpp,
# so the qualities 10, 20, 30, 40 code at 1.25, 2.5, 3.75 and 5.0 bpp.
IMG = np.zeros((4, 16), np.uint8)


class Own(Codec):
    """A codec with its own search (like the learned ones); records what it was asked."""

    name = "own"
    family = "learned"
    param_space = ParamSpace("quality", "discrete", values=(10, 20, 30, 40))

    def __init__(self, propose: tuple[int, ...] = (10, 20, 30, 40), timed: bool = True) -> None:
        self.propose = propose
        self.timed = timed
        self.asked: list[tuple[object, float]] = []

    def library(self) -> dict[str, str]:
        return {"x": "1"}

    def encode(self, image: np.ndarray, param: int) -> Encoded:
        return Encoded(b"\1" * int(param), param)

    def decode(self, data: bytes) -> np.ndarray:
        return IMG

    def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN201
        self.asked.append((image, target_bpp))
        return [Encoded(b"\1" * q, q, {"encode_s": 0.125 * q} if self.timed else {})
                for q in self.propose]


def _seed(root: Path, qualities: tuple[int, ...]) -> None:
    """Cache exactly these qualities' trials (through the codec's own search)."""
    CachingCodec(Own(qualities), ResultCache.open(root), {"codec": "own"}).match_rate(IMG, 1.0)


def _ask(root: Path, target: float, inner: Own | None = None) -> tuple[list[int], CachingCodec]:
    proxy = CachingCodec(inner or Own(), ResultCache.open(root), {"codec": "own"})
    return [e.param for e in proxy.match_rate(IMG, target)], proxy


def test_targets_just_inside_a_cached_bracket_are_settled_by_it(tmp_path: Path) -> None:
    _seed(tmp_path, (10, 20, 30, 40))
    # Just above 1.25 and just above 2.5 bpp: a rate counted with 9 bits per byte (1.41,
    # 2.81) or over a wrong pixel count would pick another pair or an end point.
    for target, pair in ((1.3, [10, 20]), (2.6, [20, 30]), (3.8, [30, 40])):
        inner = Own()
        got, proxy = _ask(tmp_path, target, inner)
        assert got == pair and inner.asked == [], target
        assert proxy.from_cache == {pair[0]: 0.125 * pair[0], pair[1]: 0.125 * pair[1]}
        assert proxy.encodes == 0


def test_a_target_on_the_lowest_or_highest_cached_rate_gets_its_whole_bracket(
        tmp_path: Path) -> None:
    _seed(tmp_path, (10, 20, 30, 40))
    # Bracket ends are inclusive: 1.25 bpp lies in [1.25, 2.5], 5.0 bpp in [3.75, 5.0].
    assert _ask(tmp_path, 1.25)[0] == [10, 20]
    assert _ask(tmp_path, 2.5)[0] == [10, 20]
    assert _ask(tmp_path, 5.0)[0] == [30, 40]


def test_end_points_settle_only_beyond_every_cached_rate(tmp_path: Path) -> None:
    # Cached 10 and 40 only: no adjacent pair, so only the end points can settle.
    _seed(tmp_path, (10, 40))
    got, proxy = _ask(tmp_path, 1.25)  # exactly the lowest rate
    assert got == [10] and proxy.from_cache == {10: 1.25}
    got, proxy = _ask(tmp_path, 1.0)
    assert got == [10] and proxy.from_cache == {10: 1.25}
    enc = proxy.match_rate(IMG, 0.5)[0]
    assert enc.settings["encode_s"] == 1.25 and enc.data == b"\1" * 10
    got, proxy = _ask(tmp_path, 5.0)  # exactly the highest rate
    assert got == [40] and proxy.from_cache == {40: 5.0}
    got, proxy = _ask(tmp_path, 6.0)
    assert got == [40] and proxy.from_cache == {40: 5.0}
    assert proxy.match_rate(IMG, 7.0)[0].settings["encode_s"] == 5.0
    # Just inside either end (1.3 and 4.8 bpp): only the codec can say; it is asked with
    # this image and this target.
    for i, target in enumerate((1.3, 4.8, 3.0)):
        _seed(tmp_path / str(i), (10, 40))  # each on its own cache: a search adds trials
        inner = Own(propose=(20, 30))
        got, proxy = _ask(tmp_path / str(i), target, inner)
        assert got == [20, 30] and len(inner.asked) == 1
        assert inner.asked[0][0] is IMG and inner.asked[0][1] == target
        assert proxy.encodes == 2


def test_a_gap_below_does_not_stop_the_scan_for_a_bracket(tmp_path: Path) -> None:
    _seed(tmp_path, (10, 30, 40))  # 20 missing: (10, 20) and (20, 30) cannot settle
    inner = Own()
    got, _ = _ask(tmp_path, 4.0, inner)
    assert got == [30, 40] and inner.asked == []


def test_an_integer_parameter_is_settled_from_the_cache_too(tmp_path: Path) -> None:
    class Int(Own):
        param_space = ParamSpace("quality", "integer", 1, 4)

        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN201
            self.asked.append((image, target_bpp))
            return [Encoded(b"\1" * (16 * q), q, {"encode_s": float(q)}) for q in (1, 2, 3, 4)]

    CachingCodec(Int(), ResultCache.open(tmp_path), {"codec": "int"}).match_rate(IMG, 1.0)
    inner = Int()
    proxy = CachingCodec(inner, ResultCache.open(tmp_path), {"codec": "int"})
    # q bytes = 16 q: 2, 4, 6, 8 bpp
    assert [e.param for e in proxy.match_rate(IMG, 5.0)] == [2, 3] and inner.asked == []


def test_a_fresh_search_marks_its_encodings_fresh_and_records_unknown_times_as_zero(
        tmp_path: Path) -> None:
    _seed(tmp_path, (10, 30))
    proxy = CachingCodec(Own(propose=(10, 20), timed=False), ResultCache.open(tmp_path),
                         {"codec": "own"})
    assert [e.param for e in proxy.match_rate(IMG, 1.0)] == [10]  # from the cache
    assert proxy.from_cache == {10: 1.25}
    # 10 and 30 do not settle 2.0 bpp: the codec searches and re-encodes 10 itself.
    assert [e.param for e in proxy.match_rate(IMG, 2.0)] == [10, 20]
    assert proxy.from_cache == {} and proxy.encodes == 2
    # Its proposals carried no time: a replay reports 0 s, not a made-up time.
    fresh = tmp_path / "fresh"
    CachingCodec(Own(propose=(10, 20), timed=False), ResultCache.open(fresh),
                 {"codec": "own"}).match_rate(IMG, 2.0)
    got, replay = _ask(fresh, 2.0)
    assert got == [10, 20] and replay.from_cache == {10: 0.0, 20: 0.0}


def test_encodings_made_one_by_one_replay_with_their_measured_time(tmp_path: Path) -> None:
    class Slow(Own):
        def encode(self, image: np.ndarray, param: int) -> Encoded:
            time.sleep(0.002)
            return Encoded(b"\1" * int(param), param, {"mode": "x"})

    first = CachingCodec(Slow(), ResultCache.open(tmp_path), {"codec": "own"})
    spans = {}
    for q in (10, 20):
        t0 = time.perf_counter()
        first.encode(IMG, q)
        spans[q] = time.perf_counter() - t0
    again = CachingCodec(Slow(), ResultCache.open(tmp_path), {"codec": "own"})
    assert again.encode(IMG, 10).data == b"\1" * 10
    assert 0.002 <= again.from_cache[10] <= spans[10]  # the encode's own time, not a clock
    # The codec's search is settled from these trials; each encoding carries its time.
    inner = Slow()
    proxy = CachingCodec(inner, ResultCache.open(tmp_path), {"codec": "own"})
    got = proxy.match_rate(IMG, 2.0)
    assert [e.param for e in got] == [10, 20] and inner.asked == []
    for e in got:
        assert e.data == b"\1" * e.param and e.settings["mode"] == "x"
        assert e.settings["encode_s"] == proxy.from_cache[e.param]
        assert 0.002 <= e.settings["encode_s"] <= spans[e.param]


def test_counters_add_up_over_repeated_hits_misses_and_bad_entries(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path)
    keys = [cache.trial_key("img", {"codec": "x"}, q) for q in (1, 2, 3)]
    assert cache.get_trial(keys[0]) is None and cache.get_trial(keys[1]) is None
    cache.put_trial(keys[0], Encoded(b"a", 1), 0.5)
    assert cache.get_trial(keys[0]) is not None and cache.get_trial(keys[0]) is not None
    # Whole, checksummed entries whose fields do not make a trial: a miss and a corrupt each.
    cache._write("trials", keys[1], {"param": "not a pair"}, b"b")
    cache._write("trials", keys[2], {"param": ["int", 3], "encode_s": "slow"}, b"c")
    assert cache.get_trial(keys[1]) is None and cache.get_trial(keys[2]) is None
    rkeys = [cache.result_key({"r": i}) for i in (1, 2)]
    assert cache.get_result(rkeys[0]) is None and cache.get_result(rkeys[1]) is None
    record = CodecResult(codec="x", family="traditional", status="failed", reason="r").to_dict()
    cache.put_result(rkeys[0], record)
    assert cache.get_result(rkeys[0]) == record and cache.get_result(rkeys[0]) == record
    assert cache.stats.to_dict() == {"trial_hits": 2, "trial_misses": 4, "result_hits": 2,
                                     "result_misses": 2, "writes": 4, "corrupt": 2}


def test_an_entry_without_settings_or_time_reads_as_none_and_zero(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path)
    key = cache.trial_key("img", {"codec": "x"}, 7)
    cache._write("trials", key, {"param": ["int", 7]}, b"xyz")
    enc, seconds = cache.get_trial(key)
    assert (enc.data, enc.param, enc.settings, seconds) == (b"xyz", 7, {}, 0.0)
    assert cache.stats.corrupt == 0


def test_settings_are_stored_as_plain_json(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path)
    key = cache.trial_key("img", {"codec": "x"}, 5)
    settings = {"q": np.int64(3), "s": np.float32(0.5), "t": (1, 2), "p": Path("/a/b")}
    cache.put_trial(key, Encoded(b"abc", 5, settings), 0.25)
    enc, _ = cache.get_trial(key)
    assert enc.settings == {"q": 3, "s": 0.5, "t": [1, 2], "p": "/a/b"}
    assert type(enc.settings["q"]) is int


def test_entries_with_a_wrong_magic_or_cut_inside_the_length_are_misses(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path)
    key = cache.trial_key("img", {"codec": "x"}, 5)
    cache.put_trial(key, Encoded(b"abc", 5), 0.25)
    path = cache._path("trials", key)
    whole = path.read_bytes()
    magic_end = whole.index(b"\x01") + 1  # the format's version byte ends the magic
    for blob in (b"X" + whole[1:],                       # another file type, else intact
                 whole[:magic_end - 1] + b"\x02" + whole[magic_end:],  # another version
                 whole[:magic_end + 2]):                 # cut inside the header length
        path.write_bytes(blob)
        assert cache.get_trial(key) is None
    assert cache.stats.corrupt == 3


def test_a_codec_keys_on_the_source_file_that_defines_it(tmp_path: Path) -> None:
    import importlib.util
    import sys

    from codeccmp.codec import RunSettings
    from codeccmp.model.digests import file_sha256
    from codeccmp.sweep.cache import codec_fingerprint, source_digests

    plugin = tmp_path / "myplugin_18b.py"
    plugin.write_text(
        "from codeccmp.codec import Codec, ParamSpace\n\n"
        "class P(Codec):\n    name = 'p'\n    family = 'traditional'\n"
        "    param_space = ParamSpace('quality', 'integer', 1, 9)\n"
        "    def library(self): return {}\n"
        "    def encode(self, image, param): raise NotImplementedError\n"
        "    def decode(self, data): raise NotImplementedError\n")
    spec = importlib.util.spec_from_file_location("myplugin_18b", plugin)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["myplugin_18b"] = mod
    try:
        spec.loader.exec_module(mod)
        codec = mod.P()
        # The plugin's file only: codeccmp's own classes are not part of a codec's identity.
        assert source_digests(codec) == [file_sha256(plugin)]
        before = codec_fingerprint(codec, RunSettings(), "cpu")
        plugin.write_text(plugin.read_text() + "# edited\n")  # the same class, edited file
        after = codec_fingerprint(codec, RunSettings(), "cpu")
        assert after["source"] == [file_sha256(plugin)] != before["source"]
    finally:
        del sys.modules["myplugin_18b"]


def test_unreadable_and_invalid_entries_count_as_corrupt_each_time(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path)
    tkey = cache.trial_key("img", {"codec": "x"}, 5)
    cache._path("trials", tkey).mkdir(parents=True)  # reading it fails (not "not found")
    rkey = cache.result_key({"r": 1})
    cache.put_result(rkey, {"codec": "x"})  # a whole entry, not a valid result
    for _ in range(2):
        assert cache.get_trial(tkey) is None and cache.get_result(rkey) is None
    assert cache.stats.to_dict() == {"trial_hits": 0, "trial_misses": 2, "result_hits": 0,
                                     "result_misses": 2, "writes": 1, "corrupt": 4}


def test_an_entry_with_an_edited_header_is_a_miss(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path)
    key = cache.trial_key("img", {"codec": "x"}, 5)
    cache.put_trial(key, Encoded(b"abc", 5), 0.25)
    path = cache._path("trials", key)
    blob = path.read_bytes()
    assert b'"encode_s": 0.25' in blob
    path.write_bytes(blob.replace(b'"encode_s": 0.25', b'"encode_s": 0.75'))  # same length
    assert cache.get_trial(key) is None and cache.stats.corrupt == 1


def _load_module(name: str, path: Path) -> object:
    """Import ``path`` as module ``name`` (as ``--plugin`` does); the caller removes it."""
    import importlib.util
    import sys

    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_a_codec_keys_on_a_mixin_listed_after_codeccmps_own_classes(tmp_path: Path) -> None:
    """``class P(Codec, Mixin)`` puts Codec (and ABC) before the mixin in the MRO: the core
    classes are skipped, not the end of the walk, so editing the mixin's file still gives a
    new key (a stale result would otherwise be served)."""
    import sys

    from codeccmp.codec import RunSettings
    from codeccmp.model.digests import file_sha256
    from codeccmp.sweep.cache import codec_fingerprint

    mixin = tmp_path / "mixin_18d.py"
    mixin.write_text("class Mixin:\n    def library(self): return {}\n")
    plugin = tmp_path / "plugin_18d.py"
    plugin.write_text(
        "from codeccmp.codec import Codec, ParamSpace\nfrom mixin_18d import Mixin\n\n"
        "class P(Codec, Mixin):\n    name = 'p'\n    family = 'traditional'\n"
        "    param_space = ParamSpace('quality', 'integer', 1, 9)\n"
        "    def encode(self, image, param): raise NotImplementedError\n"
        "    def decode(self, data): raise NotImplementedError\n")
    try:
        _load_module("mixin_18d", mixin)
        codec = _load_module("plugin_18d", plugin).P()
        names = [c.__name__ for c in type(codec).__mro__]
        assert names.index("Codec") < names.index("Mixin")  # what this test is about
        before = codec_fingerprint(codec, RunSettings(), "cpu")["source"]
        assert before == [file_sha256(plugin), file_sha256(mixin)]
        mixin.write_text(mixin.read_text() + "# edited\n")
        after = codec_fingerprint(codec, RunSettings(), "cpu")["source"]
        assert after == [file_sha256(plugin), file_sha256(mixin)] and after != before
    finally:
        sys.modules.pop("mixin_18d", None)
        sys.modules.pop("plugin_18d", None)


def test_a_codec_from_a_module_without_a_file_has_no_source_digest() -> None:
    """A class made in a module with no ``__file__`` (built in memory, or gone from
    ``sys.modules``) has no source to hash: its key goes without one, no error."""
    import sys
    import types

    from codeccmp.codec import RunSettings
    from codeccmp.sweep.cache import codec_fingerprint, source_digests

    mod = types.ModuleType("memory_codec_18d")  # no __file__
    exec("from codeccmp.codec import Codec, ParamSpace\n\n"  # noqa: S102 - a test fixture
         "class M(Codec):\n    name = 'm'\n    family = 'traditional'\n"
         "    param_space = ParamSpace('quality', 'integer', 1, 9)\n"
         "    def library(self): return {}\n"
         "    def encode(self, image, param): raise NotImplementedError\n"
         "    def decode(self, data): raise NotImplementedError\n", mod.__dict__)
    mod.M.__module__ = "memory_codec_18d"
    sys.modules["memory_codec_18d"] = mod
    try:
        assert not hasattr(mod, "__file__")
        assert source_digests(mod.M()) == []
        assert codec_fingerprint(mod.M(), RunSettings(), "cpu")["source"] == []
    finally:
        del sys.modules["memory_codec_18d"]
    assert source_digests(mod.M()) == []  # the module no longer imported at all


class _Learned(Own):
    name = "lrn"


def test_a_missing_weights_file_is_keyed_as_missing_not_an_error(tmp_path: Path) -> None:
    """``file_digest`` documents ``missing:PATH`` for a file that is gone: the key is still
    made (the codec itself reports the missing file), and it differs from the key of any
    real file at that path."""
    from codeccmp.codec import RunSettings
    from codeccmp.model.digests import file_sha256
    from codeccmp.sweep.cache import codec_fingerprint, file_digest

    gone = tmp_path / "gone.pth"
    assert file_digest(gone) == f"missing:{gone}"
    settings = RunSettings(weights={"lrn": str(gone)})
    fp = codec_fingerprint(_Learned(), settings, "cpu")
    assert fp["weights"] == {"lrn": f"missing:{gone}"}
    gone.write_bytes(b"model")
    assert codec_fingerprint(_Learned(), settings, "cpu")["weights"] == {
        "lrn": file_sha256(gone)}


def test_weights_keys_belong_to_the_codec_named_before_their_first_colon(
    tmp_path: Path,
) -> None:
    """Codec names have no colon (codecspec), so a key's codec is what precedes its first
    colon, as ``check_weights_codecs`` reads it: ``lrn:3:x`` is lrn's (the ``--weights``
    parser refuses it, but RunSettings from the API can hold it), and its file is in lrn's
    key; ``lrnx:3`` and ``other`` are not."""
    from codeccmp.codec import RunSettings
    from codeccmp.model.digests import file_sha256
    from codeccmp.sweep.cache import codec_fingerprint

    files = {}
    for k in ("lrn", "lrn:3", "lrn:3:x", "lrnx:3", "other"):
        files[k] = tmp_path / (k.replace(":", "_") + ".pth")
        files[k].write_bytes(k.encode())
    settings = RunSettings(weights={k: str(p) for k, p in files.items()})
    fp = codec_fingerprint(_Learned(), settings, "cpu")
    assert fp["weights"] == {k: file_sha256(files[k]) for k in ("lrn", "lrn:3", "lrn:3:x")}
    before = ResultCache(None).trial_key("img", fp, 5)
    files["lrn:3:x"].write_bytes(b"retrained")
    after = codec_fingerprint(_Learned(), settings, "cpu")
    assert ResultCache(None).trial_key("img", after, 5) != before


def test_a_hit_on_a_cache_whose_times_cannot_be_set_is_still_a_hit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A hit refreshes the entry's time for the LRU limit; on a read-only cache (a shared
    or mounted one) that fails, and the entry must still be served, not the run fail."""
    import os

    cache = ResultCache.open(tmp_path)
    key = cache.trial_key("img", {"codec": "x"}, 5)
    cache.put_trial(key, Encoded(b"abc", 5), 0.25)

    def read_only(*args: object, **kwargs: object) -> None:
        raise PermissionError(30, "Read-only file system")

    monkeypatch.setattr(os, "utime", read_only)
    enc, seconds = cache.get_trial(key)
    assert (enc.data, enc.param, seconds) == (b"abc", 5, 0.25)
    assert cache.stats.trial_hits == 1 and cache.stats.corrupt == 0


def test_keys_accept_values_json_cannot_write(tmp_path: Path) -> None:
    """Key parts can hold paths and numpy scalars (a plugin's ``settings.extra``, an option
    value): the key is still made, and differs exactly when such a value does."""
    from codeccmp.sweep.cache import make_key

    a = make_key("trial", {"extra": {"model": Path("/m/a.pth"), "q": np.int64(3)}})
    assert a == make_key("trial", {"extra": {"model": Path("/m/a.pth"), "q": np.int64(3)}})
    assert a != make_key("trial", {"extra": {"model": Path("/m/b.pth"), "q": np.int64(3)}})
    assert a != make_key("trial", {"extra": {"model": Path("/m/a.pth"), "q": np.int64(4)}})
