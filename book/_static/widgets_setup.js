/*
 * Set-up for the Jupyter widget manager (@jupyter-widgets/html-manager) on pages with widgets.
 * Loaded between require.js and embed-amd.js (nb_ipywidgets_js in _config.yml).
 *
 * 1. The manager's bundle looks for its font files next to its own module URL, which RequireJS would
 *    put next to the page (notebooks/.../@jupyter-widgets/html-manager/dist/): point that module path
 *    at the site's copy in _static/vendor/html-manager/dist/.
 * 2. Widgets typeset the math in their labels with MathJax 2's MathJax.Hub.Queue, but the site runs
 *    MathJax 3: give MathJax a small Hub whose Queue forwards to MathJax 3's typesetPromise.
 */
(function () {
  var staticRoot = new URL(".", document.currentScript.src).href; // .../_static/
  window.require.config({
    paths: {
      "@jupyter-widgets/html-manager/dist": staticRoot + "vendor/html-manager/dist",
    },
  });

  function typesetLater(elements) {
    var mj = window.MathJax;
    if (mj && mj.startup && mj.startup.promise) {
      mj.startup.promise
        .then(function () {
          return mj.typesetPromise(elements);
        })
        .catch(function (err) {
          console.warn("MathJax could not typeset a widget label:", err);
        });
    }
  }

  var hub = {
    Queue: function () {
      Array.prototype.forEach.call(arguments, function (job) {
        if (Array.isArray(job) && job[0] === "Typeset") {
          typesetLater(job[2] ? [job[2]] : undefined);
        }
      });
    },
  };

  function install() {
    if (window.MathJax && !window.MathJax.Hub) window.MathJax.Hub = hub;
  }
  install(); // the configuration object Sphinx defines before MathJax loads
  document.addEventListener("DOMContentLoaded", install); // MathJax 3 itself (a deferred script)
})();
