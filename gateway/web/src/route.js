// Which page the address names. Pure.

/** "#/channel/alice" -> {view: "channel", key: "alice"}; "#/logs?cid=x" -> {view: "logs", ...}. */
export function parseRoute(hash) {
  const [path, query] = String(hash || "").replace(/^#/, "").split("?");
  const params = new URLSearchParams(query || "");
  const parts = path.split("/").filter(Boolean);
  if (parts[0] === "channel" && parts[1]) {
    try {
      return { view: "channel", key: decodeURIComponent(parts[1]), params };
    } catch {
      return { view: "grid", params };
    }
  }
  if (parts[0] === "system") return { view: "system", params };
  if (parts[0] === "logs") return { view: "logs", params };
  if (parts[0] === "notifications") return { view: "notifications", params };
  return { view: "grid", params };
}

