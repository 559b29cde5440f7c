// The dashboard: the watch list as live cards, with the recordings browser and the player in
// a sheet. Data comes from the REST API; changes arrive over /api/events and patch the cards
// they concern. The channels' own status (what the site said at the last auto-record check)
// is re-read every few seconds while the page is visible.

import { ApiError, configure, del, enc, get, post, put, session } from "./api.js";
import { ChannelPage } from "./channel_page.js";
import { LogsPage } from "./logs_page.js";
import { NotificationsPage } from "./notifications_page.js";
import { SystemPage } from "./system_page.js";
import { confirmDialog, setupAdd, setupEdit } from "./dialogs.js";
import { $, h, setText, toast } from "./dom.js";
import * as fmt from "./format.js";
import { Grid } from "./grid.js";
import { follow } from "./live.js";
import * as prefsStore from "./prefs.js";
import { parseRoute } from "./route.js";
import { Sheet } from "./sheet.js";
import { GROUPS } from "./status.js";
import { DEFAULT_SITE, KNOWN_SITES, PLAYLIST } from "./sites.js";
import { applyChannel, applyChannels, applyEvent, applySessions, channelKey, createState, sessionKey } from "./store.js";
import { siteOf } from "./view.js";

const CHANNELS_EVERY_MS = 10000;
const DISK_EVERY_MS = 30000;
const BULK_CONCURRENCY = 4;

const state = createState();
let prefs = prefsStore.load();
let grid;
let sheet;
let openEdit;
let pages;
let current = "grid";
let pending = null; // keys to re-render, or "all"
let frame = 0;

const errorText = (err) => (err instanceof ApiError ? err.describe() : String(err));

function render(keys) {
  if (keys === "all" || pending === "all") pending = "all";
  else {
    pending = pending || new Set();
    for (const k of keys) pending.add(k);
  }
  if (!frame) frame = requestAnimationFrame(flush);
}

function flush() {
  frame = 0;
  const keys = pending;
  pending = null;
  const shown = grid.update(prefs, keys === "all" ? null : keys);
  const counts = grid.counts();
  setText($("#count-channels"), fmt.count(counts.channels));
  setText($("#count-online"), fmt.count(counts.online));
  setText($("#count-recording"), fmt.count(counts.recording));
  const empty = $("#empty");
  empty.hidden = shown > 0;
  setText(empty, state.channels.size || state.sessions.size ? "No channel matches the filters." : "The watch list is empty: add a channel to start.");
  if (sheet.isOpen && keys !== "all" && keys && keys.has(sheet.key)) sheet.show(grid.viewOf(sheet.key));
  if (current === "channel" && (keys === "all" || (keys && keys.has(pages.channel.key)))) pages.channel.update();
  updateBulkbar();
  document.body.dataset.ready = "true";
}

async function refreshChannels() {
  try {
    const list = await get("/api/models");
    const changed = applyChannels(state, list);
    if (changed.size) {
      render(changed);
      siteOptions();
    }
  } catch (err) {
    setConnection("error", `Cannot read the watch list: ${errorText(err)}`);
  }
}

async function refreshDisk() {
  let disk;
  try {
    disk = await get("/api/disk");
  } catch {
    $("#disk").hidden = true;
    return;
  }
  const box = $("#disk");
  box.hidden = false;
  const used = disk.totalBytes ? (disk.totalBytes - disk.freeBytes) / disk.totalBytes : 0;
  const bar = $("#disk-bar");
  bar.value = Math.round(used * 1000) / 10;
  const level = String(disk.level || "OK").toLowerCase();
  box.dataset.level = level;
  setText($("#disk-text"), `${fmt.bytes(disk.freeBytes)} free of ${fmt.bytes(disk.totalBytes)}`);
  box.title = `Recordings: ${fmt.bytes(disk.recordingsBytes)} · new recordings stop below ${fmt.bytes(disk.minFreeBytes)} free`;
  setText($("#disk-level"), level === "ok" ? "" : level === "low" ? "disk low" : "disk almost full");
}

