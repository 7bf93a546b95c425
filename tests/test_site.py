"""The book's website, as `make book` writes it into _build/html, driven by headless Chromium.

The site must work with no network: every page loads with no console error, no failed request and
no request outside the site; math is typeset by the site's own MathJax, images load, widgets render
from their stored state with the site's own widget manager; the search finds Chinese words, also
in multi-word and mixed Chinese/English queries (训练 U-Net, z 分数); the ☰ chapter-list and the
page-contents buttons work on a phone (390 px) and on a desktop; every page has the favicon and a link
to the course bundle; images have real alt texts; ASCII quotes stay straight; figures fit the page. The
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


def test_fontawesome_script_is_dropped_from_pages_without_widgets(tmp_path):
    tag = '  <script defer src="../_static/scripts/fontawesome.js?digest=1"></script>\n'
    other = '  <script defer src="../_static/scripts/bootstrap.js?digest=1"></script>\n'
    widget = '  <script src="../_static/vendor/html-manager/dist/embed-amd.js?v=1"></script>\n'
    (tmp_path / "sub").mkdir()
    plain, with_widget = tmp_path / "sub" / "plain.html", tmp_path / "sub" / "widget.html"
    plain.write_text("<head>\n" + tag + other + "</head>", encoding="utf-8")
    with_widget.write_text("<head>\n" + tag + other + widget + "</head>", encoding="utf-8")

    class Builder:
        format = "html"

    class App:
        outdir = str(tmp_path)
        builder = Builder()

    course_site._drop_fontawesome_js(App(), None)
    assert "fontawesome" not in plain.read_text(encoding="utf-8")
    assert "bootstrap.js" in plain.read_text(encoding="utf-8")
    assert with_widget.read_text(encoding="utf-8") == "<head>\n" + tag + other + widget + "</head>"


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


def test_glossary_pairs_and_bilingual_search_words(tmp_path, monkeypatch):
    glossary = tmp_path / "glossary.md"
    glossary.write_text("```{glossary}\nz 分数 (z-score)\n   定义\n人工智能 (artificial intelligence, AI)\n"
                        "   定义\nHD95\n   无中文\n```\n", encoding="utf-8")
    pairs = course_site.glossary_pairs(glossary)
    assert pairs == [("z 分数", ("z-score",)), ("人工智能", ("artificial intelligence", "AI"))]
    monkeypatch.setattr(course_site, "_SYNONYMS", pairs)
    lang = course_site.CourseChinese({})
    assert "分数" in lang.split("每个通道各自做 z-score 归一化")  # English name -> Chinese words
    assert {"z", "score"} <= set(lang.split("健康人的 z 分数服从标准正态分布"))  # and back
    assert "人工智能" in lang.split("Artificial Intelligence in medicine")
    assert "人工智能" not in lang.split("a paid service")  # AI only as a whole, upper-case word
    assert lang.word_filter("z") and lang.word_filter("分数") and not lang.word_filter(" ")
    assert not lang.word_filter("的") and not lang.word_filter("1")


def test_images_get_their_caption_or_section_as_alt_text():
    from docutils import nodes
    from docutils.frontend import get_default_settings
    from docutils.parsers.rst import Parser
    from docutils.utils import new_document

    doc = new_document("t", get_default_settings(Parser))
    section = nodes.section()
    section += nodes.title(text="2.1 多元高斯分布")
    plain = nodes.image(uri="../../_build/jupyter_execute/abc.png")
    figure = nodes.figure()
    captioned = nodes.image(uri="b.png")
    figure += captioned
    figure += nodes.caption(text="等高线图")
    given = nodes.image(uri="c.png", alt="已有的说明")
    section += [plain, figure, given]
    doc += section
    course_site.image_alt_texts(None, doc, "x")
    assert [plain["alt"], captioned["alt"], given["alt"]] == ["图：2.1 多元高斯分布", "等高线图", "已有的说明"]


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


SEARCHES = [
    # (query, a page it must find, whether that page must come first)
    ("训练 U-Net", "notebooks/06_segmentation/06_4_training_unet", True),  # two-character word + U-Net
    ("z 分数", "notebooks/06_segmentation/06_1_images_preprocessing", False),  # 6.1 says z-score
    ("z 分数", "notebooks/02_gaussian_processes/02_4_normative_modelling", False),
    ("z-score", "notebooks/02_gaussian_processes/02_4_normative_modelling", False),  # says z 分数
    ("规范模型 z 分数", "notebooks/02_gaussian_processes/02_4_normative_modelling", True),
    ("Dice 系数", "notebooks/06_segmentation/06_2_metrics_losses", False),
    ("soft Dice 损失", "notebooks/06_segmentation/06_2_metrics_losses", False),
    ("高斯过程 回归", "notebooks/02_gaussian_processes/02_2_gp_prior_posterior", False),
]


@pytest.mark.parametrize("query, doc, first", SEARCHES, ids=[f"{q}->{d.rsplit('/', 1)[-1]}" for q, d, _ in SEARCHES])
def test_search_multiword_and_mixed_queries(site_browser, site_dir, query, doc, first):
    """Two-character Chinese words and single letters count; every query word must be on a result."""
    if doc not in search_index(site_dir)["docnames"]:
        pytest.skip(f"{doc} is not in the toc")
    found = search(site_browser, query)
    assert doc in found, f"searching {query!r} returned {found}"
    if first:
        assert found[0] == doc, f"searching {query!r}: {doc} is not the first result: {found}"


def test_search_requires_every_query_word(site_browser, site_dir):
    """Sphinx alone let a page through that matched one word of three; every result has all words."""
    index = search_index(site_dir)
    query = "训练 U-Net"
    words = ["训练", "u", "net"]
    found = search(site_browser, query)
    assert found, f"searching {query!r} found nothing"
    for doc in found:
        i = index["docnames"].index(doc)
        for word in words:
            entries = [index[t].get(word, []) for t in ("terms", "titleterms")]
            files = {f for e in entries for f in (e if isinstance(e, list) else [e])}
            assert i in files, f"{doc} found for {query!r} but has no {word!r}"


def test_search_index_has_single_letters_and_glossary_synonyms(site_dir):
    index = search_index(site_dir)
    assert "z" in index["terms"] and "u" in index["terms"], "single Latin letters are not indexed"
    doc = "notebooks/06_segmentation/06_1_images_preprocessing"
    if doc in index["docnames"]:  # the page says z-score; the glossary term is z 分数 (z-score)
        i = index["docnames"].index(doc)
        entries = [index[t].get("分数", []) for t in ("terms", "titleterms")]
        assert i in {f for e in entries for f in (e if isinstance(e, list) else [e])}, \
            "z-score did not index 分数"


# --- phones and the sidebar buttons ----------------------------------------------------------------

def _open_at_width(chromium, site_url, width: int, page: str):
    context = chromium.new_context(viewport={"width": width, "height": 844}, locale="zh-CN",
                                   service_workers="block")
    tab = context.new_page()
    errors = []
    tab.on("pageerror", lambda err: errors.append(str(err)))
    tab.goto(site_url + page, wait_until="load")
    tab.wait_for_load_state("networkidle")
    return context, tab, errors


def _a_chapter_page(site_dir: Path) -> str:
    chapters = docs_under(site_dir, "notebooks/")
    return f"{chapters[0]}.html" if chapters else "book/setup.html"


def test_chapter_list_button_opens_the_chapters_on_a_phone(chromium, site_url, site_dir):
    """At 390 px the visible ☰ button opens the chapter list (the theme bound a hidden copy)."""
    context, tab, errors = _open_at_width(chromium, site_url, 390, _a_chapter_page(site_dir))
    try:
        nav = tab.locator(".bd-docs-nav a.reference")
        assert nav.filter(visible=True).count() == 0, "the chapter list is visible before ☰ is clicked"
        toggles = tab.locator(".primary-toggle").filter(visible=True)
        assert toggles.count() == 1, f"expected one visible ☰ button, found {toggles.count()}"
        assert HAN.search(toggles.first.get_attribute("aria-label") or ""), "☰ has no Chinese label"
        toggles.first.click()
        tab.wait_for_timeout(300)
        assert tab.evaluate("document.querySelector('#pst-primary-sidebar-modal').open"), \
            "clicking ☰ did not open the chapter list"
        visible = nav.filter(visible=True)
        assert visible.count() >= 4, f"only {visible.count()} chapter links visible after clicking ☰"
        texts = " ".join(visible.all_inner_texts())
        assert "环境配置" in texts, f"the chapter list shows no setup page: {texts[:300]}"
        chapters = [d for d in docs_under(site_dir, "notebooks/")]
        if chapters:
            title = search_index(site_dir)["titles"][search_index(site_dir)["docnames"].index(chapters[0])]
            assert title.split(" (")[0][:8] in texts, f"{title!r} not in the chapter list"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        tab.screenshot(path=str(SCREENSHOTS / "phone_chapter_list.png"))
        tab.mouse.click(380, 400)  # a tap on the shaded page beside the list closes it
        tab.wait_for_timeout(300)
        assert nav.filter(visible=True).count() == 0, "tapping beside the chapter list did not close it"
        assert not errors, errors
    finally:
        context.close()


def test_page_contents_button_opens_on_a_phone(chromium, site_url, site_dir):
    context, tab, errors = _open_at_width(chromium, site_url, 390, _a_chapter_page(site_dir))
    try:
        toggles = tab.locator(".secondary-toggle").filter(visible=True)
        assert toggles.count() == 1, f"expected one visible page-contents button, found {toggles.count()}"
        toggles.first.click()
        tab.wait_for_timeout(300)
        assert tab.evaluate("document.querySelector('#pst-secondary-sidebar-modal').open"), \
            "clicking the page-contents button did not open the page's contents"
        assert tab.locator("#pst-secondary-sidebar-modal a").filter(visible=True).count() >= 1
        assert not errors, errors
    finally:
        context.close()


def test_chapter_list_button_hides_and_shows_the_sidebar_on_a_desktop(chromium, site_url, site_dir):
    context, tab, errors = _open_at_width(chromium, site_url, 1280, _a_chapter_page(site_dir))
    try:
        nav = tab.locator(".bd-docs-nav a.reference")
        shown = nav.filter(visible=True).count()
        assert shown >= 4, f"the desktop sidebar shows {shown} links"
        toggle = tab.locator(".primary-toggle").filter(visible=True)
        assert toggle.count() == 1
        toggle.first.click()
        tab.wait_for_timeout(300)
        assert nav.filter(visible=True).count() == 0, "☰ did not hide the sidebar on a desktop"
        toggle.first.click()
        tab.wait_for_timeout(300)
        assert nav.filter(visible=True).count() == shown, "☰ did not bring the sidebar back"
        assert not errors, errors
    finally:
        context.close()


def test_pages_without_widgets_do_not_load_fontawesome_js_and_icons_still_render(chromium, site_url, site_dir):
    """Page weight: pages without widgets skip the theme's 1.5 MB fontawesome.js; icons come from the web font."""
    plain, widget = [], []
    for page in site_pages(site_dir):
        html = (site_dir / page).read_text(encoding="utf-8")
        (widget if "html-manager/dist/embed-amd.js" in html else plain).append(page)
        if page in plain:
            assert "fontawesome.js" not in html, page
    assert len(plain) >= 10 and widget, (len(plain), len(widget))
    chapter = next(p for p in plain if p.startswith("notebooks/"))
    context, tab, errors = _open_at_width(chromium, site_url, 1280, chapter)
    try:
        icons = tab.evaluate("""() => Array.from(document.querySelectorAll('i.fa-solid, span.fa-solid, i.fas'))
            .filter(el => el.offsetParent !== null)
            .map(el => [el.className, getComputedStyle(el, '::before').content,
                        getComputedStyle(el).fontFamily, el.getBoundingClientRect().width])""")
        assert len(icons) >= 3, icons
        for cls, content, family, width in icons:
            assert content not in ("none", "normal", "") and "Font Awesome" in family and width > 0, \
                (cls, content, family, width)
        tab.evaluate("document.fonts.ready")
        assert tab.evaluate("""() => document.fonts.check('900 16px "Font Awesome 6 Free"')"""), \
            "the Font Awesome web font did not load"
        assert not errors, errors
    finally:
        context.close()


