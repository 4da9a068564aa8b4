// Live actor counts (GET /readyz) and group-commit figures (GET /metrics), polled.

import { $, el } from "./ui.js";

function figures(target, pairs) {
  $(target).replaceChildren(...pairs.flatMap(([name, value]) =>
    [el("dt", {}, name), el("dd", { dataset: { figure: name } }, String(value))]));
}

async function readyz() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    const body = await response.json();
    const live = body.live_actors || {};
    figures("#actors", [["status", body.status],
      ...Object.entries(live).map(([kind, n]) => [`live ${kind} actors`, n])]);
  } catch {
    figures("#actors", [["status", "unreachable"]]);
  }
}

/** `{name{labels}: value}` for the series of the Prometheus text whose name starts with `prefix`. */
export function series(text, prefix) {
  const out = {};
  for (const line of text.split("\n")) {
    if (!line.startsWith(prefix)) continue;
    const at = line.lastIndexOf(" ");
    out[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return out;
}

async function metrics() {
  try {
    const text = await (await fetch("/metrics", { cache: "no-store" })).text();
    const units = series(text, "trolley_store_batch_units");
    const flush = series(text, "trolley_store_flush_seconds");
    const get = (s, key) => Object.entries(s).find(([k]) => k.includes(key))?.[1];
    const batches = get(units, "_count") ?? 0;
    const total = get(units, "_sum") ?? 0;
    const one = (v) => (v == null || Number.isNaN(v) ? "–" : String(Number(v.toFixed(1))));
    const ms = (v) => (v == null || Number.isNaN(v) ? "–" : `${(v * 1000).toFixed(2)} ms`);
    figures("#commit", [
      ["group commits", batches],
      ["units written", total],
      ["units per commit (mean)", batches ? (total / batches).toFixed(1) : "–"],
      ["units per commit (recent p99)", one(get(units, 'quantile="0.99"'))],
      ["flush (recent p50)", ms(get(flush, 'quantile="0.5"'))],
      ["flush (recent p99)", ms(get(flush, 'quantile="0.99"'))],
    ]);
  } catch {
    figures("#commit", [["metrics", "unreachable"]]);
  }
}

export function startGauges() {
  readyz();
  metrics();
  setInterval(readyz, 2000);
  setInterval(metrics, 3000);
}
