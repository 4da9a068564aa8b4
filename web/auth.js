// The log-in and register forms, and the header's "who" and "Log out" (both pages).

import { api, logIn, logOut, session } from "./api.js";
import { $, alertUser, announce, busy } from "./ui.js";

/** Wires the forms; `onChange(me or null)` runs at start and after every log in or out. */
export async function setUpAuth(onChange) {
  const changed = (me) => {
    document.body.classList.toggle("logged-in", !!me);
    for (const node of document.querySelectorAll(".needs-login")) node.hidden = !me;
    $("#auth").hidden = !!me;
    $("#who").textContent = me ? `Signed in as ${me.username}` : "";
    onChange(me);
  };
  const form = (id, submit) => {
    const f = $(id);
    if (!f) return;
    f.addEventListener("submit", (event) => {
      event.preventDefault();
      const { username, password } = Object.fromEntries(new FormData(f));
      busy(f.querySelector("button"), async () => {
        const me = await submit(username.trim(), password);
        f.reset();
        announce(`Signed in as ${me.username}.`);
        changed(me);
      });
    });
  };
  form("#login-form", (u, p) => logIn(u, p));
  form("#register-form", async (u, p) => {
    await api("POST", "/register", { username: u, password: p });
    return logIn(u, p);
  });
  $("#logout").addEventListener("click", async () => {
    await logOut();
    session.setItem("cart", null);
    announce("Signed out.");
    changed(null);
  });
  changed(await currentUser());
}

async function currentUser() {
  if (!session.token) return null;
  try {
    return await api("GET", "/me");
  } catch (e) {
    if (e.status !== 401) alertUser(e.message);
    return null;
  }
}
