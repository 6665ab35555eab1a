"""Inputs and messages: what a user who gets something slightly wrong is told (one line,
exit 2, nothing left behind), and what the listing and a run say about the same codec."""

from __future__ import annotations

import json
import os
import stat
import struct
import textwrap
import zlib
from pathlib import Path

import numpy as np
import pytest
from conftest import one_line, tree

from codeccmp.model.images import load_image

# ---------------------------------------------------------------------------- 16-bit RGB


def write_png16(arr: np.ndarray, path: Path) -> None:
    """A 16-bit RGB (3 channels) or RGBA (4) PNG, written by hand: Pillow cannot."""
    h, w, c = arr.shape
    color_type = {3: 2, 4: 6}[c]
    raw = b"".join(b"\x00" + arr[y].astype(">u2").tobytes() for y in range(h))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    ihdr = struct.pack(">IIBBBBB", w, h, 16, color_type, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


@pytest.mark.parametrize("channels", [3, 4])
def test_16bit_rgb_png_is_rounded_with_a_note(tmp_path: Path, channels: int) -> None:
    rng = np.random.default_rng(1)
    arr = rng.integers(0, 65536, (24, 40, channels)).astype(np.uint16)
    arr[0, 0, :3] = 0xFF00  # 254.0 × 257: rounds to 254, truncates to 255
    arr[0, 1, :3] = 0x0101  # exactly 1 × 257
    arr[0, 2, :3] = 0x0181  # 385 / 257 = 1.498: rounds to 1
    arr[0, 3, :3] = 0x0182  # 386 / 257 = 1.502: rounds to 2, truncates to 1
    write_png16(arr, tmp_path / "deep.png")
    src = load_image(tmp_path / "deep.png")
    expected = np.rint(arr[..., :3] / 257.0).astype(np.uint8)
    assert np.array_equal(src.pixels, expected)
    assert list(src.pixels[0, :4, 0]) == [254, 1, 1, 2]
    assert "16-bit image reduced to 8 bits" in src.notes
    assert ("alpha channel dropped" in src.notes) == (channels == 4)


def test_16bit_rgb_note_reaches_the_user_and_the_json(cli, tmp_path: Path) -> None:  # noqa: ANN001
    arr = (np.indices((32, 32)).sum(axis=0)[..., None] * np.array([900, 500, 300])
           ).astype(np.uint16)
    write_png16(arr, tmp_path / "deep.png")
    js = tmp_path / "r.json"
    r = cli("compare", str(tmp_path / "deep.png"), "--bpp", "2", "--codecs", "jpeg", "--roi",
            "none", "--json", str(js), "-q")
    assert r.code == 0, r.stderr
    assert "warning: 16-bit image reduced to 8 bits" in r.stderr
    assert "16-bit image reduced to 8 bits" in json.loads(js.read_text())["image"]["notes"]


# ---------------------------------------------------------------------------- --weights


@pytest.mark.parametrize(("codecs", "key", "message"), [
    ("jpeg", "jpeg", "'jpeg' is not a learned codec; known learned codecs: "),
    ("jpeg,bmshj2018-factorized", "bmshj2018-factorize:3",
     "'bmshj2018-factorize' is not a learned codec; known learned codecs: "),
    ("jpeg", "bmshj2018-factorized", "bmshj2018-factorized is not among the codecs run here"),
])
@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_weights_for_no_requested_learned_codec(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                                command: str, codecs: str, key: str,
                                                message: str) -> None:
    pytest.importorskip("codeccmp_compressai")
    ckpt = tmp_path / "w.pth"
    ckpt.write_bytes(b"x")
    r = cli(command, str(image_file), "--bpp", "1", "--codecs", codecs, "--weights",
            f"{key}={ckpt}", "--cache-dir" if command == "sweep" else "--roi",
            str(tmp_path / "cache") if command == "sweep" else "none")
    assert r.code == 2
    line = one_line(r.stderr)
    assert message in line
    if "known learned codecs" in message:
        assert "bmshj2018-factorized" in line.split("known learned codecs: ")[1]
        assert "jpeg" not in line.split("known learned codecs: ")[1]
    assert not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", ["compare", "sweep"])
@pytest.mark.parametrize("key", ["bmshj2018-factorized", "bmshj2018-factorized:3"])
def test_a_weights_file_that_is_no_checkpoint_is_refused_before_coding(
        cli, image_file: Path, tmp_path: Path, command: str, key: str) -> None:  # noqa: ANN001
    """A mistyped --weights path (a README, say) was found once the learned codec came to
    load it, seconds or minutes in, as that codec's failure: it is input, refused at once."""
    pytest.importorskip("codeccmp_compressai")
    text = tmp_path / "README.md"
    text.write_text("# not weights\n")
    out = tmp_path / "out"
    r = cli(command, str(image_file), "--bpp", "1", "--codecs", "jpeg,bmshj2018-factorized",
            "--weights", f"{key}={text}", "--out", str(out), "--roi", "none",
            *(["--cache-dir", str(tmp_path / "cache")] if command == "sweep" else []))
    assert r.code == 2, r.stderr
    assert one_line(r.stderr) == (f"error: --weights {key}: weights file {text} is not a "
                                  "checkpoint: not a file written by torch.save (check the path)")
    assert not out.exists() and not (tmp_path / "cache").exists()


@pytest.mark.parametrize("command", ["compare", "sweep"])
def test_weights_given_both_ways_twice_or_as_a_folder_are_refused(
        cli, image_file: Path, tmp_path: Path, command: str) -> None:  # noqa: ANN001
    """What `models list` refused, compare and sweep took: CODEC=PATH beside CODEC:Q=PATH (the
    quality's file dropped without a word), a key twice, a folder for a file; and a file
    for --weights-dir was "not found"."""
    pytest.importorskip("codeccmp_compressai")
    ckpt = tmp_path / "w.pth"
    ckpt.write_bytes(b"PK\x03\x04")
    name = "bmshj2018-factorized"
    cases = [
        (["--weights", f"{name}:3={ckpt}", "--weights", f"{name}={ckpt}"],
         f"error: --weights {name}=PATH names the model's only checkpoint; do not also give "
         f"{name}:QUALITY=PATH"),
        (["--weights", f"{name}:3={ckpt}", "--weights", f"{name}:3={ckpt}"],
         f"error: --weights given twice for {name}:3"),
        (["--weights", f"{name}={tmp_path}"],
         f"error: --weights {name}: {tmp_path} is a folder, not a weights file (--weights-dir "
         "takes a folder)"),
        (["--weights-dir", str(ckpt)],
         f"error: --weights-dir {ckpt} is a file, not a folder (--weights takes a file)"),
    ]
    for args, message in cases:
        r = cli(command, str(image_file), "--bpp", "1", "--codecs", f"jpeg,{name}", *args,
                "--roi", "none",
                *(["--cache-dir", str(tmp_path / "cache")] if command == "sweep" else []))
        assert r.code == 2, (args, r.stderr)
        assert one_line(r.stderr) == message
    assert not (tmp_path / "cache").exists()


def test_models_list_refuses_a_weights_dir_that_is_no_folder(cli, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("codeccmp_compressai")
    for where, message in ((tmp_path / "none", "weights directory not found"),
                           (Path(__file__), "is a file, not a folder")):
        r = cli("models", "list", "--weights-dir", str(where))
        assert r.code == 2 and message in one_line(r.stderr), r.stderr


# ---------------------------------------------------------------------------- --plugin


def test_same_plugin_twice(cli, image_file: Path, tmp_path: Path) -> None:  # noqa: ANN001
    plugin = tmp_path / "p.py"
    plugin.write_text("x = 1\n")
    other_spelling = tmp_path / "." / "p.py"
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--plugin",
            str(plugin), "--plugin", str(other_spelling))
    assert r.code == 2
    assert one_line(r.stderr).startswith(f"error: --plugin {other_spelling} given twice")


# ---------------------------------------------------------------------------- report


@pytest.fixture
def results_json(cli, image_file: Path, tmp_path: Path) -> Path:  # noqa: ANN001
    js = tmp_path / "res" / "r.json"
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi", "none",
            "--json", str(js), "-q")
    assert r.code == 0, r.stderr
    return js


