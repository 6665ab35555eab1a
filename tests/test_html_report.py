"""The HTML report: the folder it writes, and the page driven in a real headless Chromium.

The browser tests use Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs
them) through Selenium, pointed at both binaries so nothing is ever downloaded; they skip
when either is absent. One browser session serves the whole module, and the images are tiny.
Screenshots go to a temporary folder (printed with ``-s``; kept by pytest for a few runs).
"""

from __future__ import annotations

import io
import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from procs import short_tempdir

from codeccmp.stripes import synthetic_grating

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
ROI = (16, 12, 48, 40)  # x, y, w, h inside the 96×72 test image


def _image() -> np.ndarray:
    """96×72 RGB: a grating (stripes to turn) over colour ramps, so codecs differ visibly."""
    g = synthetic_grating((72, 96), 30.0, 6.0).astype(np.float64)
    y, x = np.mgrid[0:72, 0:96]
    rgb = np.stack([g, 0.6 * g + 100 * x / 96, 255 - g * (0.5 + y / 144)], axis=2)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _run(*args: str) -> int:
    from codeccmp.cli.app import main

    try:
        main(list(args), own_process=False)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """One compare run: its HTML folder, its --out folder (bitstreams) and the input."""
    root = tmp_path_factory.mktemp("html")
    src = root / "grating.png"
    Image.fromarray(_image()).save(src)
    html, out = root / "report", root / "out"
    # WebP cannot get within 5 % of 0.8 bpp on this image (JPEG can): a miss to see marked.
    code = _run("compare", str(src), "--bpp", "0.8", "--codecs", "jpeg,webp", "--tolerance",
                "0.05", "--roi", ",".join(map(str, ROI)), "--out", str(out),
                "--html", str(html), "--quiet")
    assert code == 0
    return root, src, html, out


