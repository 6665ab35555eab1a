"""Screenshot an HTML report's ROI viewer in headless Chromium (the README's picture).

    codeccmp compare samples/barbara.png --bpp 0.3 --html out/barbara-html
    python docs/img/shoot.py out/barbara-html/index.html docs/img/html-report.png \
        --roi 3 --codec jpegxl

Needs Debian's chromium and chromium-driver (as the browser tests do) and selenium; nothing
is downloaded. The picture is the ROI's heading, its finding and its viewer, with B set to
``--codec``, scaled to ``--width`` pixels (Lanczos: it illustrates the page, it is not data).
"""

from __future__ import annotations

import argparse
import io
import os
from pathlib import Path

from PIL import Image
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("page", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--roi", type=int, default=1, help="which ROI (1-based)")
    ap.add_argument("--codec", help="codec shown as B (default: the first)")
    ap.add_argument("--width", type=int, default=760)
    args = ap.parse_args()
    os.environ["SE_OFFLINE"] = "true"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--force-color-profile=srgb",
              "--force-device-scale-factor=1", "--window-size=800,1600"):
        opts.add_argument(a)
    driver = webdriver.Chrome(options=opts, service=Service("/usr/bin/chromedriver"))
    try:
        driver.get(args.page.resolve().as_uri())
        section = driver.find_element(By.ID, f"roi-{args.roi}")
        if args.codec:
            names = driver.execute_script(
                "return JSON.parse(document.getElementById('codeccmp-data').textContent)"
                ".pictures.map(p => p.name)")
            driver.execute_script(f"window.codeccmpViewers[{args.roi - 1}]"
                                  f".select({names.index(args.codec)})")
        driver.execute_script("arguments[0].scrollIntoView()", section)
        table = section.find_element(By.TAG_NAME, "table")  # stop above the ROI's table
        top = section.location["y"]
        height = table.location["y"] - top
        driver.set_window_size(800, height + 200)
        shot = Image.open(io.BytesIO(section.screenshot_as_png)).convert("RGB")
    finally:
        driver.quit()
    shot = shot.crop((0, 0, shot.width, min(shot.height, height)))
    if shot.width > args.width:
        shot = shot.resize((args.width, round(shot.height * args.width / shot.width)),
                           Image.Resampling.LANCZOS)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    shot.save(args.out, optimize=True)
    print(f"{args.out}: {shot.width}×{shot.height}, {args.out.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
