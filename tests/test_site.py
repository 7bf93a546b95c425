"""The book's website, as `make book` writes it into _build/html, driven by headless Chromium.

The site must work with no network: every page loads with no console error, no failed request and
no request outside the site; math is typeset by the site's own MathJax, images load, widgets render
from their stored state with the site's own widget manager; the search finds Chinese words. The
tests read whatever pages the toc has (all HTML pages of the build), so they grow with the book.
The last two tests build a tiny throwaway book to show that a broken cross-reference or a failing
notebook fails the build.

Run after `make book` (`make test` does both); `COURSE_SITE_DIR` points them at another build.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

REPO = Path(__file__).resolve().parent.parent
SITE = Path(os.environ.get("COURSE_SITE_DIR", REPO / "_build" / "html"))
SCREENSHOTS = REPO / "_build" / "screenshots"
HAN = re.compile(r"[\u4e00-\u9fff]+")

pytestmark = pytest.mark.browser


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


course_site = _load("course_site_ext", REPO / "book" / "_ext" / "course_site.py")
site_assets = _load("site_assets", REPO / "scripts" / "site_assets.py")


def site_pages(site: Path = SITE) -> list[str]:
    """Every HTML page of the built site (paths relative to it), leaving out Sphinx's own folders."""
    if not site.is_dir():
        return []
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not any(part.startswith("_") for part in p.relative_to(site).parts))


def search_index(site: Path) -> dict:
    text = (site / "searchindex.js").read_text(encoding="utf-8")
    return json.loads(text[text.index("(") + 1: text.rindex(")")])


def docs_under(site: Path, prefix: str) -> list[str]:
    return [d for d in search_index(site)["docnames"] if d.startswith(prefix)]


PAGES = site_pages()


# --- static checks of the built files ---------------------------------------------------------------

def test_site_has_pages(site_dir):
    pages = site_pages(site_dir)
    assert "index.html" in pages and "search.html" in pages, pages
    assert len(pages) >= 4, pages


def test_no_page_links_resources_outside_the_site(site_dir):
    offenders = {}
    for page in site_pages(site_dir):
        found = course_site.external_resources((site_dir / page).read_text(encoding="utf-8"))
        if found:
            offenders[page] = found
    assert not offenders, f"pages loading scripts/styles/images from other sites: {offenders}"


def test_external_resource_detector_catches_cdn_tags():
    html = ('<script src="https://cdn.jsdelivr.net/npm/x.js"></script>'
            '<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Roboto">'
            '<img alt="x" src="http://example.org/a.png"><link rel="canonical" href="https://a.org/b">'
            '<script src="_static/ok.js"></script><a href="https://example.org">a link</a>')
    found = course_site.external_resources(html)
    assert found == ["<script> https://cdn.jsdelivr.net/npm/x.js",
                     "<link> //fonts.googleapis.com/css?family=Roboto",
                     "<img> http://example.org/a.png"], found


def test_build_check_warns_about_a_page_loading_a_cdn(tmp_path, caplog):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "page.html").write_text(
        '<script src="https://unpkg.com/thebe@0.8.2/lib/index.js"></script>', encoding="utf-8")
    (tmp_path / "ok.html").write_text('<script src="_static/a.js"></script>', encoding="utf-8")

    class Builder:
        format = "html"

    class App:
        outdir = str(tmp_path)
        builder = Builder()

    with caplog.at_level("WARNING"):
        course_site._check_offline(App(), None)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "sub/page.html" in messages[0] and "unpkg.com" in messages[0], messages


def test_vendored_assets_are_in_the_site(site_dir):
    static = site_dir / "_static" / "vendor"
    for rel in site_assets.REQUIRED:
        assert (static / rel).is_file(), f"{rel} missing from the built site's _static/vendor"
    pins = json.loads((static / "VERSIONS.json").read_text(encoding="utf-8"))
    assert {k: v["version"] for k, v in pins.items()} == \
        {k: v["version"] for k, v in site_assets.PACKAGES.items()}
    fonts = list((static / "mathjax/es5/output/chtml/fonts/woff-v2").glob("*.woff"))
    assert len(fonts) >= 20, f"expected MathJax's CHTML fonts, found {len(fonts)}"


def test_site_assets_rejects_a_missing_root(tmp_path):
    with pytest.raises(FileNotFoundError, match="book's root folder"):
        site_assets.vendor_dir(tmp_path / "nowhere")
    problems = site_assets.missing(tmp_path)
    assert any("tex-mml-chtml.js" in p for p in problems) and any("VERSIONS.json" in p for p in problems)


def test_glossary_terms_are_read_from_glossary_blocks(tmp_path):
    glossary = tmp_path / "glossary.md"
    glossary.write_text("# 术语表 (Glossary)\n\n高斯过程 (Gaussian process) 不在块内\n\n```{glossary}\n"
                        "高斯过程 (Gaussian process)\n   一个定义 (definition) 行\n卷积 (convolution)\n"
                        "   另一个定义\n```\n", encoding="utf-8")
    assert course_site.glossary_terms(glossary) == ["高斯过程", "卷积"]
    with pytest.raises(FileNotFoundError):
        course_site.glossary_terms(tmp_path / "missing.md")


