import assert from "node:assert/strict";
import { test } from "node:test";
import { applyChannels, createState } from "../src/store.js";
import { folderOf, keyOf, roomUrl, sessionKey, siteName, splitKey } from "../src/sites.js";
import { parseTargets } from "../src/targets.js";
import { cardView, matches } from "../src/view.js";

test("a key names a site and a username; the default site's keys are bare", () => {
  assert.deepEqual(splitKey("stripchat:alice"), { site: "stripchat", username: "alice" });
  assert.deepEqual(splitKey("alice"), { site: "", username: "alice" });
  assert.equal(keyOf("stripchat", "alice"), "stripchat:alice");
  assert.equal(keyOf("chaturbate", "alice"), "alice");
  assert.equal(keyOf("", "alice"), "alice");
});

test("a card's site comes from the API, else the old guess; markup is no site name", () => {
  assert.equal(siteName("stripchat", "auto", ""), "stripchat");
  assert.equal(siteName("hls", "m3u8", "https://x/y.m3u8"), "m3u8");
  assert.equal(siteName(undefined, "auto", ""), "chaturbate");
  assert.equal(siteName(undefined, "m3u8", ""), "m3u8");
  assert.equal(siteName("<img src=x>", "auto", ""), "chaturbate");
});

test("a session finds its card by its channel, or by the folder its site names", () => {
  assert.equal(sessionKey({ channel: "alice", site: "stripchat", person: "stripchat-alice" }), "stripchat:alice");
  assert.equal(sessionKey({ channel: "stripchat:alice", site: "stripchat" }), "stripchat:alice");
  assert.equal(sessionKey({ channel: "", site: "stripchat", person: "stripchat-alice" }), "stripchat:alice");
  assert.equal(sessionKey({ channel: "", site: "chaturbate", person: "alice" }), "alice");
  assert.equal(sessionKey({ channel: "", site: "hls", person: "demo" }), "demo");
  assert.equal(sessionKey({ channel: "bob", person: "bob" }), "bob"); // an older recorder
});

test("recordings live in records/<user>/ on the default site and records/<site>-<user>/ elsewhere", () => {
  assert.equal(folderOf("alice", null), "alice");
  assert.equal(folderOf("stripchat:Alice", null), "stripchat-alice");
  assert.equal(folderOf("stripchat:alice", { person: "stripchat-alice" }), "stripchat-alice");
});

test("room links only for known sites and checked names", () => {
  assert.equal(roomUrl("stripchat", "alice"), "https://stripchat.com/alice");
  assert.equal(roomUrl("chaturbate", "bob"), "https://chaturbate.com/bob/");
  assert.equal(roomUrl("nosuchsite", "bob"), null);
  assert.equal(roomUrl("stripchat", "a/../b"), null);
  assert.equal(roomUrl("stripchat", "javascript:alert(1)"), null);
});

test("the same name on two sites is two cards, filtered by site", () => {
  const state = createState();
  applyChannels(state, [
    { username: "alice", site: "chaturbate", key: "alice", autoRecord: true },
    { username: "alice", site: "stripchat", key: "stripchat:alice", autoRecord: true },
  ]);
  assert.deepEqual([...state.channels.keys()], ["alice", "stripchat:alice"]);
  const views = [...state.channels].map(([key, c]) => cardView(key, c, null));
  assert.deepEqual(views.map((v) => [v.site, v.roomUrl]), [
    ["chaturbate", "https://chaturbate.com/alice/"],
    ["stripchat", "https://stripchat.com/alice"],
  ]);
  const only = views.filter((v) => matches(v, { text: "", status: "", site: "stripchat" }));
  assert.deepEqual(only.map((v) => v.key), ["stripchat:alice"]);
});

test("the add form: site:user, room links of each site, and bare names on the chosen site", () => {
  const entries = parseTargets("stripchat:Ann-Marie\nhttps://stripchat.com/bob\nhttps://www.cam4.com/carol/\nalice\nstripchat:ann-marie");
  assert.deepEqual(entries.map((e) => [e.site, e.username, e.key]), [
    ["stripchat", "Ann-Marie", "stripchat:ann-marie"],
    ["stripchat", "bob", "stripchat:bob"],
    ["cam4", "carol", "cam4:carol"],
    ["chaturbate", "alice", "alice"],
  ]);
  const onStripchat = parseTargets("alice\nbob-2\nchaturbate:alice", "stripchat");
  assert.deepEqual(onStripchat.map((e) => e.key), ["stripchat:alice", "stripchat:bob-2", "alice"]);
  // The default site's rule stays for bare names; other schemes and odd names are refused.
  const bad = parseTargets("bob-2\nfile:///etc/passwd\njavascript:alert(1)\nStrip:x\nstripchat:a/b");
  assert.equal(bad.length, 5);
  for (const entry of bad) assert.ok(entry.error && !entry.username, entry.input);
});
