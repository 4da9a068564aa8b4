// The console's live event feed from GET /events/stream: resumes after the last id it showed
// whenever the connection drops (server restart included), so nothing is missed or repeated.

import { session } from "./api.js";
import { readEvents } from "./sse.js";
import { $, el } from "./ui.js";

const KEEP = 300;

/** Starts the feed; `onEvent(event)` hears every event (parsed) after it is shown. */
export function startFeed(onEvent) {
  const list = $("#feed");
  const state = $("#feed-state");
  let lastId = null;
  let pause = 500;
  const setState = (s) => { state.textContent = s; state.dataset.state = s; };

  function show(frame) {
    const seq = Number(frame.id);
    if (lastId != null && seq <= lastId) return; // never show one twice
    lastId = seq;
    const event = JSON.parse(frame.data);
    const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    list.append(el("li", { dataset: { seq, type: event.type } },
      el("span", { class: "seq" }, `#${seq}`),
      el("span", { class: "type" }, event.type),
      el("span", { class: "data" }, JSON.stringify(event.data))));
    while (list.children.length > KEEP) list.firstElementChild.remove();
    if (atBottom) list.scrollTop = list.scrollHeight;
    onEvent(event);
  }

  async function run() {
    for (;;) {
      try {
        await readEvents("/events/stream", {
          token: session.token,
          lastId,
          onOpen: () => { setState("live"); pause = 500; },
          onEvent: show,
        });
      } catch (e) {
        if (e.status === 401 || e.status === 403) {
          setState("not allowed");
          return;
        }
      }
      setState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 5000);
    }
  }
  run();
}
