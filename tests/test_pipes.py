"""Pipes, as Unix filters take them: ``-`` is standard output for ``--json``/``--csv`` (the
tables then on stderr, so that stdout is exactly one document), ``report -`` reads standard
input; tables piped to a file carry no trailing spaces."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    paths = [str(ROOT / "src"), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths), "CODECCMP_OFFLINE": "1"}


def _image(folder: Path) -> Path:
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:96, 0:128]
    img = 128 + 80 * np.sin(x / 3.0 + y / 7.0)[..., None] + rng.normal(0, 6, (96, 128, 3))
    path = folder / "img.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def _pipeline(*commands: list[str], cwd: Path, stdin: bytes | None = None
              ) -> tuple[list[int], bytes, list[str]]:
    """Run ``commands`` joined by real pipes (each stdout into the next stdin), each in
    its own process group with default signal handlers; every group is killed in the end.
    Returns the exit codes, the last stdout and each stderr."""
    procs: list[subprocess.Popen] = []
    try:
        prev = subprocess.PIPE if stdin is not None else subprocess.DEVNULL
        for cmd in commands:
            p = subprocess.Popen(
                [sys.executable, "-m", "codeccmp", *cmd], cwd=cwd, env=_env(),
                stdin=procs[-1].stdout if procs else prev, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, start_new_session=True,
                preexec_fn=lambda: signal.signal(signal.SIGPIPE, signal.SIG_DFL))
            if procs:
                procs[-1].stdout.close()  # only the next process holds the pipe's read end
            procs.append(p)
        if stdin is not None and len(procs) > 1:
            procs[0].stdin.write(stdin)
            procs[0].stdin.close()
            stdin = None
        out, err = procs[-1].communicate(stdin, timeout=240)
        errors = []
        for p in procs[:-1]:
            errors.append(p.stderr.read().decode())
            p.wait(timeout=240)
        errors.append(err.decode())
        return [p.returncode for p in procs], out, errors
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def test_json_dash_is_standard_output_and_the_table_goes_to_stderr(tmp_path: Path) -> None:
    img = _image(tmp_path)
    codes, out, errs = _pipeline(["compare", str(img), "--bpp", "1", "--codecs", "jpeg",
                                  "--roi", "none", "--json", "-"], cwd=tmp_path)
    assert codes == [0], errs
    doc = json.loads(out)  # exactly one JSON document: no table, no progress line
    assert doc["results"][0]["codec"] == "jpeg" and doc["results"][0]["status"] == "ok"
    assert "┃ codec" in errs[0]  # the table is still shown, on stderr
    assert not (tmp_path / "-").exists()  # not a file named "-"
    # The same run again: nothing to overwrite, so no --force needed.
    codes, out2, _ = _pipeline(["compare", str(img), "--bpp", "1", "--codecs", "jpeg",
                                "--roi", "none", "--json", "/dev/stdout", "-q"], cwd=tmp_path)
    assert codes == [0] and json.loads(out2)["results"][0]["bpp"] == doc["results"][0]["bpp"]


def test_measure_writes_one_document_to_standard_output(tmp_path: Path) -> None:
    """``measure --json -`` and ``--montage -`` as in compare: its tables went to standard
    output too, before the JSON and into the PNG."""
    img = _image(tmp_path)
    codes, out, errs = _pipeline(["measure", str(img), str(img), "--roi", "none",
                                  "--json", "-"], cwd=tmp_path)
    assert codes == [0], errs
    doc = json.loads(out)
    assert doc["results"][0]["psnr"] is None or math.isinf(doc["results"][0]["psnr"])
    assert "┃ decoded" in errs[0]
    stripes = tmp_path / "stripes.png"
    Image.fromarray(np.tile(np.array([[40], [40], [200], [200]], np.uint8),
                            (48, 256))).save(stripes)  # horizontal stripes, 4 px period
    codes, out, errs = _pipeline(["measure", str(stripes), str(stripes), "--montage", "-"],
                                 cwd=tmp_path)
    assert codes == [0], errs
    assert out.startswith(b"\x89PNG") and Image.open(io.BytesIO(out)).size[0] > 256
    assert "┃ decoded" in errs[0]


def test_an_image_from_standard_input(tmp_path: Path) -> None:
    """``-`` as the image reads it from standard input, as Unix filters do; the results
    record ``-`` and the bytes' sha256, the same numbers as from the file."""
    img = _image(tmp_path)
    data = img.read_bytes()
    (tmp_path / "-.json").write_text("{}")  # no sibling truth file is looked for
    codes, out, errs = _pipeline(["compare", "-", "--bpp", "1", "--codecs", "jpeg",
                                  "--roi", "none", "--json", "-", "-q"],
                                 cwd=tmp_path, stdin=data)
    assert codes == [0], errs
    piped = json.loads(out)
    codes, out, errs = _pipeline(["compare", str(img), "--bpp", "1", "--codecs", "jpeg",
                                  "--roi", "none", "--json", "-", "-q"], cwd=tmp_path)
    from_file = json.loads(out)
    assert piped["image"]["path"] == "-"
    assert piped["image"]["sha256"] == from_file["image"]["sha256"]
    assert piped["results"][0]["bpp"] == from_file["results"][0]["bpp"]
    assert piped["results"][0]["psnr"] == from_file["results"][0]["psnr"]
    codes, out, errs = _pipeline(["measure", str(img), "-", "--roi", "none", "--json", "-"],
                                 cwd=tmp_path, stdin=data)
    assert codes == [0], errs
    assert json.loads(out)["results"][0]["decoded"]["path"] == "-"
    # Read once: a second - finds nothing; nothing piped in at all, the same line.
    for cmd, stdin in ((["measure", "-", "-"], data), (["compare", "-", "--bpp", "1"], b"")):
        codes, _, errs = _pipeline(cmd, cwd=tmp_path, stdin=stdin)
        assert codes == [2] and errs[0].strip() == (
            "error: image -: nothing on standard input (it can be read once: give - for one "
            "image only)"), errs


