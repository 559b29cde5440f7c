// One recording as a list item: its poster (when made), figures and buttons. The buttons
// carry data-rec (play, pin, unpin, delete, sheet); whoever shows the list handles them.

import { h } from "./dom.js";
import * as fmt from "./format.js";
import { ENDED_BADGES } from "./status.js";

const TONES = { WRITING: "rec", FINALIZING: "warn", COMPLETE: "ok", INTERRUPTED: "warn" };

export function gapsText(r) {
  if (!r.gaps.length) return "no gaps";
  const lost = r.gaps.reduce((t, g) => t + g.duration, 0);
  return `${r.gaps.length} gap${r.gaps.length > 1 ? "s" : ""} (${fmt.duration(lost)})`;
}

export function recordingRow(r, { actions = true } = {}) {
  const tone = TONES[r.state] || (ENDED_BADGES[r.state] || {}).tone || "off";
  const writing = r.state === "WRITING" || r.state === "FINALIZING";
  const poster = r.posterUrl
    ? h("img", { class: "poster", src: r.posterUrl, alt: `First frames of ${r.file}`, loading: "lazy", decoding: "async" })
    : h("div", { class: "poster poster-none", "aria-hidden": "true" }, writing ? "recording…" : "no picture");
  const buttons = [
    h("button", { type: "button", class: "btn", "data-rec": "play", "aria-label": `Play ${r.file}` }, "Play"),
    h("a", { class: "btn", href: r.url, download: r.file, "aria-label": `Download ${r.file}` }, "Download"),
  ];
  if (r.sheetUrl) {
    buttons.push(h("button", { type: "button", class: "btn", "data-rec": "sheet", "aria-label": `Contact sheet of ${r.file}` }, "Contact sheet"));
  }
  if (actions) {
    buttons.push(
      h("button", { type: "button", class: "btn", "data-rec": r.pinned ? "unpin" : "pin", "aria-label": `${r.pinned ? "Unpin" : "Pin"} ${r.file}` }, r.pinned ? "Unpin" : "Pin"),
      h("button", { type: "button", class: "btn btn-remove", "data-rec": "delete", "aria-label": `Delete ${r.file}`, title: writing ? "being written" : null }, "Delete"),
    );
  }
  return h(
    "li",
    { class: "recording", "data-file": r.file },
    poster,
    h(
      "div",
      { class: "rec-body" },
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
        h("div", {}, h("dt", {}, "Gaps"), h("dd", {}, `${gapsText(r)} · ${fmt.percent(r.completeness)} complete`)),
      ),
      h("p", { class: "rec-file" }, r.file),
      h("div", { class: "actions" }, ...buttons),
    ),
  );
}

/** Show a picture (a contact sheet) in the image dialog. */
export function showImage(title, url) {
  const dialog = document.getElementById("dlg-image");
  document.getElementById("image-title").textContent = title;
  const img = document.getElementById("image-full");
  img.alt = title;
  img.src = url;
  dialog.showModal();
}

/** Pictures are made in the background after a recording is finalized: true while a recently
 * finished one has none yet (the list is then read again a little later). */
export function picturesPending(items, nowMs) {
  return items.some(
    (r) => !r.posterUrl && (r.state === "COMPLETE" || r.state === "INTERRUPTED") && r.endTime && nowMs - Date.parse(r.endTime) < 120000,
  );
}
