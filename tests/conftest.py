"""Shared pytest fixtures. Each block below belongs to the tests named in its heading; add new
fixtures in a block of their own rather than changing another block's."""

from __future__ import annotations

import functools
import http.server
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent


# ---------------------------------------------------------------------------------------------------
# The built website and a headless Chromium driving it (tests/test_site.py).
#   site_dir      the built site: _build/html (or $COURSE_SITE_DIR), written by `make book`
#   site_url      that folder served by a stdlib HTTP server on a free loopback port
#   chromium      Debian's /usr/bin/chromium (or $COURSE_CHROMIUM) launched by Playwright; never a
#                 downloaded browser (`make browser` installs Debian's package)
#   site_browser  one browser page that visits site pages and records what went wrong on each
# ---------------------------------------------------------------------------------------------------

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio",
]


@pytest.fixture(scope="session")
def site_dir() -> Path:
    path = Path(os.environ.get("COURSE_SITE_DIR", REPO / "_build" / "html"))
    if not (path / "index.html").is_file():
        pytest.fail(f"expected the built website in {path} (index.html is missing): run `make book` first")
    return path


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map,
                      ".woff2": "font/woff2", ".woff": "font/woff", ".js": "text/javascript"}

    def log_message(self, format, *args):  # noqa: A002 - the stdlib's signature
        pass


@pytest.fixture(scope="session")
def site_url(site_dir: Path):
    """Base URL (ending in '/') of the built site served on 127.0.0.1."""
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def chromium():
    executable = Path(os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
    if not executable.is_file():
        pytest.fail(f"expected Debian's Chromium at {executable}: run `make browser` "
                    "(apt-get install chromium) or set COURSE_CHROMIUM")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@dataclass
class PageVisit:
    """What happened while one page loaded."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    failed_requests: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)

    def problems(self) -> list[str]:
        return ([f"console error: {m}" for m in self.console_errors]
                + [f"failed request: {r}" for r in self.failed_requests]
                + [f"request outside the site: {r}" for r in self.external_requests])


class SiteBrowser:
    """One Chromium page reused for every visit; requests leaving the site are aborted and recorded."""

    def __init__(self, context, base_url: str):
        self.base_url = base_url
        self.context = context
        self._visit = PageVisit(url="")
        context.route(self._is_external, self._block)
        self.page = context.new_page()
        self.page.set_default_timeout(30_000)
        self.page.on("console", self._on_console)
        self.page.on("pageerror", lambda err: self._visit.console_errors.append(f"uncaught {err}"))
        self.page.on("requestfailed", self._on_failed)
        self.page.on("response", self._on_response)

    def _is_external(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob", "about", "chrome", "devtools"):
            return False
        return not url.startswith(self.base_url)

    def _block(self, route):
        self._visit.external_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def _on_console(self, msg):
        if msg.type == "error":
            where = msg.location.get("url", "") if isinstance(msg.location, dict) else ""
            self._visit.console_errors.append(f"{msg.text} ({where})" if where else msg.text)

    def _on_failed(self, request):
        if request.url not in self._visit.external_requests:
            self._visit.failed_requests.append(f"{request.url} ({request.failure})")

    def _on_response(self, response):
        if response.status >= 400:
            self._visit.failed_requests.append(f"{response.url} (HTTP {response.status})")

    def visit(self, path: str, settle_ms: int = 300) -> PageVisit:
        """Open ``path`` (relative to the site root), wait for MathJax, widgets and the network."""
        from playwright.sync_api import Error as PlaywrightError

        self._visit = PageVisit(url=path)
        self.page.goto(self.base_url + path, wait_until="load")
        for attempt in range(3):  # a redirecting page (index.html) navigates once more
            try:
                self.page.evaluate(
                    """async () => {
                        if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
                            await MathJax.startup.promise;
                        }
                        document.querySelectorAll('img[loading="lazy"]').forEach(img => { img.loading = "eager"; });
                    }"""
                )
                break
            except PlaywrightError as err:
                if "context was destroyed" not in str(err) or attempt == 2:
                    raise
                self.page.wait_for_load_state("load")
        try:
            self.page.wait_for_load_state("networkidle", timeout=15_000)
        except Exception as err:  # noqa: BLE001 - reported as a problem of the page
            self._visit.failed_requests.append(f"network never went idle: {err}")
        self.page.wait_for_timeout(settle_ms)
        return self._visit


@pytest.fixture(scope="session")
def site_browser(chromium, site_url):
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                   service_workers="block")
    try:
        yield SiteBrowser(context, site_url)
    finally:
        context.close()
