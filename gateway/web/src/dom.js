// Building DOM nodes. Text always goes in as text nodes (never as HTML): names, titles and
// messages come from sites and users, and must never become markup.

/**
 * h("button", {class: "x", onclick: f, "aria-label": "..."}, "text", child, ...)
 * Properties starting with "on" become listeners; `hidden`, `disabled`, `checked`, `value`
 * are set as properties; everything else as attributes. Children: strings (text), nodes,
 * arrays, null/undefined/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (key === "hidden" || key === "disabled" || key === "checked" || key === "value") {
      el[key] = value;
    } else if (key === "dataset") {
      Object.assign(el.dataset, value);
    } else {
      el.setAttribute(key, value === true ? "" : String(value));
    }
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** Set an element's text only when it changed (no layout work for the same text). */
export function setText(el, text) {
  const value = text === null || text === undefined ? "" : String(text);
  if (el.textContent !== value) el.textContent = value;
}

export function $(selector, root = document) {
  return root.querySelector(selector);
}

/** Show a short message in the live region (errors carry their request id). */
export function toast(message, tone = "info") {
  const box = document.getElementById("toasts");
  if (!box) return;
  const item = h("div", { class: `toast toast-${tone}`, role: tone === "error" ? "alert" : "status" }, message);
  box.append(item);
  setTimeout(() => item.remove(), tone === "error" ? 12000 : 5000);
}
