"""The plugin API: the documented example runs as a real plugin, docs match hookspecs."""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import numpy as np
import pytest

from codeccmp import hookspecs
from codeccmp.plugins import load_registry

DOCS = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"


def example_plugin_source() -> str:
    text = DOCS.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    (block,) = [b for b in blocks if "def register_codecs" in b]
    return block


@pytest.fixture
def plugin_file(tmp_path: Path) -> Path:
    p = tmp_path / "codeccmp_posterize.py"
    p.write_text(example_plugin_source())
    return p


def test_docs_document_exactly_the_hookspecs() -> None:
    documented = dict(re.findall(r"^### `(\w+)\(([^)]*)\)`", DOCS.read_text(), flags=re.M))
    specs = {
        name: ", ".join(inspect.signature(fn).parameters)
        for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
        if hasattr(fn, "codeccmp_spec")
    }
    assert specs, "no hookspecs found"
    assert documented == specs


def test_codec_members_in_docs_exist_on_the_base_class() -> None:
    from codeccmp.codec import Codec

    table = DOCS.read_text().split("## The `Codec` interface")[1].split("##")[0]
    members = re.findall(r"^\| `(\w+)", table, flags=re.M)
    assert members
    for m in members:
        assert hasattr(Codec, m) or m in Codec.__annotations__, m


def test_example_plugin_round_trips(plugin_file: Path) -> None:
    codec = load_registry([plugin_file]).get("posterize")
    img = (np.arange(64 * 48 * 3) % 251).astype(np.uint8).reshape(48, 64, 3)
    enc = codec.encode(img, 256)
    assert np.array_equal(codec.decode(enc.data), img)  # 256 levels: lossless
    assert codec.encode(img, 4).nbytes < enc.nbytes


def test_example_plugin_through_cli_file(cli, plugin_file: Path, tmp_path: Path,  # noqa: ANN001
                                         rgb_image: np.ndarray) -> None:
    from PIL import Image

    img = tmp_path / "in.png"
    Image.fromarray(rgb_image).save(img)
    r = cli("codecs", "--plugin", str(plugin_file))
    assert r.code == 0 and "posterize" in r.stdout
    out = tmp_path / "r.json"
    r = cli("compare", str(img), "--bpp", "2", "--codecs", "posterize,jpeg",
            "--plugin", str(plugin_file), "--json", str(out), "-q")
    assert r.code == 0, r.stderr
    res = {x["codec"]: x for x in json.loads(out.read_text())["results"]}
    assert res["posterize"]["status"] == "ok" and res["jpeg"]["status"] == "ok"
    assert res["posterize"]["settings"] == {"zlib_level": 9}


def test_example_plugin_through_entry_point(plugin_file: Path, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site"
    site.mkdir()
    plugin_file.rename(site / plugin_file.name)
    dist = site / "codeccmp_posterize-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: codeccmp-posterize\n"
                                   "Version: 0.1\n")
    (dist / "entry_points.txt").write_text("[codeccmp]\nposterize = codeccmp_posterize\n")
    monkeypatch.syspath_prepend(str(site))
    registry = load_registry()
    assert registry.plugin_of("posterize") == "posterize"
    assert registry.plugin_of("jpeg") == "pillow"  # first-party, same mechanism


def test_duplicate_codec_name_is_a_clear_error(cli, tmp_path: Path) -> None:  # noqa: ANN001
    p = tmp_path / "dup.py"
    p.write_text(example_plugin_source().replace('name = "posterize"', 'name = "jpeg"'))
    r = cli("codecs", "--plugin", str(p))
    assert r.code == 2
    assert r.stderr.strip().splitlines() == [
        f"error: codec name 'jpeg' registered twice (by pillow and file:{p.resolve()})"]


def test_broken_plugin_file_is_one_line(cli, tmp_path: Path) -> None:  # noqa: ANN001
    p = tmp_path / "broken.py"
    p.write_text("import nonexistent_module_xyz\n")
    r = cli("codecs", "--plugin", str(p))
    assert r.code == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "failed to load" in r.stderr and "nonexistent_module_xyz" in r.stderr
    r = cli("codecs", "--plugin", str(tmp_path / "missing.py"))
    assert r.code == 2 and "plugin file not found" in r.stderr


