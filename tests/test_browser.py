"""The headless-browser helpers: a clear error without chromium, the rendered DOM of a page whose
content only its script writes, and a screenshot of the requested size."""

import pytest

from learndyn import browser

PAGE = """<!DOCTYPE html><html><head><title>t</title></head><body><p id="out">static</p>
<script>document.getElementById("out").textContent = "written by " + "script";</script>
</body></html>"""
WINDOW = (320, 240)


def test_missing_chromium_is_one_clear_line(monkeypatch):
    monkeypatch.setenv("CHROMIUM", "no-such-browser-here")
    with pytest.raises(browser.BrowserError, match=r"chromium not found.*apt-get install chromium") as err:
        browser.find_chromium()
    assert "\n" not in str(err.value)


def test_visible_text_drops_scripts_and_styles():
    dom = '<p>shown</p><script type="x">hidden()</script><STYLE>p{}</STYLE>'
    assert browser.visible_text(dom) == "<p>shown</p>"
    assert browser.missing(dom, ["shown", "hidden"]) == ["hidden"]


@pytest.fixture
def page(chromium, tmp_path):
    path = tmp_path / "page.html"
    path.write_text(PAGE)
    return path


def test_dump_dom_runs_the_page_and_an_added_script(page):
    assert browser.missing(browser.dump_dom(page), ["written by script"]) == []
    added = 'document.getElementById("out").textContent = "added";'
    assert browser.missing(browser.dump_dom(page, script=added), ["added"]) == []


def test_screenshot_is_a_png_of_the_window(page, tmp_path):
    png = browser.screenshot(page, tmp_path / "out" / "shot.png", window=WINDOW)
    assert browser.png_size(png) == WINDOW
