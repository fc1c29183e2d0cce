// @ts-check
// Role-play markup, the subset chat apps render: *actions* in italics, **bold**, "quoted speech",
// `code`, and {{char}}/{{user}} filled in. Built as DOM nodes: the text only ever becomes text
// nodes, so nothing in a message can become markup (no innerHTML anywhere).

const MACRO = /\{\{(char|user)\}\}|<(BOT|CHAR|USER)>/gi;
/** What `{{user}}` reads as for a visitor, who has no name here: a pronoun, not a name. */
export const YOU = "you";
// `{{user}}` as "you": a capital at the start of a sentence, the verb after it agreeing ("you
// have", not "you has") and the possessive as "your". Starters are written for names.
const YOU_MACRO = /(?:\{\{user\}\}|<USER>)(?:(\s+)([a-z]+)\b|(['\u2019]s\b))?/gi;
// What may come before a word that starts a sentence: the text's start, a line break or a full
// stop, then an opening action `*` or quote.
const SENTENCE_START = /(^|\n|[.!?]["\u201d\u2019)*]?\s)\s*[*"\u201c(]*$/;
/** @type {Record<string, string>} */
const AGREES = { has: "have", is: "are", was: "were" };
// Words after `{{user}}` that end in "s" but are no verb of theirs.
const NOT_VERBS = new Set(["always", "perhaps", "sometimes", "afterwards", "towards", "thus", "as", "us"]);
// Delimiters, longest first: bold before italics; curly quotes open and close explicitly.
const TOKEN = /(\*\*|\*|"|\u201c|\u201d)/;

/**
 * A parsed span: `closed` is false for one still open at the end of a growing reply.
 * @typedef {{kind: string, marker: string, children: (Frame | string)[], closed?: boolean}} Frame
 */

/**
 * Element and class for each kind of span.
 * @type {Record<string, {tag: string, className?: string}>}
 */
const KINDS = {
  strong: { tag: "strong" },
  em: { tag: "em" },
  speech: { tag: "span", className: "speech" },
};
/** @type {Record<string, string>} */
const MARKER = { "**": "strong", "*": "em", '"': "speech", "\u201c": "speech", "\u201d": "speech" };

/**
 * Replace `{{char}}`, `{{user}}`, `<BOT>`, `<CHAR>` and `<USER>` (any case) with the names.
 * @param {string} text
 * @param {{char?: string, user?: string}} names a missing name leaves its macro as written
 * @returns {string}
 */
export function fillNames(text, { char, user } = {}) {
  const source = user === YOU ? text.replace(YOU_MACRO, asYou) : text;
  return source.replace(
    MACRO,
    (whole, /** @type {string | undefined} */ brace, /** @type {string | undefined} */ angle) => {
      const name = (brace || angle || "").toLowerCase();
      const value = name === "user" ? user : char;
      return value === undefined || value === null ? whole : value;
    },
  );
}

/**
 * @param {string} _whole
 * @param {string | undefined} space
 * @param {string | undefined} word the word after the macro
 * @param {string | undefined} possessive
 * @param {number} offset
 * @param {string} text
 */
function asYou(_whole, space, word, possessive, offset, text) {
  const you = possessive ? "your" : word ? `you${space}${agreeing(word)}` : YOU;
  return SENTENCE_START.test(text.slice(0, offset)) ? `${you[0].toUpperCase()}${you.slice(1)}` : you;
}

/**
 * A verb as it follows "you" ("finds" → "find", "watches" → "watch", "tries" → "try").
 * @param {string} word
 */
function agreeing(word) {
  const lower = word.toLowerCase();
  if (AGREES[lower]) return AGREES[lower];
  if (lower.length < 4 || !lower.endsWith("s") || lower.endsWith("ss") || NOT_VERBS.has(lower)) return word;
  if (lower.endsWith("ies")) return `${word.slice(0, -3)}y`;
  if (/(ch|sh|ss|x|z|o)es$/.test(lower)) return word.slice(0, -2);
  return word.slice(0, -1);
}

/**
 * Whether a `*` or `**` at `i` may open (next character not a space) or close (previous not a
 * space), as in Markdown, so that "2 * 3 * 4" stays arithmetic. At the end of a growing reply a
 * marker may open: its word has not arrived yet.
 * @param {string} text
 * @param {number} i index of the marker
 * @param {number} length length of the marker
 * @param {boolean} growing
 */
function flanking(text, i, length, growing) {
  const before = text[i - 1];
  const after = text[i + length];
  return {
    opens: after === undefined ? growing : !/\s/.test(after),
    closes: before !== undefined && !/\s/.test(before),
  };
}

/**
 * Parse into a tree of `{kind, marker, children, closed}` nodes and strings.
 * Unclosed spans fall back to their literal marker, unless `growing` is set (a reply still
 * being written), where they run to the end with the marker hidden, so the text never jumps back.
 * @param {string} text
 * @param {boolean} growing
 */
function parse(text, growing) {
  /** @type {Frame} */
  const root = { kind: "root", marker: "", children: [] };
  const stack = [root];
  const top = () => stack[stack.length - 1];
  // A span never closed: its marker and content go back into `into` as they were written.
  /**
   * @param {Frame} frame
   * @param {Frame} into
   */
  const literal = (frame, into) => into.children.push(frame.marker, ...frame.children);
  /** @param {string} kind */
  const closeTo = (kind) => {
    const at = stack.map((f) => f.kind).lastIndexOf(kind);
    if (at <= 0) return false;
    const inner = stack.splice(at + 1);
    const frame = /** @type {Frame} */ (stack.pop());
    for (const f of inner) literal(f, frame);
    frame.closed = true;
    top().children.push(frame);
    return true;
  };
  /** @param {string} kind */
  const isOpen = (kind) => stack.some((f) => f.kind === kind);

  let i = 0;
  for (const part of text.split(TOKEN)) {
    const at = i;
    i += part.length;
    if (!part) continue;
    const kind = MARKER[part];
    if (kind === undefined) {
      top().children.push(part);
    } else if (part === "**" || part === "*") {
      const { opens, closes } = flanking(text, at, part.length, growing);
      if (closes && isOpen(kind) && closeTo(kind)) continue;
      if (opens) stack.push({ kind, marker: part, children: [] });
      else top().children.push(part);
    } else if (part === "\u201d" || (part === '"' && isOpen("speech"))) {
      // A straight quote closes an open quote, else opens one; curly ones say which.
      if (!closeTo("speech")) top().children.push(part);
    } else {
      stack.push({ kind, marker: part, children: [] });
    }
  }
  while (stack.length > 1) {
    const frame = /** @type {Frame} */ (stack.pop());
    if (growing) {
      frame.closed = false;
      top().children.push(frame);
    } else literal(frame, top());
  }
  return root;
}

/**
 * Build the DOM for a parsed tree. Quote marks stay visible inside speech; `*` and `**` do not.
 * @param {Frame | string} node
 * @returns {Node}
 */
function build(node) {
  if (typeof node === "string") return document.createTextNode(node);
  const { tag, className } = KINDS[node.kind] || { tag: "span" };
  const el = document.createElement(tag);
  if (className) el.className = className;
  const quoted = node.kind === "speech";
  if (quoted) el.append(node.marker);
  for (const child of node.children) el.append(build(child));
  if (quoted && node.closed) el.append(node.marker === "\u201c" ? "\u201d" : node.marker);
  return el;
}

/**
 * Render role-play text as DOM nodes: `*actions*` → `<em>`, `**bold**` → `<strong>`,
 * `"speech"` / `“speech”` → `<span class="speech">` (quotes kept), `` `code` `` → `<code>`,
 * line breaks kept (the container styles `white-space: pre-wrap`) but not around the text, names
 * filled in.
 * @param {string} text
 * @param {{char?: string, user?: string, streaming?: boolean}} [options] `streaming`: the text
 *   is still growing, so an unclosed span runs to the end instead of showing its marker
 * @returns {DocumentFragment}
 */
export function markup(text, { char, user, streaming = false } = {}) {
  const fragment = document.createDocumentFragment();
  // Blank lines or spaces around a text are no part of it (a model's reply may open with a space).
  const source = fillNames((text || "").trim(), { char, user });
  // Code spans first: their content is shown as written, never parsed.
  const pieces = source.split(/(`[^`\n]+`)/);
  pieces.forEach((piece, index) => {
    if (index % 2 === 1) {
      const code = document.createElement("code");
      code.textContent = piece.slice(1, -1);
      fragment.append(code);
      return;
    }
    if (!piece) return;
    const last = index === pieces.length - 1;
    const tree = parse(piece, streaming && last);
    for (const child of tree.children) fragment.append(build(child));
  });
  return fragment;
}

/**
 * Put rendered markup into `el`, replacing what it showed.
 * @param {Element} el
 * @param {string} text
 * @param {{char?: string, user?: string, streaming?: boolean}} [options]
 * @returns {Element} `el`
 */
export function renderInto(el, text, options = {}) {
  el.replaceChildren(markup(text, options));
  return el;
}
