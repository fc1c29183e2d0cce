// @ts-check
// Building DOM without innerHTML: user text only ever becomes text nodes, so it cannot inject markup.

/**
 * What `h()` and `append()` take as children: null, undefined and false are skipped.
 * @typedef {Node | string | number | boolean | null | undefined | Child[]} Child
 */

/**
 * Props of `h()`: any value; null, undefined and false leave the prop out.
 * @typedef {Record<string, unknown>} Props
 */

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Send"}, "Send")
 * Props: `class`, `text`, `on<event>` listeners, `dataset` (object), DOM properties that exist on
 * the element (value, checked, disabled, hidden, …); everything else becomes an attribute.
 * Children: nodes, strings, numbers, arrays; null/undefined/false are skipped.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Props | null} [props]
 * @param {...Child} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  // The element as a bag of properties: `h` sets whichever the props name.
  const bag = /** @type {Record<string, unknown>} */ (/** @type {unknown} */ (el));
  /** @type {unknown} */
  let late = null;
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    // A <select>'s value can only be set once its options exist.
    if (key === "value") late = value;
    else if (key === "class") el.className = String(value);
    else if (key === "text") el.textContent = String(value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function")
      el.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    else if (key in el && !key.includes("-") && typeof value !== "string") bag[key] = value;
    else if (key === "checked") bag.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  if (late !== null) bag.value = late;
  return el;
}

/**
 * @template {Element} E
 * @param {E} el
 * @param {Child[]} children
 * @returns {E}
 */
export function append(el, children) {
  for (const child of /** @type {unknown[]} */ (children).flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/**
 * @template {Element} E
 * @param {E} el
 * @returns {E}
 */
export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

/**
 * The first element matching `selector`; the app's selectors name HTML elements (a narrower type,
 * such as an input's, is a cast where it is used).
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement | null}
 */
export function $(selector, root = document) {
  return root.querySelector(selector);
}

/**
 * An element that is always there (the page shell of index.html, a part a function just built):
 * its absence is a bug, said at once by name.
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement}
 */
export function required(selector, root = document) {
  const el = $(selector, root);
  if (!el) throw new Error(`No element matches ${selector}`);
  return el;
}

/**
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement[]}
 */
export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

let counter = 0;
/** @param {string} prefix */
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}
