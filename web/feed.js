// The console's live event feed from GET /events/stream: resumes after the last id it showed
// whenever the connection drops (server restart included), so nothing is missed or repeated.
// A refused position (409 after a restore, 410 after a trim) starts it again from the live end.

import { session } from "./api.js";
import { readEvents } from "./sse.js";
import { $, el } from "./ui.js";

const KEEP = 300;

/**
 * Starts the feed; `onEvent(event)` hears every event (parsed) after it is shown, and
 * `onReset()` hears that the feed started again from the live end (its position was refused).
 */
export function startFeed(onEvent, onReset) {
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
        if (e.status === 409 || e.status === 410) {
          // Our position is past the log (a restore) or trimmed away: start again from the
          // live end and let the console reload what it shows.
          lastId = null;
          list.replaceChildren();
          onReset?.();
        }
      }
      setState("reconnecting");
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 5000);
    }
  }
  run();
}
