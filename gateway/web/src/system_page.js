// The system page (#/system): disk, bytes per channel, what retention deletes next and when,
// when the disk reaches the watermark at the current rate, the ffmpeg processes and the
// finalizations under way. Re-read every 5 s while shown.

import { ApiError, get } from "./api.js";
import { h, setText } from "./dom.js";
import * as fmt from "./format.js";

const byId = (id) => document.getElementById(id);
const EVERY_MS = 5000;

function rows(tbody, items, cells, empty) {
  tbody.replaceChildren(
    ...(items.length
      ? items.map((item) => h("tr", {}, ...cells(item).map((c, i) => h(i === 0 ? "th" : "td", i === 0 ? { scope: "row" } : {}, c))))
      : [h("tr", {}, h("td", { colspan: "9", class: "muted" }, empty))]),
  );
}

export class SystemPage {
  constructor() {
    this.timer = 0;
  }

  async show() {
    clearInterval(this.timer);
    await this.load();
    this.timer = setInterval(() => document.visibilityState === "visible" && this.load(), EVERY_MS);
  }

  hide() {
    clearInterval(this.timer);
    this.timer = 0;
  }

  async load() {
    let s;
    try {
      s = await get("/api/system");
    } catch (err) {
      byId("system-disk").replaceChildren(h("p", { class: "error" }, err instanceof ApiError ? err.describe() : String(err)));
      return;
    }
    const d = s.disk;
    const figures = [
      ["Free", fmt.bytes(d.freeBytes)],
      ["Used", fmt.bytes(d.totalBytes - d.freeBytes)],
      ["Total", fmt.bytes(d.totalBytes)],
      ["Recordings", fmt.bytes(d.recordingsBytes)],
      ["Watermark", d.minFreeBytes ? `${fmt.bytes(d.minFreeBytes)} free` : "none"],
      ["Writing", `${fmt.bytes(s.writeBytesPerSecond)}/s`],
      ["Watermark reached", s.watermarkAt ? fmt.when(s.watermarkAt) : d.minFreeBytes && d.freeBytes < d.minFreeBytes ? "already" : "not at this rate"],
    ];
    byId("system-disk").replaceChildren(...figures.map(([k, v]) => h("div", {}, h("dt", {}, k), h("dd", { "data-figure": k }, v))));
    rows(byId("system-folders"), s.folders, (f) => [f.person, fmt.bytes(f.bytes), String(f.files)], "No recordings.");
    rows(
      byId("system-deletions"),
      s.nextDeletions,
      (x) => [Date.parse(x.deleteAt) <= Date.now() + 1000 ? "next run" : fmt.when(x.deleteAt), `${x.person}/${x.file}`, fmt.bytes(x.sizeBytes), x.reason],
      "Nothing: no channel has a limit that a recording will break.",
    );
    const now = Date.now();
    rows(
      byId("system-processes"),
      s.processes,
      (p) => [p.person, p.pid ? String(p.pid) : "–", p.startTime ? fmt.duration((now - Date.parse(p.startTime)) / 1000) : "–", `${p.cpuPercent.toFixed(1)} %`, fmt.bytes(p.rssBytes), fmt.bytes(p.bytesWritten)],
      "No ffmpeg running.",
    );
    const fin = byId("system-finalizations");
    fin.replaceChildren(...(s.finalizations.length ? s.finalizations.map((f) => h("li", {}, `${f.person}/${f.file} (${fmt.bytes(f.sizeBytes)})`)) : [h("li", { class: "muted" }, "None.")]));
    setText(byId("system-title"), "System");
  }
}
