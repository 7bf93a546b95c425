"""Sphinx extension for the course website: offline assets, Chinese search, a check for CDN links.

Registered in _config.yml (``sphinx.local_extensions``). It

* makes sure the pinned JavaScript assets (MathJax, RequireJS, the Jupyter widget manager) are in
  book/_static/vendor/, fetching them from the npm registry with scripts/site_assets.py if not;
* sets up the Chinese word segmenter (jieba) for the search index: resolves the user dictionary
  named in ``html_search_options["dict"]`` against the book's root, fails if it is missing, and adds
  every Chinese term of the glossary (book/glossary.md) as a word, so that searching a course term
  such as 高斯过程 finds the pages that use it even where jieba's general dictionary would cut it,
  and indexes the dictionary words inside long words (``CourseChinese``); it also indexes single
  Latin letters (the z of z 分数, the U of U-Net, which Sphinx drops) and, for every glossary term
  `中文 (English)`, the words of the other language wherever one of the two appears, so that z 分数
  finds a page that says z-score and vice versa; the browser side, book/_static/cjk_search.js, cuts
  a query into the words the index knows and requires every word of the query;
* adds book/_static/course.js (``defer``), which makes the theme's sidebar buttons work (see there);
* gives every image an alt text (its figure's caption, else "图：" and its section's title) instead
  of its file path, and on the homework pages moves the otter set-up cell below the title;
* after the build, writes the course bundle (scripts/course_bundle.py: notebooks, the lectures_utils
  wheel, requirements, a README) to ``course_bundle.zip`` at the site's root; the footer of every
  page links to it;
* removes repeated identical scripts from each page (see ``_dedupe_scripts``);
* after the build, drops the theme's 1.5 MB fontawesome.js from every page that has no widgets: the
  theme's style sheet already has Font Awesome's icon classes and web fonts, which draw the icons;
  widget pages keep the script (``_drop_fontawesome_js`` says why);
* after the build, checks that no page loads a script, style sheet, font, image or frame from outside
  the site (a warning, hence an error under ``--warningiserror``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.config import Config
from sphinx.errors import ConfigError, ExtensionError
from sphinx.search.zh import JIEBA, SearchChinese
from sphinx.util import logging

logger = logging.getLogger(__name__)

# `中文术语 (English term)` at the start of a glossary line (the term line, not its indented definition)
_GLOSSARY_TERM = re.compile(r"^([\u4e00-\u9fff][\u4e00-\u9fff0-9A-Za-z\-·]*)\s*[（(]")
# a tag that makes the browser fetch something, and the URL it fetches
_RESOURCE = re.compile(
    r"<(script|link|img|iframe|source|video|audio|embed)\b[^>]*?\s(?:src|href)\s*=\s*[\"']([^\"']+)[\"']",
    re.IGNORECASE,
)
_HAN = re.compile(r"^[\u4e00-\u9fff]+$")
_HAS_HAN = re.compile(r"[\u4e00-\u9fff]")
# a glossary term line `中文术语 (English term, ABBR)`: the term and what is in the parentheses
_GLOSSARY_PAIR = re.compile(r"^(\S.*?)\s*[（(]([^()（）]+)[)）]\s*$")
_LATIN_WORDS = re.compile(r"[a-zA-Z0-9_]+")
BUNDLE_NAME = "course_bundle.zip"

# (Chinese term, its English names) from the glossary, filled in by _setup_search
_SYNONYMS: list[tuple[str, tuple[str, ...]]] = []
_EXTERNAL = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


def _load_site_assets(root: Path):
    path = root / "scripts" / "site_assets.py"
    if not path.is_file():
        raise ExtensionError(f"expected the asset fetcher at {path.relative_to(root)}, it is missing")
    spec = importlib.util.spec_from_file_location("course_site_assets", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def glossary_terms(path: str | Path) -> list[str]:
    """The Chinese terms defined in a glossary file written as `中文术语 (English term)` lines."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected the glossary file {path}, it does not exist")
    terms, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", ":::")):
            inside = "{glossary}" in line
            continue
        if not inside or line[:1].isspace():
            continue  # outside a glossary block, or an indented definition
        match = _GLOSSARY_TERM.match(line)
        if match:
            terms.append(match.group(1))
    return terms


