// The page's dialogs (native <dialog>: focus stays inside, Escape closes): confirm, add
// channels, edit a channel.

import { ApiError, enc, post, put } from "./api.js";
import { h, setText } from "./dom.js";
import { parseSize } from "./format.js";
import { DEFAULT_SITE, KNOWN_SITES } from "./sites.js";
import { parseTargets } from "./targets.js";

const byId = (id) => document.getElementById(id);

/** Ask a yes/no question; resolves true for yes. */
export function confirmDialog(title, text, yes = "Remove") {
  const dialog = byId("dlg-confirm");
  setText(byId("confirm-title"), title);
  setText(byId("confirm-text"), text);
  setText(byId("confirm-yes"), yes);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
    byId("confirm-no").focus();
  });
}

const errorText = (err) => (err instanceof ApiError ? err.describe() : String(err));

/** The add dialog: several names or links at once; reports each line's fate. */
export function setupAdd({ onAdded }) {
  const dialog = byId("dlg-add");
  const form = byId("add-form");
  const report = byId("add-report");
  const siteSelect = byId("add-site");
  siteSelect.replaceChildren(...KNOWN_SITES.map((site) => h("option", { value: site }, site === DEFAULT_SITE ? `${site} (default)` : site)));
  byId("add-btn").addEventListener("click", () => {
    report.replaceChildren();
    form.reset();
    dialog.showModal();
    byId("add-targets").focus();
  });
  byId("add-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const entries = parseTargets(byId("add-targets").value, byId("add-site").value);
    const autoRecord = byId("add-auto").checked;
    const retention = Number(byId("add-retention").value || 0);
    report.replaceChildren();
    if (!entries.length) {
      report.append(h("li", { class: "error" }, "Type at least one username or link."));
      return;
    }
    let added = 0;
    for (const entry of entries) {
      if (entry.error) {
        report.append(h("li", { class: "error" }, `✗ ${entry.input}: ${entry.error}`));
        continue;
      }
      const body = { username: entry.username, autoRecord, retentionDays: retention };
      if (entry.target) Object.assign(body, { target: entry.target, sourceType: entry.sourceType });
      else if (entry.site !== DEFAULT_SITE) body.site = entry.site;
      try {
        const channel = await post("/api/models", body);
        added += 1;
        onAdded(channel);
        report.append(h("li", { class: "ok" }, `✓ ${entry.username} added (${channel.site || entry.site})`));
      } catch (err) {
        report.append(h("li", { class: "error" }, `✗ ${entry.key}: ${errorText(err)}`));
      }
    }
    if (added === entries.length) dialog.close();
  });
}

/** The edit dialog for one channel; sends only the fields that changed. */
export function setupEdit({ onSaved }) {
  const dialog = byId("dlg-edit");
  const form = byId("edit-form");
  const error = byId("edit-error");
  let current = null;
  byId("edit-cancel").addEventListener("click", () => dialog.close());
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!current) return;
    const maxBytes = parseSize(byId("edit-max-bytes").value);
    if (maxBytes === null) {
      setText(error, "Size limit: a number of bytes, or like 500M, 1.5G (0 = no limit).");
      return;
    }
    const height = Number(byId("edit-height").value || 0);
    const quality = height ? { height, policy: byId("edit-policy").value } : null;
    const wanted = {
      name: byId("edit-name").value.trim() || null,
      autoRecord: byId("edit-auto").checked,
      retentionDays: Number(byId("edit-retention").value || 0),
      maxBytes,
      maxCount: Number(byId("edit-max-count").value || 0),
      quality,
    };
    const was = {
      name: current.name || null,
      autoRecord: current.autoRecord,
      retentionDays: current.retentionDays,
      maxBytes: current.maxBytes,
      maxCount: current.maxCount,
      quality: current.quality && current.quality.height ? { height: current.quality.height, policy: current.quality.policy } : null,
    };
    const body = {};
    for (const [k, v] of Object.entries(wanted)) if (JSON.stringify(v) !== JSON.stringify(was[k])) body[k] = v;
    if (!Object.keys(body).length) {
      dialog.close();
      return;
    }
    try {
      const channel = await put(`/api/models/${enc(current.key || current.username)}`, body);
      onSaved(channel);
      dialog.close();
    } catch (err) {
      setText(error, errorText(err));
    }
  });
  return (channel) => {
    current = channel;
    setText(error, "");
    setText(byId("edit-title"), `Edit ${channel.name || channel.key || channel.username}`);
    byId("edit-name").value = channel.name || "";
    byId("edit-auto").checked = channel.autoRecord;
    byId("edit-retention").value = String(channel.retentionDays || 0);
    byId("edit-max-bytes").value = String(channel.maxBytes || 0);
    byId("edit-max-count").value = String(channel.maxCount || 0);
    byId("edit-height").value = channel.quality && channel.quality.height ? String(channel.quality.height) : "";
    byId("edit-policy").value = (channel.quality && channel.quality.policy !== "best" && channel.quality.policy) || "closest";
    dialog.showModal();
    byId("edit-name").focus();
  };
}
