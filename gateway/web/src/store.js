// The page's state, and how the API's answers and events change it. Pure functions over a
// plain object; each returns the card keys whose display may have changed. A card's key is
// its channel's key (alice, stripchat:alice): the same name on two sites is two cards.

import { sessionKey } from "./sites.js";

export { sessionKey };

/** A channel's key (an older gateway has none: its username). */
export const channelKey = (channel) => channel.key || channel.username;

const EVENTS_KEPT = 30;

export function createState() {
  return {
    channels: new Map(), // key -> channel (GET /api/models)
    sessions: new Map(), // card key -> running session
    events: new Map(), // card key -> recent events, newest first
    channelJson: new Map(), // key -> the channel's JSON text, to see what changed
    disk: null,
    sequence: 0,
  };
}

/** The whole watch list, as GET /api/models answered it. */
export function applyChannels(state, list) {
  const changed = new Set();
  const seen = new Set();
  for (const channel of list) {
    const key = channelKey(channel);
    seen.add(key);
    const text = JSON.stringify(channel);
    if (state.channelJson.get(key) !== text) {
      state.channelJson.set(key, text);
      state.channels.set(key, channel);
      changed.add(key);
    }
  }
  for (const key of [...state.channels.keys()]) {
    if (!seen.has(key)) {
      state.channels.delete(key);
      state.channelJson.delete(key);
      changed.add(key);
    }
  }
  return changed;
}

/** One channel as a write to the API returned it (or null when it was removed). */
export function applyChannel(state, key, channel) {
  if (channel) {
    state.channels.set(key, channel);
    state.channelJson.set(key, JSON.stringify(channel));
  } else {
    state.channels.delete(key);
    state.channelJson.delete(key);
  }
  return new Set([key]);
}

/** The running sessions, from a snapshot (or GET /api/status). */
export function applySessions(state, sessions, sequence) {
  const changed = new Set(state.sessions.keys());
  state.sessions.clear();
  for (const session of sessions) {
    if (!session.running) continue;
    const key = sessionKey(session);
    state.sessions.set(key, session);
    changed.add(key);
  }
  if (sequence !== undefined) state.sequence = Math.max(state.sequence, sequence);
  return changed;
}

/** One event of /api/events. */
export function applyEvent(state, event) {
  if (event.sequence) state.sequence = Math.max(state.sequence, event.sequence);
  const session = event.session;
  if (!session) return new Set();
  const key = sessionKey(session);
  const current = state.sessions.get(key);
  if (session.running) {
    state.sessions.set(key, session);
  } else if (!current || current.session_id === session.session_id) {
    state.sessions.delete(key);
  }
  if (event.type !== "PROGRESS") {
    const recent = state.events.get(key) || [];
    recent.unshift({ type: event.type, time: event.event_time, message: event.message || "", sessionId: session.session_id });
    state.events.set(key, recent.slice(0, EVENTS_KEPT));
  }
  return new Set([key]);
}

/** Every card: watched channels and sessions of folders nobody watches. */
export function cardKeys(state) {
  const keys = new Set(state.channels.keys());
  for (const key of state.sessions.keys()) keys.add(key);
  return keys;
}
