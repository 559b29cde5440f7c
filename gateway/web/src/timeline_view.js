// The channel timeline's geometry: spans of time as left/width percentages of the window.
// Pure; tested by node.

import { AVAILABILITY_BADGES } from "./status.js";

const MIN_WIDTH = 0.25; // percent: a short gap or recording stays visible

/** The timeline colour family of an availability (the legend's classes). */
export function availabilityClass(availability) {
  const group = (AVAILABILITY_BADGES[availability] || {}).group;
  if (group === "online") return "online";
  if (group === "private" || group === "away") return "private";
  if (group === "offline" || group === "not-found") return "offline";
  return "blocked";
}

function place(startMs, endMs, from, to) {
  const total = to - from;
  const a = Math.max(startMs, from);
  const b = Math.min(endMs, to);
  if (b < a || total <= 0) return null;
  const left = ((a - from) / total) * 100;
  const width = Math.max(MIN_WIDTH, ((b - a) / total) * 100);
  return { left: Math.min(left, 100 - MIN_WIDTH), width: Math.min(width, 100 - Math.min(left, 100 - MIN_WIDTH)) };
}

const ms = (iso) => Date.parse(iso);

/** Bars for the three rows and the day ticks, from GET /api/models/{u}/timeline. */
export function layout(timeline) {
  const from = ms(timeline.since);
  const to = ms(timeline.now);
  const bar = (start, end, extra) => {
    const at = place(ms(start), end ? ms(end) : to, from, to);
    return at && { ...at, ...extra };
  };
  const availability = timeline.availability
    .map((a) => bar(a.start, a.end, { kind: availabilityClass(a.availability), label: a.availability || "UNKNOWN", start: a.start, end: a.end }))
    .filter(Boolean);
  const recorded = timeline.recorded
    .map((r) => bar(r.start, r.end, { kind: "recorded", label: r.file, start: r.start, end: r.end }))
    .filter(Boolean);
  const gaps = timeline.gaps
    .map((g) => {
      const start = ms(g.startTime);
      const at = place(start, start + g.duration * 1000, from, to);
      return at && { ...at, kind: "gap", label: `${g.cause} ${g.duration}s`, start: g.startTime, duration: g.duration, cause: g.cause };
    })
    .filter(Boolean);
  const ticks = [];
  const day = new Date(from);
  day.setHours(0, 0, 0, 0);
  for (let t = day.getTime() + 86400000; t < to; t += 86400000) {
    const d = new Date(t);
    ticks.push({ left: ((t - from) / (to - from)) * 100, label: `${d.getMonth() + 1}/${d.getDate()}` });
  }
  return { availability, recorded, gaps, ticks };
}
