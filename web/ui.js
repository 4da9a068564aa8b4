// Small DOM helpers shared by both pages.

// Set as attributes: their DOM properties are read-only or mean something else.
const ATTRIBUTES = new Set(["form", "list", "style"]);

/** `el("li", {class: "x", dataset: {id: 1}}, child, "text")`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value == null || value === false) continue;
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key in node && !ATTRIBUTES.has(key)) node[key] = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

export const $ = (selector, root = document) => root.querySelector(selector);

/** Says something politely (status) or urgently (alert) to screen readers and sighted users. */
export function announce(message) {
  $("#alert").textContent = "";
  $("#status").textContent = message;
}

export function alertUser(message) {
  $("#status").textContent = "";
  $("#alert").textContent = message;
}

export function money(cents) {
  return new Intl.NumberFormat(undefined, { style: "currency", currency: "EUR" }).format(cents / 100);
}

/** Runs `action` with `button` disabled, reporting a failure through `onError`. */
export async function busy(button, action, onError = (e) => alertUser(e.message)) {
  if (button) button.disabled = true;
  try {
    return await action();
  } catch (e) {
    onError(e);
  } finally {
    if (button) button.disabled = false;
  }
}

/** "12:05" for a number of seconds. */
export function clock(seconds) {
  const s = Math.max(0, Math.floor(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(r).padStart(2, "0");
  return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}
