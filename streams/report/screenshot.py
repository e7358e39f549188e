"""A PNG of a report page, by headless Chromium through Playwright (make report-screenshot).

The browser is the system's Chromium (``REPORT_CHROMIUM``, default ``/usr/bin/chromium``,
Debian package ``chromium``); Playwright never downloads one. The page is opened offline: a
report needs nothing from the network, and a request for anything would be an error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

CHROMIUM: Final = "/usr/bin/chromium"
CHROMIUM_ARGS: Final = (
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
)


def chromium_path(env: dict[str, str] | None = None) -> str:
    """The Chromium executable to drive (``REPORT_CHROMIUM`` or the Debian package's)."""
    return (os.environ if env is None else env).get("REPORT_CHROMIUM", CHROMIUM)


@contextmanager
def browser(width: int = 1200, height: int = 1600) -> Iterator[BrowserContext]:
    """A headless Chromium context with its own profile directory, offline."""
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 (dev tooling only)

    with tempfile.TemporaryDirectory(prefix="report-chromium-") as profile, \
            sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            profile,
            executable_path=chromium_path(),
            headless=True,
            args=list(CHROMIUM_ARGS),
            viewport={"width": width, "height": height},
            offline=True,
        )
        try:
            yield context
        finally:
            context.close()


def screenshot(
    html_path: str, png_path: str, *, width: int = 1200, height: int = 1600,
    selector: str | None = None,
) -> list[str]:
    """Write a PNG of the page (or of one element); returns the console errors seen."""
    errors: list[str] = []
    with browser(width, height) as context:
        page = context.new_page()
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(Path(html_path).resolve().as_uri())
        Path(png_path).parent.mkdir(parents=True, exist_ok=True)
        if selector:
            page.locator(selector).first.screenshot(path=png_path)
        else:
            page.screenshot(path=png_path)
    return errors


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m streams.report.screenshot REPORT.html OUT.png``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("html", metavar="REPORT.html")
    parser.add_argument("png", metavar="OUT.png")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1600)
    parser.add_argument("--selector", help="only this element (CSS selector)")
    args = parser.parse_args(argv)
    errors = screenshot(args.html, args.png, width=args.width, height=args.height,
                        selector=args.selector)
    for error in errors:
        print(f"console error: {error}", file=sys.stderr)
    print(args.png)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