def test_a_sweep_of_the_image_on_standard_input(tmp_path: Path) -> None:
    img = _image(tmp_path)
    codes, out, errs = _pipeline(["sweep", "-", "--bpp", "0.8,1.2", "--codecs", "jpeg",
                                  "--roi", "none", "--out", "rec", "--json", "-", "-q"],
                                 cwd=tmp_path, stdin=img.read_bytes())
    assert codes == [0], errs
    assert [im["path"] for im in json.loads(out)["images"]] == ["-"]
    # Its reconstructions in a folder a shell can name ("-" cannot be cd'ed into by name).
    assert sorted(f.name for f in (tmp_path / "rec" / "stdin").iterdir()) == [
        "jpeg-0.8bpp.jpg", "jpeg-0.8bpp.png", "jpeg-1.2bpp.jpg", "jpeg-1.2bpp.png"]


def test_report_reads_standard_input_from_a_pipe(tmp_path: Path) -> None:
    img = _image(tmp_path)
    codes, _, errs = _pipeline(
        ["compare", str(img), "--bpp", "1", "--codecs", "jpeg,webp", "--roi", "none",
         "--json", "-", "-q"],
        ["report", "-", "--out", "rep"], cwd=tmp_path)
    assert codes == [0, 0], errs
    text = (tmp_path / "rep" / "report.md").read_text()
    assert "jpeg" in text and "webp" in text
    codes, _, errs = _pipeline(["report", "-"], cwd=tmp_path, stdin=b"{}")
    assert codes == [2] and errs[0].startswith("error: ") and len(errs[0].splitlines()) == 1
    codes, _, errs = _pipeline(["report", "-", "--out", "r2"], cwd=tmp_path, stdin=b"{oops")
    assert codes == [2] and "not valid JSON" in errs[0], errs


def test_sweep_csv_dash_and_only_one_dash(tmp_path: Path) -> None:
    img = _image(tmp_path)
    base = ["sweep", str(img), "--bpp", "0.8,1.2", "--codecs", "jpeg", "--roi", "none",
            "--no-cache", "-q"]
    codes, out, errs = _pipeline([*base, "--csv", "-"], cwd=tmp_path)
    assert codes == [0], errs
    rows = list(csv.DictReader(io.StringIO(out.decode())))
    assert {r["codec"] for r in rows} == {"jpeg"} and len(rows) >= 2
    assert "RD points" in errs[0]
    codes, out, errs = _pipeline([*base, "--json", "-", "--csv", "-"], cwd=tmp_path)
    assert codes == [2] and out == b"" and "standard output" in errs[0]
    assert len(errs[0].strip().splitlines()) == 1


def test_a_sweeps_log_starts_with_what_it_says(tmp_path: Path) -> None:
    """stderr into a file or a pipe: no progress bar, and no empty line where its stop was
    (a log began with a blank line)."""
    img = _image(tmp_path)
    codes, out, errs = _pipeline(["sweep", str(img), "--bpp", "0.8,1.2", "--codecs", "jpeg",
                                  "--roi", "none", "--no-cache"], cwd=tmp_path)
    assert codes == [0], errs
    lines = errs[0].splitlines()
    assert lines and "" not in lines, lines
    assert lines[-1].startswith("2 jobs: 0 results from the cache"), lines


def test_tables_piped_to_a_file_have_no_trailing_spaces(tmp_path: Path) -> None:
    img = _image(tmp_path)
    env = {k: v for k, v in _env().items() if k != "COLUMNS"}
    with open(tmp_path / "out.txt", "wb") as f:
        r = subprocess.run([sys.executable, "-m", "codeccmp", "compare", str(img), "--bpp",
                            "1", "--codecs", "jpeg", "--roi", "none", "-q"], stdout=f,
                           stderr=subprocess.PIPE, env=env, cwd=tmp_path, timeout=240)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert lines[0] == f"{img} at 1 bpp"
    assert [ln for ln in lines if ln != ln.rstrip()] == []


@pytest.mark.parametrize("command", [["codecs"], ["codecs", "-v"], ["references", "-v"],
                                     ["metrics"]])
def test_listings_piped_to_a_file_have_no_trailing_spaces(tmp_path: Path,
                                                          command: list[str]) -> None:
    """Rich pads a line to its table's width (a left-aligned last column, a title, a wrapped
    caption); piped, those spaces are noise for diff and grep, and are dropped."""
    env = {k: v for k, v in _env().items() if k != "COLUMNS"}
    with open(tmp_path / "out.txt", "wb") as f:
        r = subprocess.run([sys.executable, "-m", "codeccmp", *command], stdout=f,
                           stderr=subprocess.PIPE, env=env, cwd=tmp_path, timeout=240)
    assert r.returncode == 0, r.stderr
    lines = (tmp_path / "out.txt").read_text().splitlines()
    assert len(lines) > 10 and [ln for ln in lines if ln != ln.rstrip()] == []
