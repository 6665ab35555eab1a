"""What the cache promises in detail: every input of a codec's fingerprint, the counts it
reports, and how the caching proxy settles a learned codec's own search. Written to kill the
mutants that survived ``benchmarks/mutation/run.py cache`` (see benchmarks/README.md)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from codeccmp.codec import Codec, Encoded, OptionSpec, ParamSpace, RunSettings
from codeccmp.model.results import CodecResult
from codeccmp.sweep.cache import CachingCodec, ResultCache, codec_fingerprint

IMG = np.zeros((8, 8), np.uint8)  # 64 px: q bytes = q / 8 bpp


class Plain(Codec):
    name = "plain"
    family = "traditional"
    param_space = ParamSpace("quality", "integer", 1, 100)

    def __init__(self, **attrs) -> None:  # noqa: ANN003
        self.__dict__.update(attrs)
        self.calls: list[int] = []

    def library(self) -> dict[str, str]:
        return getattr(self, "lib", {"x": "1.0"})

    def cache_token(self) -> object:
        return getattr(self, "token", None)

    def encode(self, image: np.ndarray, param: int) -> Encoded:
        self.calls.append(int(param))
        return Encoded(b"\1" * int(param), param)

    def decode(self, data: bytes) -> np.ndarray:
        return IMG


def _fp(codec: Codec, settings: RunSettings | None = None, device: str = "cpu") -> str:
    return json.dumps(codec_fingerprint(codec, settings or RunSettings(), device),
                      sort_keys=True, default=str)


def test_every_input_of_the_fingerprint_changes_it(tmp_path: Path) -> None:
    base = _fp(Plain())
    variants = {
        "name": _fp(Plain(name="other")),
        "family": _fp(Plain(family="learned")),
        "library": _fp(Plain(lib={"x": "1.1"})),
        "device": _fp(Plain(), device="cuda:0"),
        "space name": _fp(Plain(param_space=ParamSpace("q", "integer", 1, 100))),
        "space kind": _fp(Plain(param_space=ParamSpace("quality", "continuous", 1, 100))),
        "space low": _fp(Plain(param_space=ParamSpace("quality", "integer", 2, 100))),
        "space high": _fp(Plain(param_space=ParamSpace("quality", "integer", 1, 99))),
        "space values": _fp(Plain(param_space=ParamSpace("quality", "discrete",
                                                         values=(1, 100)))),
        "gray": _fp(Plain(supports_gray=False)),
        "options": _fp(Plain(option_specs=(OptionSpec("method", "int", 6),))),
        "option default": _fp(Plain(option_specs=(OptionSpec("method", "int", 4),))),
        "option value": _fp(Plain(option_specs=(OptionSpec("method", "int", 6),),
                                  options={"method": 5})),
        "token": _fp(Plain(token={"model": "abc"})),
    }

    class Other(Plain):
        pass

    Other.__qualname__ = "Other"
    variants["class"] = _fp(Other())
    assert all(v != base for v in variants.values()), [k for k, v in variants.items()
                                                      if v == base]
    assert len(set(variants.values())) == len(variants)


def test_a_learned_fingerprint_follows_its_own_weights_and_folder(tmp_path: Path) -> None:
    codec = Plain(name="net", family="learned")
    w = tmp_path / "w.pth"
    w.write_bytes(b"one")
    mine = RunSettings(weights={"net:1": str(w)})
    base = _fp(codec, mine)
    assert base != _fp(codec)
    # Another codec's weights are not part of this one's identity.
    assert _fp(codec, RunSettings(weights={"net:1": str(w), "other": str(w)})) == base
    w.write_bytes(b"two")  # retrained into the same path
    assert _fp(codec, mine) != base
    folder = tmp_path / "dir"
    folder.mkdir()
    empty = _fp(codec, RunSettings(weights_dir=str(folder)))
    (folder / "net-q1.pth").write_bytes(b"x")
    assert _fp(codec, RunSettings(weights_dir=str(folder))) != empty
    assert _fp(codec, RunSettings(weights_dir=str(folder))) != _fp(codec)
    # A traditional codec ignores weights (they cannot change its bitstreams).
    assert _fp(Plain(), mine) == _fp(Plain())


def test_stats_count_what_happened(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path / "c")
    key = cache.trial_key("img", {"codec": "x"}, 5)
    assert cache.get_trial(key) is None
    cache.put_trial(key, Encoded(b"abc", 5, {"s": 1}), 0.5)
    enc, secs = cache.get_trial(key)
    assert (enc.data, enc.param, enc.settings, secs) == (b"abc", 5, {"s": 1}, 0.5)
    rkey = cache.result_key({"r": 1})
    assert cache.get_result(rkey) is None
    record = CodecResult(codec="x", family="traditional", status="failed", reason="r").to_dict()
    cache.put_result(rkey, record)
    assert cache.get_result(rkey) == record
    assert cache.stats.to_dict() == {"trial_hits": 1, "trial_misses": 1, "result_hits": 1,
                                     "result_misses": 1, "writes": 2, "corrupt": 0}
    total = ResultCache(None).stats
    total.merge(cache.stats)
    total.merge(cache.stats)
    assert total.to_dict() == {k: 2 * v for k, v in cache.stats.to_dict().items()}


class Own(Plain):
    """A codec with its own search (like the learned ones): proposes given qualities."""

    name = "own"
    family = "learned"
    param_space = ParamSpace("quality", "discrete", values=(10, 20, 30, 40))
    propose: tuple[int, ...] = (10, 20, 30, 40)

    def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN201
        self.searched = getattr(self, "searched", 0) + 1
        return [Encoded(b"\1" * q, q, {"encode_s": 0.125 * q}) for q in self.propose]


def test_proxy_records_an_own_search_and_replays_its_times(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path / "c")
    inner = Own()
    proxy = CachingCodec(inner, cache, {"codec": "own"})
    first = proxy.match_rate(IMG, 2.0)
    assert [e.param for e in first] == [10, 20, 30, 40] and proxy.encodes == 4
    assert proxy.from_cache == {}
    # A later run (new proxy, same disk): settled from the cache, with the original times.
    inner2 = Own()
    proxy2 = CachingCodec(inner2, ResultCache.open(cache.root), {"codec": "own"})
    got = proxy2.match_rate(IMG, 3.0)  # 2.5 <= 3.0 <= 3.75 bpp: q20 and q30
    assert [e.param for e in got] == [20, 30] and not hasattr(inner2, "searched")
    assert [e.settings["encode_s"] for e in got] == [2.5, 3.75]
    assert proxy2.from_cache == {20: 2.5, 30: 3.75} and proxy2.encodes == 0
    # A target exactly on a cached rate is settled too (the bracket is inclusive).
    assert [e.param for e in proxy2.match_rate(IMG, 2.5)][0] in (10, 20)
    assert [e.param for e in proxy2.match_rate(IMG, 1.0)] == [10]  # below the lowest
    assert proxy2.from_cache[10] == 1.25
    assert [e.param for e in proxy2.match_rate(IMG, 99.0)] == [40]  # above the highest
    assert proxy2.from_cache[40] == 5.0
    assert not hasattr(inner2, "searched")


def test_proxy_asks_the_codec_when_the_cache_cannot_settle(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path / "c")
    inner = Own(propose=(10, 30))  # cached: 10 and 30, not the adjacent 20
    proxy = CachingCodec(inner, cache, {"codec": "own"})
    proxy.match_rate(IMG, 2.0)
    inner2 = Own(propose=(20, 30))
    proxy2 = CachingCodec(inner2, ResultCache.open(cache.root), {"codec": "own"})
    got = proxy2.match_rate(IMG, 2.0)  # 10 and 30 bracket 2.0 bpp but are not adjacent
    assert inner2.searched == 1 and [e.param for e in got] == [20, 30]
    assert proxy2.encodes == 2 and 20 not in proxy2.from_cache
    # The lowest quality uncached: a target below everything cached still asks the codec.
    inner3 = Own(propose=(20,))
    proxy3 = CachingCodec(inner3, ResultCache.open(tmp_path / "fresh"), {"codec": "own"})
    proxy3.match_rate(IMG, 2.5)
    inner4 = Own(propose=(20,))
    proxy4 = CachingCodec(inner4, ResultCache.open(tmp_path / "fresh"), {"codec": "own"})
    proxy4.match_rate(IMG, 0.5)
    assert getattr(inner4, "searched", 0) == 1


def test_proxy_settles_a_decreasing_parameter_in_rate_order(tmp_path: Path) -> None:
    class Qp(Own):
        param_space = ParamSpace("qp", "discrete", values=(10, 20, 30, 40),
                                 rate_increases=False)

        def encode(self, image: np.ndarray, param: int) -> Encoded:
            return Encoded(b"\1" * (50 - int(param)), param)

        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN201
            self.searched = getattr(self, "searched", 0) + 1
            return [self.encode(image, q) for q in (10, 20, 30, 40)]

    cache = ResultCache.open(tmp_path / "c")
    CachingCodec(Qp(), cache, {"codec": "qp"}).match_rate(IMG, 2.0)
    inner = Qp()
    proxy = CachingCodec(inner, ResultCache.open(cache.root), {"codec": "qp"})
    # qp 30 -> 20 bytes (2.5 bpp), qp 20 -> 30 bytes (3.75 bpp)
    assert [e.param for e in proxy.match_rate(IMG, 3.0)] == [30, 20]
    assert [e.param for e in proxy.match_rate(IMG, 0.5)] == [40]
    assert not hasattr(inner, "searched")


def test_fresh_encodes_are_counted_and_not_marked_cached(tmp_path: Path) -> None:
    cache = ResultCache.open(tmp_path / "c")
    inner = Plain()
    proxy = CachingCodec(inner, cache, {"codec": "plain"})
    proxy.encode(IMG, 3)
    proxy.encode(IMG, 4)
    proxy.encode(IMG, 3)  # in memory now
    assert inner.calls == [3, 4] and proxy.encodes == 2
    assert 3 in proxy.from_cache and 4 not in proxy.from_cache  # the repeat came from memory
    again = CachingCodec(Plain(), ResultCache.open(cache.root), {"codec": "plain"})
    again.encode(IMG, 4)
    assert 4 in again.from_cache and again.encodes == 0
    assert again.decode(b"") is IMG
