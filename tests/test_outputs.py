"""Outputs: checked before any coding, written all together or not at all, with the umask."""

from __future__ import annotations

import importlib.util
import json
import os
import stat
from pathlib import Path

import pytest
from conftest import one_line, tree

from codeccmp.errors import UsageError
from codeccmp.model.fileio import STAGE_PREFIX, Outputs, atomic_write_bytes, atomic_write_text


@pytest.fixture
def umask():  # noqa: ANN201 - a generator fixture
    """Set the umask for one test, restoring it after."""
    saved = os.umask(0o022)
    os.umask(saved)

    def set_mask(mask: int) -> None:
        os.umask(mask)

    yield set_mask
    os.umask(saved)


# ---------------------------------------------------------------------------- the umask


@pytest.mark.parametrize(("mask", "mode"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_files_follow_the_umask(tmp_path: Path, umask, mask: int, mode: int) -> None:  # noqa: ANN001
    umask(mask)
    p = atomic_write_bytes(tmp_path / "a" / "out.bin", b"data")
    assert stat.S_IMODE(p.stat().st_mode) == mode
    assert p.read_bytes() == b"data"
    # Staged outputs as well, and the folders a commit creates.
    with Outputs() as outputs:
        outputs.add_dir(tmp_path / "new" / "sub")
        atomic_write_text(tmp_path / "new" / "sub" / "r.json", "{}")
    assert stat.S_IMODE((tmp_path / "new" / "sub" / "r.json").stat().st_mode) == mode
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o777 & ~mask


def test_cli_outputs_follow_the_umask(cli, image_file: Path, tmp_path: Path, umask) -> None:  # noqa: ANN001
    umask(0o022)
    js, out = tmp_path / "r.json", tmp_path / "out"
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi", "none",
            "--json", str(js), "--out", str(out), "-q")
    assert r.code == 0, r.stderr
    for p in (js, out / "jpeg.png", out / "jpeg.jpg"):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p


# ---------------------------------------------------------------------------- Outputs


def test_outputs_commit_together(tmp_path: Path) -> None:
    outputs = Outputs()
    outputs.add_file(tmp_path / "a.json")
    outputs.add_dir(tmp_path / "deep" / "dir")
    with outputs:
        atomic_write_text(tmp_path / "a.json", "1")
        atomic_write_text(tmp_path / "deep" / "dir" / "x" / "b.txt", "2")
        # Nothing is in place before the end of the run; not even the folders.
        assert not (tmp_path / "a.json").exists() and not (tmp_path / "deep").exists()
        # Writes to paths that are not outputs go straight to disk.
        atomic_write_text(tmp_path / "other.txt", "3")
        assert (tmp_path / "other.txt").read_text() == "3"
    assert (tmp_path / "a.json").read_text() == "1"
    assert (tmp_path / "deep" / "dir" / "x" / "b.txt").read_text() == "2"
    assert not any(n.startswith(STAGE_PREFIX) for n in os.listdir(tmp_path))


@pytest.mark.parametrize("exc", [RuntimeError("plot failed"), KeyboardInterrupt()])
def test_outputs_failed_run_leaves_nothing(tmp_path: Path, exc: BaseException) -> None:
    (tmp_path / "keep.json").write_text("old")
    outputs = Outputs(force=True)
    outputs.add_file(tmp_path / "keep.json")
    outputs.add_dir(tmp_path / "new")
    with pytest.raises(type(exc)), outputs:
        atomic_write_text(tmp_path / "keep.json", "new")
        atomic_write_text(tmp_path / "new" / "f.txt", "x")
        raise exc
    assert (tmp_path / "keep.json").read_text() == "old"
    assert tree(tmp_path) == ["keep.json"]  # no new folder, no staging folder


def test_outputs_commit_that_fails_midway_is_undone(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "b.txt").write_text("old b")
    outputs = Outputs(force=True)
    for name in ("a.txt", "b.txt", "sub/c.txt"):
        outputs.add_file(tmp_path / name)
    real_replace = os.replace
    calls = {"n": 0}

    def flaky_replace(src, dst):  # noqa: ANN001, ANN202
        if Path(dst).name == "c.txt":
            raise OSError("disk full")
        calls["n"] += 1
        return real_replace(src, dst)

    with pytest.raises(OSError, match="disk full"), outputs:
        for name in ("a.txt", "b.txt", "sub/c.txt"):
            atomic_write_text(tmp_path / name, f"new {name}")
        monkeypatch.setattr(os, "replace", flaky_replace)
    monkeypatch.setattr(os, "replace", real_replace)
    assert calls["n"] > 0  # some files had been moved before the failure
    assert tree(tmp_path) == ["b.txt"]
    assert (tmp_path / "b.txt").read_text() == "old b"


def test_outputs_check_up_front(tmp_path: Path) -> None:
    (tmp_path / "exists.json").write_text("x")
    (tmp_path / "afile").write_text("x")
    outputs = Outputs()
    with pytest.raises(UsageError, match="exists; pass --force"):
        outputs.add_file(tmp_path / "exists.json")
    with pytest.raises(UsageError, match="afile is not a directory"):
        outputs.add_file(tmp_path / "afile" / "sub" / "r.json")
    with pytest.raises(UsageError, match="is a directory"):
        outputs.add_file(tmp_path)
    with pytest.raises(UsageError, match="exists and is not a directory"):
        outputs.add_dir(tmp_path / "afile")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(UsageError, match="is not writable"):
            Outputs().add_file(ro / "sub" / "r.json")
    finally:
        ro.chmod(0o755)


# ---------------------------------------------------------------------------- the CLI


def _blocked(tmp_path: Path) -> Path:
    """A path that can never be written: its parent is a regular file."""
    block = tmp_path / "not-a-folder"
    block.write_text("x")
    return block / "sub"


@pytest.mark.parametrize("option", ["--json", "--out", "--report", "--montage"])
def test_compare_unwritable_output_is_a_usage_error_before_coding(
        cli, image_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
        option: str) -> None:
    import codeccmp.pipeline.compare

    def no_coding(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("coding started before the outputs were checked")

    monkeypatch.setattr(codeccmp.pipeline.compare, "compare_image", no_coding)
    target = _blocked(tmp_path) / ("x.json" if option in ("--json",) else
                                   "m.png" if option == "--montage" else "dir")
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", option, str(target))
    assert r.code == 2
    assert one_line(r.stderr).startswith("error: cannot write")
    assert "not-a-folder is not a directory" in r.stderr


@pytest.mark.parametrize("command,option", [
    ("compare", "--out"), ("compare", "--report"), ("compare", "--html"), ("sweep", "--out"),
    ("sweep", "--html")])
@pytest.mark.parametrize("name", ["-", "/dev/stdout"])
def test_a_folder_output_named_dash_is_refused(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                               monkeypatch: pytest.MonkeyPatch, command: str,
                                               option: str, name: str) -> None:
    """``-`` is standard output for a file (``--json -``); a folder of files cannot go there,
    and ``--out -`` made a folder called ``-`` in the current one."""
    monkeypatch.chdir(tmp_path)
    r = cli(command, str(image_file), "--bpp", "1", "--codecs", "jpeg", option, name,
            "--cache-dir" if command == "sweep" else "-q",
            *([str(tmp_path / "cache")] if command == "sweep" else []))
    assert r.code == 2 and one_line(r.stderr) == (
        f"error: {option} {name}: a folder of files cannot go to standard output or a "
        "stream; give a folder")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [image_file.name] if image_file.parent == tmp_path else [])


@pytest.mark.parametrize("option", ["--json", "--csv", "--plot"])
def test_sweep_unwritable_output_is_a_usage_error(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                                  option: str) -> None:
    name = {"--json": "s.json", "--csv": "s.csv", "--plot": "s.png"}[option]
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--cache-dir",
            str(tmp_path / "cache"), option, str(_blocked(tmp_path) / name))
    assert r.code == 2 and one_line(r.stderr).startswith("error: cannot write")
    assert not (tmp_path / "cache").exists()  # nothing ran