function setConnection(status, text) {
  const el = $("#connection");
  el.dataset.status = status;
  setText(el, text || { live: "● Live", connecting: "Connecting…", reconnecting: "Reconnecting…", error: "Error" }[status] || status);
}

// --- actions --------------------------------------------------------------------------------

function startBody(key) {
  const channel = state.channels.get(key);
  if (!channel) return { target: key, person: key };
  // A channel on the default site records into its username's folder; on another site the
  // recorder picks the folder (records/<site>-<user>/), so the same name cannot collide.
  const body = { target: channel.target || channel.username };
  const site = siteOf(channel, null);
  if (channel.target || site === DEFAULT_SITE) body.person = channel.username;
  else body.site = site;
  if (channel.name) body.name = channel.name;
  if (channel.sourceType && channel.sourceType !== "auto") body.source_type = channel.sourceType;
  if (channel.quality) body.quality = channel.quality;
  return body;
}

async function startOne(key) {
  const started = await post("/api/start", startBody(key));
  render(applyEvent(state, { type: "STARTING", session: started }));
}

async function stopOne(key) {
  const running = state.sessions.get(key);
  if (!running) return;
  const ended = await post(`/api/stop/${enc(running.session_id)}`);
  render(applyEvent(state, { type: ended.state, session: ended }));
}

async function setAuto(key, on) {
  const channel = await put(`/api/models/${enc(key)}`, { autoRecord: on });
  render(applyChannel(state, key, channel));
}

async function removeOne(key) {
  await del(`/api/models/${enc(key)}`);
  grid.selected.delete(key);
  render(applyChannel(state, key, null));
  if (sheet.key === key && !state.sessions.has(key)) sheet.close();
}

async function act(action, key, button) {
  const view = grid.viewOf(key);
  if (action === "select") {
    if (button.checked) grid.selected.add(key);
    else grid.selected.delete(key);
    updateBulkbar();
    return;
  }
  if (action === "live") return sheet.open(key, view, { live: true });
  if (action === "page") {
    location.hash = `#/channel/${encodeURIComponent(key)}`;
    return;
  }
  if (action === "recordings" || action === "details") return sheet.open(key, view);
  if (action === "edit") {
    const channel = state.channels.get(key);
    if (channel) openEdit(channel);
    return;
  }
  if (action === "remove") {
    const ok = await confirmDialog(`Remove ${view.name}?`, "It will no longer be watched or recorded automatically. Its recordings stay.");
    if (!ok) return;
  }
  if (button) button.disabled = true;
  try {
    if (action === "start") await startOne(key);
    else if (action === "stop") await stopOne(key);
    else if (action === "pause" || action === "resume") await setAuto(key, action === "resume");
    else if (action === "remove") await removeOne(key);
  } catch (err) {
    toast(`${view.name}: ${errorText(err)}`, "error");
  } finally {
    if (button) button.disabled = false;
  }
}

// --- bulk -----------------------------------------------------------------------------------

function updateBulkbar() {
  const n = grid.selected.size;
  $("#bulkbar").hidden = n === 0;
  setText($("#bulk-count"), `${n} selected`);
  const visible = grid.order.length;
  const all = $("#select-all");
  all.checked = visible > 0 && grid.order.every((k) => grid.selected.has(k));
  all.indeterminate = n > 0 && !all.checked;
}

async function bulk(action) {
  const keys = [...grid.selected];
  let targets = keys;
  if (action === "start") targets = keys.filter((k) => !state.sessions.has(k));
  if (action === "stop") targets = keys.filter((k) => state.sessions.has(k));
  if (action === "remove") {
    targets = keys.filter((k) => state.channels.has(k));
    const ok = await confirmDialog(`Remove ${targets.length} channel${targets.length === 1 ? "" : "s"}?`, "They will no longer be watched. Their recordings stay.");
    if (!ok) return;
  }
  const run = { start: startOne, stop: stopOne, remove: removeOne }[action];
  const failures = [];
  const queue = [...targets];
  await Promise.all(
    Array.from({ length: BULK_CONCURRENCY }, async () => {
      while (queue.length) {
        const key = queue.shift();
        try {
          await run(key);
        } catch (err) {
          failures.push(`${key}: ${errorText(err)}`);
        }
      }
    }),
  );
  toast(`${action}: ${targets.length - failures.length} of ${targets.length} done`);
  for (const f of failures) toast(f, "error");
  if (action === "remove") grid.selected.clear();
  render("all");
}

