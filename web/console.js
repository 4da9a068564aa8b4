// The operator console: admins only. Everything it shows comes from the same API as any client.

import { setUpAuth } from "./auth.js";
import { refreshTop } from "./chart.js";
import { loadCatalog, setUpCatalog, stockChanged } from "./catalog.js";
import { startFeed } from "./feed.js";
import { startGauges } from "./gauges.js";
import { $ } from "./ui.js";

const STOCK = new Set(["ProductCreated", "ProductUpdated", "StockReserved", "StockReleased",
  "HoldExpired", "StockCommitted"]);
let started = false;

function start() {
  if (started) return;
  started = true;
  setUpCatalog();
  refreshTop();
  startGauges();
  startFeed((event) => {
    if (event.type === "CartCheckedOut") refreshTop(event.seq);
    if (STOCK.has(event.type) && event.data.product_id != null) stockChanged(event.data.product_id);
  }, () => {
    // The feed starts again from the live end: reload what it kept up to date.
    loadCatalog();
    refreshTop();
  });
}

setUpAuth((me) => {
  $("#denied").hidden = !me || me.is_admin;
  $("#admin").hidden = !(me && me.is_admin);
  if (me && me.is_admin) start();
  else if (started) location.reload(); // logged out: drop the feed and timers
});
