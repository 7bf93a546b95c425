"""Sphinx extension for the course website: offline assets, Chinese search, a check for CDN links.

Registered in _config.yml (``sphinx.local_extensions``). It

* makes sure the pinned JavaScript assets (MathJax, RequireJS, the Jupyter widget manager) are in
  book/_static/vendor/, fetching them from the npm registry with scripts/site_assets.py if not;
* sets up the Chinese word segmenter (jieba) for the search index: resolves the user dictionary
  named in ``html_search_options["dict"]`` against the book's root, fails if it is missing, and adds
  every Chinese term of the glossary (book/glossary.md) as a word, so that searching a course term
  such as 高斯过程 finds the pages that use it even where jieba's general dictionary would cut it,
  and indexes the dictionary words inside long words (``CourseChinese``); the browser side,
  book/_static/cjk_search.js, cuts a query into the words the index knows;
* removes repeated identical scripts from each page (see ``_dedupe_scripts``);
* after the build, checks that no page loads a script, style sheet, font, image or frame from outside
  the site (a warning, hence an error under ``--warningiserror``).
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

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


class CourseChinese(SearchChinese):
    """Sphinx's Chinese search language, which also indexes the dictionary words inside long words.

    jieba's search mode cuts 高斯过程回归 into 高斯, 过程, 回归 and 高斯过程回归 but not 高斯过程 (it only
    adds the two- and three-character words inside a long word), so a page about 高斯过程回归 would not
    be found by a search for 高斯过程. Here every dictionary word of two or more characters inside a
    word is indexed as well.
    """

    def split(self, input: str) -> list[str]:
        words = super().split(input)
        if not JIEBA:
            return words
        import jieba

        freq = jieba.dt.FREQ
        extra = []
        for word in words:
            if len(word) < 4 or not _HAN.match(word):
                continue
            for size in range(2, len(word)):
                for start in range(len(word) - size + 1):
                    piece = word[start:start + size]
                    if freq.get(piece):
                        extra.append(piece)
        return words + extra


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


def setup(app: Sphinx) -> dict:
    app.add_search_language(CourseChinese)
    app.connect("config-inited", _setup_assets)
    app.connect("config-inited", _setup_search)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("build-finished", _check_offline)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
