// The logs page (#/logs): the recent lines of all three services in one list, filtered by
// level, service, text and correlation id; each correlation id is a link to every line of
// that request across the services.

import { ApiError, get } from "./api.js";
import { h, setText } from "./dom.js";

const byId = (id) => document.getElementById(id);

export class LogsPage {
  constructor() {
    byId("logs-form").addEventListener("submit", (e) => {
      e.preventDefault();
      const cid = byId("logs-cid").value.trim();
      const target = cid ? `#/logs?cid=${encodeURIComponent(cid)}` : "#/logs";
      if (location.hash === target) this.load();
      else location.hash = target;
    });
  }

  async show(params) {
    byId("logs-cid").value = params.get("cid") || "";
    await this.load();
  }

  hide() {}

  async load() {
    const query = new URLSearchParams();
    const fields = { level: "logs-level", service: "logs-service", q: "logs-text", correlation_id: "logs-cid" };
    for (const [name, id] of Object.entries(fields)) {
      const value = byId(id).value.trim();
      if (value) query.set(name, value);
    }
    query.set("limit", "500");
    const status = byId("logs-status");
    setText(status, "Loading…");
    let answer;
    try {
      answer = await get(`/api/logs?${query}`);
    } catch (err) {
      setText(status, err instanceof ApiError ? err.describe() : String(err));
      byId("logs-lines").replaceChildren();
      return;
    }
    const down = Object.entries(answer.services || {}).filter(([, s]) => s !== "ok");
    setText(status, `${answer.lines.length} line${answer.lines.length === 1 ? "" : "s"}${down.length ? ` · ${down.map(([k, s]) => `${k}: ${s}`).join(" · ")}` : ""}`);
    const loki = byId("logs-loki");
    loki.hidden = !answer.lokiUrl;
    if (answer.lokiUrl) loki.href = answer.lokiUrl;
    byId("logs-lines").replaceChildren(...answer.lines.map((line) => this.line(line)));
  }

  line(l) {
    const level = String(l.level || "").toLowerCase();
    const parts = [
      h("time", { class: "log-time" }, (l.time || "").replace("T", " ").replace("Z", "")),
      h("span", { class: `log-service svc-${l.service}` }, l.service),
      h("span", { class: `log-level lvl-${level}` }, level),
      h("span", { class: "log-message" }, l.message),
    ];
    if (l.eventAction) parts.push(h("span", { class: "log-action" }, l.eventAction));
    if (l.correlationId) {
      parts.push(h("a", { class: "log-cid", href: `#/logs?cid=${encodeURIComponent(l.correlationId)}`, title: "Every line of this request" }, l.correlationId));
    }
    const extra = { ...(l.fields || {}) };
    for (const k of ["sessionId", "channel", "errorType", "errorMessage"]) if (l[k]) extra[k] = l[k];
    const details = Object.keys(extra).length
      ? h("details", { class: "log-fields" }, h("summary", {}, "fields"), h("pre", {}, JSON.stringify(extra, null, 2)))
      : null;
    return h("li", { class: `log-line lvl-${level}`, "data-service": l.service }, h("div", { class: "log-head" }, ...parts), details);
  }
}
