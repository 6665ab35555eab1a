"""The on-disk cache: keys, entry format, corruption, concurrent writers, the caching codec."""

from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

from codeccmp.codec import Codec, Encoded, ParamSpace, RunSettings
from codeccmp.sweep.cache import (
    CachingCodec,
    ResultCache,
    codec_fingerprint,
    default_cache_dir,
    make_key,
    pixels_sha256,
)


class Counting(Codec):
    """Bytes whose length is the parameter; counts encodes."""

    name = "counting"
    param_space = ParamSpace("quality", "integer", 1, 100)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def encode(self, image: np.ndarray, param: int) -> Encoded:
        self.calls.append(int(param))
        return Encoded(bytes([param % 256]) * int(param), param, {"q": int(param)})

    def decode(self, data: bytes) -> np.ndarray:
        return np.zeros((8, 8), np.uint8)


@pytest.fixture
def cache(tmp_path: Path) -> ResultCache:
    return ResultCache.open(tmp_path / "c")


def test_default_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CODECCMP_CACHE_DIR", str(tmp_path / "x"))
    assert default_cache_dir() == tmp_path / "x"
    monkeypatch.delenv("CODECCMP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "codeccmp"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert default_cache_dir() == Path.home() / ".cache" / "codeccmp"


def test_tests_never_use_the_users_cache_or_config() -> None:
    """conftest's autouse fixture: a sweep in any test caches under the test's own folder,
    and no codec definition of the user's is loaded (both were the user's before)."""
    import os

    from codeccmp_external import user_config_dir

    home = Path.home()
    users = {home / ".cache" / "codeccmp", home / ".config" / "codeccmp"}
    users |= {Path(os.environ[v]) / "codeccmp" for v in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME")
              if os.environ.get(v)}
    assert default_cache_dir() not in users and user_config_dir() not in users


def test_keys_follow_everything_that_changes_output() -> None:
    a = np.zeros((8, 8), np.uint8)
    b = a.copy()
    b[0, 0] = 1
    assert pixels_sha256(a) != pixels_sha256(b)
    assert pixels_sha256(a) != pixels_sha256(a.reshape(4, 16))  # shape counts
    assert pixels_sha256(a) == pixels_sha256(a.copy())
    base = {"image": "x", "codec": {"library": {"pillow": "1"}}, "param": ["int", 5]}
    k = make_key("trial", base)
    assert k == make_key("trial", dict(reversed(list(base.items()))))  # order-free
    assert k != make_key("result", base)
    assert k != make_key("trial", {**base, "param": ["float", 5.0]})
    assert k != make_key("trial", {**base, "codec": {"library": {"pillow": "2"}}})


def test_fingerprint_of_a_pillow_codec() -> None:
    from codeccmp.plugins import load_registry

    jpeg = load_registry().get("jpeg")
    jpeg.configure(RunSettings())
    fp = codec_fingerprint(jpeg, RunSettings(), "cpu")
    assert fp["codec"] == "jpeg" and "pillow" in fp["library"]
    assert fp["options"] == {"chroma": "420", "optimize": True, "progressive": False}
    assert codec_fingerprint(jpeg, RunSettings(), "cpu") == fp
    # A codec spec's options change the key, including one that spells out the default.
    j444 = load_registry().get("jpeg[chroma=444]")
    fp444 = codec_fingerprint(j444, RunSettings(), "cpu")
    assert fp444["options"]["chroma"] == "444" and fp444["codec"] == "jpeg[chroma=444]"
    assert make_key("trial", fp444) != make_key("trial", fp)


def test_learned_fingerprint_hashes_weights_content(tmp_path: Path) -> None:
    w = tmp_path / "m.pth"
    w.write_bytes(b"one")

    class Learned(Counting):
        name = "net"
        family = "learned"

    s = RunSettings(weights={"net": str(w), "other": str(w)})
    fp1 = codec_fingerprint(Learned(), s, "cpu")
    assert list(fp1["weights"]) == ["net"]
    w.write_bytes(b"two, retrained into the same path")
    fp2 = codec_fingerprint(Learned(), s, "cpu")
    assert fp1["weights"] != fp2["weights"]
    assert codec_fingerprint(Learned(), s, "cuda") != fp2  # the device counts


def test_trial_round_trip(cache: ResultCache) -> None:
    enc = Encoded(b"\x00\x01bits", 42, {"quality": 42, "layers": (1.5, 2)})
    key = cache.trial_key("img", {"codec": "x"}, 42)
    assert cache.get_trial(key) is None
    cache.put_trial(key, enc, 0.25)
    got, seconds = cache.get_trial(key)
    assert got.data == enc.data and got.param == 42 and isinstance(got.param, int)
    assert got.settings["layers"] == [1.5, 2] and seconds == 0.25
    assert cache.stats.trial_hits == 1 and cache.stats.trial_misses == 1
    fkey = cache.trial_key("img", {"codec": "x"}, 0.3)
    cache.put_trial(fkey, Encoded(b"f", 0.3), 0.0)
    assert isinstance(cache.get_trial(fkey)[0].param, float)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "flip", "other_key"])
