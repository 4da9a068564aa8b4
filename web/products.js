// The product list with live available stock (from the public GET /products/stream).

import { allProducts } from "./api.js";
import { $, alertUser, busy, el, money } from "./ui.js";

/**
 * Renders the products into #product-list and keeps their stock live.
 * `onAdd(productId, quantity)` adds to the cart (rejecting with the API's error);
 * `onStock(change)` hears every stock change.
 */
export function createProducts({ onAdd, onStock }) {
  const list = $("#product-list");
  let known = new Set();

  async function load() {
    try {
      const products = await allProducts();
      known = new Set(products.map((p) => p.id));
      list.replaceChildren(...products.map(item));
      if (!products.length) list.append(el("li", {}, "No products yet."));
    } catch (e) {
      alertUser(e.message);
    }
  }

  function item(p) {
    const qty = `qty-${p.id}`, err = `add-error-${p.id}`;
    const input = el("input", { id: qty, type: "number", min: 1, max: 10000, value: 1,
      inputMode: "numeric", "aria-describedby": err });
    const error = el("p", { id: err, class: "error" });
    const form = el("form", { class: "add" },
      el("div", {}, el("label", { for: qty }, "Quantity"), input),
      el("button", { type: "submit" }, "Add to cart"));
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      busy(form.querySelector("button"), () => onAdd(p.id, Number(input.value)), (e) => {
        error.textContent = e.message;
        input.setAttribute("aria-invalid", "true");
        alertUser(`${p.name}: ${e.message}`);
      });
    });
    const stock = el("p", { class: "stock" });
    const li = el("li", { class: "product", dataset: { productId: p.id } },
      el("h3", {}, p.name), el("p", { class: "price" }, money(p.price_cents)), stock, form, error);
    showStock(li, p.stock);
    return li;
  }

  function apply(change) {
    const li = list.querySelector(`[data-product-id="${change.product_id}"]`);
    if (li) showStock(li, change.stock);
    else if (!known.has(change.product_id)) load();
    onStock(change);
  }

  // Connect first, then load: every change after the load is on the stream. The browser
  // reconnects by itself, sending Last-Event-ID, so nothing is missed across a drop. If the
  // server refuses that position (410: trimmed; 409: past the log, e.g. after a restore) or
  // is full (503), the browser gives up: start afresh from the live end and reload the list.
  function connect() {
    const source = new EventSource("/products/stream");
    source.addEventListener("stock", (event) => apply(JSON.parse(event.data)));
    source.addEventListener("open", load, { once: true });
    source.addEventListener("error", () => {
      if (source.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
    });
  }
  connect();
  return { reload: load };
}

function showStock(li, stock) {
  const node = li.querySelector(".stock");
  node.dataset.stock = stock;
  node.textContent = stock > 0 ? `${stock} in stock` : "Out of stock (0 left)";
  node.classList.toggle("out", stock === 0);
}
