// What the add dialog accepts: several names or pasted links, one or more per line. Pure.
//
// - a username: letters, digits and "_" (1-64);
// - a chaturbate.com room link (https://chaturbate.com/alice/): its username;
// - an http(s) link to a .m3u8 playlist: recorded from that URL, named after its path (a name
//   can be given before it: "alice https://cdn.example/live/alice.m3u8").
// Anything else gets a reason, and nothing is sent for it.

const USERNAME = /^[A-Za-z0-9_]{1,64}$/;
const ROOM = /^https?:\/\/(?:www\.)?chaturbate\.com\/([A-Za-z0-9_]{1,64})\/?(?:[?#].*)?$/i;

/** A folder-safe name from a playlist URL's path ("/live/Alice-1/index.m3u8" -> "alice_1"). */
export function nameFromUrl(url) {
  const parts = url.pathname.split("/").filter(Boolean).map((p) => p.replace(/\.m3u8$/i, ""));
  const generic = new Set(["index", "playlist", "master", "chunklist", "stream", "live", "hls"]);
  const useful = parts.filter((p) => p && !generic.has(p.toLowerCase()));
  const pick = useful.length ? useful[useful.length - 1] : url.hostname;
  const slug = pick.toLowerCase().replace(/[^a-z0-9_]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 64);
  return slug || null;
}

function entryFor(token, givenName) {
  const room = ROOM.exec(token);
  if (room) return { input: token, username: room[1].toLowerCase(), site: "chaturbate" };
  if (/^https?:\/\//i.test(token)) {
    let url;
    try {
      url = new URL(token);
    } catch {
      return { input: token, error: "not a valid link" };
    }
    if (!/\.m3u8$/i.test(url.pathname)) {
      return { input: token, error: "not a chaturbate.com room or a .m3u8 playlist link" };
    }
    const username = givenName || nameFromUrl(url);
    if (!username) return { input: token, error: "give it a name: name https://…/x.m3u8" };
    return { input: token, username: username.toLowerCase(), target: token, sourceType: "m3u8", site: "m3u8" };
  }
  if (/^[a-z][a-z0-9+.-]*:/i.test(token)) return { input: token, error: "only http(s) links" };
  if (USERNAME.test(token)) return { input: token, username: token.toLowerCase(), site: "chaturbate" };
  return { input: token, error: "a username is letters, digits and _ (at most 64)" };
}

/** Every entry of the text, in order, duplicates removed (the first one stays). */
export function parseTargets(text) {
  const entries = [];
  const seen = new Set();
  for (const rawLine of String(text || "").split(/\r?\n/)) {
    const line = rawLine.trim();
    if (!line || line.startsWith("#")) continue;
    const tokens = line.split(/[\s,;]+/).filter(Boolean);
    // "name https://…m3u8": a name for the link that follows it.
    if (tokens.length === 2 && USERNAME.test(tokens[0]) && /^https?:\/\//i.test(tokens[1])) {
      const entry = entryFor(tokens[1], tokens[0]);
      if (entry.target) {
        entries.push(entry);
        continue;
      }
    }
    for (const token of tokens) entries.push(entryFor(token, null));
  }
  return entries.filter((e) => {
    if (!e.username) return true;
    if (seen.has(e.username)) return false;
    seen.add(e.username);
    return true;
  });
}
