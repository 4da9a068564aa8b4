// The cart's state and actions: add, change, remove, abandon, checkout (drawn by cartview.js).
// One cart per tab: its id is kept in session storage beside the token.

import { api, session } from "./api.js";
import { renderCart, tickHolds } from "./cartview.js";
import { $, alertUser, announce, busy } from "./ui.js";

let cart = null;
let refreshing = null;
let again = false;
let hooks = { onOrder: () => {}, onCount: () => {} };

const root = () => $("#cart");
const id = () => session.item("cart");
const actions = { change, checkout, abandon };

function forget() { session.setItem("cart", null); return null; }

function adopt(c) {
  cart = c;
  renderCart(root(), cart, actions);
  tickHolds(root(), () => {});
  hooks.onCount(c ? c.items.length : 0);
  return c;
}

/** `onOrder(order)` runs after a checkout; `onCount(n)` after every change. */
export function setUpCart(given) {
  hooks = given;
  setInterval(() => tickHolds(root(), refresh), 1000);
}

/** Reads the cart again; a call while a read is under way makes one more read after it. */
export async function refresh() {
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

async function openCart() {
  if (id() && cart && cart.status === "open") return id();
  const c = await api("POST", "/carts", {});
  session.setItem("cart", c.id);
  return c.id;
}

/** Adds to the cart (opening one if needed); rejects with the API's error if refused. */
export async function add(productId, quantity) {
  const body = { product_id: productId, quantity };
  const post = async () => api("POST", `/carts/${await openCart()}/products`, body);
  let c;
  try {
    c = await post();
  } catch (e) {
    if (e.code !== "cart_closed" && e.code !== "not_found") throw e;
    cart = forget(); // the kept cart was closed elsewhere: start a new one
    c = await post();
  }
  adopt(c);
  const line = c.items.find((i) => i.product_id === productId);
  announce(`Added ${quantity} × ${line ? line.name : "item"} to your cart.`);
}

export const holds = (productId) => !!cart && cart.items.some((i) => i.product_id === productId);

async function change(productId, method, body, message) {
  adopt(await api(method, `/carts/${id()}/products/${productId}`, body));
  announce(message);
}

async function checkout(event) {
  await busy(event.target, async () => {
    const order = await api("POST", `/carts/${id()}/checkout`);
    adopt(forget());
    announce(`Order ${order.id} confirmed.`);
    hooks.onOrder(order);
  });
}

async function abandon(event) {
  await busy(event.target, async () => {
    await api("DELETE", `/carts/${id()}`);
    adopt(forget());
    announce("Cart abandoned; its stock is released.");
  });
}
