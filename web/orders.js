// Order history and the confirmation shown after a checkout.

import { allPages } from "./api.js";
import { $, alertUser, el, money } from "./ui.js";

function orderItem(order, headingTag = "h3") {
  const when = new Date(order.created_at).toLocaleString();
  return el("li", { class: "order", dataset: { orderId: order.id } },
    el(headingTag, {}, `Order ${order.id}`),
    el("p", {}, `Placed ${when} · total ${money(order.total_cents)}`),
    el("ul", {}, ...order.lines.map((l) =>
      el("li", {}, `${l.quantity} × ${l.name} at ${money(l.unit_price_cents)}`))));
}

export async function loadOrders() {
  try {
    const items = await allPages("/orders");
    items.sort((a, b) => b.id - a.id);
    $("#order-list").replaceChildren(...items.map((o) => orderItem(o)));
    if (!items.length) $("#order-list").append(el("li", {}, "No orders yet."));
  } catch (e) {
    alertUser(e.message);
  }
}

export function showConfirmation(order) {
  const box = el("div", { class: "confirmation", id: "order-confirmation", tabindex: -1 },
    el("h3", {}, `Thank you! Order ${order.id} is confirmed.`),
    el("p", {}, `Total ${money(order.total_cents)}`));
  $("#confirmation").replaceChildren(box);
  box.focus();
}

export function clearConfirmation() {
  $("#confirmation").replaceChildren();
}