def test_report_on_a_directory(cli, tmp_path: Path) -> None:  # noqa: ANN001
    (tmp_path / "somedir").mkdir()
    before = tree(tmp_path)
    r = cli("report", str(tmp_path / "somedir"), "--out", str(tmp_path / "new"))
    assert r.code == 2
    assert one_line(r.stderr).startswith(f"error: {tmp_path / 'somedir'} is a directory; "
                                         "expected the results JSON")
    assert tree(tmp_path) == before


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["results"][0].update(bpp="0.5"), "results[0].bpp is a string, expected a"),
    (lambda d: d["results"][0].update(notes="text"), "results[0].notes is a string, expected"),
    (lambda d: d["results"][0].update(status="good"), "results[0].status is 'good'"),
    (lambda d: d["results"][0].pop("codec"), "results[0] has no 'codec'"),
    (lambda d: d.update(results={}), "results is an object, expected a list"),
    (lambda d: d.update(target_bpp="1"), "target_bpp is a string, expected"),
    (lambda d: d["image"].update(path=3), "image.path is not a string"),
    (lambda d: d["results"][0].update(bpp=True), "results[0].bpp is true or false"),
])
def test_report_on_wrong_field_types(cli, results_json: Path, tmp_path: Path, edit,  # noqa: ANN001
                                     message: str) -> None:
    data = json.loads(results_json.read_text())
    edit(data)
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    before = tree(tmp_path)
    r = cli("report", str(bad), "--out", str(tmp_path / "rep"))
    assert r.code == 2
    line = one_line(r.stderr)
    assert line.startswith(f"error: {bad}: not a codeccmp results file: ")
    assert message in line
    assert tree(tmp_path) == before  # no empty report folder


