// The cart: add, change, remove, abandon, checkout; each line's hold with a countdown.

import { api, serverNow, session } from "./api.js";
import { $, alertUser, announce, busy, clock, el, money } from "./ui.js";

/** `onOrder(order)` runs after a checkout; `onCount(n)` after every change. */
export function createCart({ onOrder, onCount }) {
  const root = $("#cart");
  let cart = null;
  let refreshing = null;
  let again = false;

  const id = () => session.item("cart");
  const adopt = (c) => { cart = c; render(); onCount(c ? c.items.length : 0); return c; };

  /** Reads the cart again; a call while a read is under way makes one more read after it. */
  async function refresh() {
    if (!id() || !session.token) return adopt(null);
    if (refreshing) {
      again = true;
      return refreshing;
    }
    refreshing = api("GET", `/carts/${id()}`)
      .then((c) => adopt(c.status === "open" ? c : forget()))
      .catch((e) => (e.status === 404 ? adopt(forget()) : alertUser(e.message)))
      .finally(() => {
        refreshing = null;
        if (again) { again = false; refresh(); }
      });
    return refreshing;
  }

  function forget() { session.setItem("cart", null); return null; }

  async function openCart() {
    if (id() && cart && cart.status === "open") return id();
    const c = await api("POST", "/carts", {});
    session.setItem("cart", c.id);
    return c.id;
  }

  async function add(productId, quantity) {
    const path = async () => `/carts/${await openCart()}/products`;
    const body = { product_id: productId, quantity };
    let c;
    try {
      c = await api("POST", await path(), body);
    } catch (e) {
      if (e.code !== "cart_closed" && e.code !== "not_found") throw e;
      forget();
      cart = null;
      c = await api("POST", await path(), body);
    }
    adopt(c);
    const line = c.items.find((i) => i.product_id === productId);
    announce(`Added ${quantity} × ${line ? line.name : "item"} to your cart.`);
  }

  async function change(path, method, body, message) {
    adopt(await api(method, `/carts/${id()}/products/${path}`, body));
    announce(message);
  }

  function render() {
    if (!cart || !cart.items.length) {
      root.replaceChildren(el("p", {}, "Your cart is empty."));
      return;
    }
    root.replaceChildren(
      el("ul", { class: "lines" }, ...cart.items.map(line)),
      el("p", { class: "total", id: "cart-total" }, `Total ${money(cart.total_cents)}`),
      el("div", { class: "actions" },
        el("button", { type: "button", id: "checkout", onclick: checkout }, "Check out"),
        el("button", { type: "button", id: "abandon", class: "danger", onclick: abandon }, "Abandon cart")));
    tick();
  }

  function line(item) {
    const qty = `line-qty-${item.product_id}`;
    const input = el("input", { id: qty, type: "number", min: 0, max: 10000, value: item.quantity });
    const update = el("button", { type: "button", class: "secondary", onclick: () => busy(update, () =>
      change(item.product_id, "PUT", { quantity: Number(input.value) }, `${item.name}: quantity set to ${input.value}.`)) }, "Update");
    const remove = el("button", { type: "button", class: "danger", onclick: () => busy(remove, () =>
      change(item.product_id, "DELETE", undefined, `${item.name} removed from your cart.`)) }, "Remove");
    return el("li", { class: "line", dataset: { productId: item.product_id, reserved: item.reserved } },
      el("div", {}, el("h3", {}, item.name),
        el("p", {}, `${money(item.unit_price_cents)} each · ${money(item.quantity * item.unit_price_cents)}`),
        hold(item)),
      el("div", { class: "controls" }, el("div", {}, el("label", { for: qty }, "Quantity"), input), update, remove));
  }

  function hold(item) {
    if (item.reserved && item.hold_expires_at) {
      return el("p", { class: "hold held", dataset: { expires: item.hold_expires_at } }, "Held");
    }
    const again = el("button", { type: "button", class: "secondary re-reserve", onclick: () => busy(again, () =>
      change(item.product_id, "PUT", { quantity: item.quantity }, `${item.name} is reserved again.`)) }, "Re-reserve");
    return el("div", { class: "hold lapsed" },
      el("p", {}, "Hold lapsed: this stock is no longer reserved for you."), again);
  }

  /** Updates every countdown; a hold that runs out makes the cart ask the server. */
  function tick() {
    for (const node of root.querySelectorAll("[data-expires]")) {
      const left = (Date.parse(node.dataset.expires) - serverNow()) / 1000;
      node.textContent = left > 0 ? `Held for you for ${clock(left)}` : "Hold lapsing…";
      if (left <= -2) refresh();
    }
  }
  setInterval(tick, 1000);

  async function checkout(event) {
    await busy(event.target, async () => {
      const order = await api("POST", `/carts/${id()}/checkout`);
      forget();
      adopt(null);
      announce(`Order ${order.id} confirmed.`);
      onOrder(order);
    });
  }

  async function abandon(event) {
    await busy(event.target, async () => {
      await api("DELETE", `/carts/${id()}`);
      forget();
      adopt(null);
      announce("Cart abandoned; its stock is released.");
    });
  }

  const holds = (productId) => !!cart && cart.items.some((i) => i.product_id === productId);
  return { add, refresh, holds };
}