def test_one_search_field_and_no_top_navbar(chromium, site_url, site_dir):
    """The theme's top navbar duplicated the sidebar's search field; now there is one per width."""
    for width in (390, 1280):
        context, tab, _ = _open_at_width(chromium, site_url, width, _a_chapter_page(site_dir))
        try:
            assert not tab.locator("#pst-header").is_visible(), f"{width} px: the top navbar is visible"
            fields = tab.locator(".search-button-field, .search-button__button").filter(visible=True)
            assert fields.count() == 1, f"{width} px: {fields.count()} visible search fields/buttons"
        finally:
            context.close()


# --- static page details -----------------------------------------------------------------------------

def test_every_page_has_the_favicon_and_the_course_bundle_link(site_dir):
    assert (site_dir / "_static" / "favicon.svg").is_file()
    bundle = site_dir / "course_bundle.zip"
    assert bundle.is_file(), "course_bundle.zip is missing from the site"
    for page in site_pages(site_dir):
        html = (site_dir / page).read_text(encoding="utf-8")
        if 'http-equiv="refresh"' in html.lower():
            continue  # index.html only redirects
        assert re.search(r'<link rel="icon" href="[^"]*favicon\.svg"', html), f"{page}: no favicon"
        links = re.findall(r'href="([^"]*course_bundle\.zip)"', html)
        assert links, f"{page}: no link to the course bundle"
        for link in links:
            target = (site_dir / page).parent / link
            assert target.resolve() == bundle.resolve(), f"{page}: {link} does not point at the bundle"
        pdf_links = re.findall(r'href="([^"]*book\.pdf)"', html)
        assert pdf_links, f"{page}: no link to the whole-book PDF"
        for link in pdf_links:
            target = (site_dir / page).parent / link
            assert target.resolve() == (site_dir / "book.pdf").resolve(), f"{page}: {link} is not the PDF"
    setup = (site_dir / "book" / "setup.html").read_text(encoding="utf-8")
    main = setup[setup.index("<main"):]
    assert "course_bundle.zip" in main, "the setup page's text does not link the course bundle"
    assert 'id="course-bundle"' in setup


