import assert from "node:assert/strict";
import { test } from "node:test";
import { parseTargets } from "../src/targets.js";

test("names, room links and playlist links, several per line, duplicates once", () => {
  const entries = parseTargets("Alice bob\nhttps://chaturbate.com/Carol/\n\nhttps://www.chaturbate.com/dave?tour=1, alice\n# a comment");
  assert.deepEqual(entries.map((e) => e.username), ["alice", "bob", "carol", "dave"]);
  assert.ok(entries.every((e) => e.site === "chaturbate" && !e.error));
});

test("a playlist link is recorded from its URL, named from its path or by the name before it", () => {
  const [auto, named] = parseTargets("https://cdn.example/live/Eve-2/index.m3u8\nfrank https://cdn.example/x/playlist.m3u8");
  assert.equal(auto.username, "eve_2");
  assert.equal(auto.target, "https://cdn.example/live/Eve-2/index.m3u8");
  assert.equal(auto.sourceType, "m3u8");
  assert.equal(named.username, "frank");
  assert.equal(named.target, "https://cdn.example/x/playlist.m3u8");
});

test("bad entries get a reason and are never sent", () => {
  const bad = parseTargets("../etc/passwd\nfile:///etc/passwd\nhttps://example.org/page.html\nnot-a-name\n" + "x".repeat(65));
  assert.equal(bad.length, 5);
  for (const entry of bad) {
    assert.ok(entry.error, entry.input);
    assert.equal(entry.username, undefined);
  }
});
