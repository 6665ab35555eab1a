"""Metrics computed by programs declared in TOML ([[metric]] tables), and the shipped
Butteraugli definition.

The test metric is a Python program this file writes: the signed mean difference
mean(decoded) − mean(original), an exact number numpy can check (both means are sums of
integers in float64, exact to far below the printed repr's precision), and asymmetric, so a
swapped {original}/{decoded} is caught.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from codeccmp_external import shipped_files, user_config_dir
from codeccmp_external.metric import ExternalMetric
from codeccmp_external.metric_config import load_metric_file
from conftest import one_line

from codeccmp.errors import UsageError
from codeccmp.metric import ValueRange, compute_metrics
from codeccmp.plugins import load_metrics

PROGRAM = r'''
import json, os, subprocess, sys, time

mode, a, b = sys.argv[1:4]
pidfile = os.environ.get("MEANDIFF_PIDS")


def child(detached=True):
    """A process that would run for 10 minutes, its pid recorded; not detached, it holds
    this program's stdout and stderr open."""
    quiet = subprocess.DEVNULL if detached else None
    p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"],
                         stdout=quiet, stderr=quiet)
    with open(pidfile, "a") as f:
        f.write(f"{p.pid}\n")


if mode == "hang":  # before NumPy's import: its child is running long before any timeout
    child()
    time.sleep(600)

import numpy as np
from PIL import Image

x = np.asarray(Image.open(a), dtype=np.float64)
y = np.asarray(Image.open(b), dtype=np.float64)
v = float(y.mean() - x.mean())

if mode == "plain":
    print(repr(v))
elif mode == "mad":  # mean absolute difference: falls as the rate rises, for --match
    print(repr(float(np.abs(y - x).mean())))
elif mode == "text":
    print(f"reading {a} and {b}\nsize 96x80, 3 channels\nscore: {v!r} (signed)")
elif mode == "json":
    with open(sys.argv[4], "w") as f:
        json.dump({"results": [{"name": "meandiff", "score": v}]}, f)
elif mode == "stderr":
    print(f"{v!r}", file=sys.stderr)
    sys.exit(1)
elif mode == "channels":
    print(1 if x.ndim == 2 else x.shape[2])
elif mode == "fail":
    print("meandiff: cannot compare these", file=sys.stderr)
    sys.exit(3)
elif mode == "nothing":
    print("done")
elif mode == "nan":
    print("nan")
elif mode == "orphan":
    child()
    print(repr(v))
elif mode == "orphan-holding":
    child(detached=False)
    print(repr(v))
'''


def metric_toml(name: str = "meandiff", mode: str = "plain", extra: str = "",
                value: str = "", command: str | None = None) -> str:
    cmd = command or f'["{{meandiff}}", "{mode}", "{{original}}", "{{decoded}}", "{{out}}"]'
    return f'''
