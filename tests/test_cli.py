"""The command line as a user meets it: exit codes, one-line errors, outputs on disk."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import run_subprocess, shared_path
from PIL import Image


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    (["missing.png", "--bpp", "0.3"], "error: image not found: missing.png"),
    (["IMG", "--bpp", "0"], "error: --bpp must be a positive number of bits per pixel, got 0"),
    (["IMG", "--bpp", "-0.5"],
     "error: --bpp must be a positive number of bits per pixel, got -0.5"),
    (["IMG", "--bpp", "500"], "error: --bpp 500 is absurd: raw 8-bit RGB is 24 bpp"),
    (["IMG", "--bpp", "nan"], "error: --bpp must be a positive number of bits per pixel, got nan"),
    (["IMG", "--bpp", "0.3", "--codecs", "jpeg,nosuch"], "error: unknown codec 'nosuch'; known:"),
    (["IMG", "--bpp", "0.3", "--codecs", "jpg"],
     "error: unknown codec 'jpg' (did you mean 'jpeg'?); known:"),
    (["IMG", "--bpp", "0.3", "--codecs", "mbt2018mse[x=1]"],
     "error: unknown codec 'mbt2018mse' (did you mean 'mbt2018-mse'?); known:"),
    (["IMG", "--bpp", "0.3", "--metrics", "msssim"],
     "error: unknown metric 'msssim' (did you mean 'ms-ssim'?); known:"),
    (["IMG", "--bpp", "0.3", "--codecs", "jpeg,,webp"], "error: --codecs expects comma-sep"),
    (["IMG", "--bpp", "0.3", "--device", "tpu"], "error: --device must be auto, cpu, cuda"),
    (["IMG", "--bpp", "0.3", "--weights", "nonsense"], "error: --weights expects CODEC"),
])
def test_bad_input_is_one_line_exit_2(cli, image_file: Path, args: list[str],  # noqa: ANN001
                                      message: str) -> None:
    args = [str(image_file) if a == "IMG" else a for a in args]
    r = cli("compare", *args)
    assert r.code == 2
    assert one_line(r.stderr).startswith(message)
    assert r.stdout == ""


def test_not_an_image_and_truncated_and_tiny(cli, tmp_path: Path, image_file: Path) -> None:  # noqa: ANN001
    txt = tmp_path / "notes.png"
    txt.write_text("hello")
    r = cli("compare", str(txt), "--bpp", "0.3")
    assert r.code == 2
    assert one_line(r.stderr) == f"error: not an image (or an unsupported format): {txt}"
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(image_file.read_bytes()[:300])
    r = cli("compare", str(trunc), "--bpp", "0.3")
    assert r.code == 2 and one_line(r.stderr).startswith(f"error: cannot read image {trunc}")
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (12, 40)).save(tiny)
    r = cli("compare", str(tiny), "--bpp", "0.3")
    assert r.code == 2
    assert one_line(r.stderr) == "error: image too small: 12×40; codeccmp needs at least 16×16"


def test_parser_errors_are_one_line(cli, image_file: Path) -> None:  # noqa: ANN001
    r = cli("compare", str(image_file), "--bpp", "abc")
    assert r.code == 2 and one_line(r.stderr).startswith("error: Invalid value for '--bpp'")
    r = cli("compare", str(image_file))
    assert r.code == 2 and "--bpp" in one_line(r.stderr)
    r = cli("compare", str(image_file), "--bpp", "1", "--frobnicate")
    assert r.code == 2 and "--frobnicate" in one_line(r.stderr)


def test_json_and_out(cli, image_file: Path, tmp_path: Path) -> None:  # noqa: ANN001
    out, js = tmp_path / "out", tmp_path / "r.json"
    r = cli("compare", str(image_file), "--bpp", "1.0", "--codecs", "jpeg,jpeg2000",
            "--json", str(js), "--out", str(out), "-q")
    assert r.code == 0, r.stderr
    assert "jpeg2000" in r.stdout and "PSNR dB" in r.stdout
    data = json.loads(js.read_text())
    assert set(data) >= {"image", "target_bpp", "results", "environment"}
    assert data["target_bpp"] == 1.0
    for res in data["results"]:
        for key in ("codec", "param", "bpp", "psnr", "ms_ssim", "encode_s", "decode_s",
                    "status", "reason"):
            assert key in res
        assert res["status"] == "ok"
        # The saved bitstream is exactly what was measured, and decodes to the saved PNG.
        ext = {"jpeg": "jpg", "jpeg2000": "j2k"}[res["codec"]]
        bits = (out / f"{res['codec']}.{ext}").read_bytes()
        assert len(bits) == res["nbytes"]
        assert res["bpp"] == pytest.approx(8 * len(bits) / (96 * 80))
        with Image.open(out / f"{res['codec']}.png") as png, \
                Image.open(io.BytesIO(bits)) as dec:
                assert np.array_equal(np.asarray(png), np.asarray(dec.convert("RGB")))
    # Nothing the user has is overwritten unless asked.
    before = js.read_bytes()
    r = cli("compare", str(image_file), "--bpp", "0.5", "--codecs", "jpeg", "--json", str(js))
    assert r.code == 2 and one_line(r.stderr) == f"error: {js} exists; pass --force to overwrite it"
    assert js.read_bytes() == before
    r = cli("compare", str(image_file), "--bpp", "0.5", "--codecs", "jpeg", "--out", str(out))
    assert r.code == 2 and "exists; pass --force" in r.stderr
    r = cli("compare", str(image_file), "--bpp", "0.5", "--codecs", "jpeg", "--json", str(js),
            "--force", "-q")
    assert r.code == 0 and json.loads(js.read_text())["target_bpp"] == 0.5


def test_unreachable_target_is_flagged(cli, image_file: Path, tmp_path: Path) -> None:  # noqa: ANN001
    js = tmp_path / "r.json"
    r = cli("compare", str(image_file), "--bpp", "0.01", "--codecs", "jpeg", "--json", str(js),
            "-q")
    assert r.code == 0
    res = json.loads(js.read_text())["results"][0]
    assert res["within_tolerance"] is False and res["deviation"] > 0.1
    assert "⚠" in r.stdout
    assert "jpeg: achieved" in r.stderr


def test_codecs_lists_families_and_libraries(cli) -> None:  # noqa: ANN001
    r = cli("codecs", "--json")
    assert r.code == 0
    rows = {row["codec"]: row for row in json.loads(r.stdout)}
    assert rows["jpeg"]["family"] == "traditional" and rows["jpeg"]["usable"] == "yes"
    assert "libjpeg-turbo" in rows["jpeg"]["library"]
    assert rows["jpeg2000"]["parameter"] == "rate 0.001–24 bpp"
    assert "libavif" in rows["avif"]["library"] or "pillow-avif-plugin" in rows["avif"]["library"]


def _codec_rows(stdout: str) -> list[str]:
    """The codec table's rows (its borders are spaces): the lines between its header rule
    and its caption, a row starting at the first column and its wrapped cells indented."""
    lines = stdout.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("───")) + 1
    end = next(i for i, ln in enumerate(lines) if ln.startswith("-v adds"))
    return lines[start:end]


def test_codecs_table_keeps_names_whole_and_learned_rows_short(cli, learned_env,  # noqa: ANN001
                                                               monkeypatch) -> None:  # noqa: ANN001
    """At an ordinary terminal width every codec name, option and value is whole (a name
    folded mid-word cannot be copied into --codecs; at 80 columns "progressi/ve" and
    "TAppEncode/rStatic" were) and a learned codec takes one line; the long texts
    (libraries, where the weights are) wait for -v."""
    rows = json.loads(cli("codecs", "--json").stdout)
    for width in (80, 120):
        monkeypatch.setenv("COLUMNS", str(width))
        r = cli("codecs")
        assert r.code == 0, r.stderr
        lines = r.stdout.splitlines()
        table = _codec_rows(r.stdout)
        assert max(len(line) for line in table) <= width  # the reasons below are messages
        assert [ln.split()[0] for ln in table if not ln.startswith(" ")] == [
            row["codec"] for row in rows]
        row_of = {ln.split()[0]: ln for ln in table if not ln.startswith(" ")}
        # Options: a line each under the table, whole as typed (the heif presets wrap
        # between two choices, never inside one).
        text = " ".join(ln.strip() for ln in lines)
        for row in rows:
            for o in row["options"]:
                values = str(o["values"]).replace("|", " | ")
                assert f"{o['key']}: {values} [{o['default']}]" in text, o
        assert any(ln.strip() == "progressive: true | false [false]" for ln in lines)
        # A long reason (what to do to get weights) is a line under the table, not a column
        # folded over eighteen lines.
        bls = table.index(row_of["bls2017"])
        assert "one checkpoint" in table[bls] and not table[bls + 1].startswith(" ")
        bls_row = next(x for x in rows if x["codec"] == "bls2017")
        assert f"bls2017: {bls_row['usable']}" in lines
        assert bls_row["weights"] == "missing"  # it read "missing (missing)"
        # A program's name in "usable here" stays whole.
        assert "TAppEncoderStatic" in " ".join(table)
        learned = row_of["bmshj2018-factorized"]
        assert "quality ∈ {1, …, 8}" in learned and "after a download" in learned
        assert not table[table.index(learned) + 1].startswith(" ")  # one line
    assert "downloaded on first use" not in r.stdout and "-v adds" in r.stdout
    # The hint is a line of the terminal's width, not folded to a narrow table's.
    few = cli("codecs", "jpeg", "avif")
    assert ("-v adds how each codec is set up, its libraries and plugin, and where a learned "
            "one's weights are") in few.stdout.splitlines()
    # -v: a block per codec, every field whole at 80 columns too (a wrapped line breaks
    # between words: a command to copy is never cut inside a word).
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("codecs", "-v")
    assert r.code == 0 and max(len(ln) for ln in r.stdout.splitlines()) <= 80
    words = r.stdout.split()
    assert "libjpeg-turbo" in words and "bmshj2018-factorized`" in words
    blocks = r.stdout.split("\n\n")
    assert [b.split("\n")[0] for b in blocks] == [row["codec"] for row in rows]
    jpeg = next(b for b in blocks if b.startswith("jpeg\n"))
    assert "  family       traditional" in jpeg and "  plugin       pillow" in jpeg
    assert "downloaded on first use" in r.stdout and "compressai " in r.stdout


def test_metrics_table_keeps_names_whole(cli, monkeypatch) -> None:  # noqa: ANN001
    """Every metric name whole on its row at 80 columns (it is typed into --metrics); the
    libraries wait for -v."""
    rows = json.loads(cli("metrics", "--json").stdout)
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("metrics")
    assert r.code == 0, r.stderr
    lines = r.stdout.splitlines()
    table = lines[:lines.index("-v adds each metric's libraries and plugin") + 1]
    assert max(len(line) for line in table) <= 80  # the reasons below are messages: unfolded
    first_cells = [line.split("│")[1].strip() for line in lines if line.startswith("│")]
    assert [c for c in first_cells if c] == [row["metric"] for row in rows]
    assert "numpy" not in r.stdout
    monkeypatch.setenv("COLUMNS", "300")
    psnr = next(ln for ln in cli("metrics", "-v").stdout.splitlines() if ln.startswith("│ psnr "))
    assert "numpy" in psnr and psnr.split("│")[6].strip() == "metrics", psnr


def test_codecs_lists_only_the_named_ones(cli) -> None:  # noqa: ANN001
    r = cli("codecs", "heif", "jpeg")
    assert r.code == 0, r.stderr
    assert [ln.split()[0] for ln in _codec_rows(r.stdout)] == ["heif", "jpeg"]
    assert [row["codec"] for row in json.loads(cli("codecs", "webp", "--json").stdout)] == [
        "webp"]
    r = cli("codecs", "jpg")
    assert r.code == 2 and one_line(r.stderr).startswith(
        "error: unknown codec 'jpg' (did you mean 'jpeg'?)")
    r = cli("codecs", "avif[speed=2]")
    assert r.code == 2 and "codecs takes codec names" in one_line(r.stderr)


@pytest.mark.parametrize("command", [
    ["compare"], ["sweep"], ["measure"], ["report"], ["train"], ["codecs"], ["metrics"],
    ["references"], ["cache", "info"], ["cache", "clear"], ["models", "list"],
    ["models", "pull"]])
def test_help_names_values_as_a_user_writes_them(cli, command: list[str]) -> None:  # noqa: ANN001
    """A repeatable option's value is shown as what to type (``--plugin FILE``,
    ``--roi X,Y,W,H``), never as the Python annotation behind it (``<list[Path]>``). (The
    arguments' section is typer's own: it prints every argument's type beside its name.)"""
    r = cli(*command, "--help")
    assert r.code == 0, r.stderr
    options = r.stdout.split("Options:", 1)[1]
    assert "list[" not in options, options
    # Arguments in capitals on the usage line, as the help's text names them ("Code IMAGE
    # with every codec") and as a missing one is reported ("Missing argument 'IMAGE'").
    usage = next(ln for ln in r.stdout.splitlines() if ln.startswith("Usage:"))
    arguments = re.findall(r"[{\[]([A-Za-z_]+)[}\]]", usage.split("[OPTIONS]", 1)[1])
    assert all(a.isupper() for a in arguments), usage


@pytest.mark.parametrize("command", [[], ["compare"], ["cache", "info"], ["models", "pull"],
                                     ["train"]])
def test_dash_h_is_help(cli, command: list[str]) -> None:  # noqa: ANN001
    """``-h`` as in git, pip and ruff, on the plugins' commands too."""
    long, short = cli(*command, "--help"), cli(*command, "-h")
    assert long.code == short.code == 0, short.stderr
    assert short.stdout == long.stdout and short.stdout.startswith("Usage: ")


def test_a_missing_argument_is_named_as_the_usage_line_names_it(cli) -> None:  # noqa: ANN001
    r = cli("compare", "--bpp", "0.3")
    assert r.code == 2 and one_line(r.stderr) == "error: Missing argument 'IMAGE'."


def test_help_and_codecs_do_not_import_torch() -> None:
    from procs import python_argv, run

    code = ("import sys; from codeccmp.cli.app import main\n"
            "try: main(sys.argv[1:])\nexcept SystemExit: pass\n"
            "bad = [m for m in ('torch', 'compressai', 'matplotlib') if m in sys.modules]\n"
            "print('HEAVY', bad, file=sys.stderr)")
    for args in (["--help"], ["codecs"], ["compare", "--help"]):
        p = run(python_argv(code, *args), timeout=120)
        assert "HEAVY []" in p.stderr, (args, p.stderr[-500:])
    # The top-level help (and a shell completion of a command or option name) loads the
    # plugins for their commands, and nothing of NumPy, Pillow or SciPy.
    # Nor importlib.metadata: entry points are read by codeccmp.installed.
    p = run(python_argv(code.replace("('torch', 'compressai', 'matplotlib')",
                                     "('torch', 'numpy', 'PIL', 'scipy', 'importlib.metadata')"),
                        "--help"),
            timeout=120)
    assert "HEAVY []" in p.stderr, p.stderr[-500:]


def test_a_run_without_stripe_regions_loads_no_stripe_analysis(tmp_path: Path) -> None:
    """``compare --roi none`` with a standard codec: no torch, and none of the stripe
    analysis (SciPy's package stays out too where its BLAS kernel loads on its own:
    tests/test_metrics_torchless.py); the same run looking for regions does load the
    analysis (the probe sees what it should)."""
    from PIL import Image
    from procs import python_argv, run

    img = tmp_path / "a.png"
    rng = np.random.default_rng(3)
    Image.fromarray(rng.integers(0, 256, (64, 80, 3), dtype=np.uint8)).save(img)
    code = ("import sys; from codeccmp.cli.app import main\n"
            "try: main(sys.argv[1:])\nexcept SystemExit: pass\n"
            "mods = ('torch', 'importlib.metadata', 'codeccmp.pipeline.analysis',\n"
            "        'codeccmp.stripes.field')\n"
            "print('LOADED', [m for m in mods if m in sys.modules], file=sys.stderr)")
    args = ["compare", str(img), "--bpp", "1", "--codecs", "jpeg", "-q"]
    p = run(python_argv(code, *args, "--roi", "none"), timeout=120)
    assert "LOADED []" in p.stderr, p.stderr[-500:]
    p = run(python_argv(code, *args), timeout=120)
    assert "'codeccmp.pipeline.analysis', 'codeccmp.stripes.field'" in p.stderr, p.stderr[-500:]


def test_subprocess_run_has_no_traceback(tmp_path: Path) -> None:
    r = run_subprocess("compare", str(tmp_path / "nope.png"), "--bpp", "0.3")
    assert r.code == 2 and one_line(r.stderr) == f"error: image not found: {tmp_path / 'nope.png'}"


@pytest.mark.slow
def test_end_to_end_barbara(cli, tmp_path: Path) -> None:  # noqa: ANN001
    barbara = shared_path("images", "barbara.png")
    js = tmp_path / "b.json"
    r = cli("compare", str(barbara), "--bpp", "0.3", "--codecs",
            "jpeg,jpeg2000,webp,avif,heif,jpegxl", "--json", str(js), "-q")
    assert r.code == 0, r.stderr
    data = json.loads(js.read_text())
    assert data["image"]["sha256"] == (
        "1ea77fe82564b55230d7c2439bef5738d18a4624280e263be48484c002b6280b")
    res = {x["codec"]: x for x in data["results"]}
    for name, x in res.items():
        assert x["status"] == "ok", name
        assert abs(x["bpp"] - 0.3) / 0.3 < 0.10, (name, x["bpp"])
        assert 0.85 < x["ms_ssim"] < 1 and 22 < x["psnr"] < 35, name
    # At 0.3 bpp the modern codecs beat JPEG on MS-SSIM: a sanity check on the metric.
    assert res["avif"]["ms_ssim"] > res["jpeg"]["ms_ssim"]
    assert res["heif"]["ms_ssim"] > res["jpeg"]["ms_ssim"]


def test_version_and_bare_command_show_something(cli) -> None:  # noqa: ANN001
    from codeccmp import __version__

    for flag in ("--version", "-V"):
        r = cli(flag)
        assert r.code == 0 and r.stdout.strip() == f"codeccmp {__version__}"
    r = cli()
    assert r.code == 0 and "compare" in r.stdout and "Usage" in r.stdout
