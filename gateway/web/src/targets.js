// What the add dialog accepts: several names or pasted links, one or more per line. Pure.
//
// - a username: letters, digits and "_" (1-64), on the site chosen in the form (the default
//   site unless another is chosen; other sites also allow "-");
// - "site:username" (stripchat:alice): that site, whatever the form says;
// - a room link of a known site (https://chaturbate.com/alice/, https://stripchat.com/bob):
//   that site and its username;
// - an http(s) link to a .m3u8 playlist: recorded from that URL, named after its path (a name
//   can be given before it: "alice https://cdn.example/live/alice.m3u8").
// Anything else gets a reason, and nothing is sent for it.

import { DEFAULT_SITE, keyOf, PLAYLIST, SITE_RE } from "./sites.js";

const USERNAME = /^[A-Za-z0-9_]{1,64}$/;
const SITE_USERNAME = /^[A-Za-z0-9_-]{1,64}$/;
const SITE_KEY = /^([a-z][a-z0-9]{1,31}):([A-Za-z0-9_-]{1,64})$/;
// Room links: [site, pattern whose group 1 is the username].
const ROOMS = [
  ["chaturbate", /^https?:\/\/(?:www\.)?chaturbate\.com\/([A-Za-z0-9_]{1,64})\/?(?:[?#].*)?$/i],
  ["stripchat", /^https?:\/\/(?:www\.)?stripchat\.com\/([A-Za-z0-9_-]{1,64})\/?(?:[?#].*)?$/i],
  ["bongacams", /^https?:\/\/(?:[a-z]{2}\.|www\.)?bongacams\.com\/([A-Za-z0-9_-]{1,64})\/?(?:[?#].*)?$/i],
  ["cam4", /^https?:\/\/(?:www\.)?cam4\.com\/([A-Za-z0-9_-]{1,64})\/?(?:[?#].*)?$/i],
  ["camsoda", /^https?:\/\/(?:www\.)?camsoda\.com\/([A-Za-z0-9_-]{1,64})\/?(?:[?#].*)?$/i],
  ["myfreecams", /^https?:\/\/(?:www\.|profiles\.)?myfreecams\.com\/(?:#|profile\/)?([A-Za-z0-9_-]{1,64})\/?$/i],
];

/** An entry on a site (its key is what the watch list calls it). */
function onSite(input, site, username) {
  const name = site === DEFAULT_SITE ? username.toLowerCase() : username;
  return { input, site, username: name, key: keyOf(site, name.toLowerCase()) };
}

/** A folder-safe name from a playlist URL's path ("/live/Alice-1/index.m3u8" -> "alice_1"). */
export function nameFromUrl(url) {
  const parts = url.pathname.split("/").filter(Boolean).map((p) => p.replace(/\.m3u8$/i, ""));
  const generic = new Set(["index", "playlist", "master", "chunklist", "stream", "live", "hls"]);
  const useful = parts.filter((p) => p && !generic.has(p.toLowerCase()));
  const pick = useful.length ? useful[useful.length - 1] : url.hostname;
  const slug = pick.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64);
  return slug || null;
}

function entryFor(token, givenName, site) {
  for (const [roomSite, pattern] of ROOMS) {
    const room = pattern.exec(token);
    if (room) return onSite(token, roomSite, room[1]);
  }
  if (/^https?:\/\//i.test(token)) {
    let url;
    try {
      url = new URL(token);
    } catch {
      return { input: token, error: "not a valid link" };
    }
    if (!/\.m3u8$/i.test(url.pathname)) {
      return { input: token, error: "not a room link of a known site or a .m3u8 playlist link" };
    }
    const username = givenName || nameFromUrl(url);
    if (!username) return { input: token, error: "give it a name: name https://…/x.m3u8" };
    const name = username.toLowerCase();
    return { input: token, username: name, key: name, target: token, sourceType: "m3u8", site: PLAYLIST };
  }
  const prefixed = SITE_KEY.exec(token);
  if (prefixed) return onSite(token, prefixed[1], prefixed[2]);
  if (/^[a-z][a-z0-9+.-]*:/i.test(token)) return { input: token, error: "only http(s) links or site:username" };
  if (site && site !== DEFAULT_SITE) {
    if (SITE_USERNAME.test(token)) return onSite(token, site, token);
    return { input: token, error: "a username is letters, digits, _ and - (at most 64)" };
  }
  if (USERNAME.test(token)) return onSite(token, DEFAULT_SITE, token);
  return { input: token, error: "a username is letters, digits and _ (at most 64)" };
}

/** Every entry of the text, in order, duplicates removed (the first one stays). `site` is the
 * site of bare usernames (empty: the default site). */
export function parseTargets(text, site = "") {
  const bareSite = SITE_RE.test(site || "") ? site : "";
  const entries = [];
  const seen = new Set();
  for (const rawLine of String(text || "").split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const tokens = line.split(/[\s,;]+/).filter(Boolean);
    // "name https://…m3u8": a name for the link that follows it.
    if (tokens.length === 2 && USERNAME.test(tokens[0]) && /^https?:\/\//i.test(tokens[1])) {
      const entry = entryFor(tokens[1], tokens[0], bareSite);
      if (entry.target) {
        entries.push(entry);
        continue;
      }
    }
    for (const token of tokens) entries.push(entryFor(token, null, bareSite));
  }
  return entries.filter((e) => {
    if (!e.key) return true;
    if (seen.has(e.key)) return false;
    seen.add(e.key);
    return true;
  });
}
