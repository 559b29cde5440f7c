// Sites: a channel is (site, username); its key is "alice" on the default site and
// "stripchat:alice" elsewhere (the API's `key`). Pure, so it is tested without a browser.
//
// The site names come from the API (`site` of a channel or session) and from a typed
// "site:user"; they are only ever shown as text, and a room link is built only for the sites
// below, from a checked username.

export const DEFAULT_SITE = "chaturbate";
/** The sites the add form offers (any other can be typed as "site:user"). */
export const KNOWN_SITES = ["chaturbate", "stripchat", "bongacams", "cam4", "myfreecams", "camsoda"];
/** Channels recorded from a playlist URL: no site, the filter calls them "m3u8 link". */
export const PLAYLIST = "m3u8";

export const SITE_RE = /^[a-z][a-z0-9]{1,31}$/;
const SITE_USERNAME = /^[A-Za-z0-9_-]{1,64}$/;

const ROOM_PAGES = {
  chaturbate: (u) => `https://chaturbate.com/${u}/`,
  stripchat: (u) => `https://stripchat.com/${u}`,
  bongacams: (u) => `https://bongacams.com/${u}`,
  cam4: (u) => `https://www.cam4.com/${u}`,
  myfreecams: (u) => `https://www.myfreecams.com/#${u}`,
  camsoda: (u) => `https://www.camsoda.com/${u}`,
};

/** The site of a card: the API's `site` (hls: a playlist link), else the old guess (an older
 * gateway says no site: a URL target is a playlist, anything else the default site). */
export function siteName(site, sourceType, target) {
  if (site === "hls" || site === "m3u8") return PLAYLIST;
  if (site && SITE_RE.test(site)) return site;
  if (sourceType === "m3u8" || sourceType === "hls" || /^https?:\/\//i.test(target || "")) return PLAYLIST;
  return DEFAULT_SITE;
}

/** "stripchat:alice" -> {site: "stripchat", username: "alice"}; "alice" -> the default site. */
export function splitKey(key) {
  const at = key.indexOf(":");
  if (at < 0) return { site: "", username: key };
  return { site: key.slice(0, at), username: key.slice(at + 1) };
}

/** The key of a channel on a site ("" or the default site: the bare username). */
export function keyOf(site, username) {
  return !site || site === DEFAULT_SITE || site === PLAYLIST || site === "hls" ? username : `${site}:${username}`;
}

/** The card a session belongs to: its channel's key, else the one its folder names
 * ("stripchat-alice" of a stripchat session is stripchat:alice), else its folder. */
export function sessionKey(session) {
  const name = session.channel || session.person || "";
  const site = session.site || "";
  if (name.includes(":") || !site || site === DEFAULT_SITE || site === "hls" || site === PLAYLIST) return name;
  if (session.channel) return `${site}:${name}`;
  const prefix = `${site}-`;
  return name.startsWith(prefix) ? `${site}:${name.slice(prefix.length)}` : name;
}

/** The recording folder of a card: records/<user>/ on the default site, records/<site>-<user>/
 * elsewhere (a running session says its own). */
export function folderOf(key, session) {
  if (session && session.person) return session.person;
  const { site, username } = splitKey(key);
  return (site ? `${site}-${username}` : username).toLowerCase();
}

/** The room's page on its site, for a known site and a checked name; else null. */
export function roomUrl(site, username) {
  const page = ROOM_PAGES[site];
  return page && SITE_USERNAME.test(username || "") ? page(username) : null;
}
