// The storefront: wires log in, live products, cart and orders, and switches between views.

import { setUpAuth } from "./auth.js";
import * as cart from "./cart.js";
import { clearConfirmation, loadOrders, showConfirmation } from "./orders.js";
import { createProducts } from "./products.js";
import { $, alertUser } from "./ui.js";

let user = null;

function show(view) {
  for (const section of document.querySelectorAll(".view")) {
    section.hidden = section.id !== `view-${view}`;
  }
  for (const button of document.querySelectorAll("nav [data-view]")) {
    if (button.dataset.view === view) button.setAttribute("aria-current", "page");
    else button.removeAttribute("aria-current");
  }
  if (view === "cart") cart.refresh();
  if (view === "orders") loadOrders();
}

cart.setUpCart({
  onOrder: (order) => {
    show("orders");
    showConfirmation(order);
  },
  onCount: (n) => { $("#cart-count").textContent = n ? `(${n})` : ""; },
});

createProducts({
  onAdd: async (productId, quantity) => {
    if (!user) {
      alertUser("Log in or register to add to your cart.");
      $("#login-username").focus();
      return;
    }
    await cart.add(productId, quantity);
  },
  onStock: (change) => {
    if (user && cart.holds(change.product_id)) cart.refresh();
  },
});

for (const button of document.querySelectorAll("nav [data-view]")) {
  button.addEventListener("click", () => {
    clearConfirmation();
    show(button.dataset.view);
  });
}

setUpAuth((me) => {
  user = me;
  if (me) cart.refresh();
  else show("products");
});
show("products");
