"""The README's report screenshots, from a rendered report in headless Chromium (1280 x 1000):

    .venv/bin/python docs/take_screenshots.py reports/quick/index.html docs [claim]

writes report.png (the top: first line, summary and verdict tables), report-claim.png (one
claim's section: its quote, verdict per model, endpoints), report-progress.png (that claim's
samples as training goes on) and report-plots.png (the quality plots)."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from selenium import webdriver
from selenium.webdriver.chrome.service import Service


def main(argv: list[str]) -> int:
    html, out = Path(argv[0]).resolve(), Path(argv[1])
    claim = argv[2] if len(argv) > 2 else "g_loss"
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
    views = (("report.png", None),
             ("report-claim.png", f"document.getElementById('obs-{claim}').scrollIntoView()"),
             ("report-progress.png", f"[...document.images].find(x => x.src.endsWith('obs_{claim}_progress.png'))"
                                     ".scrollIntoView()"),
             ("report-plots.png", "[...document.images].find(x => x.src.includes('pr_plane')).scrollIntoView()"))
    try:
        driver.get(html.as_uri())
        time.sleep(1)
        for name, script in views:
            if script:
                driver.execute_script(script)
                time.sleep(0.5)
            driver.save_screenshot(str(out / name))
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
