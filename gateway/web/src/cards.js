// One card of the watch list: built once, then patched field by field when its view changes.

import { h, setText } from "./dom.js";
import * as fmt from "./format.js";
import { elapsedSeconds } from "./view.js";

/** The buttons a card shows, by what it is. data-action names what a click does. */
function actions(view) {
  const { key } = view;
  const list = [];
  if (view.running) list.push(["stop", "Stop", `Stop recording ${key}`]);
  else list.push(["start", "Start", `Start recording ${key} now`]);
  if (view.watched) {
    list.push(view.autoRecord ? ["pause", "Pause", `Pause auto-record of ${key}`] : ["resume", "Resume", `Resume auto-record of ${key}`]);
  }
  if (view.running) list.push(["live", "Live", `Watch ${key} live`]);
  list.push(["recordings", "Recordings", `Recordings of ${key}`]);
  list.push(["page", "Timeline", `Timeline and details of ${key}`]);
  if (view.watched) {
    list.push(["edit", "Edit", `Edit ${key}`]);
    list.push(["remove", "Remove", `Remove ${key} from the watch list`]);
  }
  return list;
}

function actionButtons(view) {
  return actions(view).map(([action, label, aria]) =>
    h("button", { type: "button", class: `btn btn-${action}`, "data-action": action, "aria-label": aria }, label),
  );
}

export function createCard(view) {
  const parts = {};
  parts.badge = h("span", { class: "badge" });
  parts.site = h("span", { class: "site" });
  parts.initial = h("span", { class: "initial", "aria-hidden": "true" });
  // The picture: the live frame while recording, else the room's image; a placeholder (the
  // initial) when there is none. Lazy: a card far off screen asks for nothing.
  parts.image = h("img", { class: "thumb-img", alt: "", loading: "lazy", decoding: "async", hidden: true });
  parts.image.addEventListener("load", () => {
    parts.image.hidden = false;
  });
  parts.image.addEventListener("error", () => {
    parts.image.hidden = true;
  });
  parts.check = h("input", { type: "checkbox", class: "select", "data-action": "select" });
  parts.name = h("a", { class: "name", target: "_blank", rel: "noopener noreferrer" });
  parts.plainName = h("span", { class: "name" });
  parts.viewers = h("span", { class: "viewers" });
  parts.title = h("p", { class: "title" });
  parts.elapsed = h("dd", { class: "elapsed" });
  parts.size = h("dd", { class: "size" });
  parts.bitrate = h("dd", { class: "bitrate" });
  parts.completeness = h("dd", { class: "completeness" });
  parts.stats = h(
    "dl",
    { class: "stats" },
    h("div", {}, h("dt", {}, "Elapsed"), parts.elapsed),
    h("div", {}, h("dt", {}, "Size"), parts.size),
    h("div", {}, h("dt", {}, "Bitrate"), parts.bitrate),
    h("div", {}, h("dt", {}, "Complete"), parts.completeness),
  );
  parts.error = h("p", { class: "card-error" });
  parts.events = h("ul", { class: "recent", "aria-label": "Recent events" });
  parts.actions = h("div", { class: "actions" });
  parts.details = h("button", { type: "button", class: "btn btn-details", "data-action": "details" }, "Details");
  const el = h(
    "article",
    { class: "card", "data-key": view.key },
    h("div", { class: "thumb" }, parts.initial, parts.image, parts.badge, parts.site),
    h(
      "div",
      { class: "body" },
      h("div", { class: "head" }, parts.check, parts.name, parts.plainName, parts.viewers),
      parts.title,
      parts.stats,
      parts.error,
      parts.events,
      h("div", { class: "buttons" }, parts.actions, parts.details),
    ),
  );
  const card = { el, parts, view: null, actionsKey: "", eventsVersion: null };
  patchCard(card, view, null, Date.now());
  return card;
}

/** Update only what differs from the card's last view. */
export function patchCard(card, view, recentEvents, nowMs) {
  const { el, parts } = card;
  const prev = card.view || {};
  if (prev.badge !== view.badge) {
    setText(parts.badge, view.badge.label);
    parts.badge.className = `badge tone-${view.badge.tone}`;
    el.dataset.status = view.badge.group;
  }
  if (prev.site !== view.site) setText(parts.site, view.site);
  if (prev.name !== view.name || prev.roomUrl !== view.roomUrl) {
    setText(parts.initial, (view.name || "?").slice(0, 1).toUpperCase());
    setText(parts.name, view.name);
    setText(parts.plainName, view.name);
    if (view.roomUrl) parts.name.href = view.roomUrl;
    parts.name.hidden = !view.roomUrl;
    parts.plainName.hidden = Boolean(view.roomUrl);
    parts.check.setAttribute("aria-label", `Select ${view.name}`);
    parts.details.setAttribute("aria-label", `Details of ${view.name}`);
  }
  const live = view.running || view.badge.group === "online";
  const viewers = view.viewers === null || (!live && !view.viewers) ? "" : `${fmt.count(view.viewers)} viewers`;
  setText(parts.viewers, viewers);
  if (prev.title !== view.title) {
    setText(parts.title, view.title);
    parts.title.title = view.title;
  }
  if (prev.running !== view.running) {
    parts.stats.hidden = !view.running;
    el.classList.toggle("is-recording", view.running);
  }
  if (view.running) {
    if (prev.bytes !== view.bytes) setText(parts.size, fmt.bytes(view.bytes));
    if (prev.bitrateKbps !== view.bitrateKbps) setText(parts.bitrate, fmt.bitrate(view.bitrateKbps));
    if (prev.completeness !== view.completeness) setText(parts.completeness, fmt.percent(view.completeness));
  }
  if (prev.error !== view.error) {
    setText(parts.error, view.error);
    parts.error.hidden = !view.error;
  }
  const actionsKey = actions(view).map((a) => a[0]).join(",");
  if (actionsKey !== card.actionsKey) {
    parts.actions.replaceChildren(...actionButtons(view));
    card.actionsKey = actionsKey;
  }
  if (recentEvents !== card.eventsVersion) {
    card.eventsVersion = recentEvents;
    parts.events.replaceChildren(
      ...(recentEvents || []).slice(0, 5).map((e) =>
        h("li", {}, h("time", {}, fmt.when(e.time).slice(11)), ` ${e.type.toLowerCase()}`, e.message ? ` · ${e.message}` : ""),
      ),
    );
  }
  card.view = view;
  tick(card, nowMs);
}

/** How often a card's picture is asked for again: a live frame every minute, the room's
 * image every ten. */
export const PICTURE_EVERY_MS = { live: 60000, room: 600000 };

export function pictureUrl(view, nowMs) {
  const every = view.running ? PICTURE_EVERY_MS.live : PICTURE_EVERY_MS.room;
  return `/api/models/${encodeURIComponent(view.key)}/thumbnail?t=${Math.floor(nowMs / every)}`;
}

/** The running clock of a recording card, and its picture when it is due. */
export function tick(card, nowMs) {
  if (!card.view) return;
  if (card.view.running) {
    setText(card.parts.elapsed, fmt.duration(elapsedSeconds(card.view.startTime, nowMs)));
  }
  const url = pictureUrl(card.view, nowMs);
  if (card.pictureUrl !== url) {
    card.pictureUrl = url;
    card.parts.image.src = url;
  }
}
