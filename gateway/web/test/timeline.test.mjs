import assert from "node:assert/strict";
import { test } from "node:test";
import { availabilityClass, layout } from "../src/timeline_view.js";

const NOW = Date.parse("2026-12-04T12:00:00Z");
const iso = (hoursAgo) => new Date(NOW - hoursAgo * 3600000).toISOString();

test("spans become percentages of the window; a gap is drawn where it happened", () => {
  const out = layout({
    since: iso(100),
    now: iso(0),
    availability: [
      { start: iso(100), end: iso(50), availability: "OFFLINE" },
      { start: iso(50), end: null, availability: "ONLINE" },
    ],
    recorded: [{ start: iso(40), end: iso(20), file: "a.mp4" }, { start: iso(10), end: null, file: "b.ts" }],
    gaps: [{ startTime: iso(30), duration: 36, cause: "RESTART" }],
  });
  assert.deepEqual(out.availability.map((a) => [a.kind, Math.round(a.left), Math.round(a.width)]), [
    ["offline", 0, 50],
    ["online", 50, 50],
  ]);
  assert.deepEqual(out.recorded.map((r) => [Math.round(r.left), Math.round(r.width)]), [[60, 20], [90, 10]]);
  const [gap] = out.gaps;
  assert.equal(Math.round(gap.left), 70);
  assert.ok(gap.width >= 0.25, "a 36 s gap in 100 h stays visible");
  assert.ok(out.ticks.length >= 3 && out.ticks.every((t) => t.left > 0 && t.left < 100));
});

test("availabilities fall into the legend's four families", () => {
  assert.equal(availabilityClass("ONLINE"), "online");
  assert.equal(availabilityClass("GROUP_SHOW"), "private");
  assert.equal(availabilityClass("AWAY"), "private");
  assert.equal(availabilityClass("NOT_FOUND"), "offline");
  assert.equal(availabilityClass("RATE_LIMITED"), "blocked");
  assert.equal(availabilityClass("UPSTREAM_ERROR"), "blocked");
});
