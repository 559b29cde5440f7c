// The side sheet (a bottom sheet on a phone): one channel's details, its recordings, and the
// player. Opened from a card; closed with its button or Escape.

import { ApiError, del, enc, get, put } from "./api.js";
import { h, setText, toast } from "./dom.js";
import * as fmt from "./format.js";
import * as player from "./player.js";
import { ENDED_BADGES } from "./status.js";

const RECORDING_TONES = { WRITING: "rec", FINALIZING: "warn", COMPLETE: "ok", INTERRUPTED: "warn" };

export class Sheet {
  constructor(root, { confirm, onAction }) {
    this.root = root;
    this.confirm = confirm;
    this.onAction = onAction;
    this.key = null;
    this.sort = "date";
    this.items = [];
    this.heading = root.querySelector("#sheet-title");
    this.summary = root.querySelector("#sheet-summary");
    this.actions = root.querySelector("#sheet-actions");
    this.list = root.querySelector("#recordings");
    this.video = root.querySelector("#player");
    this.playing = root.querySelector("#now-playing");
    this.sortSelect = root.querySelector("#recordings-sort");
    root.querySelector("#sheet-close").addEventListener("click", () => this.close());
    this.sortSelect.addEventListener("change", () => {
      this.sort = this.sortSelect.value;
      this.render();
    });
    root.addEventListener("keydown", (e) => {
      if (e.key === "Escape") this.close();
    });
    this.list.addEventListener("click", (e) => this.onListClick(e));
    this.actions.addEventListener("click", (e) => {
      const button = e.target.closest("button[data-action]");
      if (button && this.key) this.onAction(button.dataset.action, this.key, button);
    });
  }

  get isOpen() {
    return !this.root.hidden;
  }

  async open(key, view, { live = false } = {}) {
    const switching = this.key !== key;
    this.key = key;
    this.root.hidden = false;
    document.body.classList.add("sheet-open");
    this.show(view);
    if (switching) {
      player.stop(this.video);
      this.video.hidden = true;
      setText(this.playing, "");
      this.items = [];
      this.list.replaceChildren(h("li", { class: "muted" }, "Loading…"));
    }
    this.root.querySelector("#sheet-close").focus();
    if (live && view && view.playbackUrl) this.playLive(view);
    await this.refresh();
  }

  close() {
    player.stop(this.video);
    this.root.hidden = true;
    this.key = null;
    document.body.classList.remove("sheet-open");
  }

