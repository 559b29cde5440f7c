// The one status vocabulary of the dashboard: every session state and every channel
// availability the API can report maps to one badge (a label, a colour tone, and the group
// the status filter uses). Pure; tested against the protos' enums (gateway/web/test).

/** Groups, in the order the status filter lists them. */
export const GROUPS = [
  ["recording", "Recording"],
  ["online", "Online"],
  ["private", "Private / group"],
  ["away", "Away"],
  ["offline", "Offline"],
  ["paused", "Paused"],
  ["rate-limited", "Rate-limited"],
  ["blocked", "Blocked"],
  ["not-found", "Not found"],
  ["error", "Error"],
  ["unknown", "Not checked yet"],
];

const badge = (label, tone, group) => ({ label, tone, group });

/** Running session states (the session is what the card shows). */
export const SESSION_BADGES = {
  STARTING: badge("STARTING", "rec", "recording"),
  RECORDING: badge("RECORDING", "rec", "recording"),
  STALLED: badge("STALLED", "warn", "recording"),
  RECONNECTING: badge("RECONNECTING", "warn", "recording"),
  STOPPING: badge("STOPPING", "rec", "recording"),
};

/** Ended session states, for the recordings browser and a session-only card's last word. */
export const ENDED_BADGES = {
  STOPPED: badge("STOPPED", "off", "offline"),
  FAILED: badge("FAILED", "bad", "error"),
  INTERRUPTED: badge("INTERRUPTED", "warn", "error"),
};

/** Every ChannelAvailability (without its prefix). */
export const AVAILABILITY_BADGES = {
  ONLINE: badge("ONLINE", "ok", "online"),
  OFFLINE: badge("OFFLINE", "off", "offline"),
  PRIVATE: badge("PRIVATE", "priv", "private"),
  GROUP_SHOW: badge("GROUP", "priv", "private"),
  HIDDEN: badge("HIDDEN", "priv", "private"),
  PASSWORD_PROTECTED: badge("PASSWORD", "priv", "private"),
  AWAY: badge("AWAY", "warn", "away"),
  GEO_RESTRICTED: badge("GEO-BLOCKED", "bad", "blocked"),
  RATE_LIMITED: badge("RATE-LIMITED", "limit", "rate-limited"),
  BLOCKED: badge("BLOCKED", "bad", "blocked"),
  AGE_GATE: badge("AGE GATE", "bad", "blocked"),
  NOT_FOUND: badge("NOT FOUND", "gone", "not-found"),
  UPSTREAM_ERROR: badge("ERROR", "bad", "error"),
};

export const PAUSED = badge("PAUSED", "off", "paused");
export const START_FAILED = badge("ERROR", "bad", "error");
export const NOT_CHECKED = badge("NOT CHECKED", "off", "unknown");

/**
 * The badge of a card: its running session's state if it has one, else what is known of the
 * channel. `channel` may be null (a session started by hand for a folder nobody watches).
 */
export function badgeFor(channel, session) {
  if (session && session.running) {
    return SESSION_BADGES[session.state] || badge(String(session.state), "rec", "recording");
  }
  if (!channel) {
    return (session && ENDED_BADGES[session.state]) || NOT_CHECKED;
  }
  if (!channel.autoRecord) return PAUSED;
  if (channel.lastError) return START_FAILED;
  const availability = channel.lastAvailability;
  if (!availability) return NOT_CHECKED;
  return AVAILABILITY_BADGES[availability] || badge(String(availability), "off", "unknown");
}

/** Is the card's channel live right now (recording or online)? For the header's count. */
export function isOnline(channel, session) {
  const group = badgeFor(channel, session).group;
  return group === "recording" || group === "online";
}
