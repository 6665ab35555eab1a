"""Tables narrower than their terminal: whole values, the least telling columns left out and
named, never a number cut to "0.30…" (``codeccmp compare`` at 80 columns showed every bpp,
PSNR and MS-SSIM that way)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from rich.console import Console

from codeccmp.render.fit import Column, fitted_table


def _render(table, width: int) -> list[str]:  # noqa: ANN001 - a rich Table
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    console.file.close()
    return console.export_text().splitlines()


def _columns() -> list[Column]:
    return [Column("name", ["jpeg[optimize=false]", "webp"], justify="left"),
            Column("bpp", ["0.3097", "0.2968"]),
            Column("PSNR dB", ["24.98", "24.97"], narrow="PSNR\ndB"),
            Column("MS-SSIM dB", ["10.35", "11.73"], narrow="MS-SSIM\ndB", drop=2),
            Column("enc s", ["0.002", "0.124"], narrow="enc\ns", drop=5),
            Column("dec s", ["0.005", "0.012"], narrow="dec\ns", drop=5),
            Column("device", ["cpu", "cpu"], justify="left", drop=6)]


def test_wide_enough_every_column_on_one_header_line() -> None:
    lines = _render(fitted_table(_columns(), 120, title="t"), 120)
    assert any("│ jpeg[optimize=false] │ 0.3097 │   24.98 │      10.35 │" in ln for ln in lines)
    assert not any("not shown" in ln for ln in lines)
    assert sum("PSNR dB" in ln for ln in lines) == 1


@pytest.mark.parametrize("width", [60, 50, 45])
def test_narrow_drops_the_least_telling_columns_and_names_them(width: int) -> None:
    lines = _render(fitted_table(_columns(), width, title="t"), width)
    table = [ln for ln in lines if ln[:1] in "┏┃┡│└"]
    assert max(len(ln) for ln in table) <= width
    assert "…" not in "\n".join(lines)
    # What is shown is whole; what is not is named, the highest "drop" first, a tie from
    # the right.
    shown = "\n".join(table)
    for value in ("jpeg[optimize=false]", "0.3097", "24.98"):
        assert value in shown
    note = " ".join(" ".join(ln for ln in lines if ln not in table).split())
    gone = [h for h in ("device", "dec s", "enc s", "MS-SSIM dB") if h not in shown
            and h.split()[0] not in shown]
    assert gone and f"not shown at {width} columns: " in note
    order = ["MS-SSIM dB", "enc s", "dec s", "device"]  # as the table lists them
    assert note.split("columns: ")[1].split(" (")[0] == ", ".join(
        h for h in order if h in gone)
    # Left out in the order of their "drop": device, then dec s, then enc s.
    assert gone == ["device", "dec s", "enc s", "MS-SSIM dB"][:len(gone)]


def test_no_width_means_every_column() -> None:
    lines = _render(fitted_table(_columns(), None, title="t"), 200)
    assert "device" in "\n".join(lines) and not any("not shown" in ln for ln in lines)


def test_columns_that_may_not_go_stay_even_when_they_do_not_fit() -> None:
    """Nothing more to leave out and still too wide: cells fold over lines (nothing lost),
    never cut, and no column is cropped off the right."""
    cols = [Column("a", ["x" * 30]), Column("b", ["y" * 30]), Column("c", ["z"])]
    lines = _render(fitted_table(cols, 40), 40)
    text = "\n".join(lines)
    assert max(len(ln) for ln in lines) <= 40 and "…" not in text
    assert (text.count("x"), text.count("y"), text.count("z")) == (30, 30, 1)


@pytest.fixture
def stripes_image(tmp_path: Path) -> Path:
    """A 200×176 picture with a grating (a stripe region for the analysis; MS-SSIM needs
    161 pixels a side)."""
    y, x = np.mgrid[0:176, 0:200].astype(np.float64)
    g = 128 + 90 * np.sin(2 * np.pi * (x * np.cos(0.6) + y * np.sin(0.6)) / 5)
    img = np.stack([g, 255 * x / 200, np.where(y > 88, 200.0, 40.0)], axis=2)
    path = tmp_path / "stripes.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


def test_compare_at_80_columns_shows_whole_numbers(cli, stripes_image: Path, tmp_path: Path,  # noqa: ANN001
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    js = tmp_path / "r.json"
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("compare", str(stripes_image), "--bpp", "1", "--codecs", "jpeg,webp,jpeg2000",
            "--json", str(js))
    assert r.code == 0, r.stderr
    table = [ln for ln in r.stdout.splitlines() if ln[:1] in "┏┃┡│└"]
    assert max(len(ln) for ln in table) <= 80 and "…" not in r.stdout
    rows = {ln.split("│")[1].strip(): ln for ln in table if ln.startswith("│ ")}
    for res in json.loads(js.read_text())["results"]:
        row = rows[res["codec"]]
        assert f"{res['bpp']:.4f}" in row and f"{res['psnr']:.2f}" in row, row
        assert f"{res['ms_ssim']:.4f}" in row, row
    assert "not shown at 80 columns: " in r.stdout.replace("\n", " ")
    monkeypatch.setenv("COLUMNS", "200")
    wide = cli("compare", str(stripes_image), "--bpp", "1", "--codecs", "jpeg,webp,jpeg2000")
    assert "not shown" not in wide.stdout and "device" in wide.stdout


def test_measure_and_sweep_at_80_columns(cli, stripes_image: Path, tmp_path: Path,  # noqa: ANN001
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out"
    assert cli("compare", str(stripes_image), "--bpp", "1", "--codecs", "jpeg,webp",
               "--out", str(out), "-q").code == 0
    monkeypatch.setenv("COLUMNS", "80")
    r = cli("measure", str(stripes_image), str(out / "jpeg.png"), str(out / "webp.png"))
    assert r.code == 0, r.stderr
    assert "…" not in r.stdout and "jpeg.png" in r.stdout and "webp.png" in r.stdout
    assert max(len(ln) for ln in r.stdout.splitlines() if ln[:1] in "┏┃┡│└") <= 80
    r = cli("sweep", str(stripes_image), "--bpp", "0.5,1,1.5,2", "--codecs",
            "jpeg[optimize=false],webp[method=4],jpeg", "--anchor", "jpeg", "--no-cache",
            "-q")
    assert r.code == 0, r.stderr
    assert "…" not in r.stdout
    bd = r.stdout[r.stdout.index("BD against"):]
    assert "│ jpeg[optimize=false] │" in bd and "│ webp[method=4]" in bd, bd