def test_report_on_a_sweep_json(cli, image_file: Path, tmp_path: Path) -> None:  # noqa: ANN001
    sj = tmp_path / "sweep.json"
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi", "none",
            "--json", str(sj), "--cache-dir", str(tmp_path / "cache"), "-q", "-j", "1")
    assert r.code == 0, r.stderr
    before = tree(tmp_path)
    r = cli("report", str(sj), "--out", str(tmp_path / "rep"))
    assert r.code == 2
    assert one_line(r.stderr) == (f"error: {sj} is a sweep's JSON; `codeccmp report` reads the "
                                  "results of `codeccmp compare` (its --json, or results.json "
                                  "in --report), or a sweep's with --html DIR")
    assert tree(tmp_path) == before


def test_report_still_works(cli, results_json: Path, tmp_path: Path) -> None:  # noqa: ANN001
    r = cli("report", str(results_json), "--out", str(tmp_path / "rep"))
    assert r.code == 0, r.stderr
    assert (tmp_path / "rep" / "report.md").is_file()


# ---------------------------------------------------------------------------- learned codecs


def test_corrupt_checkpoint_in_a_run(cli, learned_env, image_file: Path) -> None:  # noqa: ANN001
    """A file that starts as torch.save's but is damaged is found when loaded: that codec
    fails, in one line (a file that is no checkpoint at all is refused up front: above)."""
    bad = learned_env.tmp / "bad.pth"
    bad.write_bytes(b"PK\x03\x04" + os.urandom(4096))
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "bmshj2018-factorized",
            "--weights", f"bmshj2018-factorized={bad}", "--roi", "none", "-q")
    assert r.code == 1 and "Traceback" not in r.stderr
    assert (f"bmshj2018-factorized: failed: CodecError: weights file {bad} is not a "
            "readable checkpoint: truncated or corrupt") in r.stderr


def _codecs_rows(cli, *args: str) -> dict:  # noqa: ANN001
    r = cli("codecs", "--json", *args)
    assert r.code == 0, r.stderr
    return {row["codec"]: row for row in json.loads(r.stdout)}