def test_images_have_alt_text_not_file_paths(site_dir):
    bad = {}
    for page in site_pages(site_dir):
        html = (site_dir / page).read_text(encoding="utf-8")
        for tag in re.findall(r"<img\b[^>]*>", html):
            alt = re.search(r'alt="([^"]*)"', tag)
            if alt is None or not alt.group(1).strip() or re.search(
                    r"\.(png|jpe?g|svg|gif)$|_build/|jupyter_execute", alt.group(1)):
                bad.setdefault(page, []).append(tag[:160])
    assert not bad, f"images without a real alt text: {bad}"


def test_notebook_figures_fit_the_page_width(site_dir):
    """The figure-size policy (lectures_utils.plotting.MAX_FIGURE_WIDTH, 100 dpi inline): no figure
    much wider than 1000 px, which the ~720 px text column would shrink to unreadable labels."""
    import struct

    sys.path.insert(0, str(REPO))
    from lectures_utils.plotting import MAX_FIGURE_WIDTH

    limit = MAX_FIGURE_WIDTH * 100 * 1.1  # tight bounding boxes may add a legend outside the axes
    widths = {}
    for png in (site_dir / "_images").glob("*.png") if (site_dir / "_images").is_dir() else []:
        head = png.read_bytes()[:24]
        if head[:8] == b"\x89PNG\r\n\x1a\n":
            widths[png.name] = struct.unpack(">I", head[16:20])[0]
    if not widths:
        pytest.skip("no figures on the site (notebooks not executed)")
    wide = {name: w for name, w in widths.items() if w > limit}
    assert not wide, f"figures wider than {limit:.0f} px: {wide}"


