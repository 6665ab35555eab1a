"""``compare -v`` and ``sweep -v``: every codec's (every point's) search, trial by trial, on
stderr (what people opened the JSON for), matching the JSON's trials; standard output
unchanged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image


def _img(tmp_path: Path) -> Path:
    rng = np.random.default_rng(2)
    y, x = np.mgrid[0:80, 0:112]
    img = 120 + 70 * np.sin(x / 4.0 + y / 9.0)[..., None] + rng.normal(0, 5, (80, 112, 3))
    path = tmp_path / "img.png"
    Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)).save(path)
    return path


ROW = re.compile(r"^│ (\S*(?: \S+)*) +│ +(\d+) │ +(\S+) │ +(\d+) │ +(\S+) │ +(\S+) │ (✓?) +│$")


def test_verbose_lists_every_trial_as_the_json_has_it(cli, tmp_path: Path) -> None:  # noqa: ANN001
    img = _img(tmp_path)
    r = cli("compare", str(img), "--bpp", "0.6", "--codecs", "jpeg,webp,jpeg2000", "--roi",
            "none", "-q", "-v", "--json", "-")
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)  # stdout: still exactly the JSON
    rows = [m.groups() for m in map(ROW.match, r.stderr.splitlines()) if m]
    want = []
    for res in doc["results"]:
        for i, tr in enumerate(res["trials"]):
            want.append((res["codec"] if i == 0 else "", str(i + 1), format(tr["param"], ".4g"),
                         str(tr["nbytes"]), f"{tr['bpp']:.4f}", f"{tr['bpp'] / 0.6 - 1:+.1%}"))
    assert [row[:6] for row in rows] == want
    # the log first, then the table it explains (both on stderr here, as stdout has the JSON)
    assert r.stderr.index("rate search") < r.stderr.index(" at 0.6 bpp")
    # one ✓ per codec, on a trial at the parameter it settled on
    chosen = [(i, row) for i, row in enumerate(rows) if row[6]]
    assert len(chosen) == len(doc["results"])
    by_codec = {res["codec"]: res for res in doc["results"]}
    codec = ""
    for row in rows:
        codec = row[0] or codec
        if row[6]:
            assert row[2] == format(by_codec[codec]["param"], ".4g")
            assert int(row[3]) == round(by_codec[codec]["bpp"] * 80 * 112 / 8)


def test_without_verbose_no_trials(cli, tmp_path: Path) -> None:  # noqa: ANN001
    r = cli("compare", str(_img(tmp_path)), "--bpp", "0.6", "--codecs", "jpeg", "--roi",
            "none", "-q")
    assert r.code == 0 and "rate search" not in r.stderr + r.stdout


def test_sweep_verbose_lists_every_points_trials(cli, tmp_path: Path) -> None:  # noqa: ANN001
    img = _img(tmp_path)
    r = cli("sweep", str(img), "--bpp", "0.5,0.8", "--codecs", "jpeg,webp", "--roi", "none",
            "-q", "-v", "--json", "-", "--cache-dir", str(tmp_path / "cache"))
    assert r.code == 0, r.stderr
    doc = json.loads(r.stdout)
    rows = [m.groups() for m in map(ROW.match, r.stderr.splitlines()) if m]
    want = []
    for p in doc["points"]:
        res = p["result"]
        for i, tr in enumerate(res["trials"]):
            want.append((f"img {res['codec']} @ {p['value']:g} bpp" if i == 0 else "",
                         str(i + 1), format(tr["param"], ".4g"), str(tr["nbytes"]),
                         f"{tr['bpp']:.4f}", f"{tr['bpp'] / p['value'] - 1:+.1%}"))
    assert len(doc["points"]) == 4 and [row[:6] for row in rows] == want
    assert sum(1 for row in rows if row[6]) == 4
    # the log before the tables and the summary line it explains
    assert r.stderr.index("rate search") < r.stderr.index("4 jobs:")
    # matching quality: the metric each trial reached instead of the distance in rate
    r = cli("sweep", str(img), "--match", "psnr=30", "--codecs", "jpeg", "--roi", "none",
            "-q", "-v", "--json", "-", "--cache-dir", str(tmp_path / "cache"))
    assert r.code == 0, r.stderr
    res = json.loads(r.stdout)["points"][0]["result"]
    assert "quality search (psnr)" in r.stderr
    rows = [m.groups() for m in map(ROW.match, r.stderr.splitlines()) if m]
    assert [row[5] for row in rows] == [f"{tr['psnr']:.2f}" for tr in res["trials"]]
