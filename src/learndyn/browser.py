"""A local HTML page in headless chromium: the DOM after its scripts ran, and a screenshot.

Used on the Snakemake report (``snakemake --report report.html``), a JavaScript app whose
content exists only once its scripts have run. Chromium's own command line, no browser driver:

    python -m learndyn.browser report.html results/report/report.png
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

# first found on PATH wins; $CHROMIUM (a path or a name) overrides
NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# headless, no sandbox (root in a container), nothing fetched from the network on start-up
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
TIMEOUT_S = 120
# virtual time the page's scripts get before the DOM or the screenshot is taken
BUDGET_MS = 10_000
WINDOW = (1400, 1000)
REPORT_CATEGORY = "Compute cost"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class BrowserError(RuntimeError):
    """Chromium is missing, failed or timed out (the message is one line)."""


def find_chromium() -> str:
    """The chromium executable: $CHROMIUM, else the first of NAMES on PATH."""
    wanted = os.environ.get("CHROMIUM")
    for name in [wanted] if wanted else NAMES:
        found = shutil.which(name)
        if found:
            return found
    looked = wanted or ", ".join(NAMES)
    raise BrowserError(f"chromium not found (looked for {looked}): install it (`apt-get install chromium`)")


def run_headless(page: str | Path, *args: str, script: str | None = None, timeout: float = TIMEOUT_S) -> str:
    """Run headless chromium on a local file with a fresh profile; return its stdout. ``script``
    (JavaScript) runs after the page's own scripts, in a copy of the page (which must be
    self-contained, as the Snakemake report is)."""
    exe = find_chromium()
    with tempfile.TemporaryDirectory(prefix="learndyn-chromium-") as tmp:
        target = Path(page).resolve()
        if script is not None:
            html = target.read_text(encoding="utf-8")
            end = html.lower().rfind("</body>")
            end = len(html) if end < 0 else end
            target = Path(tmp) / "page.html"
            target.write_text(f"{html[:end]}<script>{script}</script>{html[end:]}", encoding="utf-8")
        cmd = [exe, *FLAGS, f"--user-data-dir={Path(tmp) / 'profile'}", *args, target.as_uri()]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise BrowserError(f"chromium timed out after {timeout:g} s on {page}") from None
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise BrowserError(f"chromium failed on {page} (exit {proc.returncode}): {last}")
    return proc.stdout


def dump_dom(
    page: str | Path, script: str | None = None, budget_ms: int = BUDGET_MS, timeout: float = TIMEOUT_S
) -> str:
    """The page's DOM serialized after its scripts (and ``script``) had ``budget_ms`` of virtual time."""
    args = ("--dump-dom", f"--virtual-time-budget={budget_ms}")
    dom = run_headless(page, *args, script=script, timeout=timeout)
    if "<html" not in dom.lower():
        raise BrowserError(f"chromium returned no DOM for {page}")
    return dom


def screenshot(
    page: str | Path,
    png: str | Path,
    window: Sequence[int] = WINDOW,
    budget_ms: int = BUDGET_MS,
    timeout: float = TIMEOUT_S,
) -> Path:
    """Write a PNG of the rendered page (``window`` = width, height in pixels); return its path."""
    png = Path(png).resolve()
    png.parent.mkdir(parents=True, exist_ok=True)
    tmp = png.with_name(f".{png.name}.tmp.png")
    tmp.unlink(missing_ok=True)
    width, height = window
    run_headless(
        page,
        f"--screenshot={tmp}",
        f"--window-size={width},{height}",
        f"--virtual-time-budget={budget_ms}",
        "--hide-scrollbars",
        timeout=timeout,
    )
    if not tmp.exists() or tmp.read_bytes()[:8] != PNG_MAGIC:
        tmp.unlink(missing_ok=True)
        raise BrowserError(f"chromium wrote no screenshot of {page}")
    tmp.replace(png)
    return png


def visible_text(dom: str) -> str:
    """The DOM without its <script> and <style> elements (what the page shows, not its data)."""
    return re.sub(r"<(script|style)\b[^>]*>.*?</\1\s*>", "", dom, flags=re.DOTALL | re.IGNORECASE)


def missing(dom: str, expected: Iterable[str]) -> list[str]:
    """The expected strings that the rendered page (``visible_text``) does not contain."""
    shown = visible_text(dom)
    return [text for text in expected if text not in shown]


def report_listing(report: str | Path, term: str = "results/", timeout: float = TIMEOUT_S) -> str:
    """The DOM of a Snakemake report showing its search results for ``term`` (every result whose
    path contains it): the report app's own view, opened as a click on its search box would."""
    show = f"""(function show() {{
  if (typeof app === "undefined" || !app) {{ setTimeout(show, 50); return; }}
  app.setView({{navbarMode: "searchresults", searchTerm: {json.dumps(term)}}});
}})();"""
    return dump_dom(report, script=show, timeout=timeout)


def check_report(report: str | Path, results: Iterable[str], timeout: float = TIMEOUT_S) -> list[str]:
    """What is wrong with a Snakemake report rendered headless (empty: nothing): the app must
    render, show the category "Compute cost" and list every path of ``results``."""
    problems = []
    home = visible_text(dump_dom(report, timeout=timeout))
    if 'id="app"></div>' in home.replace(" ", "") or "Snakemake" not in home:
        problems.append(f"{report}: the report app did not render")
    problems += [f"{report}: no category {text!r}" for text in missing(home, [REPORT_CATEGORY])]
    listing = report_listing(report, timeout=timeout)
    problems += [f"{report}: does not list {path}" for path in missing(listing, results)]
    return problems


def png_size(png: str | Path) -> tuple[int, int]:
    """Width and height of a PNG, from its header."""
    head = Path(png).read_bytes()[:24]
    if head[:8] != PNG_MAGIC:
        raise BrowserError(f"{png}: not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m learndyn.browser",
        description="Check a Snakemake report in headless chromium and write a screenshot of it.",
    )
    parser.add_argument("report", help="the report, e.g. report.html (snakemake --report report.html)")
    parser.add_argument("png", help="where to write the screenshot, e.g. results/report/report.png")
    args = parser.parse_args(argv)
    try:
        if not Path(args.report).is_file():
            raise BrowserError(f"{args.report}: no such file (build it: snakemake --report {args.report})")
        figures = sorted(str(p) for p in Path("results/figures").glob("*/*.png"))
        problems = check_report(args.report, figures)
        if problems:
            raise BrowserError("; ".join(problems))
        png = screenshot(args.report, args.png)
        print(f"{args.report}: renders, lists its {len(figures)} figures; screenshot {png}")
    except BrowserError as err:
        print(f"browser error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
