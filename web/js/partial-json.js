// @ts-check
// A lenient reader for JSON that is still being written (a persona draft streamed as text):
// whatever the prefix holds so far, strings cut short included, as plain values.

/**
 * Where the reader is: the text, the index, the top-level key being written, the nesting depth.
 * @typedef {{s: string, i: number, open: string | null, depth: number}} Reader
 * @typedef {{value: any, ok: boolean}} Read a value (undefined: none yet), and whether it is complete
 */

/** @type {Record<string, string>} */
const ESCAPES = { '"': '"', "\\": "\\", "/": "/", b: "\b", f: "\f", n: "\n", r: "\r", t: "\t" };
const LITERAL = /^(?:-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null)/;

/**
 * Parse the JSON object that `text` begins (anything before its first `{` is skipped, e.g. a
 * code fence). Returns the object read so far (a string cut short keeps its characters, a key
 * without a value is left out), or null before the object starts.
 * @param {string} text
 * @returns {{value: Record<string, any> | null, open: string | null, done: boolean}} `open`: the top-level key
 *   still being written; `done`: the object is complete
 */
export function parsePartial(text) {
  const start = text.indexOf("{");
  if (start < 0) return { value: null, open: null, done: false };
  /** @type {Reader} */
  const reader = { s: text, i: start, open: null, depth: 0 };
  const { value, ok } = readValue(reader);
  return { value: value ?? {}, open: ok ? null : reader.open, done: ok };
}

/** @param {Reader} r */
function skip(r) {
  while (r.i < r.s.length && " \t\r\n".includes(r.s[r.i])) r.i += 1;
}

/**
 * @param {Reader} r
 * @returns {Read}
 */
function readValue(r) {
  skip(r);
  if (r.i >= r.s.length) return { value: undefined, ok: false };
  const c = r.s[r.i];
  if (c === "{") return readObject(r);
  if (c === "[") return readArray(r);
  if (c === '"') return readString(r);
  const found = LITERAL.exec(r.s.slice(r.i, r.i + 40));
  // A literal that reaches the end of the text may still grow ("12" → "123", "tr" → "true").
  if (!found || r.i + found[0].length >= r.s.length) return { value: undefined, ok: false };
  r.i += found[0].length;
  return { value: JSON.parse(found[0]), ok: true };
}

/**
 * @param {Reader} r
 * @returns {{value: string, ok: boolean}}
 */
function readString(r) {
  r.i += 1;
  let out = "";
  while (r.i < r.s.length) {
    const c = r.s[r.i];
    if (c === '"') {
      r.i += 1;
      return { value: out, ok: true };
    }
    if (c === "\\") {
      const next = r.s[r.i + 1];
      if (next === undefined) break;
      if (next === "u") {
        const hex = r.s.slice(r.i + 2, r.i + 6);
        if (hex.length < 4) break;
        out += String.fromCharCode(parseInt(hex, 16));
        r.i += 6;
      } else {
        out += ESCAPES[next] ?? next;
        r.i += 2;
      }
      continue;
    }
    out += c;
    r.i += 1;
  }
  // Cut short: never end on half a surrogate pair.
  if (/[\uD800-\uDBFF]$/.test(out)) out = out.slice(0, -1);
  return { value: out, ok: false };
}

/**
 * @param {Reader} r
 * @returns {Read}
 */
function readArray(r) {
  r.i += 1;
  /** @type {unknown[]} */
  const out = [];
  for (;;) {
    skip(r);
    if (r.i >= r.s.length) return { value: out, ok: false };
    const c = r.s[r.i];
    if (c === "]") {
      r.i += 1;
      return { value: out, ok: true };
    }
    if (c === ",") {
      r.i += 1;
      continue;
    }
    const item = readValue(r);
    if (item.value !== undefined) out.push(item.value);
    if (!item.ok) return { value: out, ok: false };
  }
}

/**
 * @param {Reader} r
 * @returns {Read}
 */
function readObject(r) {
  r.i += 1;
  r.depth += 1;
  const top = r.depth === 1;
  /** @type {Record<string, unknown>} */
  const out = {};
  const stop = () => {
    r.depth -= 1;
    return { value: out, ok: false };
  };
  for (;;) {
    skip(r);
    if (r.i >= r.s.length) return stop();
    const c = r.s[r.i];
    if (c === "}") {
      r.i += 1;
      r.depth -= 1;
      return { value: out, ok: true };
    }
    if (c === ",") {
      r.i += 1;
      continue;
    }
    if (c !== '"') return stop(); // not JSON after all: keep what was read
    const key = readString(r);
    if (!key.ok) return stop();
    skip(r);
    if (r.s[r.i] !== ":") return stop();
    r.i += 1;
    if (top) r.open = key.value;
    const item = readValue(r);
    if (item.value !== undefined) out[key.value] = item.value;
    if (!item.ok) return stop();
  }
}