def test_a_plugin_file_runs_as_it_is_now_whatever_its_mtime_says(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Python's bytecode cache trusts a source whose size and mtime (whole seconds) are
    unchanged: a plugin file edited that way (one digit, the same second) ran its old code.
    Each load compiles the file as it is, and writes no ``__pycache__`` beside it."""
    import os
    import sys

    monkeypatch.setattr(sys, "dont_write_bytecode", False)  # whatever the environment says
    p = tmp_path / "edited.py"
    source = example_plugin_source().replace('name = "posterize"', 'name = "edited1"')
    p.write_text(source)
    stamp = (1_700_000_000, 1_700_000_000)
    os.utime(p, stamp)
    assert "edited1" in load_registry([p]).names()
    p.write_text(source.replace("edited1", "edited2"))  # same size
    os.utime(p, stamp)  # same mtime
    names = load_registry([p]).names()
    assert "edited2" in names and "edited1" not in names
    assert not (tmp_path / "__pycache__").exists()


def test_failing_codec_fails_alone(cli, tmp_path: Path, rgb_image: np.ndarray) -> None:  # noqa: ANN001
    from PIL import Image

    p = tmp_path / "bad.py"
    p.write_text(example_plugin_source().replace(
        "levels = int(param)", "raise RuntimeError('boom at %s' % param)"))
    img = tmp_path / "in.png"
    Image.fromarray(rgb_image).save(img)
    out = tmp_path / "r.json"
    r = cli("compare", str(img), "--bpp", "1", "--codecs", "jpeg,posterize", "--plugin", str(p),
            "--json", str(out), "-q")
    assert r.code == 1  # an explicitly requested codec did not run
    res = {x["codec"]: x for x in json.loads(out.read_text())["results"]}
    assert res["jpeg"]["status"] == "ok"
    assert res["posterize"]["status"] == "failed"
    assert res["posterize"]["reason"].startswith("RuntimeError: boom at")
    assert "posterize: failed: RuntimeError: boom" in r.stderr


def test_load_plugin_file_lets_a_plugin_read_its_own_file_kind(plugin_file: Path,
                                                               tmp_path: Path) -> None:
    """A ``--plugin`` file may claim other files through ``load_plugin_file``: here a
    ``.alias`` file naming one more posterize codec. Unclaimed files stay Python plugins."""
    loader = tmp_path / "alias_loader.py"
    loader.write_text(example_plugin_source() + '''

class _Alias:
    def __init__(self, path):
        self.__name__ = "alias:" + path.name
        self.codec = PosterizeCodec()
        self.codec.name = path.read_text().strip()

    @hookimpl
    def register_codecs(self, register):
        register(self.codec)


@hookimpl
def load_plugin_file(path):
    return _Alias(path) if path.suffix == ".alias" else None
''')
    alias = tmp_path / "p4.alias"
    alias.write_text("posterize-again\n")
    registry = load_registry([loader, alias])
    assert {"posterize", "posterize-again"} <= set(registry.names())
    assert registry.plugin_of("posterize-again") == "alias:p4.alias"
    assert registry.plugin_of("posterize") == f"file:{loader.resolve()}"


def test_codec_config_goes_through_the_hook(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """``--codec-config FILE.toml`` is read by codeccmp_external's ``load_plugin_file``: the
    core knows the file only through the hook (that the core imports no first-party plugin
    at all is an import-linter contract, tests/test_architecture.py)."""
    import pluggy

    from codeccmp.errors import UsageError

    config = tmp_path / "mine.toml"
    config.write_text('[[codec]]\nname = "mini"\ninput = "png"\noutput = "png"\n'
                      'encode = ["no-such-enc", "{input}", "{output}", "{param}"]\n'
                      'decode = ["no-such-dec", "{input}", "{output}"]\n[codec.param]\n'
                      'kind = "integer"\nlow = 0\nhigh = 10\nrate_increases = true\n')
    assert load_registry([config]).plugin_of("mini") == f"config:{config.resolve()}"
    # Without the external plugin nothing claims the file: it is tried as Python, and refused.
    import codeccmp.plugins

    load = codeccmp.plugins.load_entry_points

    def without_external(pm: pluggy.PluginManager) -> None:
        pm.set_blocked("external")  # the loader skips a blocked name, as pluggy's does
        load(pm)

    monkeypatch.setattr(codeccmp.plugins, "load_entry_points", without_external)
    with pytest.raises(UsageError, match="cannot load plugin file"):
        load_registry([config])


@pytest.mark.parametrize(("hook", "body", "message"), [
    ("register_codecs", "register(object())", "registered <object object at 0x"),
    ("register_codecs",
     "from codeccmp.codec import Codec\n    class C(Codec):\n        name = ''\n"
     "        def encode(self, *a): ...\n        def decode(self, *a): ...\n"
     "    register(C())", "registered a codec without a name"),
    ("register_codecs", "raise KeyError('boom')",
     "failed in register_codecs: KeyError: 'boom'"),
    ("register_metrics", "register(object())", "not a Metric"),
    ("register_metrics",
     "from codeccmp.metric import Metric\n    class M(Metric):\n        name = ''\n"
     "    register(M())", "registered a metric without a name"),
])
def test_a_plugin_registering_something_wrong_is_one_line_exit_2(
        cli, tmp_path: Path, hook: str, body: str, message: str) -> None:  # noqa: ANN001
    """A broken plugin is the user's input: one line naming the plugin, exit 2, not an
    "internal error" (both registries validate through the same helper)."""
    p = tmp_path / "wrong.py"
    p.write_text(f"from codeccmp import hookimpl\n@hookimpl\ndef {hook}(register):\n"
                 f"    {body}\n")
    r = cli("metrics" if hook == "register_metrics" else "codecs", "--plugin", str(p))
    assert r.code == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"error: plugin file:{p.resolve()} ")
    assert message in lines[0]


def test_did_you_mean_suggests_near_misses_only() -> None:
    from codeccmp.plugins import did_you_mean

    names = ["jpeg", "jpeg2000", "jpegxl", "webp", "mbt2018", "mbt2018-mse", "cheng2020-a",
             "cheng2020-b", "cheng2020-c", "cheng2020-d", "cheng2020-e"]
    assert did_you_mean("jpg", names) == " (did you mean 'jpeg'?)"  # a typo: difflib
    assert did_you_mean("JEPG", names) == " (did you mean 'jpeg'?)"
    assert did_you_mean("jpe", names) == " (did you mean 'jpeg', 'jpeg2000' or 'jpegxl'?)"
    assert did_you_mean("mbt2018mse", names) == " (did you mean 'mbt2018-mse'?)"
    assert did_you_mean("cheng", names) == " (5 names begin with it)"
    assert did_you_mean("nosuch", names) == ""
    assert did_you_mean("x", names) == ""
