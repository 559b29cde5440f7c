import assert from "node:assert/strict";
import { test } from "node:test";
import * as fmt from "../src/format.js";
import { applyChannels, applyEvent, applySessions, cardKeys, createState } from "../src/store.js";
import { cardView, compare, matches } from "../src/view.js";

const channel = (username, fields = {}) => ({ username, name: "", target: "", sourceType: "auto", autoRecord: true, lastAvailability: "OFFLINE", ...fields });
const session = (person, fields = {}) => ({ session_id: `s-${person}`, person, channel: null, running: true, state: "RECORDING", start_time: "2026-01-01T00:00:00.000Z", bytes_written: 10, ...fields });

test("events patch the card of their channel, and only that one", () => {
  const state = createState();
  applyChannels(state, [channel("a"), channel("b")]);
  assert.deepEqual([...applyEvent(state, { sequence: 5, type: "RECORDING", session: session("a") })], ["a"]);
  assert.equal(state.sessions.get("a").state, "RECORDING");
  assert.equal(state.sequence, 5);
  applyEvent(state, { sequence: 6, type: "STOPPED", session: session("a", { running: false, state: "STOPPED" }) });
  assert.equal(state.sessions.has("a"), false);
  assert.deepEqual(state.events.get("a").map((e) => e.type), ["STOPPED", "RECORDING"]);
});

test("an old session ending does not hide a newer one of the same channel", () => {
  const state = createState();
  applyEvent(state, { sequence: 1, type: "RECORDING", session: session("a", { session_id: "new" }) });
  applyEvent(state, { sequence: 2, type: "STOPPED", session: session("a", { session_id: "old", running: false }) });
  assert.equal(state.sessions.get("a").session_id, "new");
});

test("re-reading the watch list reports only the channels that changed", () => {
  const state = createState();
  applyChannels(state, [channel("a"), channel("b")]);
  const changed = applyChannels(state, [channel("a"), channel("b", { lastAvailability: "ONLINE" })]);
  assert.deepEqual([...changed], ["b"]);
  assert.deepEqual([...applyChannels(state, [channel("b", { lastAvailability: "ONLINE" })])], ["a"]);
});

test("a session of a folder nobody watches has a card of its own", () => {
  const state = createState();
  applyChannels(state, [channel("a")]);
  applySessions(state, [session("demo"), session("gone", { running: false })], 9);
  assert.deepEqual([...cardKeys(state)].sort(), ["a", "demo"]);
  assert.equal(cardView("demo", null, state.sessions.get("demo")).watched, false);
});

test("filters by text, status and site; sorts online first, by name or by size", () => {
  const views = [
    cardView("zed", channel("zed", { lastAvailability: "ONLINE", lastTitle: "Hello there" }), null),
    cardView("amy", channel("amy"), null),
    cardView("rec", channel("rec", { target: "https://x/y.m3u8", sourceType: "m3u8" }), session("rec", { bytes_written: 99 })),
  ];
  const none = { text: "", status: "", site: "" };
  assert.deepEqual(views.filter((v) => matches(v, { ...none, text: "hello" })).map((v) => v.key), ["zed"]);
  assert.deepEqual(views.filter((v) => matches(v, { ...none, status: "offline" })).map((v) => v.key), ["amy"]);
  assert.deepEqual(views.filter((v) => matches(v, { ...none, site: "m3u8" })).map((v) => v.key), ["rec"]);
  assert.deepEqual([...views].sort(compare("online")).map((v) => v.key), ["rec", "zed", "amy"]);
  assert.deepEqual([...views].sort(compare("name")).map((v) => v.key), ["amy", "rec", "zed"]);
  assert.deepEqual([...views].sort(compare("size")).map((v) => v.key), ["rec", "amy", "zed"]);
});

test("a room link only for a site room with a checked name", () => {
  assert.equal(cardView("amy", channel("amy"), null).roomUrl, "https://chaturbate.com/amy/");
  assert.equal(cardView("x", channel("x", { target: "https://cdn/x.m3u8" }), null).roomUrl, null);
});

test("formats", () => {
  assert.equal(fmt.bytes(1536), "1.50 KiB");
  assert.equal(fmt.duration(3725), "1:02:05");
  assert.equal(fmt.duration(65), "1:05");
  assert.equal(fmt.bitrate(2500), "2.50 Mbit/s");
  assert.equal(fmt.percent(0.9312), "93.1 %");
  assert.equal(fmt.parseSize("1.5G"), 1610612736);
  assert.equal(fmt.parseSize("500M"), 524288000);
  assert.equal(fmt.parseSize(""), 0);
  assert.equal(fmt.parseSize("lots"), null);
});

test("routes", async () => {
  const { parseRoute } = await import("../src/route.js");
  assert.deepEqual(parseRoute("#/channel/al%20ice").key, "al ice");
  assert.equal(parseRoute("#/channel/alice").view, "channel");
  assert.equal(parseRoute("#/system").view, "system");
  assert.equal(parseRoute("#/logs?cid=abc").params.get("cid"), "abc");
  assert.equal(parseRoute("").view, "grid");
  assert.equal(parseRoute("#/nonsense").view, "grid");
});

test("a recently finished recording without pictures is read again", async () => {
  const { picturesPending } = await import("../src/recordings_view.js");
  const now = Date.parse("2026-12-04T12:00:00Z");
  const done = (fields) => ({ state: "COMPLETE", posterUrl: null, endTime: "2026-12-04T11:59:30Z", ...fields });
  assert.equal(picturesPending([done()], now), true);
  assert.equal(picturesPending([done({ posterUrl: "/p" })], now), false);
  assert.equal(picturesPending([done({ endTime: "2026-12-04T11:00:00Z" })], now), false); // off, or failed
  assert.equal(picturesPending([done({ state: "WRITING", endTime: null })], now), false);
});
