"""The HTML report in a real browser (headless Chromium through Selenium).

Runs in the normal ``pytest`` run; the ``browser`` fixture (conftest.py) installs Debian's
``chromium`` and ``chromium-driver`` when missing and skips only if that is impossible.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from miakit.report import write_report

pytestmark = pytest.mark.browser

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _open(browser, path: Path, *, width: int = 1280) -> list[dict]:
    """Load the page, fit the window to the whole page, and return its console log."""
    browser.get_log("browser")  # drop entries of earlier pages
    browser.set_window_size(width, 1000)
    browser.get(path.as_uri())
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(width, min(int(height) + 120, 16000))
    return browser.get_log("browser")


def _screenshot(browser, path: Path) -> bytes:
    assert browser.save_screenshot(str(path))
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC and len(data) > 50_000, "screenshot is empty or tiny"
    return data


def test_report_renders_and_runs_nothing_hostile(browser, run_dir, synth, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    report = write_report(run_dir, out=tmp_path / "report.html")
    log = _open(browser, report)
    _screenshot(browser, tmp_path / "report.png")
    print(f"screenshot: {tmp_path / 'report.png'}")

    severe = [e for e in log + browser.get_log("browser") if e.get("level") == "SEVERE"]
    assert not severe, severe
    assert browser.execute_script("return window.__pwned") is None
    text = browser.execute_script("return document.body.innerText")
    for hostile in (synth.script_text, synth.img_text, synth.hostile_id):
        assert hostile in text, f"{hostile!r} is not shown as text"
    assert not browser.execute_script("return document.querySelectorAll('body img').length")

    rows = browser.find_elements(By.CSS_SELECTOR, "#leaderboard-table tbody tr")
    assert len(rows) == len(synth.attacks) + len(synth.blind)
    kinds = [r.get_attribute("data-kind") for r in rows]
    assert kinds.count("attack") == len(synth.attacks) and kinds.count("blind") == len(synth.blind)

    # nothing was fetched: no resource entries besides the page itself
    assert browser.execute_script("return performance.getEntriesByType('resource').length") == 0
    # every figure is laid out at a readable size
    widths = browser.execute_script(
        "return Array.from(document.querySelectorAll('figure svg'))"
        ".map(s => s.getBoundingClientRect().width)"
    )
    assert len(widths) == 1 + len(synth.attacks) + len(synth.blind) and min(widths) > 250

    # the attack picker (the report's only script) shows one panel at a time
    select = Select(browser.find_element(By.ID, "explorer-select"))
    assert browser.find_element(By.ID, "explorer-picker").is_displayed()
    visible = browser.find_elements(By.CSS_SELECTOR, ".explorer-panel:not([hidden])")
    assert len(visible) == 1
    # opening a shortened text shows it whole in place of the excerpt
    summary = browser.find_element(By.CSS_SELECTOR, ".explorer-panel:not([hidden]) details summary")
    cell = summary.find_element(By.XPATH, "../..")
    excerpt = cell.find_element(By.CSS_SELECTOR, ".text.short")
    assert excerpt.is_displayed()
    summary.click()
    assert not excerpt.is_displayed()
    assert cell.find_element(By.CSS_SELECTOR, "details .text").is_displayed()

    select.select_by_index(2)
    visible = browser.find_elements(By.CSS_SELECTOR, ".explorer-panel:not([hidden])")
    assert [v.get_attribute("data-index") for v in visible] == [
        select.options[2].get_attribute("value")
    ]


def test_hostile_attack_names_and_warnings_run_nothing(browser, make_run_dir, tmp_path):
    run = make_run_dir(
        attacks=("loss", "evil<svg onload=window.__pwned=3>"),
        warnings=('<img src=x onerror="window.__pwned=4">',),
    )
    log = _open(browser, write_report(run, out=tmp_path / "report.html"))
    assert not [e for e in log if e.get("level") == "SEVERE"], log
    assert browser.execute_script("return window.__pwned") is None
    text = browser.execute_script("return document.body.innerText")
    assert "evil<svg onload=window.__pwned=3>" in text
    assert '<img src=x onerror="window.__pwned=4">' in text