// --- the toolbar ----------------------------------------------------------------------------

/** The site filter's choices: the known sites, the ones in the watch list and the remembered
 * one (names as text only), then playlist links. Rebuilt only when that set changes. */
let siteChoices = "";
function siteOptions() {
  const sites = new Set(KNOWN_SITES);
  for (const channel of state.channels.values()) sites.add(siteOf(channel, null));
  if (prefs.site) sites.add(prefs.site);
  sites.delete(PLAYLIST);
  const list = [...sites].sort();
  const signature = list.join(",");
  if (signature === siteChoices) return;
  siteChoices = signature;
  const select = $("#filter-site");
  select.replaceChildren(
    h("option", { value: "" }, "Any"),
    ...list.map((site) => h("option", { value: site }, site)),
    h("option", { value: PLAYLIST }, "m3u8 link"),
  );
  select.value = prefs.site;
}

function setupToolbar() {
  const status = $("#filter-status");
  status.append(...GROUPS.map(([key, label]) => h("option", { value: key }, label)));
  const sort = $("#sort");
  sort.append(...prefsStore.SORTS.map(([key, label]) => h("option", { value: key }, label)));
  $("#filter-text").value = prefs.text;
  status.value = prefs.status;
  siteOptions();
  sort.value = prefs.sort;
  const changed = () => {
    prefsStore.save(prefs);
    render("all");
  };
  let typing = 0;
  $("#filter-text").addEventListener("input", (e) => {
    clearTimeout(typing);
    typing = setTimeout(() => {
      prefs = { ...prefs, text: e.target.value.trim() };
      changed();
    }, 120);
  });
  status.addEventListener("change", () => {
    prefs = { ...prefs, status: status.value };
    changed();
  });
  $("#filter-site").addEventListener("change", (e) => {
    prefs = { ...prefs, site: e.target.value };
    changed();
  });
  sort.addEventListener("change", () => {
    prefs = { ...prefs, sort: sort.value };
    changed();
  });
  const densities = document.querySelectorAll("[data-density]");
  const showDensity = () => {
    $("#grid").className = `grid density-${prefs.density}`;
    for (const b of densities) b.setAttribute("aria-pressed", String(b.dataset.density === prefs.density));
  };
  for (const b of densities) {
    b.addEventListener("click", () => {
      prefs = { ...prefs, density: b.dataset.density };
      showDensity();
      prefsStore.save(prefs);
    });
  }
  showDensity();
  $("#select-all").addEventListener("change", (e) => {
    for (const key of grid.order) {
      if (e.target.checked) grid.selected.add(key);
      else grid.selected.delete(key);
    }
    render("all");
  });
  for (const b of document.querySelectorAll("[data-bulk]")) b.addEventListener("click", () => bulk(b.dataset.bulk));
  $("#bulk-clear").addEventListener("click", () => {
    grid.selected.clear();
    render("all");
  });
}

// --- pages ----------------------------------------------------------------------------------

