/*
 * The course book's page fixes, loaded with `defer` from <head> (see _config.yml), so this runs once
 * the page is parsed but BEFORE the theme's own deferred script (pydata-sphinx-theme.js, at the end
 * of <body>) and before sphinx-book-theme's DOMContentLoaded handlers.
 *
 * 1. The sidebar buttons. pydata-sphinx-theme and sphinx-book-theme both attach their handlers to
 *    `document.querySelector(".primary-toggle")` / `(".secondary-toggle")`, the FIRST such button on
 *    the page. That is a copy in the theme's top navbar (#pst-header), which sphinx-book-theme hides
 *    (`.bd-header button.sidebar-toggle {display: none}`); the buttons a reader sees are the ones in
 *    the article header. So clicking ☰ (chapter list) or the page-contents button did nothing, on
 *    phones and on the desktop. The hidden copies are removed here, so the themes bind the visible
 *    buttons (tests/test_site.py clicks them at phone and desktop widths).
 * 2. Chinese labels and tooltips for those buttons (the theme has them in English only).
 */
(() => {
  const LABELS = {
    "primary-toggle": "显示或隐藏章节目录",
    "secondary-toggle": "本页目录",
  };
  const fix = () => {
    document
      .querySelectorAll("#pst-header .primary-toggle, #pst-header .secondary-toggle")
      .forEach((button) => button.remove());
    for (const [cls, label] of Object.entries(LABELS)) {
      document.querySelectorAll(`.${cls}`).forEach((button) => {
        button.setAttribute("title", label);
        button.setAttribute("aria-label", label);
        button.removeAttribute("data-bs-original-title");
      });
    }
  };
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fix);
  } else {
    fix();
  }
})();