def glossary_pairs(path: str | Path) -> list[tuple[str, tuple[str, ...]]]:
    """``(Chinese term, (English name, ...))`` for each glossary line `中文 (English, ABBR)`.

    Only terms with at least one Chinese character; the parentheses are split at commas, so
    `人工智能 (artificial intelligence, AI)` gives ``("人工智能", ("artificial intelligence", "AI"))``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"expected the glossary file {path}, it does not exist")
    pairs, inside = [], False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.lstrip().startswith(("```", ":::")):
            inside = "{glossary}" in line
            continue
        if not inside or line[:1].isspace():
            continue
        match = _GLOSSARY_PAIR.match(line.strip())
        if match and _HAS_HAN.search(match.group(1)):
            names = tuple(n.strip() for n in match.group(2).split(",") if n.strip())
            pairs.append((match.group(1), names))
    return pairs


def _english_pattern(name: str) -> re.Pattern:
    # whole words; case-insensitive except for short abbreviations (HU, AI)
    flags = 0 if len(name) <= 3 and name.isupper() else re.IGNORECASE
    return re.compile(r"(?<![A-Za-z0-9])" + re.escape(name) + r"(?![A-Za-z0-9])", flags)


def _setup_assets(app: Sphinx, config: Config) -> None:
    root = Path(app.srcdir)
    assets = _load_site_assets(root)
    try:
        assets.ensure(root)
    except (FileNotFoundError, RuntimeError, ValueError) as err:
        raise ExtensionError(
            f"the website's pinned JavaScript assets could not be set up: {err}. "
            "Run `python scripts/site_assets.py` with network access to the npm registry."
        ) from err


def _setup_search(app: Sphinx, config: Config) -> None:
    if not str(config.language or "").startswith("zh"):
        return
    try:
        import jieba
    except ImportError as err:
        raise ConfigError(
            "expected the `jieba` package for the Chinese search index (language zh_CN); "
            "install requirements.txt"
        ) from err
    options = dict(config.html_search_options or {})
    if "dict" in options:
        dict_path = Path(options["dict"])
        if not dict_path.is_absolute():
            dict_path = Path(app.srcdir) / dict_path
        if not dict_path.is_file():
            raise ConfigError(f"html_search_options['dict']: expected a jieba dictionary file, "
                              f"{options['dict']!r} does not exist")
        options["dict"] = str(dict_path)
        config.html_search_options = options
    glossary = Path(app.srcdir) / "book" / "glossary.md"
    if glossary.is_file():
        for term in glossary_terms(glossary):
            if len(term) >= 2:
                jieba.add_word(term, freq=20000)
        _SYNONYMS[:] = glossary_pairs(glossary)


class CourseChinese(SearchChinese):
    """Sphinx's Chinese search language, which also indexes the dictionary words inside long words.

    jieba's search mode cuts 高斯过程回归 into 高斯, 过程, 回归 and 高斯过程回归 but not 高斯过程 (it only
    adds the two- and three-character words inside a long word), so a page about 高斯过程回归 would not
    be found by a search for 高斯过程. Here every dictionary word of two or more characters inside a
    word is indexed as well.
    """

    def split(self, input: str) -> list[str]:
        words = super().split(input)
        extra = self._synonyms(input)
        if not JIEBA:
            return words + extra
        import jieba

        freq = jieba.dt.FREQ
        for word in words:
            if len(word) < 4 or not _HAN.match(word):
                continue
            for size in range(2, len(word)):
                for start in range(len(word) - size + 1):
                    piece = word[start:start + size]
                    if freq.get(piece):
                        extra.append(piece)
        return words + extra

    _patterns: dict[str, re.Pattern] = {}

    def _synonyms(self, text: str) -> list[str]:
        """The words of the other language's name of each glossary term that ``text`` contains."""
        extra: list[str] = []
        for chinese, names in _SYNONYMS:
            if chinese in text:
                for name in names:
                    extra.extend(_LATIN_WORDS.findall(name))
                continue
            for name in names:
                pattern = self._patterns.get(name)
                if pattern is None:
                    pattern = self._patterns[name] = _english_pattern(name)
                if pattern.search(text):
                    extra.extend(super().split(chinese))
                    break
        return extra

    def word_filter(self, stemmed_word: str) -> bool:
        """Sphinx's rule (two characters or more), and single Latin letters: z 分数, U-Net, x 轴."""
        return len(stemmed_word) > 1 or (stemmed_word.isascii() and stemmed_word.isalpha())


def external_resources(html: str) -> list[str]:
    """URLs of scripts, style sheets, images, frames or media an HTML page fetches from other sites."""
    return [f"<{tag}> {url}" for tag, url in _RESOURCE.findall(html) if _EXTERNAL.match(url)
            and not (tag.lower() == "link" and _is_plain_link(html, url))]


def _is_plain_link(html: str, url: str) -> bool:
    # <link rel="canonical"/"alternate"> names a URL without fetching it
    for tag in re.findall(r"<link\b[^>]*>", html, re.IGNORECASE):
        if url in tag:
            rel = re.search(r"rel\s*=\s*[\"']([^\"']+)", tag, re.IGNORECASE)
            return bool(rel) and rel.group(1).lower() in {"canonical", "alternate", "author", "license"}
    return False


