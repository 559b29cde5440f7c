// The notifications page (#/notifications): targets (webhooks and Apprise URLs) with their
// filters, cooldown and delivery figures; add, change, test and remove them; the dead letters,
// retried by hand.

import { ApiError, del, enc, get, post, put } from "./api.js";
import { h, setText, toast } from "./dom.js";
import * as fmt from "./format.js";

const byId = (id) => document.getElementById(id);
const errorText = (err) => (err instanceof ApiError ? err.describe() : String(err));

/** A Standard Webhooks secret: "whsec_" + base64 of 32 random bytes. */
export function newSecret() {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return `whsec_${btoa(String.fromCharCode(...bytes))}`;
}

export class NotificationsPage {
  constructor({ confirm }) {
    this.confirm = confirm;
    this.targets = [];
    this.catalogue = null;
    this.editing = null;
    byId("notify-add").addEventListener("click", () => this.openForm(null));
    byId("target-cancel").addEventListener("click", () => byId("dlg-target").close());
    byId("target-secret-new").addEventListener("click", () => {
      byId("target-secret").value = newSecret();
    });
    byId("target-kind").addEventListener("change", () => this.showKind());
    byId("target-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.save();
    });
    byId("notify-targets").addEventListener("click", (e) => this.onTargetClick(e));
    byId("notify-dead").addEventListener("click", (e) => this.onDeadClick(e));
  }

  async show() {
    await Promise.all([this.load(), this.loadCatalogue()]);
  }

  hide() {}

  loadCatalogue() {
    if (!this.catalogue) {
      this.catalogue = get("/api/notifications/events").catch(() => ({ types: [] }));
    }
    return this.catalogue.then((catalogue) => {
      this.types = catalogue.types;
    });
  }

  async load() {
    try {
      this.targets = await get("/api/notifications/targets");
    } catch (err) {
      byId("notify-targets").replaceChildren(h("li", { class: "error" }, errorText(err)));
      return;
    }
    byId("notify-targets").replaceChildren(
      ...(this.targets.length ? this.targets.map((t) => this.card(t)) : [h("li", { class: "muted" }, "No targets yet.")]),
    );
    let dead = [];
    try {
      dead = await get("/api/notifications/deliveries?state=dead&limit=100");
    } catch (err) {
      toast(errorText(err), "error");
    }
    byId("notify-dead").replaceChildren(
      ...(dead.length
        ? dead.map((d) =>
            h(
              "li",
              { class: "dead", "data-id": String(d.id) },
              h("span", {}, `${fmt.when(d.createdAt)} · ${d.type}${d.channel ? ` · ${d.channel}` : ""} · ${d.attempts} attempts · ${d.lastError || "no answer"}`),
              " ",
              h("button", { type: "button", class: "btn", "data-dead": "retry", "aria-label": `Retry delivery ${d.id}` }, "Retry"),
            ),
          )
        : [h("li", { class: "muted" }, "None: everything was delivered or is still being tried.")]),
    );
  }

  card(t) {
    const s = t.stats || {};
    return h(
      "li",
      { class: "target", "data-id": t.id },
      h(
        "div",
        { class: "rec-head" },
        h("span", { class: `badge tone-${t.enabled ? "ok" : "off"}` }, t.enabled ? t.kind.toUpperCase() : "DISABLED"),
        h("strong", {}, t.name || t.url),
      ),
      h("p", { class: "rec-file" }, t.url),
      h(
        "p",
        { class: "muted" },
        `Events: ${t.events.length ? t.events.join(", ") : "all"} · channels: ${t.channels.length ? t.channels.join(", ") : "all"}` +
          (t.cooldownSeconds ? ` · cooldown ${t.cooldownSeconds} s` : ""),
      ),
      h(
        "p",
        { class: "target-stats" },
        `${s.delivered || 0} delivered · ${s.pending || 0} pending · ${s.dead || 0} dead · ${s.overflowed || 0} dropped by the queue cap` +
          (s.lastError ? ` · last error: ${s.lastError}` : ""),
      ),
      h("p", { class: "test-result", role: "status" }),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "btn", "data-target": "test", "aria-label": `Send a test to ${t.name || t.id}` }, "Send a test"),
        h("button", { type: "button", class: "btn", "data-target": "edit", "aria-label": `Edit ${t.name || t.id}` }, "Edit"),
        h("button", { type: "button", class: "btn btn-remove", "data-target": "remove", "aria-label": `Remove ${t.name || t.id}` }, "Remove"),
      ),
    );
  }

  showKind() {
    byId("target-secret-row").hidden = byId("target-kind").value !== "webhook";
  }

  async openForm(target) {
    // The event checkboxes come from the catalogue: have it before the form opens.
    await this.loadCatalogue();
    this.editing = target;
    setText(byId("target-title"), target ? `Edit ${target.name || target.id}` : "Add a notification target");
    setText(byId("target-error"), "");
    const kind = byId("target-kind");
    kind.value = target ? target.kind : "webhook";
    kind.disabled = Boolean(target);
    byId("target-name").value = target ? target.name : "";
    byId("target-url").value = target ? target.url : "";
    byId("target-secret").value = "";
    byId("target-channels").value = target ? target.channels.join(", ") : "";
    byId("target-cooldown").value = String(target ? target.cooldownSeconds : 0);
    byId("target-enabled").checked = target ? target.enabled : true;
    const chosen = new Set(target ? target.events : []);
    byId("target-events").replaceChildren(
      ...(this.types || []).map((t) =>
        h("label", { class: "check", title: t.description }, h("input", { type: "checkbox", value: t.type, checked: chosen.has(t.type) }), ` ${t.type}`),
      ),
    );
    this.showKind();
    byId("dlg-target").showModal();
    byId("target-name").focus();
  }

  async save() {
    const fields = {
      name: byId("target-name").value.trim(),
      url: byId("target-url").value.trim(),
      events: [...byId("target-events").querySelectorAll("input:checked")].map((i) => i.value),
      channels: byId("target-channels").value.split(/[\s,]+/).map((c) => c.trim().toLowerCase()).filter(Boolean),
      cooldownSeconds: Number(byId("target-cooldown").value || 0),
      enabled: byId("target-enabled").checked,
    };
    const secret = byId("target-secret").value.trim();
    if (secret) fields.secret = secret;
    try {
      if (this.editing) {
        const was = this.editing;
        const body = {};
        for (const [k, v] of Object.entries(fields)) if (JSON.stringify(v) !== JSON.stringify(was[k])) body[k] = v;
        if (Object.keys(body).length) await put(`/api/notifications/targets/${enc(was.id)}`, body);
      } else {
        await post("/api/notifications/targets", { kind: byId("target-kind").value, ...fields });
      }
    } catch (err) {
      setText(byId("target-error"), errorText(err));
      return;
    }
    byId("dlg-target").close();
    await this.load();
  }

  async onTargetClick(e) {
    const button = e.target.closest("button[data-target]");
    if (!button) return;
    const li = button.closest("li");
    const target = this.targets.find((t) => t.id === li.dataset.id);
    if (!target) return;
    const action = button.dataset.target;
    if (action === "edit") return this.openForm(target);
    if (action === "remove") {
      if (!(await this.confirm(`Remove ${target.name || target.url}?`, "It gets nothing more; what was not delivered yet is dropped."))) return;
      try {
        await del(`/api/notifications/targets/${enc(target.id)}`);
      } catch (err) {
        toast(errorText(err), "error");
      }
      return this.load();
    }
    if (action === "test") {
      const out = li.querySelector(".test-result");
      setText(out, "Sending…");
      button.disabled = true;
      try {
        const r = await post(`/api/notifications/targets/${enc(target.id)}/test`);
        setText(out, r.delivered ? `Delivered: HTTP ${r.statusCode ?? "ok"} in ${r.latencyMs} ms` : `Not delivered: ${r.error || `HTTP ${r.statusCode}`}`);
        out.className = `test-result ${r.delivered ? "ok" : "error"}`;
      } catch (err) {
        setText(out, errorText(err));
        out.className = "test-result error";
      } finally {
        button.disabled = false;
      }
    }
  }

  async onDeadClick(e) {
    const button = e.target.closest("button[data-dead]");
    if (!button) return;
    try {
      await post(`/api/notifications/deliveries/${enc(button.closest("li").dataset.id)}/retry`);
      toast("Queued again, under the same id.");
    } catch (err) {
      toast(errorText(err), "error");
    }
    await this.load();
  }
}
