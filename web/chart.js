// Top sellers as an SVG bar chart, from GET /stats/top.

import { api } from "./api.js";
import { $ } from "./ui.js";

const SVG = "http://www.w3.org/2000/svg";
let wanted = 0;
let loading = null;

function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text != null) node.textContent = text;
  return node;
}

export function drawTop(items) {
  const row = 30, width = 360, label = 120, height = Math.max(1, items.length) * row + 8;
  const max = Math.max(1, ...items.map((i) => i.units_sold));
  const chart = svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img",
    "aria-label": items.length ? `Top sellers: ${items.map((i) => `${i.name} ${i.units_sold}`).join(", ")}` : "No sales yet" });
  items.forEach((item, n) => {
    const y = n * row + 4, w = ((width - label - 50) * item.units_sold) / max;
    const g = svg("g", { "data-product-id": item.product_id });
    g.append(svg("text", { x: 0, y: y + 16 }, item.name.slice(0, 16)),
      svg("rect", { class: "bar-rect", x: label, y, width: Math.max(2, w), height: row - 8, rx: 3 }),
      svg("text", { x: label + w + 6, y: y + 16, class: "units" }, String(item.units_sold)));
    chart.append(g);
  });
  $("#chart").replaceChildren(items.length ? chart : "No sales yet.");
}

/** Reloads the chart until the sales projection has read at least `seq` (it may trail). */
export function refreshTop(seq = 0) {
  wanted = Math.max(wanted, seq);
  loading ??= (async () => {
    for (let tries = 0; tries < 20; tries++) {
      const { items } = await api("GET", "/stats/top?limit=8");
      drawTop(items);
      const seen = Math.min(...items.map((i) => i.as_of_seq ?? Infinity));
      if (!items.length ? wanted === 0 : seen >= wanted) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  })().catch(() => {}).finally(() => { loading = null; });
  return loading;
}