def _pixels(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


# ---------------------------------------------------------------- the folder (no browser)


def test_folder_is_complete_and_offline(made) -> None:  # noqa: ANN001
    root, src, html, out = made
    names = {p.relative_to(html).as_posix() for p in html.rglob("*")}
    assert {"index.html", "report.js", "report.css", "results.json", "img/original.png",
            "img/jpeg.png", "img/webp.png", "img/montage.png"} <= names
    assert not [p for p in root.iterdir() if p.name.startswith(".")]  # no staging left over
    page = (html / "index.html").read_text()
    # Nothing from the network; every local reference exists beside the page.
    for text in (page, (html / "report.js").read_text(), (html / "report.css").read_text()):
        assert not re.search(r"(https?:)?//[a-z0-9]", text, re.I), "a network reference"
    for ref in re.findall(r'(?:src|href)="([^"#:]+)"', page):
        assert (html / ref).is_file(), ref
    # Full-resolution lossless copies: the original's pixels, and each codec's decoded bytes.
    assert np.array_equal(_pixels(html / "img/original.png"), _pixels(src))
    for codec, ext in (("jpeg", "jpg"), ("webp", "webp")):
        assert np.array_equal(_pixels(html / f"img/{codec}.png"), _pixels(out / f"{codec}.{ext}"))
    data = json.loads((html / "results.json").read_text())
    assert {r["codec"]: r["outputs"] for r in data["results"]} == {
        "jpeg": {"reconstruction": "img/jpeg.png"}, "webp": {"reconstruction": "img/webp.png"}}
    assert oct((html / "index.html").stat().st_mode & 0o044) == oct(0o044 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_existing_folder_needs_force_and_a_failure_leaves_nothing(  # noqa: D103
        made, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:  # noqa: ANN001
    root, src, html, out = made
    target = tmp_path / "r"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    args = ("report", str(html / "results.json"), "--html", str(target))
    assert _run(*args) == 2
    assert capsys.readouterr().err.strip() == f"error: {target} exists; pass --force to " \
                                              "overwrite it"
    assert (target / "keep.txt").read_text() == "mine"

    import codeccmp.render.report as report

    def broken(*a, **k):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("drawing failed")

    monkeypatch.setattr(report, "write_montage", broken)
    fresh = tmp_path / "fresh"
    assert _run("report", str(html / "results.json"), "--html", str(fresh)) == 1
    assert "drawing failed" in capsys.readouterr().err
    assert _run(*args, "--force") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r"]  # no partial folder, no stage
    assert (target / "keep.txt").read_text() == "mine"  # the old folder survives the failure
    monkeypatch.undo()
    assert _run(*args, "--force") == 0
    assert not (target / "keep.txt").exists() and (target / "index.html").is_file()


def test_compare_checks_the_folder_before_coding(cli, made, tmp_path: Path) -> None:  # noqa: ANN001
    src = made[1]
    taken = tmp_path / "taken"
    taken.mkdir()
    r = cli("compare", str(src), "--bpp", "0.8", "--codecs", "jpeg", "--html", str(taken))
    assert r.code == 2 and r.stderr.strip() == f"error: {taken} exists; pass --force to " \
                                                "overwrite it"
    assert r.stdout == ""  # refused before any coding: no table
    r = cli("compare", str(src), "--bpp", "0.8", "--codecs", "jpeg", "--out", str(tmp_path / "o"),
            "--html", str(tmp_path / "o"))
    assert r.code == 2 and "must be a folder of its own" in r.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_html_alone_carries_the_reconstructions(cli, made, tmp_path: Path) -> None:  # noqa: ANN001
    """--html without --out/--report/--montage: the page still gets every reconstruction (the
    pipeline keeps them only for outputs that show them, and the page is one)."""
    html = tmp_path / "alone"
    r = cli("compare", str(made[1]), "--bpp", "0.8", "--codecs", "jpeg", "--roi",
            ",".join(map(str, ROI)), "--html", str(html), "-q")
    assert r.code == 0, r.stderr
    assert (html / "img" / "jpeg.png").is_file()
    assert _pixels(html / "img" / "jpeg.png").shape == _pixels(made[1]).shape


def test_report_rebuilds_the_folder_from_its_own_json(made, tmp_path: Path) -> None:  # noqa: ANN001
    root, src, html, out = made
    again = tmp_path / "again"
    assert _run("report", str(html / "results.json"), "--html", str(again)) == 0
    for name in ("original", "jpeg", "webp"):
        assert (again / f"img/{name}.png").read_bytes() == (html / f"img/{name}.png").read_bytes()
    assert not (html / "report.md").exists()  # --html alone writes no markdown


def test_results_without_saved_reconstructions_make_a_page_that_says_so(
        cli, made, tmp_path: Path) -> None:  # noqa: ANN001
    """`compare --json - | report - --html DIR` without --out: nothing records where the
    reconstructions are, so the page has tables and findings only; it says why (on stderr
    and in the page) and offers no viewer keys for viewers it does not have."""
    js = tmp_path / "r.json"
    r = cli("compare", str(made[1]), "--bpp", "0.8", "--codecs", "jpeg", "--roi",
            ",".join(map(str, ROI)), "--json", str(js), "-q")
    assert r.code == 0, r.stderr
    r = cli("report", str(js), "--html", str(tmp_path / "page"))
    assert r.code == 0, r.stderr
    assert "record no saved reconstructions" in r.stderr
    page = (tmp_path / "page" / "index.html").read_text()
    assert "record no saved reconstructions" in page
    assert "Viewer keys" not in page and 'class="viewer"' not in page
    assert "Viewer keys" in (made[2] / "index.html").read_text()  # where there are viewers


# ---------------------------------------------------------------- in the browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.is_file() and CHROMEDRIVER.is_file()):
        pytest.skip("chromium and chromium-driver not installed (apt-get install chromium "
                    "chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
              "--force-color-profile=srgb", "--force-device-scale-factor=1",
              "--window-size=1100,1400", "--allow-file-access-from-files"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # With the driver's path given, Selenium skips Selenium Manager (which could download a
    # browser); SE_OFFLINE keeps it offline should a Selenium version call it anyway.
    # Chromium leaves its profile lock's socket folder (``org.chromium.Chromium.*``) in the
    # temporary directory after every run, and its settings (``.config/chromium``,
    # ``.cache/dconf``) in the home folder: with both in a folder of its own they go with it
    # (a short one: the socket's path has a length limit that pytest's folders can pass).
    with short_tempdir("chromium-") as tmp:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("SE_OFFLINE", "true")
            mp.setenv("TMPDIR", str(tmp))
            mp.setenv("HOME", str(tmp))
            driver = webdriver.Chrome(options=opts, service=Service(str(CHROMEDRIVER)))
        try:
            yield driver
        finally:
            driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("screenshots")
    print(f"screenshots in {d}")
    return d


@pytest.fixture
def page(browser, made):  # noqa: ANN001, ANN201
    """The report opened from file://, fresh for each test, console errors checked after."""
    browser.get((made[2] / "index.html").as_uri())
    browser.get_log("browser")  # drop anything from the previous test
    browser.execute_script("return document.readyState")
    yield browser
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not severe, severe


def test_loads_without_console_errors(browser, made, shots: Path) -> None:  # noqa: ANN001
    browser.get((made[2] / "index.html").as_uri())
    assert browser.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    assert browser.execute_script("return window.codeccmpViewers.length") == 1
    browser.save_screenshot(str(shots / "page.png"))


def test_results_table_sorts_and_marks_misses(page, made) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    data = json.loads((made[2] / "results.json").read_text())
    by_bpp = sorted((r for r in data["results"] if r["status"] == "ok"), key=lambda r: r["bpp"])
    table = page.find_element(By.ID, "results-table")
    header = [th.text for th in table.find_elements(By.CSS_SELECTOR, "thead th")]

    def column(name: str) -> list[str]:
        i = header.index(name)
        return [tr.find_elements(By.TAG_NAME, "td")[i].text
                for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]

    bpp_th = table.find_elements(By.CSS_SELECTOR, "thead th")[header.index("bpp")]
    bpp_th.click()
    assert column("codec") == [r["codec"] for r in by_bpp]
    bpp_th.click()
    assert column("codec") == [r["codec"] for r in reversed(by_bpp)]
    missed = {r["codec"] for r in data["results"] if r["within_tolerance"] is False}
    assert missed, "webp should miss the rate here"
    marked = {tr.find_element(By.TAG_NAME, "td").text
              for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr.miss")}
    assert marked == missed


def _viewer(page) -> dict:  # noqa: ANN001
    return page.execute_script(
        "const v = window.codeccmpViewers[0];"
        "return {zoom: v.zoom, cx: v.cx, cy: v.cy, w: v.stage.clientWidth, h: v.stage.clientHeight,"
        " a: v.imgA.getAttribute('src'), b: v.imgB.getAttribute('src'),"
        " shown: v.stage.dataset.shown, split: v.split};")


def _stage(page) -> np.ndarray:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    png = page.find_element(By.CSS_SELECTOR, ".viewer .stage").screenshot_as_png
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def _matches(page, html: Path, name: str, cols: tuple[float, float]) -> float:  # noqa: ANN001
    """Share of displayed source pixels in a band of the stage (fractions of its width) that
    equal ``img/NAME.png`` at the place the viewer says it shows (centre and zoom). Only
    pixels near the middle of each enlarged block count (its edges may be interpolated)."""
    v = _viewer(page)
    shot, ref = _stage(page), _pixels(html / f"img/{name}.png")
    z = v["zoom"]
    tx, ty = round(v["w"] / 2 - v["cx"] * z), round(v["h"] / 2 - v["cy"] * z)
    sy, sx = np.mgrid[24:shot.shape[0], int(cols[0] * shot.shape[1]) + 2:  # below the labels
                      int(cols[1] * shot.shape[1]) - 2]
    ix, iy = (sx - tx) / z, (sy - ty) / z
    keep = ((ix >= 0) & (ix < ref.shape[1]) & (iy >= 0) & (iy < ref.shape[0])
            & (np.abs(ix % 1 - 0.5) <= 0.25) & (np.abs(iy % 1 - 0.5) <= 0.25))  # block middles
    shown = shot[sy[keep], sx[keep]].astype(int)
    wanted = ref[iy[keep].astype(int), ix[keep].astype(int)].astype(int)
    assert len(shown) > 50, "too few pixels sampled"
    return float(np.mean(np.abs(shown - wanted).max(axis=1) <= 2))


def test_viewer_shows_the_right_pixels(page, made, shots: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    html = made[2]
    v = _viewer(page)
    assert v["a"] == "img/original.png" and v["b"] == "img/jpeg.png"
    assert float(v["zoom"]).is_integer() and v["zoom"] >= 2
    # Split at 50 %: the original on the left, the codec on the right, each pixel for pixel.
    assert _matches(page, html, "original", (0.0, 0.48)) > 0.98
    assert _matches(page, html, "jpeg", (0.52, 1.0)) > 0.98
    assert _matches(page, html, "webp", (0.52, 1.0)) < 0.8  # the check tells codecs apart
    page.save_screenshot(str(shots / "split-50.png"))
    # Move the slider like a user: press on it a fifth of the way along.
    slider = page.find_element(By.CSS_SELECTOR, ".viewer input.split")
    ActionChains(page).move_to_element_with_offset(
        slider, -slider.size["width"] * 3 // 10, 0).click().perform()
    split = _viewer(page)["split"]
    assert 10 <= split <= 30
    assert _matches(page, html, "jpeg", (split / 100 + 0.03, 1.0)) > 0.98
    assert _matches(page, html, "original", (0.0, split / 100 - 0.03)) > 0.98
    page.find_element(By.CSS_SELECTOR, ".viewer .stage").screenshot(str(shots / "split-20.png"))


def test_codecs_switch_by_click_and_keyboard(page, made, shots: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    html = made[2]
    thumbs = page.find_elements(By.CSS_SELECTOR, ".viewer .thumb")
    assert [t.find_element(By.TAG_NAME, "figcaption").text.split()[0] for t in thumbs] == [
        "original", "jpeg", "webp"]
    thumbs[2].click()
    assert _viewer(page)["b"] == "img/webp.png"
    assert _matches(page, html, "webp", (0.52, 1.0)) > 0.98
    stage = page.find_element(By.CSS_SELECTOR, ".viewer .stage")
    stage.click()
    stage.send_keys("j")  # previous: jpeg
    assert _viewer(page)["b"] == "img/jpeg.png"
    stage.send_keys("\ue014")  # ArrowRight: webp again
    assert _viewer(page)["b"] == "img/webp.png"
    stage.send_keys("k")  # next wraps to the original
    assert _viewer(page)["b"] == "img/original.png"
    stage.send_keys("k")
    assert _viewer(page)["b"] == "img/jpeg.png"
    # Flip: the whole stage is B, then the whole stage is A.
    stage.send_keys("f")
    assert _viewer(page)["shown"] == "jpeg"
    assert _matches(page, html, "jpeg", (0.0, 1.0)) > 0.98
    stage.screenshot(str(shots / "flip-b.png"))
    stage.send_keys("f")
    assert _viewer(page)["shown"] == "original"
    assert _matches(page, html, "original", (0.0, 1.0)) > 0.98
    stage.send_keys("s")
    assert _viewer(page)["shown"] == "split"


def test_zoom_keeps_every_pane_on_the_same_spot(page, made, shots: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    html = made[2]
    before = _viewer(page)
    page.find_element(By.CSS_SELECTOR, ".viewer button.zoom-in").click()
    after = _viewer(page)
    assert after["zoom"] > before["zoom"] and (after["cx"], after["cy"]) == (before["cx"],
                                                                             before["cy"])
    assert _matches(page, html, "jpeg", (0.52, 1.0)) > 0.98
    assert page.execute_script(
        "return getComputedStyle(document.querySelector('.viewer .stage img'))"
        ".imageRendering") == "pixelated"
    # Every thumbnail shows its image at the viewer's zoom, centred on the same image point.
    placed = page.execute_script(
        "return Array.from(document.querySelectorAll('.viewer .thumb-stage')).map(b => {"
        " const i = b.querySelector('img'), m = new DOMMatrix(getComputedStyle(i).transform);"
        " return [i.clientWidth, m.e, m.f, b.clientWidth, b.clientHeight]; })")
    z, cx, cy = after["zoom"], after["cx"], after["cy"]
    for width, tx, ty, bw, bh in placed:
        assert width == round(96 * z)
        assert abs((bw / 2 - tx) / z - cx) <= 1 / z and abs((bh / 2 - ty) / z - cy) <= 1 / z
    stage = page.find_element(By.CSS_SELECTOR, ".viewer .stage")
    stage.screenshot(str(shots / "zoomed.png"))
    stage.send_keys("-")
    stage.send_keys("-")
    assert _viewer(page)["zoom"] < before["zoom"]
    stage.send_keys("0")
    assert _viewer(page)["zoom"] == before["zoom"]


def test_overview_box_jumps_to_its_viewer(page) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    box = page.find_element(By.CSS_SELECTOR, ".overview .roi-box")
    x, y, w, h = ROI
    left, top = page.execute_script(
        "const b = arguments[0].getBoundingClientRect(),"
        " o = arguments[0].parentNode.querySelector('img').getBoundingClientRect();"
        "return [(b.left - o.left) / o.width * 96, (b.top - o.top) / o.height * 72];", box)
    assert abs(left - x) < 1 and abs(top - y) < 1
    box.click()
    assert page.execute_script("return location.hash") == "#roi-1"
    assert page.execute_script(
        "return document.activeElement === document.querySelector('#roi-1 .stage')")


@pytest.fixture(scope="module")
def sweep_page(made) -> Path:  # noqa: ANN001
    """A four-target sweep of the test image, and its page made by ``report --html``."""
    root, src = made[0], made[1]
    js = root / "sweep.json"
    assert _run("sweep", str(src), "--bpp", "0.5,0.8,1.2,1.6", "--codecs", "jpeg,webp",
                "--anchor", "jpeg", "--roi", ",".join(map(str, ROI)), "--json", str(js),
                "--html", str(root / "sweep-direct"),
                "--cache-dir", str(root / "cache"), "--jobs", "1", "--quiet") in (0, 1)
    assert _run("report", str(js), "--html", str(root / "sweep-html")) == 0
    return root / "sweep-html"


def test_sweep_page_has_curves_bd_table_and_points(sweep_page: Path, made) -> None:  # noqa: ANN001
    data = json.loads((made[0] / "sweep.json").read_text())
    assert json.loads((sweep_page / "sweep.json").read_text()) == data
    assert (sweep_page / "rd.svg").read_text().lstrip().startswith("<?xml")
    page = (sweep_page / "index.html").read_text()
    # `sweep --html` writes the same page as `report sweep.json --html` does later.
    assert (made[0] / "sweep-direct" / "index.html").read_text() == page
    bd = data["bd"]["psnr"]["webp"]
    if bd["bd_rate_percent"] is not None:
        assert f"{bd['bd_rate_percent']:+.1f}%" in page
    else:
        assert _e_text(bd["reason"]) in page
    for a in data["averaged"]:
        assert f"{a['bpp']:.4f}" in page
    # compare's markdown report is not made from a sweep's JSON: one clear line instead
    assert _run("report", str(made[0] / "sweep.json")) == 2


def test_sweep_page_shows_the_classes_and_reads_schema_1(sweep_page: Path, made,  # noqa: ANN001
                                                         tmp_path: Path) -> None:
    """The averaged table has the compact classes cell of each point; a sweep file of schema
    1 (no classes: ``flip_share``) still makes a page, with those cells empty."""
    from codeccmp.render.tables import classes_cell

    data = json.loads((made[0] / "sweep.json").read_text())
    assert data["schema"] == "codeccmp-sweep/2"
    page = (sweep_page / "index.html").read_text()
    assert "turned / redrawn / erased" in page
    for a in data["averaged"]:
        assert {"turned_share", "redrawn_share", "erased_share"} <= set(a)
        assert f">{classes_cell(a)}</td>" in page
    old = {**data, "schema": "codeccmp-sweep/1",
           "averaged": [{**{k: v for k, v in a.items()
                            if k not in ("turned_share", "redrawn_share", "erased_share")},
                         "flip_share": 0.0} for a in data["averaged"]]}
    js = tmp_path / "old.json"
    js.write_text(json.dumps(old))
    assert _run("report", str(js), "--html", str(tmp_path / "old-html")) == 0
    assert "turned / redrawn / erased" in (tmp_path / "old-html" / "index.html").read_text()


def _e_text(text: str) -> str:
    import html

    return html.escape(text)


def test_sweep_page_in_the_browser(browser, sweep_page: Path, shots: Path) -> None:  # noqa: ANN001
    from selenium.webdriver.common.by import By

    browser.get((sweep_page / "index.html").as_uri())
    assert browser.execute_script(
        "return Array.from(document.images).every(i => i.complete && i.naturalWidth > 0)")
    table = browser.find_element(By.ID, "averaged-table")
    th = table.find_elements(By.CSS_SELECTOR, "thead th")[2]  # bpp
    th.click()
    bpps = [float(tr.find_elements(By.TAG_NAME, "td")[2].text.split()[0])
            for tr in table.find_elements(By.CSS_SELECTOR, "tbody tr")]
    assert bpps == sorted(bpps) and len(bpps) == 8
    browser.save_screenshot(str(shots / "sweep.png"))
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []


def test_readme_shows_the_screenshot() -> None:
    """The README names the command behind its screenshot; the screenshot is committed."""
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    assert "docs/img/html-report.png" in readme and (root / "docs/img/html-report.png").is_file()
    assert "--html" in readme
