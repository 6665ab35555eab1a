"""The HTML and markdown reports of ``compare --match`` and of sweeps with ``--metrics``.

Each page is made from the run's JSON (``codeccmp report X.json --html DIR``), the way a
user makes it later, and its content checked against the numbers in that JSON.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def run():  # noqa: ANN201
    from codeccmp.cli.app import main

    def call(*args: str) -> int:
        try:
            main(list(args), own_process=False)
        except SystemExit as exc:
            return int(exc.code or 0)
        return 0

    return call


@pytest.fixture(scope="module")
def src(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import numpy as np
    from PIL import Image

    h, w = 80, 96
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    r = 128 + 100 * np.sin(2 * np.pi * (x * np.cos(0.5) + y * np.sin(0.5)) / 9)
    rgb = np.stack([r, 255 * x / w, np.where(y > h / 2, 200.0, 40.0)], axis=2)
    p = tmp_path_factory.mktemp("match") / "img.png"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(p)
    return p


@pytest.fixture(scope="module")
def matched(run, src: Path) -> tuple[dict, str, str]:  # noqa: ANN001
    """compare --match psnr=26 with an extra metric: its JSON, HTML page and markdown.
    (This image's JPEG and WebP reach 26 dB; at quality 100 they stop near 29 dB.)"""
    root = src.parent
    js = root / "m.json"
    assert run("compare", str(src), "--match", "psnr=26", "--metrics", "psnr-y",
               "--codecs", "jpeg,webp", "--json", str(js), "--quiet") == 0
    assert run("report", str(js), "--html", str(root / "m-html"), "--out",
               str(root / "m-md")) == 0
    return (json.loads(js.read_text()), (root / "m-html" / "index.html").read_text(),
            (root / "m-md" / "report.md").read_text())


def test_matched_page_says_what_was_matched(matched) -> None:  # noqa: ANN001
    data, page, md = matched
    assert data["target_bpp"] is None and data["settings"]["match"]["metric"] == "psnr"
    assert "<title>img.png matched at psnr = 26</title>" in page
    assert "Matched at equal quality: psnr = 26 (tolerance ±0.25)" in page
    assert " bpp (tolerance" not in page  # no rate target where there was none
    assert "# img.png matched at psnr = 26" in md
    assert "- Matched at equal quality: psnr = 26 (tolerance ±0.25)" in md


def test_matched_page_shows_quality_deviation_and_extra_metrics(matched) -> None:  # noqa: ANN001
    data, page, md = matched
    assert '<th data-type="num" tabindex="0">psnr-y</th>' in page
    # The matched psnr is the PSNR dB column (no repeat of it), then the --metrics ones.
    assert "| MS-SSIM dB | psnr-y |" in md
    assert '<th data-type="num" tabindex="0">psnr</th>' not in page
    for r in data["results"]:
        got, extra = r["metrics"]["psnr"], r["metrics"]["psnr-y"]
        dev = format(got - 26, "+.2f")  # Δ target in dB (±0.25: two decimals), not a share
        assert f"<td data-v=\"{got - 26!r}\">{dev}" in page, r["codec"]
        assert f"`{r['codec']}`" in md and f" {dev} " in md
        assert f">{extra:.2f}</td>" in page and f" {extra:.2f} " in md


@pytest.fixture(scope="module")
def sweep_data(run, src: Path) -> tuple[dict, str]:  # noqa: ANN001
    root = src.parent
    js = root / "s.json"
    assert run("sweep", str(src), "--bpp", "0.6,1,1.5,2.2", "--codecs", "jpeg,webp",
               "--anchor", "jpeg", "--metrics", "psnr-y,gmsd", "--json", str(js),
               "--cache-dir", str(root / "cache"), "--jobs", "1", "--quiet") in (0, 1)
    assert run("report", str(js), "--html", str(root / "s-html")) == 0
    return json.loads(js.read_text()), (root / "s-html" / "index.html").read_text()


def test_sweep_page_has_bd_on_every_metric_in_the_json(sweep_data) -> None:  # noqa: ANN001
    data, page = sweep_data
    assert set(data["bd"]) == {"psnr", "ms_ssim_db", "metric:psnr-y", "metric:gmsd"}
    bd_table = page.split('id="bd-table"', 1)[1].split("</table>", 1)[0]
    for label in ("PSNR", "MS-SSIM", "psnr-y", "gmsd"):
        assert f">BD-rate {label}</th>" in bd_table
    shown = 0
    for key in data["bd"]:
        r = data["bd"][key]["webp"]
        if r.get("bd_rate_percent") is not None:
            assert f"{r['bd_rate_percent']:+.1f}%" in bd_table, key
            shown += 1
    assert shown >= 3  # most curves overlap enough on this image for a number
    averaged = page.split('id="averaged-table"', 1)[1].split("</table>", 1)[0]
    assert ">psnr-y</th>" in averaged and ">gmsd</th>" in averaged


def test_matched_sweep_page_names_its_quality_targets(run, src: Path) -> None:  # noqa: ANN001
    root = src.parent
    js = root / "sm.json"
    assert run("sweep", str(src), "--match", "psnr=30,34", "--codecs", "jpeg",
               "--json", str(js), "--cache-dir", str(root / "cache"), "--jobs", "1",
               "--quiet") in (0, 1)
    assert run("report", str(js), "--html", str(root / "sm-html")) == 0
    page = (root / "sm-html" / "index.html").read_text()
    assert "Matched at equal quality: psnr = 30, 34 (tolerance ±0.25)" in page
    assert ">target psnr</th>" in page and " bpp (tolerance" not in page