def test_ascii_quotes_next_to_chinese_stay_straight(site_dir):
    """Smart quotes are off: "受试者" must not become ”受试者” (two closing quotes)."""
    curly = {}
    straight = 0
    for page in site_pages(site_dir):
        html = (site_dir / page).read_text(encoding="utf-8")
        body = re.sub(r"<(pre|script|style)\b.*?</\1>", "", html, flags=re.S)
        found = re.findall(r"”[\u4e00-\u9fff][^“”<]{0,30}”", body)
        if found:
            curly[page] = found[:3]
        straight += len(re.findall(r"&quot;[\u4e00-\u9fff][^<]{0,30}?&quot;", body))  # text, escaped
    assert not curly, f"ASCII quotes turned into two closing quotes: {curly}"
    if straight == 0:
        pytest.skip("no page has ASCII quotes around Chinese text")


def test_homework_pages_start_with_their_title(site_dir):
    pages = [p for p in site_pages(site_dir) if p.startswith("book/homework/")]
    if not pages:
        pytest.skip("no homework pages")
    for page in pages:
        html = (site_dir / page).read_text(encoding="utf-8")
        main = html[html.index('<article class="bd-article">'):]
        assert "<h1" in main, page
        if "otter.Notebook" in main:
            assert main.index("<h1") < main.index("otter.Notebook"), \
                f"{page}: the otter set-up cell comes before the title"


