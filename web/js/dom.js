// Building DOM without innerHTML: user text only ever becomes text nodes, so it cannot inject markup.

/**
 * h("button", {class: "primary", onclick: fn, "aria-label": "Send"}, "Send")
 * Props: `class`, `text`, `on<event>` listeners, `dataset` (object), DOM properties that exist on
 * the element (value, checked, disabled, hidden, …); everything else becomes an attribute.
 * Children: nodes, strings, numbers, arrays; null/undefined/false are skipped.
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  let late = null;
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    // A <select>'s value can only be set once its options exist.
    if (key === "value") late = value;
    else if (key === "class") el.className = value;
    else if (key === "text") el.textContent = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key in el && !key.includes("-") && typeof value !== "string") el[key] = value;
    else if (key === "checked") el.checked = Boolean(value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  append(el, children);
  if (late !== null) el.value = late;
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

export function $$(selector, root = document) {
  return Array.from(root.querySelectorAll(selector));
}

let counter = 0;
export function uid(prefix = "id") {
  counter += 1;
  return `${prefix}-${counter}`;
}