def test_corrupt_entries_are_misses(cache: ResultCache, damage: str) -> None:
    key = cache.trial_key("img", {"codec": "x"}, 7)
    cache.put_trial(key, Encoded(b"payload" * 50, 7), 0.1)
    path = next(cache.root.rglob(key))
    blob = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(blob[: len(blob) // 2])
    elif damage == "garbage":
        path.write_bytes(os.urandom(len(blob)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "flip":
        path.write_bytes(blob[:-1] + bytes([blob[-1] ^ 0xFF]))
    else:  # a valid entry stored under the wrong name
        other = cache.trial_key("img", {"codec": "x"}, 8)
        cache.put_trial(other, Encoded(b"zz", 8), 0.1)
        path.write_bytes(next(cache.root.rglob(other)).read_bytes())
    assert cache.get_trial(key) is None
    assert cache.stats.corrupt == 1
    cache.put_trial(key, Encoded(b"fresh", 7), 0.1)  # overwritten by the recomputation
    assert cache.get_trial(key)[0].data == b"fresh"


def test_no_read_still_writes(tmp_path: Path) -> None:
    res = {"codec": "x", "family": "traditional", "status": "failed", "reason": "r"}
    c = ResultCache.open(tmp_path / "c", read=False)
    c.put_result("k" * 64, res)
    assert c.get_result("k" * 64) is None
    assert ResultCache.open(tmp_path / "c").get_result("k" * 64) == res
    off = ResultCache.open(tmp_path / "d", enabled=False)
    off.put_result("k" * 64, res)
    assert not (tmp_path / "d").exists() and not off.enabled


def test_unwritable_cache_does_not_fail(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    c = ResultCache.open(blocker)
    c.put_result("k" * 64, {"a": 1})  # silently not cached
    assert c.get_result("k" * 64) is None


def _writer(root: str, key: str, n: int, seed: int) -> None:
    c = ResultCache.open(root)
    payload = bytes([seed]) * 200_000
    for _ in range(n):
        c.put_trial(key, Encoded(payload, 5), float(seed))


def _reader(root: str, key: str, n: int, out: multiprocessing.Queue) -> None:
    c = ResultCache.open(root)
    bad = 0
    for _ in range(n):
        hit = c.get_trial(key)
        if hit is not None and len(set(hit[0].data)) != 1:
            bad += 1  # a mix of two writers' bytes would show here
    out.put((bad, c.stats.corrupt))


def test_concurrent_writers_never_corrupt(tmp_path: Path) -> None:
    """Two processes write the same key over and over while a third reads it: every read is
    a miss or one writer's whole entry, never a mix or a torn file."""
    root = str(tmp_path / "c")
    key = "ab" * 32
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(root, key, 60, s)) for s in (1, 2)]
    procs.append(ctx.Process(target=_reader, args=(root, key, 300, q)))
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    bad, corrupt = q.get(timeout=5)
    assert bad == 0 and corrupt == 0
    enc, seconds = ResultCache.open(root).get_trial(key)
    assert enc.data in (b"\x01" * 200_000, b"\x02" * 200_000) and seconds in (1.0, 2.0)
    leftovers = [p for p in Path(root).rglob("*") if p.name.endswith(".tmp")]
    assert not leftovers


def test_caching_codec_serves_repeats_from_disk(cache: ResultCache) -> None:
    img = np.arange(64, dtype=np.uint8).reshape(8, 8)
    inner = Counting()
    proxy = CachingCodec(inner, cache, {"codec": "counting"})
    assert proxy.name == "counting" and proxy.param_space is inner.param_space
    a = proxy.encode(img, 10)
    b = proxy.encode(img, 10)
    assert a.data == b.data and inner.calls == [10] and proxy.encodes == 1
    # A new proxy (a later run) finds it on disk.
    inner2 = Counting()
    proxy2 = CachingCodec(inner2, ResultCache.open(cache.root), {"codec": "counting"})
    assert proxy2.encode(img, 10).data == a.data and inner2.calls == []
    assert 10 in proxy2.from_cache
    # Another image or another fingerprint: encoded afresh.
    proxy2.encode(img + 1, 10)
    CachingCodec(inner2, cache, {"codec": "counting", "v": 2}).encode(img, 10)
    assert inner2.calls == [10, 10]


def test_caching_codec_settles_learned_search_from_cache(cache: ResultCache) -> None:
    """A codec with its own search: when cached trials bracket the target with adjacent
    qualities, the answer comes from the cache without calling the codec."""

    class Own(Counting):
        param_space = ParamSpace("quality", "discrete", values=(10, 20, 30, 40))

        def match_rate(self, image, target_bpp):  # noqa: ANN001, ANN201
            self.searched = True
            return [self.encode(image, q) for q in (10, 20, 30, 40)]

    img = np.zeros((8, 8), np.uint8)  # 64 px: q bytes = q/8 bpp
    inner = Own()
    proxy = CachingCodec(inner, cache, {"codec": "own"})
    proposed = proxy.match_rate(img, 2.0)
    assert [e.param for e in proposed] == [10, 20, 30, 40] and inner.calls == [10, 20, 30, 40]
    inner.searched = False
    got = proxy.match_rate(img, 3.0)  # between q=20 (2.5 bpp) and q=30 (3.75 bpp)
    assert [e.param for e in got] == [20, 30] and not inner.searched
    assert [e.param for e in proxy.match_rate(img, 0.5)] == [10]  # below the lowest
    assert [e.param for e in proxy.match_rate(img, 9.0)] == [40]  # above the highest
    assert inner.calls == [10, 20, 30, 40] and not inner.searched
    # Generic-bisection codecs are not short-cut: the search retraces itself via encode().
    assert CachingCodec(Counting(), cache, {"codec": "c"}).match_rate(img, 1.0) is None