  /** The channel's figures and buttons (the same actions as its card). */
  show(view) {
    if (!view) return;
    setText(this.heading, view.name);
    const rows = [
      ["Status", view.badge.label],
      ["Site", view.site],
    ];
    if (view.title) rows.push(["Title", view.title]);
    if (view.viewers !== null) rows.push(["Viewers", fmt.count(view.viewers)]);
    if (view.running) {
      rows.push(["Size", fmt.bytes(view.bytes)], ["Bitrate", fmt.bitrate(view.bitrateKbps)]);
      rows.push(["Complete", fmt.percent(view.completeness)], ["Restarts", String(view.restarts)]);
    }
    if (view.error) rows.push(["Last error", view.error]);
    this.summary.replaceChildren(...rows.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", {}, v))));
    const buttons = [];
    buttons.push(view.running ? ["stop", "Stop"] : ["start", "Start now"]);
    if (view.running) buttons.push(["live", "Watch live"]);
    if (view.watched) {
      buttons.push(view.autoRecord ? ["pause", "Pause auto-record"] : ["resume", "Resume auto-record"]);
      buttons.push(["edit", "Edit"], ["remove", "Remove"]);
    }
    this.actions.replaceChildren(
      ...buttons.map(([action, label]) => h("button", { type: "button", class: `btn btn-${action}`, "data-action": action }, label)),
    );
    this.view = view;
  }

  playLive(view) {
    this.video.hidden = false;
    setText(this.playing, `Live: ${view.name}`);
    player.play(this.video, view.playbackUrl, true, (text) => toast(text, "error"));
    this.video.scrollIntoView({ block: "nearest" });
  }

  async refresh() {
    const key = this.key;
    if (!key) return;
    try {
      const items = await get(`/api/recordings/${enc(key)}`);
      if (this.key !== key) return;
      this.items = items;
    } catch (err) {
      if (this.key !== key) return;
      this.items = [];
      const text = err instanceof ApiError ? err.describe() : String(err);
      this.list.replaceChildren(h("li", { class: "error" }, text));
      return;
    }
    this.render();
  }

  render() {
    const items = [...this.items];
    if (this.sort === "size") items.sort((a, b) => b.size - a.size);
    else items.sort((a, b) => (b.startTime || "").localeCompare(a.startTime || ""));
    if (!items.length) {
      this.list.replaceChildren(h("li", { class: "muted" }, "No recordings yet."));
      return;
    }
    this.list.replaceChildren(...items.map((r) => this.row(r)));
  }

  row(r) {
    const tone = RECORDING_TONES[r.state] || (ENDED_BADGES[r.state] || {}).tone || "off";
    const gaps = r.gaps.length
      ? `${r.gaps.length} gap${r.gaps.length > 1 ? "s" : ""} (${fmt.duration(r.gaps.reduce((t, g) => t + g.duration, 0))})`
      : "no gaps";
    const writing = r.state === "WRITING" || r.state === "FINALIZING";
    return h(
      "li",
      { class: "recording", "data-file": r.file },
      h(
        "div",
        { class: "rec-head" },
        h("span", { class: `badge tone-${tone}` }, r.state),
        h("strong", { class: "rec-start" }, fmt.when(r.startTime)),
        r.pinned ? h("span", { class: "pin", title: "Pinned: retention keeps it" }, "📌 pinned") : null,
      ),
      h(
        "dl",
        { class: "rec-stats" },
        h("div", {}, h("dt", {}, "Duration"), h("dd", {}, fmt.duration(r.duration))),
        h("div", {}, h("dt", {}, "Size"), h("dd", { class: "rec-size" }, fmt.bytes(r.size))),
        h("div", {}, h("dt", {}, "Part"), h("dd", {}, r.parts > 1 ? `${r.part} of ${r.parts}` : "1")),
        h("div", {}, h("dt", {}, "Gaps"), h("dd", {}, `${gaps} · ${fmt.percent(r.completeness)} complete`)),
      ),
      h("p", { class: "rec-file" }, r.file),
      h(
        "div",
        { class: "actions" },
        h("button", { type: "button", class: "btn", "data-rec": "play", "aria-label": `Play ${r.file}` }, "Play"),
        h("a", { class: "btn", href: r.url, download: r.file, "aria-label": `Download ${r.file}` }, "Download"),
        h(
          "button",
          { type: "button", class: "btn", "data-rec": r.pinned ? "unpin" : "pin", "aria-label": `${r.pinned ? "Unpin" : "Pin"} ${r.file}` },
          r.pinned ? "Unpin" : "Pin",
        ),
        h(
          "button",
          { type: "button", class: "btn btn-remove", "data-rec": "delete", "aria-label": `Delete ${r.file}`, title: writing ? "being written" : null },
          "Delete",
        ),
      ),
    );
  }

  async onListClick(e) {
    const button = e.target.closest("button[data-rec]");
    if (!button) return;
    const item = this.items.find((r) => r.file === button.closest("li").dataset.file);
    if (!item) return;
    const path = `/api/recordings/${enc(item.person)}/${enc(item.file)}`;
    const action = button.dataset.rec;
    try {
      if (action === "play") {
        this.video.hidden = false;
        setText(this.playing, `Playing ${item.file}`);
        const isHls = item.playbackUrl !== item.url;
        await player.play(this.video, item.playbackUrl, isHls, (text) => toast(text, "error"));
        this.video.scrollIntoView({ block: "nearest" });
        return;
      }
      if (action === "pin" || action === "unpin") {
        await put(path, { pinned: action === "pin" });
        toast(`${item.file} ${action === "pin" ? "pinned" : "unpinned"}`);
      } else if (action === "delete") {
        const ok = await this.confirm(`Delete ${item.file}?`, `${fmt.bytes(item.size)} will be freed. This cannot be undone.`, "Delete");
        if (!ok) return;
        await del(path);
        toast(`${item.file} deleted`);
      }
    } catch (err) {
      toast(err instanceof ApiError ? err.describe() : String(err), "error");
    }
    await this.refresh();
  }
}
