// Every ChannelAvailability and SessionState in the protos has its own badge.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  AVAILABILITY_BADGES, badgeFor, ENDED_BADGES, GROUPS, isOnline, NOT_CHECKED, PAUSED, SESSION_BADGES, START_FAILED,
} from "../src/status.js";

const proto = (name) => readFileSync(new URL(`../../../protos/streamrec/v1/${name}`, import.meta.url), "utf8");
const enumValues = (text, prefix) =>
  [...text.matchAll(new RegExp(`\\b${prefix}([A-Z_]+) = \\d+;`, "g"))].map((m) => m[1]).filter((v) => v !== "UNSPECIFIED");

const channel = (fields = {}) => ({ autoRecord: true, lastError: null, lastAvailability: null, ...fields });
const groups = new Set(GROUPS.map(([key]) => key));

test("every availability the resolver can report has a badge of a known group", () => {
  const values = enumValues(proto("resolver_service.proto"), "CHANNEL_AVAILABILITY_");
  assert.ok(values.length >= 13);
  for (const value of values) {
    const badge = badgeFor(channel({ lastAvailability: value }), null);
    assert.equal(badge, AVAILABILITY_BADGES[value], value);
    assert.ok(groups.has(badge.group), value);
  }
});

test("every session state has a badge: running ones on the card, ended ones in the browser", () => {
  for (const state of enumValues(proto("session.proto"), "SESSION_STATE_")) {
    assert.ok(SESSION_BADGES[state] || ENDED_BADGES[state], state);
  }
});

test("a running session outranks what the site said; paused and failing channels say so", () => {
  const online = channel({ lastAvailability: "OFFLINE" });
  assert.equal(badgeFor(online, { running: true, state: "RECORDING" }).label, "RECORDING");
  assert.equal(badgeFor(online, { running: true, state: "RECONNECTING" }).group, "recording");
  assert.equal(badgeFor(channel({ autoRecord: false, lastAvailability: "ONLINE" }), null), PAUSED);
  assert.equal(badgeFor(channel({ lastError: "boom", lastAvailability: "ONLINE" }), null), START_FAILED);
  assert.equal(badgeFor(channel(), null), NOT_CHECKED);
  assert.equal(badgeFor(channel({ lastAvailability: "SOMETHING_NEW" }), null).group, "unknown");
  assert.equal(badgeFor(null, { running: false, state: "FAILED" }), ENDED_BADGES.FAILED);
});

test("online counts recording and online channels only", () => {
  assert.ok(isOnline(channel({ lastAvailability: "ONLINE" }), null));
  assert.ok(isOnline(null, { running: true, state: "STARTING" }));
  assert.ok(!isOnline(channel({ lastAvailability: "PRIVATE" }), null));
});