def test_notebook_pages_offer_the_ipynb_download(site_dir):
    notebooks = [d for d in search_index(site_dir)["docnames"]
                 if (site_dir / "_sources" / f"{d}.ipynb").is_file()]
    if not notebooks:
        pytest.skip("no notebook pages in the toc yet")
    for doc in notebooks:
        html = (site_dir / f"{doc}.html").read_text(encoding="utf-8")
        name = doc.rsplit("/", 1)[-1]
        assert re.search(rf'href="[^"]*_sources/[^"]*{re.escape(name)}\.ipynb"', html), \
            f"{doc}.html has no .ipynb download link"


def test_navigation_lists_setup_glossary_bibliography(site_dir):
    html = (site_dir / "book" / "intro.html").read_text(encoding="utf-8")
    nav = html[html.index('bd-docs-nav'):]
    nav = nav[: nav.index("</nav>")]
    for doc in ("setup", "glossary", "bibliography"):
        assert re.search(rf'href="[^"]*{doc}\.html"', nav), f"{doc} page missing from the navigation"
    homework = docs_under(site_dir, "homework/") + [
        d for d in search_index(site_dir)["docnames"] if "/homework" in d or d.startswith("book/homework")]
    for doc in homework:
        assert f'{doc.rsplit("/", 1)[-1]}.html' in nav, f"homework page {doc} missing from the navigation"


# --- every page in Chromium ------------------------------------------------------------------------

PAGE_CHECKS = r"""() => {
  const article = document.querySelector('main') || document.body;
  const math = Array.from(document.querySelectorAll('span.math, div.math'));
  const untypeset = math.filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60));
  const errors = Array.from(document.querySelectorAll('mjx-merror')).map(el => el.textContent.slice(0, 60));
  const clone = article.cloneNode(true);
  clone.querySelectorAll('pre, code, .highlight, script, style, mjx-container, mjx-assistive-mml, .jupyter-widgets').forEach(el => el.remove());
  const rawTex = (clone.textContent.match(/\\\(|\\\[|\$\$|\\(frac|mathbf|sum|int)\b/g) || []);
  const brokenImages = Array.from(document.images)
      .filter(img => !(img.complete && img.naturalWidth > 0)).map(img => img.currentSrc || img.src);
  const viewScripts = document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]').length;
  const widgets = Array.from(document.querySelectorAll('.jupyter-widgets'))
      .filter(el => !el.parentElement.closest('.jupyter-widgets'));
  const visibleWidgets = widgets.filter(el => el.getBoundingClientRect().height > 0).length;
  return {math: math.length, untypeset, errors, rawTex, brokenImages, viewScripts,
          widgets: widgets.length, visibleWidgets};
}"""


@pytest.mark.parametrize("page", PAGES)
def test_page_loads_offline_and_renders(site_browser, site_dir, page):
    visit = site_browser.visit(page)
    assert not visit.problems(), f"{page}: " + "; ".join(visit.problems())
    result = site_browser.page.evaluate(PAGE_CHECKS)
    assert not result["untypeset"], f"{page}: math left untypeset: {result['untypeset']}"
    assert not result["errors"], f"{page}: MathJax errors: {result['errors']}"
    assert not result["rawTex"], f"{page}: raw TeX in the text: {result['rawTex']}"
    assert not result["brokenImages"], f"{page}: images that did not load: {result['brokenImages']}"
    html = (site_dir / page).read_text(encoding="utf-8")
    if "application/vnd.jupyter.widget-state+json" in html:
        assert result["viewScripts"] > 0, f"{page}: widget state but no widget views"
        assert result["visibleWidgets"] >= result["viewScripts"], \
            f"{page}: {result['viewScripts']} widget views, {result['visibleWidgets']} rendered and visible"


def test_a_widget_page_shows_its_widgets(site_browser, site_dir):
    pages = [p for p in site_pages(site_dir)
             if "application/vnd.jupyter.widget-state+json" in (site_dir / p).read_text(encoding="utf-8")]
    if not pages:
        pytest.skip("no page with a stored widget state in the toc yet")
    visit = site_browser.visit(pages[0])
    assert not visit.problems(), visit.problems()
    controls = site_browser.page.locator(
        ".jupyter-widgets .widget-slider, .jupyter-widgets .widget-dropdown, .jupyter-widgets .widget-toggle-buttons,"
        " .jupyter-widgets .widget-checkbox, .jupyter-widgets .widget-text, .jupyter-widgets .widget-button")
    assert controls.count() > 0, f"{pages[0]}: no widget control rendered"
    assert controls.first.is_visible(), f"{pages[0]}: the first widget control is not visible"
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    controls.first.scroll_into_view_if_needed()
    site_browser.page.screenshot(path=str(SCREENSHOTS / "widget_page.png"))


# --- search in Chinese -----------------------------------------------------------------------------

