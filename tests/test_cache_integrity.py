"""The cache never serves what it should not: edited plugins, edited or incomplete entries;
and it stays under its size limit (`codeccmp cache info|clear|trim`)."""

from __future__ import annotations

import json
import os
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from codeccmp.errors import UsageError
from codeccmp.model.images import from_array
from codeccmp.sweep.cache import _LEN, _MAGIC, ResultCache
from codeccmp.sweep.cachedir import TRIM_TO, parse_size, scan, trim
from codeccmp.sweep.runner import SweepOptions, run_sweep

PLUGIN = textwrap.dedent('''
    import os, struct, zlib
    import numpy as np
    from codeccmp import hookimpl
    from codeccmp.codec import Codec, Encoded, ParamSpace

    STEP_OFFSET = {offset}

    class Quant(Codec):
        name = "quant"
        description = "quantise, zlib"
        param_space = ParamSpace("quality", "integer", 1, 100)

        def encode(self, image, param):
            with open(os.environ["QUANT_COUNT"], "a") as f:
                f.write("x\\n")
            step = 101 - int(param) + STEP_OFFSET
            q = (image.astype(np.int32) // step).astype(np.uint8)
            return Encoded(struct.pack(">HHB", *image.shape[:2], step)
                           + zlib.compress(q.tobytes(), 9), param, {{}})

        def decode(self, data):
            h, w, step = struct.unpack(">HHB", data[:5])
            q = np.frombuffer(zlib.decompress(data[5:]), np.uint8).reshape(h, w, 3)
            return np.clip(q.astype(np.int32) * step + step // 2, 0, 255).astype(np.uint8)

    @hookimpl
    def register_codecs(register):
        register(Quant())
''')


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rgb_image: np.ndarray):  # noqa: ANN201
    plugin = tmp_path / "quant.py"
    plugin.write_text(PLUGIN.format(offset=0))
    counter = tmp_path / "count.txt"
    monkeypatch.setenv("QUANT_COUNT", str(counter))
    return plugin, counter, from_array(rgb_image, "img")


def sweep(tmp_path: Path, plugin: Path, image):  # noqa: ANN001, ANN201
    from codeccmp.plugins import load_registry

    opts = SweepOptions(targets=[1.0, 2.0], codecs=["quant"], cache_dir=tmp_path / "cache",
                        jobs=1, rois=None, plugin_files=[plugin])
    return run_sweep([image], load_registry([plugin]), opts)


def encodes(counter: Path) -> int:
    return len(counter.read_text().split()) if counter.exists() else 0


