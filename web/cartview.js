// How the cart looks: its lines with quantity controls and each line's hold (a countdown, or
// "lapsed" with a button to reserve it again), the total and the cart's buttons.

import { serverNow } from "./api.js";
import { busy, clock, el, money } from "./ui.js";

/** Renders `cart` into `root`; `act` has `change(productId, method, body, message)`,
 * `checkout(event)` and `abandon(event)`. */
export function renderCart(root, cart, act) {
  if (!cart || !cart.items.length) {
    root.replaceChildren(el("p", {}, "Your cart is empty."));
    return;
  }
  root.replaceChildren(
    el("ul", { class: "lines" }, ...cart.items.map((item) => line(item, act))),
    el("p", { class: "total", id: "cart-total" }, `Total ${money(cart.total_cents)}`),
    el("div", { class: "actions" },
      el("button", { type: "button", id: "checkout", onclick: act.checkout }, "Check out"),
      el("button", { type: "button", id: "abandon", class: "danger", onclick: act.abandon }, "Abandon cart")));
}

function line(item, act) {
  const qty = `line-qty-${item.product_id}`;
  const input = el("input", { id: qty, type: "number", min: 0, max: 10000, value: item.quantity });
  const update = el("button", { type: "button", class: "secondary", onclick: () => busy(update, () =>
    act.change(item.product_id, "PUT", { quantity: Number(input.value) }, `${item.name}: quantity set to ${input.value}.`)) }, "Update");
  const remove = el("button", { type: "button", class: "danger", onclick: () => busy(remove, () =>
    act.change(item.product_id, "DELETE", undefined, `${item.name} removed from your cart.`)) }, "Remove");
  return el("li", { class: "line", dataset: { productId: item.product_id, reserved: item.reserved } },
    el("div", {}, el("h3", {}, item.name),
      el("p", {}, `${money(item.unit_price_cents)} each · ${money(item.quantity * item.unit_price_cents)}`),
      hold(item, act)),
    el("div", { class: "controls" }, el("div", {}, el("label", { for: qty }, "Quantity"), input), update, remove));
}

function hold(item, act) {
  if (item.reserved && item.hold_expires_at) {
    return el("p", { class: "hold held", dataset: { expires: item.hold_expires_at } }, "Held");
  }
  const again = el("button", { type: "button", class: "secondary re-reserve", onclick: () => busy(again, () =>
    act.change(item.product_id, "PUT", { quantity: item.quantity }, `${item.name} is reserved again.`)) }, "Re-reserve");
  return el("div", { class: "hold lapsed" },
    el("p", {}, "Hold lapsed: this stock is no longer reserved for you."), again);
}

/** Updates every countdown in `root`; calls `onLapsed` for a hold past its time. */
export function tickHolds(root, onLapsed) {
  for (const node of root.querySelectorAll("[data-expires]")) {
    const left = (Date.parse(node.dataset.expires) - serverNow()) / 1000;
    node.textContent = left > 0 ? `Held for you for ${clock(left)}` : "Hold lapsing…";
    if (left <= -2) onLapsed();
  }
}
