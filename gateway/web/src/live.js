// Following /api/events. The browser's EventSource reconnects by itself and resumes with
// Last-Event-ID; when it gives up (the gateway answered an error: restarting, signed out),
// we reconnect with ?after=<last sequence> after a growing pause.

const TYPES = [
  "starting", "recording", "progress", "stalled", "reconnecting", "gap",
  "file_rotated", "stopping", "stopped", "failed", "finalized",
];

export function follow({ after, onSnapshot, onEvent, onStatus, onClosed }) {
  let delay = 1000;
  function connect() {
    const seq = after();
    const source = new EventSource(seq ? `/api/events?after=${seq}` : "/api/events");
    onStatus("connecting");
    source.addEventListener("open", () => {
      delay = 1000;
      onStatus("live");
    });
    source.addEventListener("snapshot", (e) => onSnapshot(JSON.parse(e.data)));
    for (const type of TYPES) source.addEventListener(type, (e) => onEvent(JSON.parse(e.data)));
    source.addEventListener("error", async () => {
      onStatus("reconnecting");
      if (source.readyState !== EventSource.CLOSED) return; // the browser retries by itself
      source.close();
      if (onClosed && (await onClosed()) === false) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    });
  }
  connect();
}