def test_measure_and_report_unwritable_outputs(cli, image_file: Path, tmp_path: Path) -> None:  # noqa: ANN001
    r = cli("measure", str(image_file), str(image_file), "--json",
            str(_blocked(tmp_path) / "m.json"))
    assert r.code == 2 and one_line(r.stderr).startswith("error: cannot write")
    js = tmp_path / "r.json"
    assert cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi", "none",
               "--json", str(js), "-q").code == 0
    r = cli("report", str(js), "--out", str(_blocked(tmp_path)))
    assert r.code == 2 and "not-a-folder" in one_line(r.stderr)


def test_compare_failure_while_writing_leaves_no_output(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The montage is written after the reconstructions: when it fails, neither exists,
    and the same command then runs without --force."""
    import codeccmp.render.report

    def broken(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise OSError("No space left on device")

    monkeypatch.setattr(codeccmp.render.report, "write_montage", broken)
    js, out, rep = tmp_path / "r.json", tmp_path / "out", tmp_path / "rep"
    args = ["compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi",
            "8,8,32,32", "--json", str(js), "--out", str(out), "--report", str(rep), "-q"]
    before = tree(tmp_path)
    r = cli(*args)
    assert r.code == 1 and one_line(r.stderr) == "error: No space left on device", r.stderr
    assert tree(tmp_path) == before  # no file, no empty folder, no staging folder
    monkeypatch.undo()
    r = cli(*args)
    assert r.code == 0, r.stderr
    assert js.is_file() and (out / "jpeg.png").is_file() and (out / "montage.png").is_file()
    assert (rep / "report.md").is_file() and (rep / "recon" / "jpeg.png").is_file()
    assert json.loads((rep / "results.json").read_text())["results"][0]["outputs"] == {
        "reconstruction": "recon/jpeg.png", "bitstream": "recon/jpeg.jpg"}


def test_train_never_overwrites_without_force(cli, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("codeccmp_compressai")
    ckpt = tmp_path / "precious.pth"
    ckpt.write_bytes(b"my only copy")
    r = cli("train", "bls2017", "--data", str(tmp_path / "nodata"), "--out", str(ckpt))
    assert r.code == 2
    assert one_line(r.stderr) == f"error: {ckpt} exists; pass --force to overwrite it"
    assert ckpt.read_bytes() == b"my only copy"
    r = cli("train", "bls2017", "--data", str(tmp_path / "nodata"), "--out",
            str(_blocked(tmp_path) / "c.pth"))
    assert r.code == 2 and one_line(r.stderr).startswith("error: cannot write --out")
    # With --force the output check passes and the next problem (no data) is reported.
    r = cli("train", "bls2017", "--data", str(tmp_path / "nodata"), "--out", str(ckpt),
            "--force")
    assert r.code == 2 and "exists" not in r.stderr
    assert ckpt.read_bytes() == b"my only copy"


# ------------------------------------------------------------- folders in the transaction


def _fail_on(monkeypatch: pytest.MonkeyPatch, pred) -> dict[str, int]:  # noqa: ANN001
    """Make ``os.replace`` fail for the moves ``pred(src, dst)`` picks; counts the others."""
    real_replace = os.replace
    calls = {"n": 0}

    def flaky(src, dst):  # noqa: ANN001, ANN202
        if pred(Path(src), Path(dst)):
            raise OSError("disk full")
        calls["n"] += 1
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky)
    return calls


def test_a_folder_output_commits_and_rolls_back_with_the_files(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from codeccmp.model.fileio import staged_tree

    old = tmp_path / "html"
    (old / "img").mkdir(parents=True)
    (old / "index.html").write_text("old page")
    (tmp_path / "r.json").write_text("old json")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}

    def run(fail) -> None:  # noqa: ANN001
        outputs = Outputs(force=True)
        outputs.add_file(tmp_path / "r.json")
        outputs.add_dir(tmp_path / "new" / "dir")
        outputs.add_tree(tmp_path / "html")
        with outputs:
            atomic_write_text(tmp_path / "r.json", "new json")
            atomic_write_text(tmp_path / "new" / "dir" / "a.txt", "a")
            tree_dir = staged_tree(tmp_path / "html")
            assert tree_dir is not None and not (tmp_path / "html" / "new.html").exists()
            (tree_dir / "new.html").write_text("new page")
            if fail is not None:
                _fail_on(monkeypatch, fail)

    # The last move (the folder's) fails: the files already moved go back, the old folder
    # comes back, the new parent folders go.
    with pytest.raises(OSError, match="disk full"):
        run(lambda src, dst: dst == tmp_path / "html" and src.name == "tree")
    monkeypatch.undo()
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
    assert tree(tmp_path) == ["html", "html/img", "html/index.html", "r.json"]
    # Failing while the old folder is put aside: the same.
    with pytest.raises(OSError, match="disk full"):
        run(lambda src, dst: src == tmp_path / "html")
    monkeypatch.undo()
    assert tree(tmp_path) == ["html", "html/img", "html/index.html", "r.json"]
    run(None)
    assert tree(tmp_path) == ["html", "html/new.html", "new", "new/dir", "new/dir/a.txt",
                              "r.json"]  # the old folder replaced whole, nothing staged left


def test_a_folder_output_is_checked_up_front(tmp_path: Path) -> None:
    (tmp_path / "html").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="pass --force"):
        Outputs().add_tree(tmp_path / "html")
    with pytest.raises(UsageError, match="not a directory"):
        Outputs(force=True).add_tree(tmp_path / "file")
    outputs = Outputs()
    outputs.add_file(tmp_path / "new" / "r.json")
    with pytest.raises(UsageError, match="of its own"):
        outputs.add_tree(tmp_path / "new")


def test_compare_html_folder_fails_with_its_run(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """compare --json --out --html: a failure in the very last move (the HTML folder's)
    leaves none of them; the same command then works without --force."""
    js, out, html = tmp_path / "r.json", tmp_path / "out", tmp_path / "html"
    args = ["compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--roi", "none",
            "--json", str(js), "--out", str(out), "--html", str(html), "-q"]
    before = tree(tmp_path)
    calls = _fail_on(monkeypatch, lambda src, dst: dst == html)
    r = cli(*args)
    assert r.code != 0 and "disk full" in r.stderr
    assert calls["n"] > 0  # the files had been moved into place before the folder failed
    assert tree(tmp_path) == before
    monkeypatch.undo()
    r = cli(*args)
    assert r.code == 0, r.stderr
    assert js.is_file() and (out / "jpeg.png").is_file() and (html / "index.html").is_file()


def test_sweep_export_and_html_folders_fail_with_the_run(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    js, cai, html = tmp_path / "s.json", tmp_path / "cai", tmp_path / "html"
    args = ["sweep", str(image_file), "--bpp", "0.5,1", "--codecs", "jpeg", "--roi", "none",
            "-j", "1", "-q", "--cache-dir", str(tmp_path / "cache"), "--json", str(js),
            "--compressai-json", str(cai), "--html", str(html)]
    before = tree(tmp_path)
    for pred in (lambda src, dst: dst == html,  # the last move
                 lambda src, dst: dst.parent == cai):  # the export's file
        calls = _fail_on(monkeypatch, pred)
        r = cli(*args)
        assert r.code != 0 and "disk full" in r.stderr
        assert calls["n"] > 0
        monkeypatch.undo()
        assert [p for p in tree(tmp_path) if not p.startswith("cache")] == before
    r = cli(*args)
    assert r.code == 0, r.stderr
    assert js.is_file() and (cai / "jpeg.json").is_file() and (html / "index.html").is_file()


# ------------------------------------------------- places that refuse files, same places


LINUX_PSEUDO = pytest.mark.skipif(not Path("/proc/self").is_dir(),
                                  reason="needs Linux's /proc and /sys")


@LINUX_PSEUDO
@pytest.mark.parametrize(("option", "target"), [
    ("--json", "/proc/x/r.json"), ("--out", "/proc/x"), ("--json", "/sys/r.json"),
    ("--montage", "/proc/m.png"), ("--report", "/proc/x"), ("--html", "/proc/x"),
])
def test_compare_probes_each_output_place_before_coding(
        cli, image_file: Path, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
        option: str, target: str) -> None:
    """``os.access`` says yes to root on /proc and /sys (and to anyone on a read-only
    mount): only creating the staging folder shows the output can be written. Another user
    (or root without CAP_DAC_OVERRIDE) is refused by ``os.access`` already, in its words."""
    import codeccmp.pipeline.compare

    def no_coding(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise AssertionError("coding started before the outputs were checked")

    monkeypatch.setattr(codeccmp.pipeline.compare, "compare_image", no_coding)
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", option, target)
    assert r.code == 2, r.stderr
    line = one_line(r.stderr)
    base = "/" + target.split("/")[1]
    said = line.removeprefix(f"error: cannot write {option} {target}: ")
    assert said.startswith(("cannot create files in", f"{base} is not writable")), line
    assert STAGE_PREFIX not in line  # the user's path, not one they never gave


@LINUX_PSEUDO
def test_sweep_measure_and_train_probe_their_output_places(cli, image_file: Path,  # noqa: ANN001
                                                           tmp_path: Path) -> None:
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--cache-dir",
            str(tmp_path / "cache"), "--json", "/proc/x/s.json")
    assert r.code == 2 and one_line(r.stderr).startswith("error: cannot write --json /proc/x")
    assert not (tmp_path / "cache").exists()  # nothing ran
    r = cli("measure", str(image_file), str(image_file), "--json", "/sys/m.json")
    assert r.code == 2 and one_line(r.stderr).startswith("error: cannot write --json /sys/m")
    if importlib.util.find_spec("codeccmp_compressai") is not None:
        data = tmp_path / "data"
        data.mkdir()
        r = cli("train", "bls2017", "--data", str(data), "--out", "/proc/x/ck.pth")
        assert r.code == 2
        assert one_line(r.stderr).startswith("error: cannot write --out /proc/x/ck.pth")


@pytest.mark.parametrize(("first", "second"), [
    ("x.png", "x.png"),              # the same name
    ("x.png", "sub/../x.png"),       # `..` (sub need not exist: the system resolves it so)
    ("x.png", "link.png"),           # a symlink to the other
    ("./x.png", "x.png"),
])
def test_two_outputs_in_one_file_are_a_usage_error(cli, image_file: Path, tmp_path: Path,  # noqa: ANN001
                                                   monkeypatch: pytest.MonkeyPatch,
                                                   first: str, second: str) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "link.png").symlink_to("x.png")
    r = cli("compare", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--json", first,
            "--montage", second)
    assert r.code == 2, r.stderr
    # Named as the user gave them (as pathlib spells them: "./x.png" is "x.png").
    assert one_line(r.stderr) == (f"error: --montage {Path(second)} and --json {Path(first)} "
                                  "are the same file: give each output its own")
    assert not (tmp_path / "x.png").exists()


def test_outputs_that_share_a_folder_but_not_a_file_are_fine(tmp_path: Path) -> None:
    outputs = Outputs()
    outputs.add_dir(tmp_path / "d", "--out")
    outputs.add_dir(tmp_path / "d", "--report")  # a folder of files for each: fine
    outputs.add_file(tmp_path / "d" / "a.png", "--out")
    outputs.add_file(tmp_path / "d" / "a.png", "--out")  # one option, one output
    outputs.add_file(tmp_path / "d" / "report.md", "--report")
    with pytest.raises(UsageError, match="--report .*a.png and --out .*a.png are the same"):
        outputs.add_file(tmp_path / "d" / "a.png", "--report")
    with pytest.raises(UsageError, match="--json .*d and --out .*d are the same file"):
        outputs.add_file(tmp_path / "d", "--json")
    outputs.add_tree(tmp_path / "h", "--html")
    with pytest.raises(UsageError,
                       match=r"--csv .*h/sub/\.\./x.csv and --html .*h are the same place"):
        outputs.add_file(tmp_path / "h" / "sub" / ".." / "x.csv", "--csv")


def test_sweep_outputs_in_one_file_are_a_usage_error(cli, image_file: Path,  # noqa: ANN001
                                                     tmp_path: Path) -> None:
    r = cli("sweep", str(image_file), "--bpp", "1", "--codecs", "jpeg", "--cache-dir",
            str(tmp_path / "cache"), "--json", str(tmp_path / "s.out"), "--csv",
            str(tmp_path / "s.out"))
    assert r.code == 2 and "are the same file" in one_line(r.stderr)
    assert not (tmp_path / "cache").exists()