def search(site_browser, query: str) -> list[str]:
    """Docnames (without .html) the site's search page returns for ``query``."""
    site_browser.visit(f"search.html?q={quote(query)}", settle_ms=0)
    site_browser.page.wait_for_function(
        "() => { const s = document.querySelector('#search-results .search-summary');"
        " return s && s.textContent.trim().length > 0; }", timeout=30_000)
    hrefs = site_browser.page.eval_on_selector_all(
        "#search-results ul.search li a", "els => els.map(a => a.getAttribute('href'))")
    docs = []
    for href in hrefs:
        path = urlsplit(href).path
        docs.append(path[: -len(".html")] if path.endswith(".html") else path)
    return docs


def test_search_finds_pages_by_chinese_title_words(site_browser, site_dir):
    index = search_index(site_dir)
    targets = [d for d in ("book/setup", "book/glossary") if d in index["docnames"]]
    targets += [d for d in index["docnames"] if d.startswith("notebooks/")][:2]
    assert targets, "no page to search for"
    for doc in targets:
        title = index["titles"][index["docnames"].index(doc)]
        words = HAN.findall(title)
        assert words, f"{doc}: title {title!r} has no Chinese words"
        query = max(words, key=len)
        found = search(site_browser, query)
        assert doc in found, f"searching {query!r} (title of {doc}) returned {found}"


def test_search_gaussian_process_finds_the_gp_chapter(site_browser, site_dir):
    if not docs_under(site_dir, "notebooks/02_"):
        pytest.skip("no Gaussian-process chapter pages (notebooks/02_*) in the toc yet")
    found = search(site_browser, "高斯过程")
    assert any(d.startswith("notebooks/02_") for d in found), found


def test_search_convolution_finds_the_cnn_pages(site_browser, site_dir):
    if not docs_under(site_dir, "notebooks/04_"):
        pytest.skip("no CNN chapter pages (notebooks/04_*) in the toc yet")
    found = search(site_browser, "卷积")
    assert any(d.startswith("notebooks/04_") for d in found), found


def test_search_query_is_cut_into_indexed_words(site_browser, site_dir):
    """A Chinese phrase absent from the index as a whole is cut into the words the index knows."""
    index = search_index(site_dir)
    doc = "book/setup" if "book/setup" in index["docnames"] else index["docnames"][0]
    title_words = [w for w in HAN.findall(index["titles"][index["docnames"].index(doc)]) if len(w) >= 2]
    assert title_words, f"{doc} has no Chinese title"
    query = title_words[0] + "的"  # a trailing particle that no page has as a word of its own
    assert query not in index["terms"]
    found = search(site_browser, query)
    assert doc in found, f"searching {query!r} returned {found}"


# --- screenshots for review ------------------------------------------------------------------------

def test_screenshots_of_home_and_a_chapter_page(site_browser, site_dir):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    visit = site_browser.visit("index.html")
    assert not visit.problems(), visit.problems()
    site_browser.page.screenshot(path=str(SCREENSHOTS / "home.png"))
    chapters = docs_under(site_dir, "notebooks/")
    page = f"{chapters[0]}.html" if chapters else "book/setup.html"
    visit = site_browser.visit(page)
    assert not visit.problems(), visit.problems()
    site_browser.page.screenshot(path=str(SCREENSHOTS / "chapter.png"))
    for name in ("home.png", "chapter.png"):
        assert (SCREENSHOTS / name).stat().st_size > 10_000, f"{name} looks empty"


# --- the build itself fails on broken references and failing notebooks -----------------------------

def _tiny_book(tmp_path: Path, page_name: str, page_text: str) -> Path:
    book = tmp_path / "book_src"
    book.mkdir()
    shutil.copy(REPO / "_config.yml", book / "_config.yml")
    (book / "book").symlink_to(REPO / "book", target_is_directory=True)
    (book / "scripts").symlink_to(REPO / "scripts", target_is_directory=True)
    (book / page_name).write_text(page_text, encoding="utf-8")
    stem = page_name.rsplit(".", 1)[0]
    (book / "_toc.yml").write_text(f"format: jb-book\nroot: {stem}\n", encoding="utf-8")
    return book


def _build(book: Path) -> subprocess.CompletedProcess:
    jb = Path(sys.executable).parent / "jupyter-book"
    # the same flags as the Makefile's `book` target
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    flags = ["--warningiserror", "--nitpick", "--keep-going", "--builder", "html"]
    for flag in flags[:3]:
        assert flag in makefile, f"the Makefile's book target lost {flag}"
    return subprocess.run([str(jb), "build", ".", *flags], cwd=book, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.mark.slow
def test_build_fails_on_a_broken_cross_reference(tmp_path):
    book = _tiny_book(tmp_path, "page.md", "# 测试页 (Test page)\n\n见 {numref}`fig-does-not-exist`。\n")
    proc = _build(book)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "fig-does-not-exist" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_build_fails_on_a_failing_notebook(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [nbformat.v4.new_markdown_cell("# 测试笔记本 (Test notebook)"),
                nbformat.v4.new_code_cell("raise ValueError('expected failure of the test notebook')")]
    book = _tiny_book(tmp_path, "failing.ipynb", nbformat.writes(nb))
    proc = _build(book)
    assert proc.returncode != 0, proc.stdout[-2000:]
    assert "expected failure of the test notebook" in proc.stdout + proc.stderr