[[metric]]
name = "{name}"
description = "signed mean difference (test)"
command = {cmd}
higher_is_better = false
{extra}
[metric.value]
{value}
[metric.tools.meandiff]
program = "codeccmp-meandiff"
env = "CODECCMP_TEST_MEANDIFF"
hint = "written by the test"
'''


@pytest.fixture(autouse=True)
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user config directory; the test program on $CODECCMP_TEST_MEANDIFF."""
    monkeypatch.setenv("CODECCMP_CONFIG_DIR", str(tmp_path / "config"))
    prog = tmp_path / "meandiff"
    prog.write_text(f"#!{sys.executable}\n{PROGRAM}")
    prog.chmod(0o755)
    monkeypatch.setenv("CODECCMP_TEST_MEANDIFF", str(prog))
    monkeypatch.setenv("MEANDIFF_PIDS", str(tmp_path / "pids"))
    return prog


def write(tmp_path: Path, text: str, name: str = "m.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def metric(tmp_path: Path, **kw: str) -> ExternalMetric:
    (spec,) = load_metric_file(write(tmp_path, metric_toml(**kw)))
    return ExternalMetric(spec)


def pair(rgb_image: np.ndarray, shift: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """The image (values 0..255) and the same with every value below 250 raised by
    ``shift``: the exact mean difference is shift × (share of such values)."""
    b = rgb_image.astype(np.int64)
    b = np.where(b < 250, b + shift, b).astype(np.uint8)
    return rgb_image, b


def exact(a: np.ndarray, b: np.ndarray) -> float:
    return float(b.astype(np.float64).mean() - a.astype(np.float64).mean())


def _alive(pid: int) -> bool:
    """Running (a zombie waiting for its reaper counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _pids(tmp_path: Path) -> list[int]:
    f = tmp_path / "pids"
    return [int(s) for s in f.read_text().split()] if f.exists() else []


def _kill(pids: list[int]) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


# -- the value, read three ways --------------------------------------------------------

@pytest.mark.parametrize(("mode", "value", "extra"), [
    ("plain", "", ""),                                       # stdout, the whole of it
    ("text", r'regex = "score: (\\S+)"', ""),                 # the regex's group
    ("text", r'regex = "(score|value): (?P<value>\\S+) \\(signed"', ""),  # named: wins
    ("json", 'from = "out"\njson = "results.0.score"', 'out = "result.json"'),
    ("stderr", 'from = "stderr"', "exit_codes = [0, 1]"),   # ImageMagick-style exit 1
])
def test_value_is_read_as_declared_and_exact(tmp_path: Path, rgb_image: np.ndarray,
                                             mode: str, value: str, extra: str) -> None:
    m = metric(tmp_path, mode=mode, value=value, extra=extra)
    a, b = pair(rgb_image)
    v = m.compute(a, b)
    assert v == pytest.approx(exact(a, b), abs=1e-12) and v > 0.5  # repr round-trips
    assert m.compute(b, a) == pytest.approx(-v, abs=1e-12)  # the order is original, decoded
    assert m.compute(a, a) == 0.0


def test_declared_properties_reach_the_metric(tmp_path: Path) -> None:
    m = metric(tmp_path, extra='range = [0, "inf"]\nunit = "JND"\nper_roi = true')
    assert (m.name, m.higher_is_better, m.per_roi, m.unit) == ("meandiff", False, True, "JND")
    assert m.value_range == ValueRange(0.0, None) and -1 not in m.value_range
    assert m.better(1.0, 2.0) and not m.better(2.0, 1.0)
    assert m.label() == "meandiff JND"


def test_gray_images_are_replicated_unless_the_program_takes_gray(
        tmp_path: Path, gray_image: np.ndarray) -> None:
    assert metric(tmp_path, mode="channels").compute(gray_image, gray_image) == 3
    m = metric(tmp_path, mode="channels", extra="supports_gray = true")
    assert m.compute(gray_image, gray_image) == 1


def test_cache_token_covers_definition_program_and_the_files_it_reads(
        tmp_path: Path, env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep keys cached values by this token: an edited definition, a changed program or
    an edit of the code that writes the PNG files the program reads each changes it."""
    from codeccmp_external import pixels

    first = metric(tmp_path).cache_token()
    assert first == metric(tmp_path).cache_token()
    assert first != metric(tmp_path, mode="text", value=r'regex = "score: (\\S+)"').cache_token()
    env.write_text(env.read_text() + "\n# a changed program\n")
    second = metric(tmp_path).cache_token()
    assert second != first
    edited = tmp_path / "pixels.py"
    edited.write_bytes(Path(pixels.__file__).read_bytes() + b"\n# a changed conversion\n")
    monkeypatch.setattr(pixels, "__file__", str(edited))
    assert metric(tmp_path).cache_token() != second


# -- registration: the same register_metrics path as every metric ----------------------

def test_registered_from_config_files_and_metrics_d(tmp_path: Path) -> None:
    f = write(tmp_path, metric_toml())
    reg = load_metrics([f])
    assert isinstance(reg.get("meandiff"), ExternalMetric)
    assert reg.plugin_of("meandiff") == f"config:{f.resolve()}"
    assert "psnr" in reg.names()  # beside the built-in ones
    d = user_config_dir() / "metrics.d"
    d.mkdir(parents=True)
    write(d, metric_toml(name="mine"), "mine.toml")
    assert load_metrics().plugin_of("mine") == "external"


def test_shipped_butteraugli_definition_loads() -> None:
    (f,) = shipped_files("metrics")
    (spec,) = load_metric_file(f)
    assert spec.name == "butteraugli" and not spec.higher_is_better and spec.per_roi
    assert load_metrics().plugin_of("butteraugli") == "external"


def test_codecs_and_metrics_in_one_file(tmp_path: Path) -> None:
    from test_external_config import MINIMAL

    f = write(tmp_path, MINIMAL + metric_toml())
    from codeccmp.plugins import load_registry

    reg = load_registry([f])
    assert "mini" in reg.names() and "meandiff" in load_metrics(pm=reg.pm).names()


def test_missing_program_is_a_reason_in_codeccmp_metrics(
        cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    f = write(tmp_path, metric_toml())
    monkeypatch.delenv("CODECCMP_TEST_MEANDIFF")
    r = cli("metrics", "--metric-config", str(f), "--json")
    assert r.code == 0, r.stderr
    (row,) = [x for x in json.loads(r.stdout) if x["metric"] == "meandiff"]
    assert row["usable"] == ("codeccmp-meandiff not found on PATH (or set "
                             "CODECCMP_TEST_MEANDIFF to its path); written by the test")
    assert row["better"] == "lower"
    # The table says it in a few words, and the whole reason (what to do) follows it.
    lines = cli("metrics", "--metric-config", str(f)).stdout.splitlines()
    (cell,) = [ln for ln in lines if ln.startswith("│ meandiff")]
    assert "│ codeccmp-meandiff not found on PATH │" in cell, cell
    assert f"meandiff: {row['usable']}" in lines
    r = cli("compare", "--metric-config", str(f), "--metrics", "meandiff", "x.png",
            "--bpp", "1")
    assert r.code == 2 and "metric meandiff is not usable here" in one_line(r.stderr)


# -- bad definitions: one line naming the file and the metric, before any work ---------

@pytest.mark.parametrize(("text", "needle"), [
    (metric_toml().replace('command = ["{meandiff}", "plain", "{original}", "{decoded}", '
                           '"{out}"]', ""), "metric 'meandiff': command is required"),
    (metric_toml().replace("higher_is_better = false", ""),
     "metric 'meandiff': higher_is_better is required"),
    (metric_toml(command='["{meandiff}", "{input}", "{decoded}"]'),
     "metric 'meandiff': command: unknown placeholder {input}"),
    (metric_toml(extra="colour = 1"), "metric 'meandiff': [[metric]]: unknown field(s) colour"),
    (metric_toml(value='regex = "score: ("'), "value.regex 'score: (' is not a regular"),
    (metric_toml(value='from = "out"', command='["{meandiff}", "{original}", "{decoded}"]'),
     "value.from = \"out\" needs {out} in the command"),
    (metric_toml(value='regex = "a"\njson = "b"'), "give regex or json, not both"),
    (metric_toml(extra="range = [1, 0]"), "range must have low < high"),
    (metric_toml(extra="timeout = 0"), "timeout must be positive"),
    (metric_toml(extra="exit_codes = []"), "exit_codes must be a non-empty list"),
    (metric_toml(extra='out = "../x.json"'), "out must be a plain file name"),
    (metric_toml(name="Bad Name"), "name must be lowercase"),
    (metric_toml() + metric_toml(), "metric 'meandiff' defined twice"),
    ("metric = 1", "define metrics as [[metric]] tables"),
    ("[[metric]", "not valid TOML"),
])
def test_bad_definition_is_one_line_naming_file_and_metric(cli, tmp_path: Path, text: str,  # noqa: ANN001
                                                           needle: str) -> None:
    f = write(tmp_path, text)
    r = cli("metrics", "--metric-config", str(f))
    line = one_line(r.stderr)
    assert r.code == 2 and needle in line and str(f) in line, line
    d = user_config_dir() / "metrics.d"  # the same check for the user's directory
    d.mkdir(parents=True)
    write(d, text, "bad.toml")
    with pytest.raises(UsageError, match="metric config .*bad.toml"):
        load_metrics()


def test_a_config_file_must_define_something(cli, tmp_path: Path) -> None:  # noqa: ANN001
    r = cli("metrics", "--codec-config", str(write(tmp_path, "# nothing\n")))
    assert r.code == 2 and "defines no codec or metric" in one_line(r.stderr)


# -- programs that misbehave: a note naming file and metric; the rest finishes ---------

@pytest.mark.parametrize(("mode", "needle"), [
    ("fail", "exited with status 3: meandiff: cannot compare these"),
    ("nothing", "printed no number on stdout: no number in 'done'"),
    ("nan", "printed nan on stdout"),
    ("stderr", "exited with status 1"),  # exit_codes not declared: 1 is a failure
])
def test_failing_program_is_a_note_and_the_other_metrics_stand(
        tmp_path: Path, rgb_image: np.ndarray, mode: str, needle: str) -> None:
    bad = metric(tmp_path, name="bad", mode=mode)
    good = metric(tmp_path, name="good")
    a, b = pair(rgb_image)
    values, notes = compute_metrics([bad, good], a, b)
    assert values["bad"] is None and values["good"] == pytest.approx(exact(a, b), abs=1e-12)
    (note,) = notes
    assert note.startswith("bad: ") and "metric 'bad'" in note and str(tmp_path) in note
    assert needle in note and "\n" not in note


def test_regex_or_json_that_finds_nothing_says_what_was_there(
        tmp_path: Path, rgb_image: np.ndarray) -> None:
    m = metric(tmp_path, mode="text", value='regex = "PSNR = (\\\\S+)"')
    with pytest.raises(RuntimeError, match=r"regex 'PSNR = \(\\S\+\)' does not match"):
        m.compute(rgb_image, rgb_image)
    m = metric(tmp_path, mode="json", value='from = "out"\njson = "results.1.score"')
    with pytest.raises(RuntimeError, match="JSON has no field 'results.1'"):
        m.compute(rgb_image, rgb_image)
    m = metric(tmp_path, mode="plain", value='from = "out"')  # never writes {out}
    with pytest.raises(RuntimeError, match="wrote no out.txt"):
        m.compute(rgb_image, rgb_image)


def test_a_hanging_program_and_its_children_are_killed_at_the_timeout(
        tmp_path: Path, rgb_image: np.ndarray) -> None:
    m = metric(tmp_path, mode="hang", extra="timeout = 2")
    try:
        t0 = time.monotonic()
        with pytest.raises(RuntimeError, match=r"metric 'meandiff' \(.*m.toml\): no result "
                                               r"within 2 s \(timeout"):
            m.compute(rgb_image, rgb_image)
        # 2 s, plus Python's start-up for the program; far below the child's 600 s.
        assert time.monotonic() - t0 < 30
        (pid,) = _pids(tmp_path)
        deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the program's child outlived the timeout"
    finally:
        _kill(_pids(tmp_path))


def _wait_dead(pid: int) -> bool:
    deadline = time.monotonic() + 5  # SIGKILL is delivered asynchronously
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


def test_children_left_running_are_killed_and_named(tmp_path: Path,
                                                     rgb_image: np.ndarray) -> None:
    """A program that exits leaving a child running misbehaves: the child is killed, and
    the value is refused with one line naming the metric and its file (what it printed may
    not be what the background work would have found); the other metrics stand."""
    m, good = metric(tmp_path, mode="orphan"), metric(tmp_path, name="good")
    try:
        a, b = pair(rgb_image)
        values, notes = compute_metrics([m, good], a, b)
        assert values["meandiff"] is None
        assert values["good"] == pytest.approx(exact(a, b), abs=1e-12)
        (note,) = notes
        assert "metric 'meandiff'" in note and "m.toml" in note and "\n" not in note
        assert "left processes running after it exited" in note
        (pid,) = _pids(tmp_path)
        assert _wait_dead(pid), "a process the program left behind outlived it"
    finally:
        _kill(_pids(tmp_path))


def test_a_child_holding_the_output_is_a_timeout_and_killed(tmp_path: Path,
                                                            rgb_image: np.ndarray) -> None:
    m = metric(tmp_path, mode="orphan-holding", extra="timeout = 2")
    try:
        values, notes = compute_metrics([m], rgb_image, rgb_image)
        assert values == {"meandiff": None}
        assert "no result within 2 s" in notes[0] and "m.toml" in notes[0]
        (pid,) = _pids(tmp_path)
        assert _wait_dead(pid)
    finally:
        _kill(_pids(tmp_path))
