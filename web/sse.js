// Server-Sent Events read with fetch() and a stream reader, so the request can carry an
// Authorization header (EventSource cannot) and the token never goes into a URL.

/**
 * Reads `path` as an event stream after `lastId` (sent as Last-Event-ID), calling
 * `onEvent({id, event, data})` for every frame. Resolves when the stream ends; rejects on a
 * non-2xx answer (with the status) or a network failure.
 */
export async function readEvents(path, { token, lastId, signal, onOpen, onEvent }) {
  const headers = { accept: "text/event-stream" };
  if (token) headers.authorization = `Bearer ${token}`;
  if (lastId != null) headers["last-event-id"] = String(lastId);
  const response = await fetch(path, { headers, signal, cache: "no-store" });
  if (!response.ok) {
    const error = new Error(`stream answered ${response.status}`);
    error.status = response.status;
    throw error;
  }
  onOpen?.();
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n?/g, "\n");
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const frame = parse(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
      if (frame.data != null) onEvent(frame);
    }
  }
}

function parse(block) {
  const frame = { id: null, event: "message", data: null };
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    if (field === "data") frame.data = frame.data == null ? value : `${frame.data}\n${value}`;
    else if (field === "id") frame.id = value;
    else if (field === "event") frame.event = value;
  }
  return frame;
}