function route() {
  const next = parseRoute(location.hash);
  for (const name of ["grid", "channel", "system", "logs", "notifications"]) {
    document.getElementById(`view-${name}`).hidden = name !== next.view;
    if (name !== next.view && name !== "grid" && current === name) pages[name].hide();
  }
  for (const link of document.querySelectorAll("[data-nav]")) {
    if (link.dataset.nav === next.view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  current = next.view;
  if (next.view !== "grid" && sheet.isOpen) sheet.close();
  if (next.view === "channel") pages.channel.show(next.key, (action, key, button) => act(action, key, button));
  else if (next.view === "system") pages.system.show();
  else if (next.view === "logs") pages.logs.show(next.params);
  else if (next.view === "notifications") pages.notifications.show();
  window.scrollTo(0, 0);
}

function setupImport() {
  const input = $("#import-file");
  input.addEventListener("change", async () => {
    const file = input.files && input.files[0];
    input.value = "";
    if (!file) return;
    let document_;
    try {
      document_ = JSON.parse(await file.text());
    } catch (err) {
      toast(`${file.name} is not JSON: ${err.message}`, "error");
      return;
    }
    let report;
    try {
      report = await post("/api/watchlist/import", document_);
    } catch (err) {
      toast(`Import refused: ${errorText(err)}`, "error");
      return;
    }
    setText($("#report-summary"), `${report.created} added, ${report.exists} already watched, ${report.invalid} invalid, ${report.failed} failed.`);
    $("#report-lines").replaceChildren(
      ...report.entries
        .filter((e) => e.result !== "created")
        .map((e) => h("li", { class: e.result === "exists" ? "muted" : "error" }, `#${e.index + 1} ${e.key || e.username || "?"}: ${e.result}${e.detail ? ` (${e.detail})` : ""}`)),
    );
    $("#dlg-report").showModal();
    await refreshChannels();
  });
}

// --- start ----------------------------------------------------------------------------------

async function boot() {
  const auth = await session();
  if (auth.authRequired && !auth.authenticated) {
    location.assign("/login");
    return;
  }
  configure({ csrf: auth.csrfToken, signedOut: () => auth.authRequired && location.assign("/login") });
  const signout = $("#signout");
  signout.hidden = !auth.authRequired;
  signout.addEventListener("click", async () => {
    await fetch("/auth/logout", { method: "POST", headers: { "X-CSRF-Token": auth.csrfToken || "" } });
    location.assign("/login");
  });

  grid = new Grid($("#grid"), state);
  sheet = new Sheet($("#sheet"), { confirm: confirmDialog, onAction: (action, key, button) => act(action, key, button) });
  $("#grid").addEventListener("click", (e) => {
    const target = e.target.closest("[data-action]");
    const card = e.target.closest(".card");
    if (target && card) act(target.dataset.action, card.dataset.key, target);
  });
  setupToolbar();
  setupImport();
  pages = {
    channel: new ChannelPage({
      state,
      viewOf: (key) => grid.viewOf(key),
      openSheet: (key, item) => sheet.open(key, grid.viewOf(key)).then(() => item && sheet.play(item)),
    }),
    system: new SystemPage(),
    logs: new LogsPage(),
    notifications: new NotificationsPage({ confirm: confirmDialog }),
  };
  window.addEventListener("hashchange", route);
  setupAdd({ onAdded: (channel) => {
    render(applyChannel(state, channelKey(channel), channel));
    siteOptions();
  } });
  openEdit = setupEdit({ onSaved: (channel) => render(applyChannel(state, channelKey(channel), channel)) });

  await refreshChannels();
  render("all");
  route();
  refreshDisk();
  follow({
    after: () => state.sequence,
    onSnapshot: (snap) => render(applySessions(state, snap.sessions, snap.sequence)),
    onEvent: (event) => {
      const keys = applyEvent(state, event);
      render(keys);
      if (event.type !== "PROGRESS") for (const k of keys) grid.patchEvents(k);
      const key = sessionKey(event.session);
      const filesChanged = ["STOPPED", "FAILED", "FINALIZED", "RECORDING", "FILE_ROTATED"].includes(event.type);
      if (sheet.isOpen && sheet.key === key && filesChanged) sheet.refresh();
      if (current === "channel" && pages.channel.key === key && filesChanged) {
        pages.channel.loadRecordings();
        pages.channel.loadTimeline();
      }
    },
    onStatus: (status) => setConnection(status),
    onClosed: async () => {
      const now = await session().catch(() => null);
      if (now && now.authRequired && !now.authenticated) {
        location.assign("/login");
        return false;
      }
      return true;
    },
  });
  setInterval(() => grid.tick(), 1000);
  setInterval(() => document.visibilityState === "visible" && refreshChannels(), CHANNELS_EVERY_MS);
  setInterval(() => document.visibilityState === "visible" && refreshDisk(), DISK_EVERY_MS);
  document.addEventListener("visibilitychange", () => document.visibilityState === "visible" && refreshChannels());
}

boot().catch((err) => toast(`The dashboard failed to start: ${errorText(err)}`, "error"));
