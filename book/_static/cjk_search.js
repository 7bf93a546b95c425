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
 */
var splitQuery = (query) => {
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