def _check_offline(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    outdir = Path(app.outdir)
    for page in sorted(outdir.rglob("*.html")):
        found = external_resources(page.read_text(encoding="utf-8", errors="replace"))
        for item in found:
            logger.warning("%s loads %s from outside the site (the book must work offline)",
                           page.relative_to(outdir).as_posix(), item, type="course_site",
                           subtype="offline")


def _dedupe_scripts(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    """Drop repeated identical scripts from a page.

    sphinx-thebe and sphinx-togglebutton add their inline set-up scripts from an event handler that
    runs more than once in a Jupyter Book build, so every page got `const THEBE_JS_URL = ...` twice:
    a console error ("Identifier 'THEBE_JS_URL' has already been declared") on every page.
    """
    scripts = context.get("script_files")
    if not isinstance(scripts, list):
        return
    seen, unique = set(), []
    for js in sorted(scripts, key=lambda js: getattr(js, "priority", 500)):
        attributes = getattr(js, "attributes", {}) or {}
        # the same inline script comes once with filename None and once with "" (its two sources)
        key = (str(getattr(js, "filename", js) or ""), repr(sorted(attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


# the theme's <script> tag of fontawesome.js (pydata-sphinx-theme's webpack-macros.html)
_FONTAWESOME_JS = re.compile(r'[ \t]*<script\b[^>]*\bsrc="[^"]*_static/scripts/fontawesome\.js[^"]*"[^>]*>\s*</script>\n?')
# the Jupyter widget manager, present only on pages with widget outputs
_WIDGET_MANAGER = "html-manager/dist/embed-amd.js"


def _drop_fontawesome_js(app: Sphinx, exception: Exception | None) -> None:
    """Remove the 1.5 MB fontawesome.js from every page that shows no widget.

    The icons stay: pydata-sphinx-theme.css carries Font Awesome's classes and @font-face rules, so
    `<i class="fa-solid fa-bars">` is drawn from the woff2 web font. Widget pages keep the script:
    the widget manager's own style sheet declares Font Awesome fonts at paths of its package, which
    the site does not serve; fontawesome.js turns the icons into inline SVG before that font is ever
    requested. tests/test_site.py checks both kinds of page in a browser.
    """
    if exception is not None or getattr(app.builder, "format", "") != "html":
        return
    for page in Path(app.outdir).rglob("*.html"):
        html = page.read_text(encoding="utf-8")
        if _WIDGET_MANAGER in html:
            continue
        cleaned = _FONTAWESOME_JS.sub("", html)
        if cleaned != html:
            page.write_text(cleaned, encoding="utf-8")


def _section_title(node) -> str:
    while node is not None:
        if isinstance(node, nodes.section) and node.children and isinstance(node[0], nodes.title):
            return node[0].astext()
        node = node.parent
    return ""


def image_alt_texts(app: Sphinx, doctree: nodes.document, docname: str) -> None:
    """Give each image without an alt text one: its figure's caption, else 图：<section title>.

    Notebook outputs are images without an alt text, which the HTML writer replaces by the file's
    path (an alt text like ``../../_build/jupyter_execute/abc123.png``).
    """
    for image in doctree.findall(nodes.image):
        if image.get("alt"):
            continue
        figure = image.parent if isinstance(image.parent, nodes.figure) else None
        captions = [c for c in (figure or []) if isinstance(c, nodes.caption)]
        if captions:
            image["alt"] = captions[0].astext()
        else:
            title = _section_title(image)
            image["alt"] = f"图：{title}" if title else "图"


def homework_setup_cell_below_title(app: Sphinx, doctree: nodes.document) -> None:
    """On a homework page, move the otter set-up cell (``grader = otter.Notebook(...)``), which otter
    puts first in the notebook, from above the page's title to just below it."""
    docname = app.env.docname
    if not docname.startswith("book/homework/"):
        return
    children = list(doctree.children)
    first = next((i for i, c in enumerate(children) if isinstance(c, nodes.section)), None)
    if first is None:
        return
    section = children[first]
    moved = [c for c in children[:first]
             if isinstance(c, nodes.container) and "otter" in c.astext()]
    if not moved:
        return
    title_at = next((i for i, c in enumerate(section.children) if isinstance(c, nodes.title)), -1)
    for offset, cell in enumerate(moved):
        doctree.remove(cell)
        section.insert(title_at + 1 + offset, cell)


def _write_bundle(app: Sphinx, exception: Exception | None) -> None:
    if exception is not None or app.builder.format != "html":
        return
    root = Path(app.srcdir)
    path = root / "scripts" / "course_bundle.py"
    if not (path.is_file() and (root / "pyproject.toml").is_file() and (root / "lectures_utils").is_dir()):
        return  # not the course repository (e.g. the tests' throwaway books): no helper package to bundle
    spec = importlib.util.spec_from_file_location("course_bundle", path)
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    try:
        out = module.build_bundle(root, Path(app.outdir) / BUNDLE_NAME)
    except (RuntimeError, FileNotFoundError, ValueError) as err:
        raise ExtensionError(f"the course bundle ({BUNDLE_NAME}) could not be built: {err}") from err
    logger.info("course bundle written to %s", out)


def setup(app: Sphinx) -> dict:
    app.add_search_language(CourseChinese)
    app.connect("config-inited", _setup_assets)
    app.connect("config-inited", _setup_search)
    app.add_js_file("course.js", defer="defer")
    app.connect("doctree-read", homework_setup_cell_below_title)
    app.connect("doctree-resolved", image_alt_texts)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _drop_fontawesome_js, priority=400)
    app.connect("build-finished", _check_offline)
    app.connect("build-finished", _write_bundle)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
