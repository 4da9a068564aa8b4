// The console's products table: create, and edit name, price and available stock, with the
// API's validation errors shown beside the field they name.

import { allProducts, api } from "./api.js";
import { $, alertUser, announce, busy, el } from "./ui.js";

const FIELDS = [["name", "Name", "text"], ["price_cents", "Price (cents)", "number"], ["stock", "Available", "number"]];

function field(prefix, [key, label, type], value, labelled = true) {
  const id = `${prefix}-${key}`;
  const input = el("input", { id, name: key, type, value: value ?? "", "aria-describedby": `${id}-error` });
  if (type === "number") input.min = 0;
  const parts = [input, el("p", { class: "error", id: `${id}-error` })];
  return labelled ? el("div", {}, el("label", { for: id }, label), ...parts)
    : el("div", {}, el("label", { for: id, class: "sr-only" }, label), ...parts);
}

function body(form) {
  const data = Object.fromEntries(new FormData(form));
  const number = (v) => (v.trim() === "" || Number.isNaN(Number(v)) ? v : Number(v));
  return { name: data.name, price_cents: number(data.price_cents), stock: number(data.stock) };
}

/** Clears old errors in `root`; shows the API's error beside its `field`, or announces it. */
function report(root, prefix, e) {
  const input = e && e.detail && e.detail.field ? root.querySelector(`#${prefix}-${e.detail.field}`) : null;
  if (input) {
    input.setAttribute("aria-invalid", "true");
    root.querySelector(`#${input.id}-error`).textContent = e.message;
  }
  alertUser(e.message);
}

function clear(root) {
  for (const n of root.querySelectorAll(".error")) n.textContent = "";
  for (const n of root.querySelectorAll("[aria-invalid]")) n.removeAttribute("aria-invalid");
}

function row(p) {
  const prefix = `product-${p.id}`;
  const form = `${prefix}-form`;
  const cells = FIELDS.map((f) => {
    const cell = field(prefix, f, p[f[0]], false);
    cell.querySelector("input").setAttribute("form", form);
    return el("td", {}, cell);
  });
  const save = el("button", { type: "submit", form }, "Save");
  const tr = el("tr", { dataset: { productId: p.id } }, el("th", { scope: "row" }, String(p.id)), ...cells,
    el("td", { class: "reserved" }, String(p.reserved)), el("td", {}, el("form", { id: form, noValidate: true }), save));
  tr.querySelector("form").addEventListener("submit", (event) => {
    event.preventDefault();
    clear(tr);
    busy(save, async () => {
      const updated = await api("PUT", `/products/${p.id}`, body(event.target));
      tr.replaceWith(row(updated));
      announce(`Saved ${updated.name}.`);
    }, (e) => report(tr, prefix, e));
  });
  return tr;
}

export async function loadCatalog() {
  try {
    const products = await allProducts();
    $("#catalog").replaceChildren(...products.map(row));
  } catch (e) {
    alertUser(e.message);
  }
}

/** A stock change from the feed: refresh that row's held count unless it is being edited. */
export function stockChanged(productId) {
  const asked = (latest.get(productId) || 0) + 1;
  latest.set(productId, asked);
  api("GET", `/products/${productId}`).then((p) => {
    const tr = $(`#catalog tr[data-product-id="${productId}"]`);
    // Answers can overtake each other: only the latest request's answer is shown.
    if (latest.get(productId) !== asked) return;
    if (!tr) return loadCatalog();
    if (!tr.contains(document.activeElement)) tr.replaceWith(row(p));
  }).catch(() => {});
}

/** Per product, the number of the latest refresh asked for. */
const latest = new Map();

export function setUpCatalog() {
  const form = $("#new-product");
  $("#new-fields").replaceChildren(...FIELDS.map((f) => field("new", f, f[0] === "name" ? "" : 0)));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    clear(form);
    busy(form.querySelector("button[type=submit]"), async () => {
      const p = await api("POST", "/products", body(form));
      form.reset();
      announce(`Created ${p.name} (id ${p.id}).`);
      await loadCatalog();
    }, (e) => report(form, "new", e));
  });
  return loadCatalog();
}
