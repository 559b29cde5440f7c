// What a card shows, from the channel and its session: pure, so it is tested without a browser.

import { DEFAULT_SITE, roomUrl, siteName, splitKey } from "./sites.js";
import { badgeFor, GROUPS } from "./status.js";

const GROUP_RANK = Object.fromEntries(GROUPS.map(([key], i) => [key, i]));

/** The site a channel or session records from (its name, or "m3u8" for a playlist link). */
export function siteOf(channel, session) {
  if (channel) return siteName(channel.site, channel.sourceType, channel.target);
  return session ? siteName(session.site, session.source_type, session.target) : DEFAULT_SITE;
}

/** Seconds since a session started (null before it has a start time). */
export function elapsedSeconds(startTime, nowMs) {
  if (!startTime) return null;
  return Math.max(0, (nowMs - Date.parse(startTime)) / 1000);
}

/** Everything a card needs. `key` is the channel's key (alice, stripchat:alice), or the
 * folder of a session nobody watches. */
export function cardView(key, channel, session) {
  const site = siteOf(channel, session);
  const username = channel ? channel.username : splitKey(key).username;
  const running = Boolean(session && session.running);
  return {
    key,
    badge: badgeFor(channel, session),
    site,
    name: (channel && channel.name) || key,
    username,
    roomUrl: channel && channel.target ? null : roomUrl(site, username),
    title: (channel && channel.lastTitle) || "",
    viewers: channel && channel.lastViewers !== undefined ? channel.lastViewers : null,
    watched: Boolean(channel),
    autoRecord: Boolean(channel && channel.autoRecord),
    running,
    sessionId: running ? session.session_id : null,
    playbackUrl: running ? session.playback_url : null,
    startTime: running ? session.start_time : null,
    bytes: running ? session.bytes_written : null,
    bitrateKbps: running ? session.bitrate_kbps : null,
    completeness: running ? session.completeness : null,
    restarts: running ? session.restarts : 0,
    error: (channel && channel.lastError) || "",
  };
}

/** Does a card pass the filters? */
export function matches(view, { text, status, site }) {
  if (status && view.badge.group !== status) return false;
  if (site && view.site !== site) return false;
  if (text) {
    const needle = text.toLowerCase();
    if (!`${view.key} ${view.name} ${view.title}`.toLowerCase().includes(needle)) return false;
  }
  return true;
}

/** The order of the cards. */
export function compare(sort) {
  const byName = (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
  if (sort === "name") return byName;
  if (sort === "size") return (a, b) => (b.bytes || 0) - (a.bytes || 0) || byName(a, b);
  return (a, b) => (GROUP_RANK[a.badge.group] ?? 99) - (GROUP_RANK[b.badge.group] ?? 99) || byName(a, b);
}