def result_entries(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache").rglob("results/*/*"))


def rewrite_header(path: Path, edit) -> None:  # noqa: ANN001
    """Edit an entry's JSON header by hand, keeping the file well-formed (only the
    checksum can tell)."""
    blob = path.read_bytes()
    n = len(_MAGIC)
    (hlen,) = _LEN.unpack_from(blob, n)
    start = n + _LEN.size
    header = json.loads(blob[start:start + hlen])
    edit(header)
    hb = json.dumps(header, sort_keys=True).encode()
    path.write_bytes(_MAGIC + _LEN.pack(len(hb)) + hb + blob[start + hlen:])


def test_edited_plugin_recomputes(tmp_path: Path, world) -> None:  # noqa: ANN001
    plugin, counter, image = world
    first = sweep(tmp_path, plugin, image)
    n = encodes(counter)
    assert n > 0
    again = sweep(tmp_path, plugin, image)
    assert encodes(counter) == n and again.cache["jobs_cached"] == 2
    # The user fixes a bug in the plugin: same names, different code, different bytes.
    plugin.write_text(PLUGIN.format(offset=3))
    edited = sweep(tmp_path, plugin, image)
    assert encodes(counter) > n and edited.cache["jobs_cached"] == 0
    assert [p.result.nbytes for p in edited.points] != [p.result.nbytes for p in first.points]


def test_hand_edited_result_is_a_miss(tmp_path: Path, world) -> None:  # noqa: ANN001
    plugin, _, image = world
    first = sweep(tmp_path, plugin, image)
    true_psnr = [p.result.psnr for p in first.points]
    for path in result_entries(tmp_path):
        rewrite_header(path, lambda h: h["result"].update(psnr=99.0))
    again = sweep(tmp_path, plugin, image)
    assert [p.result.psnr for p in again.points] == pytest.approx(true_psnr)
    assert again.cache["jobs_cached"] == 0 and again.cache["corrupt"] == 2
    # Recomputed entries replaced the edited ones.
    assert sweep(tmp_path, plugin, image).cache["jobs_cached"] == 2


@pytest.mark.parametrize("damage", ["missing_field", "wrong_type"])
def test_malformed_result_with_a_valid_checksum_is_a_miss(tmp_path: Path, world,  # noqa: ANN001
                                                          damage: str) -> None:
    """An entry whose checksum holds but whose result is not a result (written by another
    build, say) is recomputed, never a crash."""
    plugin, _, image = world
    sweep(tmp_path, plugin, image)
    cache = ResultCache.open(tmp_path / "cache")
    for path in result_entries(tmp_path):
        good = cache.get_result(path.name)
        bad = dict(good)
        if damage == "missing_field":
            del bad["codec"]
        else:
            bad["bpp"] = "1.0"
        cache.put_result(path.name, bad)  # rewritten with a correct checksum
    again = sweep(tmp_path, plugin, image)
    assert all(p.result.ok for p in again.points)
    assert again.cache["jobs_cached"] == 0 and again.cache["corrupt"] == 2


def test_trial_checksum_covers_the_header(tmp_path: Path) -> None:
    from codeccmp.codec import Encoded

    cache = ResultCache.open(tmp_path / "c")
    key = cache.trial_key("img", {"codec": "x"}, 5)
    cache.put_trial(key, Encoded(b"bytes", 5), 0.5)
    path = next((tmp_path / "c").rglob(key))
    rewrite_header(path, lambda h: h.update(param=["int", 6]))  # the bytes of 5 as 6
    assert cache.get_trial(key) is None and cache.stats.corrupt == 1


# ---------------------------------------------------------------------------- size limit


def test_parse_size() -> None:
    assert parse_size("500M") == 500 * 1024**2
    assert parse_size("2g") == 2 * 1024**3
    assert parse_size("1.5GiB") == int(1.5 * 1024**3)
    assert parse_size("1234") == 1234
    assert parse_size("none") is None
    with pytest.raises(UsageError, match="like 500M"):
        parse_size("lots")


def _fill(root: Path, n: int, size: int) -> list[Path]:
    """``n`` entries of ``size`` bytes, the first the least recently used."""
    cache = ResultCache.open(root)
    from codeccmp.codec import Encoded

    paths = []
    now = time.time()
    for i in range(n):
        key = cache.trial_key("img", {"codec": "x"}, i)
        cache.put_trial(key, Encoded(bytes([i]) * size, i), 0.0)
        p = next(root.rglob(key))
        os.utime(p, (now - 1000 + i, now - 1000 + i))
        paths.append(p)
    return paths


def test_trim_evicts_least_recently_used_first(tmp_path: Path) -> None:
    root = tmp_path / "c"
    paths = _fill(root, 10, 10_000)
    # Using the oldest entry makes it the most recently used.
    cache = ResultCache.open(root)
    assert cache.get_trial(paths[0].name) is not None
    old_version = root / "v1" / "trials" / "ab" / ("ab" * 32)
    old_version.parent.mkdir(parents=True)
    old_version.write_bytes(b"x" * 100)
    stranger = root / "notes.txt"
    stranger.write_text("not ours")
    total, size = scan(root).total, paths[5].stat().st_size
    # A limit whose trimming goal (TRIM_TO of it) needs the old entry and three more gone.
    removed, _ = trim(root, limit=int((total - 100 - 3 * size) / TRIM_TO) + 1)
    left = {p.name for p in paths if p.exists()}
    # Old-version entries first, then the least recently used (paths[1], [2], [3]).
    assert not old_version.exists()
    assert paths[0].name in left
    assert not any(p.exists() for p in paths[1:4]) and all(p.exists() for p in paths[4:])
    assert removed == 4 and stranger.read_text() == "not ours"
    assert trim(root, limit=None) == (0, 0)


def test_cache_cli_info_trim_clear(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    root = tmp_path / "c"
    _fill(root, 6, 20_000)
    (root / "keep.txt").write_text("mine")
    r = cli("cache", "info", "--cache-dir", str(root))
    assert r.code == 0, r.stderr
    assert "trials: 6 entries" in r.stdout and "results: 0 entries" in r.stdout
    assert "2.0 GiB limit" in r.stdout
    monkeypatch.setenv("CODECCMP_CACHE_MAX_SIZE", "100K")
    assert "100.0 KiB limit" in cli("cache", "info", "--cache-dir", str(root)).stdout
    r = cli("cache", "trim", "--cache-dir", str(root), "--max-size", "70K")
    assert r.code == 0 and r.stdout.startswith("removed 3 entries")
    assert len(scan(root).entries) == 3
    r = cli("cache", "trim", "--cache-dir", str(root), "--max-size", "huge")
    assert r.code == 2 and r.stderr.startswith("error: --max-size must be a size")
    r = cli("cache", "clear", "--cache-dir", str(root))
    assert r.code == 0 and r.stdout.startswith("removed 3 entries")
    assert scan(root).entries == [] and (root / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in root.iterdir()) == ["keep.txt"]  # no empty folders


def test_sweep_keeps_the_cache_under_its_limit(cli, tmp_path: Path, world,  # noqa: ANN001
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    plugin, _, _ = world
    from PIL import Image

    img = tmp_path / "img.png"
    Image.fromarray(np.asarray(world[2].pixels)).save(img)
    monkeypatch.setenv("CODECCMP_CACHE_MAX_SIZE", "20K")
    r = cli("sweep", str(img), "--bpp", "0.5,1,2,3", "--codecs", "quant", "--plugin",
            str(plugin), "--cache-dir", str(tmp_path / "cache"), "--roi", "none", "-q", "-j", "1")
    assert r.code == 0, r.stderr
    assert 0 < scan(tmp_path / "cache").total <= 20 * 1024
