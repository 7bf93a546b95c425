/*
 * Chinese-aware query splitting for the book's search (loaded before Sphinx's searchtools.js,
 * which uses a global `splitQuery` when one is defined).
 *
 * Sphinx splits a query on spaces and punctuation only, so a Chinese query such as 高斯过程的后验
 * stays one "word" and finds nothing unless the index holds exactly that string. The index was cut
 * into words by jieba (see book/_ext/course_site.py); here each run of Chinese characters that the
 * index does not know as a whole is cut into the longest words it does know (forward maximum
 * matching), and characters that start no known word are dropped. All words must then match, as in
 * any Sphinx search.
 *
 * Sphinx's own rule for "all words" (searchtools.js, performTermsSearch) counts words instead of
 * checking them, and lets a page through when the number of words it matches equals the number of
 * query words longer than two characters: for 训练 U-Net (训练, u, net) a page with only "net"
 * passed while the page with all three did not. `requireAllTerms` below keeps Sphinx's search and
 * drops every result that lacks one of the words (two-character Chinese words and single letters
 * included; the index has single letters, see book/_ext/course_site.py).
 */
const termFiles = (index, word) => {
  // the files (indices) where `word` occurs, as Sphinx's performTermsSearch finds them
  const files = new Set();
  const add = (entry) => {
    if (entry === undefined) return;
    (entry.length === undefined ? [entry] : entry).forEach((f) => files.add(f));
  };
  for (const table of [index.terms, index.titleterms]) {
    add(table[word]);
    if (word.length > 2 && !Object.prototype.hasOwnProperty.call(table, word)) {
      for (const term of Object.keys(table)) if (term.includes(word)) add(table[term]);
    }
  }
  return files;
};

const requireAllTerms = () => {
  if (typeof Search === "undefined" || Search._courseAllTerms || !Search.performTermsSearch) return;
  const original = Search.performTermsSearch;
  Search.performTermsSearch = (searchTerms, excludedTerms) => {
    const results = original(searchTerms, excludedTerms);
    const index = Search._index;
    const filenames = index.filenames;
    const words = [...searchTerms];
    const sets = words.map((word) => termFiles(index, word));
    const inTitle = words.map((word) => {
      const entry = index.titleterms[word];
      return new Set(entry === undefined ? [] : entry.length === undefined ? [entry] : entry);
    });
    return results.filter((result) => {
      const file = filenames.indexOf(result[5]);
      if (file < 0) return true;
      if (!sets.every((files) => files.has(file))) return false;
      // a page with every query word in its title first (Sphinx scores only the best single word)
      if (words.length > 1 && inTitle.every((files) => files.has(file))) result[4] += 2 * Scorer.title;
      return true;
    });
  };
  Search._courseAllTerms = true;
};

var splitQuery = (query) => {
  requireAllTerms();
  const parts = query
    .split(/[^\p{Letter}\p{Number}_\p{Emoji_Presentation}]+/gu)
    .filter((term) => term);
  const index =
    typeof Search !== "undefined" && Search._index ? Search._index : null;
  if (index === null) return parts;
  const has = Object.prototype.hasOwnProperty;
  const known = (word) =>
    has.call(index.terms, word) || has.call(index.titleterms, word);
  const words = [];
  for (const part of parts) {
    for (const run of part.match(/\p{Script=Han}+|[^\p{Script=Han}]+/gu)) {
      if (!/\p{Script=Han}/u.test(run) || known(run)) {
        words.push(run);
        continue;
      }
      const chars = Array.from(run);
      let i = 0;
      while (i < chars.length) {
        let size = Math.min(12, chars.length - i);
        while (size >= 2 && !known(chars.slice(i, i + size).join(""))) size -= 1;
        if (size >= 2) {
          words.push(chars.slice(i, i + size).join(""));
          i += size;
        } else {
          i += 1;
        }
      }
    }
  }
  return words.length ? words : parts;
};
