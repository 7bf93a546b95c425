"""Print the whole built book into one PDF with Debian's headless Chromium (no TeX, no downloads).

The built site (``make book``, default _build/html) is served on a loopback port; one browser page
loads the book's first page, appends the article of every other page of the chapter list in reading
order (from the static HTML, with image and link URLs made absolute), has the site's own MathJax
typeset the whole document once, and prints it with Chromium's print-to-PDF (the theme's print styles
hide the sidebars). Next to the PDF, ``<name>.json`` says which pages went in, their titles, how many
formulas were typeset and whether MathJax reported errors (tests/test_site.py reads it).

Usage::

    python scripts/book_pdf.py [--site _build/html] [--out _build/html/book.pdf] [--if-browser]

`make book` runs it after the build with ``--if-browser``: the PDF goes into the site itself (the chapter
list of every page links to it), and a machine without Chromium gets the site and a note instead.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import json
import os
import sys
import threading
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PDF_NAME = "book.pdf"  # at the site's root; book/_templates/course-bundle.html links to it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--disable-extensions"]

COMBINE = r"""async (pages) => {
  const main = document.querySelector('article.bd-article');
  const done = [{url: location.href, title: document.title}];
  for (const url of pages) {
    const html = await (await fetch(url)).text();
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const article = doc.querySelector('article.bd-article');
    if (!article) continue;
    article.querySelectorAll('[src]').forEach(el => el.setAttribute('src', new URL(el.getAttribute('src'), url).href));
    article.querySelectorAll('a[href]').forEach(el => el.setAttribute('href', new URL(el.getAttribute('href'), url).href));
    article.querySelectorAll('script').forEach(el => el.remove());
    const part = document.createElement('div');
    part.className = 'course-pdf-page';
    part.style.breakBefore = 'page';
    part.append(...article.childNodes);
    main.append(part);
    done.push({url, title: doc.title});
  }
  if (window.MathJax && MathJax.typesetPromise) { await MathJax.startup.promise; await MathJax.typesetPromise(); }
  const math = document.querySelectorAll('span.math, div.math');
  return {pages: done, math: math.length,
          typeset: Array.from(math).filter(el => el.querySelector('mjx-container')).length,
          errors: document.querySelectorAll('mjx-merror').length,
          h1: Array.from(document.querySelectorAll('article h1')).map(h => h.textContent.replace('#', '').trim())};
}"""


def reading_order(site: Path) -> list[str]:
    """The site's pages (paths relative to it) in the order of the chapter list."""
    import re

    start = site / "index.html"
    text = start.read_text(encoding="utf-8")
    redirect = re.search(r'url=([^"]+)"', text)
    first = redirect.group(1) if redirect else "index.html"
    html = (site / first).read_text(encoding="utf-8")
    nav = html[html.index("bd-docs-nav"):]
    nav = nav[: nav.index("</nav>")]
    base = Path(first).parent
    pages = [first]
    for href in re.findall(r'<a class="reference internal" href="([^"#]+)', nav):
        path = os.path.normpath((base / href).as_posix())
        if path not in pages:
            pages.append(path)
    return pages


def print_book(site: Path, out: Path, chromium: str = "/usr/bin/chromium") -> dict:
    from playwright.sync_api import sync_playwright

    site, out = Path(site), Path(out)
    if not (site / "index.html").is_file():
        raise FileNotFoundError(f"expected the built website in {site} (run `make book` first)")
    pages = reading_order(site)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format, *args):  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(site)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1000, "height": 1400}, locale="zh-CN")
            page.route(lambda url: not url.startswith(base), lambda route: route.abort())
            page.goto(base + pages[0], wait_until="load")
            report = page.evaluate(COMBINE, [base + p for p in pages[1:]])
            page.wait_for_load_state("networkidle")
            # the theme's print style hides an article's first <h1> (the page title); in one document
            # of many pages every page's title stays, each page starting on a new sheet
            page.add_style_tag(content="@media print { .bd-article h1:first-of-type,"
                               " .course-pdf-page h1:first-of-type { display: block !important; } }")
            page.emulate_media(media="print")
            report["h1_visible"] = page.evaluate(
                "() => Array.from(document.querySelectorAll('article h1'))"
                ".filter(h => getComputedStyle(h).display !== 'none').length")
            out.parent.mkdir(parents=True, exist_ok=True)
            page.pdf(path=str(out), format="A4", print_background=True,
                     margin={"top": "15mm", "bottom": "15mm", "left": "15mm", "right": "15mm"})
            browser.close()
    finally:
        server.shutdown()
        server.server_close()
    report["pdf"] = str(out)
    report["pdf_bytes"] = out.stat().st_size
    out.with_suffix(".json").write_text(json.dumps(report, ensure_ascii=False, indent=1), encoding="utf-8")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--site", type=Path, default=REPO / "_build" / "html")
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "html" / PDF_NAME)
    parser.add_argument("--chromium", default=os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium"))
    parser.add_argument("--if-browser", action="store_true",
                        help="without Chromium, say so and exit 0 (the site is built, its PDF link is not)")
    args = parser.parse_args(argv)
    if args.if_browser and not os.access(args.chromium, os.X_OK):
        print(f"no Chromium at {args.chromium}: the site has no {PDF_NAME} (its link in the chapter list "
              "will not work). Install it with `make browser`, then run `make pdf`.")
        return 0
    report = print_book(args.site, args.out, args.chromium)
    print(f"{args.out}: {len(report['pages'])} pages of the site, {report['typeset']}/{report['math']} "
          f"formulas typeset, {report['errors']} MathJax errors, {report['pdf_bytes'] / 1e6:.1f} MB")
    return 0 if report["errors"] == 0 and report["typeset"] == report["math"] else 1


if __name__ == "__main__":
    sys.exit(main())