def test_codecs_and_compare_agree_on_weights(cli, learned_env, image_file: Path,  # noqa: ANN001
                                             learned_states, learned_save) -> None:
    name = "bmshj2018-factorized"
    row = _codecs_rows(cli)[name]
    # Not "yes": the weights are not here; a run downloads them first.
    assert row["usable"] == "after a download"
    assert row["weights"].startswith("not on disk: downloaded on first use")
    offline = _codecs_rows(cli, "--offline")[name]
    assert offline["weights"] == "missing (offline)"
    assert offline["usable"].startswith("weights missing (offline)")
    # ... naming both file names a weights folder may use, and --weights
    reason = " ".join(offline["usable"].split())
    assert f", or {name}-ms-ssim-<quality>.pth, in the weights dir" in reason, reason
    assert f"or give a file with --weights {name}=PATH" in reason, reason
    # The run tries the download (the zoo is unreachable here) and skips the codec ...
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", name, "--roi", "none", "-q")
    assert r.code == 1 and f"{name}: skipped: download of" in r.stderr
    # ... and the listing now says the same.
    row = _codecs_rows(cli)[name]
    assert row["usable"].startswith("weights missing (zoo server unreachable")
    assert row["weights"].startswith("missing (zoo server unreachable")
    # With the weights on disk both say usable.
    path, _ = learned_save(learned_env.wdir / f"{name}-ms-ssim-1.pth", learned_states(), zoo=False)
    row = _codecs_rows(cli, "--weights-dir", str(learned_env.wdir))
    assert row[name]["usable"] == "yes" and row[name]["weights"].startswith("on disk")
    assert path.is_file()
    # --weights, as compare takes it: -v says which file a run would load; refused as there
    row = _codecs_rows(cli, name, "--weights", f"{name}={path}")
    assert row[name]["usable"] == "yes" and row[name]["weights"] == f"from --weights: {path}"
    r = cli("codecs", "jpeg", "--weights", f"{name}={path}")
    assert r.code == 2 and one_line(r.stderr) == (
        f"error: --weights {name}: {name} is not among the codecs run here (name it too)")


def test_failed_download_leaves_nothing_in_the_hub_cache(learned_env) -> None:  # noqa: ANN001
    from codeccmp_compressai.zoo_download import download

    from codeccmp.codec import CodecUnavailable

    dest = learned_env.hub / "model-1-abcdef12.pth.tar"
    with pytest.raises(CodecUnavailable):
        download("http://127.0.0.1:9/nothing.pth.tar", dest, "abcdef")
    assert [p.name for p in learned_env.hub.iterdir()] == []  # no .lock, no .part