@pytest.mark.slow
def test_book_pdf_has_every_page_and_typeset_math(site_dir, tmp_path):
    """`make book` / `make pdf` (scripts/book_pdf.py): one PDF of every page of the chapter list, math
    typeset, at the site's root where every page links to it."""
    book_pdf = _load("book_pdf", REPO / "scripts" / "book_pdf.py")
    out = site_dir / book_pdf.PDF_NAME
    if out.is_file() and out.with_suffix(".json").is_file():  # printed by `make book`
        report = json.loads(out.with_suffix(".json").read_text(encoding="utf-8"))
    else:
        out = tmp_path / book_pdf.PDF_NAME
        report = _print_pdf(site_dir, out)
    assert out.read_bytes()[:5] == b"%PDF-" and out.stat().st_size > 100_000
    assert report["pdf_bytes"] == out.stat().st_size, "the PDF's report belongs to another print"
    order = book_pdf.reading_order(site_dir)
    assert len(report["pages"]) == len(order), report["pages"]
    docs = [d for d in search_index(site_dir)["docnames"] if d.startswith("notebooks/")]
    assert {f"{d}.html" for d in docs} <= set(order), "a chapter page is missing from the PDF"
    assert report["h1_visible"] >= len(order), "page titles hidden in print"
    assert report["math"] > 0 and report["typeset"] == report["math"] and report["errors"] == 0, report


def _print_pdf(site_dir: Path, out: Path) -> dict:
    # In its own process: Playwright's sync API refuses to start inside the event loop that the
    # browser fixtures of this module leave running.
    script = ("import json, sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); import book_pdf; "
              "print(json.dumps(book_pdf.print_book(Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4])))")
    done = subprocess.run([sys.executable, "-c", script, str(REPO / "scripts"), str(site_dir), str(out),
                           os.environ.get("COURSE_CHROMIUM", "/usr/bin/chromium")],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


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
