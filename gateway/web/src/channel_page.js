// A channel's page (#/channel/<name>): the last 7 days as a timeline (what the site said,
// what was recorded, the gaps where they happened, now), the current session's figures, the
// channel's recent events, and its recordings with their pictures.

import { folderOf } from "./sites.js";
import { ApiError, enc, get } from "./api.js";
import { h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { picturesPending, recordingRow, showImage } from "./recordings_view.js";
import { layout } from "./timeline_view.js";
import { elapsedSeconds } from "./view.js";

const byId = (id) => document.getElementById(id);
const errorText = (err) => (err instanceof ApiError ? err.describe() : String(err));

function bar(item, row) {
  const el = h("div", { class: `tl-bar tl-${item.kind}`, title: `${item.label}: ${fmt.when(item.start)} – ${item.end ? fmt.when(item.end) : "now"}` });
  // CSSOM, not a style attribute: the page's CSP forbids inline styles.
  el.style.left = `${item.left}%`;
  el.style.width = `${item.width}%`;
  row.append(el);
}

export class ChannelPage {
  constructor({ state, viewOf, openSheet }) {
    this.state = state;
    this.viewOf = viewOf;
    this.openSheet = openSheet;
    this.key = null;
    this.items = [];
    byId("channel-recordings").addEventListener("click", (e) => this.onRecordingClick(e));
    byId("channel-actions").addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action]");
      if (button && this.key) this.onAction(button.dataset.action, this.key, button);
    });
  }

  async show(key, onAction) {
    this.key = key;
    this.onAction = onAction;
    this.update();
    await Promise.all([this.loadTimeline(), this.loadRecordings()]);
  }

  hide() {
    this.key = null;
  }

  /** The header, the session's figures and the events, from the page's live state. */
  update() {
    const key = this.key;
    if (!key) return;
    const view = this.viewOf(key);
    setText(byId("channel-title"), view.name);
    const badge = byId("channel-badge");
    setText(badge, view.badge.label);
    badge.className = `badge tone-${view.badge.tone}`;
    setText(byId("channel-subtitle"), [view.site, view.title, view.viewers !== null ? `${fmt.count(view.viewers)} viewers` : ""].filter(Boolean).join(" · "));
    const buttons = [view.running ? ["stop", "Stop"] : ["start", "Start now"]];
    if (view.running) buttons.push(["live", "Watch live"]);
    if (view.watched) buttons.push(view.autoRecord ? ["pause", "Pause auto-record"] : ["resume", "Resume auto-record"], ["edit", "Edit"]);
    byId("channel-actions").replaceChildren(...buttons.map(([a, label]) => h("button", { type: "button", class: `btn btn-${a}`, "data-action": a }, label)));
    const events = this.state.events.get(key) || [];
    const session = this.state.sessions.get(key);
    byId("channel-session").hidden = !session;
    if (session) {
      const stalls = events.filter((e) => e.sessionId === session.session_id && e.type === "STALLED").length;
      const rows = [
        ["Elapsed", fmt.duration(elapsedSeconds(session.start_time, Date.now()))],
        ["Recorded", fmt.bytes(session.bytes_written)],
        ["Media", fmt.duration(session.media_seconds)],
        ["Bitrate", fmt.bitrate(session.bitrate_kbps)],
        ["Speed", session.speed ? `${session.speed.toFixed(2)}×` : "–"],
        ["Restarts", String(session.restarts)],
        ["Stalls seen", String(stalls)],
        ["Complete", fmt.percent(session.completeness)],
      ];
      if (session.variant) rows.push(["Quality", `${session.variant.width}×${session.variant.height}`]);
      byId("channel-figures").replaceChildren(...rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
    }
    byId("channel-events").replaceChildren(
      ...(events.length
        ? events.map((e) => h("li", {}, h("time", {}, fmt.when(e.time)), " ", h("strong", {}, e.type.toLowerCase()), e.message ? ` · ${e.message}` : ""))
        : [h("li", { class: "muted" }, "No events since this page was opened.")]),
    );
  }

  async loadTimeline() {
    const key = this.key;
    const box = byId("timeline");
    let timeline;
    try {
      timeline = await get(`/api/models/${enc(key)}/timeline?days=7`);
    } catch (err) {
      box.replaceChildren(h("p", { class: "error" }, errorText(err)));
      return;
    }
    if (this.key !== key) return;
    const out = layout(timeline);
    const rows = [
      ["Site", out.availability],
      ["Recorded", out.recorded],
    ].map(([label, items]) => {
      const row = h("div", { class: "tl-track" });
      for (const item of items) bar(item, row);
      return h("div", { class: "tl-row" }, h("span", { class: "tl-label" }, label), row);
    });
    const gapRow = h("div", { class: "tl-track tl-gaps" });
    for (const gap of out.gaps) bar(gap, gapRow);
    rows.push(h("div", { class: "tl-row" }, h("span", { class: "tl-label" }, "Gaps"), gapRow));
    const axis = h("div", { class: "tl-track tl-axis" });
    for (const tick of out.ticks) {
      const el = h("span", { class: "tl-tick" }, tick.label);
      el.style.left = `${tick.left}%`;
      axis.append(el);
    }
    axis.append(h("span", { class: "tl-now" }, "now"));
    rows.push(h("div", { class: "tl-row" }, h("span", { class: "tl-label" }), axis));
    box.replaceChildren(...rows);
    box.setAttribute(
      "aria-label",
      `Last 7 days: ${out.recorded.length} recordings, ${out.gaps.length} gaps, ${fmt.percent(timeline.completeness)} complete`,
    );
    setText(byId("tl-completeness"), `${fmt.percent(timeline.completeness)} complete · ${timeline.gaps.length} gap${timeline.gaps.length === 1 ? "" : "s"}`);
    byId("tl-gaps").replaceChildren(
      ...timeline.gaps.map((g) => h("li", { class: "gap", "data-start": g.startTime }, `${fmt.when(g.startTime)} · ${g.cause.toLowerCase().replace("_", " ")} · ${g.duration.toFixed(1)} s${g.detail ? ` · ${g.detail}` : ""}`)),
    );
  }

  async loadRecordings() {
    const key = this.key;
    const list = byId("channel-recordings");
    try {
      const items = await get(`/api/recordings/${enc(folderOf(key))}`);
      if (this.key !== key) return;
      this.items = items;
      list.replaceChildren(...(items.length ? items.map((r) => recordingRow(r, { actions: false })) : [h("li", { class: "muted" }, "No recordings yet.")]));
      if (picturesPending(items, Date.now()) && !this.again) {
        this.again = setTimeout(() => {
          this.again = 0;
          if (this.key === key) this.loadRecordings();
        }, 3000);
      }
    } catch (err) {
      list.replaceChildren(h("li", { class: "error" }, errorText(err)));
    }
  }

  onRecordingClick(e) {
    const button = e.target.closest("button[data-rec]");
    if (!button) return;
    const item = this.items.find((r) => r.file === button.closest("li").dataset.file);
    if (!item) return;
    if (button.dataset.rec === "sheet") showImage(`Contact sheet of ${item.file}`, item.sheetUrl);
    else if (button.dataset.rec === "play") this.openSheet(this.key, item);
  }
}