def test_download_leaves_no_lock_and_follows_the_umask(learned_env, tmp_path: Path) -> None:  # noqa: ANN001
    import functools
    import http.server
    import threading

    from codeccmp_compressai.zoo_download import download

    served = tmp_path / "served"
    served.mkdir()
    (served / "f.bin").write_bytes(b"weights" * 100)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                             functools.partial(Quiet, directory=str(served)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    saved = os.umask(0o022)
    try:
        dest = download(f"http://127.0.0.1:{server.server_address[1]}/f.bin",
                                learned_env.hub / "f.bin", None)
    finally:
        os.umask(saved)
        server.shutdown()
        server.server_close()
    assert dest.read_bytes() == b"weights" * 100
    assert stat.S_IMODE(dest.stat().st_mode) == 0o644
    assert [p.name for p in learned_env.hub.iterdir()] == ["f.bin"]


# ---------------------------------------------------------------------------- sweep notes

UNUSABLE_PLUGIN = textwrap.dedent('''
    import struct, zlib
    import numpy as np
    from codeccmp import hookimpl
    from codeccmp.codec import Codec, Encoded, ParamSpace

    class Quant(Codec):
        name = "quant"
        description = "quantise, zlib"
        param_space = ParamSpace("quality", "integer", 1, 100)

        def encode(self, image, param):
            step = 101 - int(param)
            q = (image.astype(np.int32) // step).astype(np.uint8)
            return Encoded(struct.pack(">HHB", *image.shape[:2], step)
                           + zlib.compress(q.tobytes(), 9), param, {})

        def decode(self, data):
            h, w, step = struct.unpack(">HHB", data[:5])
            q = np.frombuffer(zlib.decompress(data[5:]), np.uint8).reshape(h, w, 3)
            return np.clip(q.astype(np.int32) * step + step // 2, 0, 255).astype(np.uint8)

    def unusable(i):
        class Missing(Quant):
            name = f"nomodel{i}"
            family = "learned"
            def availability(self):
                return ("weights missing (offline): expected nomodel-1.pth in the weights dir "
                        "or the torch hub cache")
        return Missing()

    @hookimpl
    def register_codecs(register):
        register(Quant())
        for i in range(6):
            register(unusable(i))
''')


def test_sweep_folds_unusable_codecs_into_one_note(tmp_path: Path, rgb_image: np.ndarray,
                                                   capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from codeccmp.cli.sweep import _render
    from codeccmp.model.images import from_array
    from codeccmp.plugins import load_registry
    from codeccmp.sweep.runner import SweepOptions, run_sweep

    monkeypatch.setenv("COLUMNS", "200")
    plugin = tmp_path / "u.py"
    plugin.write_text(UNUSABLE_PLUGIN)
    names = ["quant"] + [f"nomodel{i}" for i in range(6)]
    result = run_sweep([from_array(rgb_image, "img")], load_registry([plugin]), SweepOptions(
        targets=[0.5, 1.0, 2.0, 3.0], codecs=names, anchor="quant", cache_dir=tmp_path / "c",
        jobs=1, rois=None, plugin_files=[plugin]))
    capsys.readouterr()
    _render(result, [], explicit=False)
    out, err = capsys.readouterr()
    assert "nomodel" not in out  # no rows of dashes, no BD rows
    assert "quant" in out
    notes = [line for line in err.splitlines()
             if line.startswith("note:") and "missed their target" not in line]
    assert notes == [
        "note: 6 codec(s) not usable here, skipped (6: weights not on disk (offline)): "
        + ", ".join(names[1:]) + " (`codeccmp codecs -v` says where each one's weights are; "
        "reasons in --json)"]
    # Named explicitly, each one says why.
    _render(result, [], explicit=True)
    _, err = capsys.readouterr()
    assert sum(line.startswith("note: nomodel") for line in err.splitlines()) == 6


def test_a_note_prints_the_codec_and_the_text_as_they_are(cli, image_file: Path) -> None:  # noqa: ANN001
    """Rich read notes as markup: ``jpeg[optimize=false]`` was printed as ``jpeg``."""
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg[optimize=false]",
            "--roi", "none", "--tolerance", "0.0001", "-q")
    assert r.code == 0, r.stderr
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note: ")]
    assert notes and notes[0].startswith("note: jpeg[optimize=false]: achieved "), r.stderr


def test_labelled_text_is_neither_markup_nor_emoji() -> None:
    import io

    from rich.console import Console

    from codeccmp.render.console import labelled

    out = io.StringIO()
    text = "webp[method=4]: failed: ValueError: [/] bad :x: value [bold]"
    Console(file=out, width=200).print(labelled("note:", text))
    assert out.getvalue() == f"note: {text}\n"


def test_a_file_name_with_brackets_is_printed_as_it_is(cli, image_file: Path) -> None:  # noqa: ANN001
    """The table's title is the image's path: ``s[red]x.png`` was printed as ``sx.png``."""
    named = image_file.with_name("s[red]x.png")
    image_file.rename(named)
    r = cli("compare", str(named), "--bpp", "1", "--codecs", "jpeg", "--roi", "none", "-q")
    assert r.code == 0 and r.stdout.splitlines()[0] == f"{named} at 1 bpp", r.stdout[:300]
    r = cli("measure", str(named), str(named), "--roi", "none")
    assert r.code == 0 and r.stdout.splitlines()[0].startswith(f"{named} ("), r.stdout[:300]
