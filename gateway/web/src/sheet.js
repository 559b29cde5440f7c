// The side sheet (a bottom sheet on a phone): one channel's details, its recordings, and the
// player. Opened from a card; closed with its button or Escape.

import { folderOf } from "./sites.js";
import { ApiError, del, enc, get, put } from "./api.js";
import { h, setText, toast } from "./dom.js";
import * as fmt from "./format.js";
import * as player from "./player.js";
import { picturesPending, recordingRow, showImage } from "./recordings_view.js";

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
      const items = await get(`/api/recordings/${enc(folderOf(key))}`);
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
    if (picturesPending(items, Date.now()) && !this.again) {
      this.again = setTimeout(() => {
        this.again = 0;
        this.refresh();
      }, 3000);
    }
  }

  row(r) {
    return recordingRow(r);
  }

  /** Play one recording (from the channel page). */
  async play(item) {
    this.video.hidden = false;
    setText(this.playing, `Playing ${item.file}`);
    await player.play(this.video, item.playbackUrl, item.playbackUrl !== item.url, (text) => toast(text, "error"));
    this.video.scrollIntoView({ block: "nearest" });
  }

  async onListClick(e) {
    const button = e.target.closest("button[data-rec]");
    if (!button) return;
    const item = this.items.find((r) => r.file === button.closest("li").dataset.file);
    if (!item) return;
    const path = `/api/recordings/${enc(item.person)}/${enc(item.file)}`;
    const action = button.dataset.rec;
    try {
      if (action === "sheet") {
        showImage(`Contact sheet of ${item.file}`, item.sheetUrl);
        return;
      }
      if (action === "play") {
        await this.play(item);
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
