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

/**
 * The `q` quantile of a Prometheus histogram's `_bucket{le=…}` series since the server started,
 * interpolated within its bucket as `histogram_quantile` does; null without observations.
 */
export function quantile(s, q) {
  const buckets = Object.entries(s)
    .map(([k, count]) => [k.match(/le="([^"]+)"/)?.[1], count])
    .filter(([le]) => le !== undefined)
    .map(([le, count]) => [le === "+Inf" ? Infinity : Number(le), count])
    .sort((a, b) => a[0] - b[0]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (!total) return null;
  const rank = q * total;
  let [lower, below] = [0, 0];
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return lower;
      return lower + (le - lower) * ((rank - below) / Math.max(count - below, 1));
    }
    [lower, below] = [le, count];
  }
  return lower;
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
      ["units per commit (p99)", one(quantile(units, 0.99))],
      ["flush + sync (p50)", ms(quantile(flush, 0.5))],
      ["flush + sync (p99)", ms(quantile(flush, 0.99))],
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
