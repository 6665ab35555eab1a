"""The HTML report's layout at ordinary window widths: the overview's region boxes on the
regions they name, square regions square, no table widening the page; and the results
table's columns (the stripe shares the CLI table shows) and key hints.

The picture here is wider (720 px) than the overview's cap (560 px), as a photograph is:
the smaller pictures of ``test_html_report.py`` never reached the cap, which is how boxes
placed in percent of a wider container than the picture went unnoticed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from test_html_report import _run, browser, shots  # noqa: F401 - browser fixtures, the CLI

from codeccmp.stripes import synthetic_grating

W, H = 720, 540
#: x, y, w, h: squares across the picture, the last one touching its right edge.
ROIS = [(40, 60, 96, 96), (400, 200, 128, 128), (640, 400, 80, 80)]
WIDTHS = (500, 800, 1280, 1920)




@pytest.fixture(scope="module")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("wide")
    g = synthetic_grating((H, W), 30.0, 6.0).astype(np.float64)
    y, x = np.mgrid[0:H, 0:W]
    rgb = np.stack([g, 0.6 * g + 100 * x / W, 255 - g * (0.5 + y / (2 * H))], axis=2)
    src = root / "wide.png"
    Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8)).save(src)
    rois = [a for r in ROIS for a in ("--roi", ",".join(map(str, r)))]
    # Extra metric columns make the results table wider than an 800 px window.
    code = _run("compare", str(src), "--bpp", "1", "--codecs", "jpeg,webp", *rois,
                "--metrics", "psnr-y,ssim", "--html", str(root / "report"),
                "--json", str(root / "r.json"), "--quiet")
    assert code == 0
    return root


def test_results_table_has_the_stripe_shares_and_the_hint_names_s(wide: Path) -> None:
    page = (wide / "report" / "index.html").read_text()
    heads = re.findall(r"<th [^>]*>([^<]*)</th>", page.split('id="results-table"')[1]
                       .split("</thead>")[0])
    assert heads[heads.index("Δθ ° (ROIs)") + 1:][:4] == ["kept", "turned", "redrawn", "erased"]
    res = {r["codec"]: r for r in json.loads((wide / "r.json").read_text())["results"]}
    body = page.split('id="results-table"')[1].split("</tbody>")[0]
    for codec, r in res.items():
        row = body.split(f"<code>{codec}</code>")[1].split("</tr>")[0]
        for key in ("kept_share", "turned_share", "redrawn_share", "erased_share"):
            assert f'data-v="{r["stripes"][key]!r}"' in row or \
                f'data-v="{r["stripes"][key]}"' in row, (codec, key, row)
    assert "<kbd>s</kbd> back to the split" in page


def test_share_columns_follow_what_the_results_carry() -> None:
    """Four classes where the analysis gives them, in their order; unknown shares after."""
    from codeccmp.model.results import CodecResult
    from codeccmp.render.html import _share_columns

    r = CodecResult("x", "traditional", "ok", stripes={
        "erased_share": 0.1, "kept_share": 0.5, "turned_share": 0.2, "flip_share": 0.2,
        "redrawn_share": 0.2, "odd_share": 0.0, "contrast_retention": 0.3})
    assert _share_columns([r]) == [("kept_share", "kept"), ("turned_share", "turned"),
                                   ("redrawn_share", "redrawn"), ("erased_share", "erased"),
                                   ("odd_share", "odd")]


@pytest.mark.parametrize("width", WIDTHS)
def test_overview_boxes_sit_on_their_regions(browser, wide: Path, shots: Path,  # noqa: ANN001, F811
                                             width: int) -> None:
    """Each box, measured in the picture's own pixels, starts at its ROI's corner and has
    its size (within 1.5 px: at 560/720 one CSS pixel is 1.3 image pixels, and borders
    snap to device pixels), at every width, below the cap and above it."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(width, 1000)
    browser.get((wide / "report" / "index.html").as_uri())
    boxes = browser.find_elements(By.CSS_SELECTOR, ".overview .roi-box")
    assert len(boxes) == len(ROIS)
    got = browser.execute_script(
        "const img = document.querySelector('.overview img').getBoundingClientRect();"
        f"const s = {W} / img.width;"
        "return [img.width, ...Array.from(arguments[0]).map(b => {"
        "  const r = b.getBoundingClientRect();"
        "  return [(r.left - img.left) * s, (r.top - img.top) * s, r.width * s, r.height * s];"
        "})];", boxes)
    shown, placed = got[0], got[1:]
    assert shown <= 560 and shown == pytest.approx(min(560, W), abs=1) or width < 600
    for (x, y, w, h), (bx, by, bw, bh) in zip(ROIS, placed, strict=True):
        assert abs(bx - x) < 1.5 and abs(by - y) < 1.5, (width, (x, y), (bx, by))
        assert abs(bw - w) < 1.5 and abs(bh - h) < 1.5, (width, (w, h), (bw, bh))
    browser.save_screenshot(str(shots / f"overview-{width}.png"))


@pytest.mark.parametrize("width", (800, 1280))
def test_no_table_widens_the_page(browser, wide: Path, width: int) -> None:  # noqa: ANN001, F811
    browser.set_window_size(width, 1000)
    browser.get((wide / "report" / "index.html").as_uri())
    page_w, view_w, table_w, box_w = browser.execute_script(
        "const t = document.getElementById('results-table');"
        "return [document.documentElement.scrollWidth, document.documentElement.clientWidth,"
        " t.scrollWidth, t.parentNode.clientWidth];")
    assert page_w <= view_w, (width, page_w, view_w)
    if width == 800:  # the table is wider than the window here: it scrolls in its box
        assert table_w > box_w
