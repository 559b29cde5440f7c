"""Case ``dashboard`` of ``tools.bench``: the web dashboard in Chromium with a large watch list
(issue 13).

1,000 channels in the watch list (``autoRecord`` off, so nothing is checked upstream) and 32 of
them recording the bench origin, every session reporting PROGRESS each second. Debian's
Chromium, driven by Playwright, loads the page in a fresh browser context (cold cache) five
times and times, inside the page, how long until the grid is usable: ``body[data-ready]`` set,
every card in the grid, the event stream live and the 32 running sessions on their cards; then
how long a filter takes to answer. A last page stays open on the live updates: the delay from
an event leaving the recorder to its card changing, the page's memory (JS heap, DOM nodes,
the renderer's PSS) and what the page costs the gateway.

The probe (``PROBE_JS``, added with ``add_init_script`` so it runs before the page's own
script) wraps ``EventSource`` to note, per card, the latest PROGRESS event received (its
``event_time``, stamped by the recorder when it publishes, and its arrival), and watches the
grid with a ``MutationObserver``: when a card's size, bitrate or completeness text changes,
that change shows the latest event received for the card (the page renders the newest session
it has), so the delay is the change time minus that event's ``event_time`` (one machine, one
clock). Events whose numbers render the same as before change nothing and give no sample.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from grpc import aio
from playwright.sync_api import Browser, CDPSession, Page, ViewportSize, sync_playwright

from simlab.harness import ROOT, free_port
from streamrec.v1 import channel_service_pb2, channel_service_pb2_grpc, resolver_service_pb2
from tools import bench_measure as m
from tools.bench_common import (
    FAST_START_ENV,
    BenchStack,
    CaseReport,
    Context,
    Group,
    WindowResult,
    measure_window,
    running_stack,
)

log = logging.getLogger("bench")

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
#: As the browser tests launch it (tests/browser/conftest.py): Chromium's own traffic is
#: refused on a closed network; keep it quiet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 860}
#: Text typed in the search box: matches dash0000 to dash0009, 10 cards at either size.
NEEDLE = "dash000"
USABLE_TARGET_S = 1.5
DELAY_TARGET_MS = 300.0

# The probe. ``marks`` are performance.now() values (ms since the navigation started), taken
# in a MutationObserver callback, i.e. right after the page's script changed the DOM; each
# "...Frame" mark is a setTimeout(0) posted from there, which runs once the frame being built
# (style, layout, paint) is done. Delay samples are [event_time, arrived, changed, frame] in
# Date.now() ms.
PROBE_JS = """
(() => {
  const CARDS = __CARDS__;
  const RECORDING = "__RECORDING__";
  const probe = {
    marks: {}, pending: new Map(), arrivals: [], changes: [], events: 0,
    numbers: new Map(), newNumbers: 0,
    measuring: false, inputAt: null, longTasks: [], waiting: null,
  };
  Object.defineProperty(window, "__bench", { value: probe });
  const keyOf = (s) => (s && (s.channel || s.person)) || "";

  const Native = window.EventSource;
  window.EventSource = class extends Native {
    constructor(url, init) {
      super(url, init);
      this.addEventListener("progress", (e) => {
        const arrived = Date.now();
        let data;
        try { data = JSON.parse(e.data); } catch { return; }
        const eventTime = Date.parse(data.event_time);
        const key = keyOf(data.session);
        const s = data.session || {};
        const numbers = `${s.bytes_written} ${s.bitrate_kbps} ${s.completeness}`;
        // Only events received while measuring give samples.
        if (probe.measuring) probe.pending.set(key, { eventTime, arrived });
        else probe.pending.delete(key);
        if (probe.measuring) {
          probe.events += 1;
          probe.arrivals.push(arrived - eventTime);
          if (probe.numbers.get(key) !== numbers) probe.newNumbers += 1;
        }
        probe.numbers.set(key, numbers);
      });
    }
  };

  const STATS = ["size", "bitrate", "completeness"];
  function watchCards(grid) {
    new MutationObserver((records) => {
      if (!probe.measuring) return;
      const changed = Date.now();
      const batch = [];
      const seen = new Set();
      for (const r of records) {
        const el = r.target.nodeType === 1 ? r.target : r.target.parentElement;
        if (!el || !STATS.some((c) => el.classList.contains(c))) continue;
        const card = el.closest(".card");
        const key = card && card.dataset.key;
        if (!key || seen.has(key)) continue;
        seen.add(key);
        const p = probe.pending.get(key);
        if (!p) continue;
        probe.pending.delete(key);
        const sample = [p.eventTime, p.arrived, changed, 0];
        probe.changes.push(sample);
        batch.push(sample);
      }
      if (!batch.length) return;
      setTimeout(() => {
        const t = Date.now();
        for (const s of batch) s[3] = t;
      }, 0);
    }).observe(grid, { subtree: true, childList: true, characterData: true });
  }

  function check(observer) {
    const m = probe.marks;
    const now = performance.now();
    const body = document.body;
    const grid = document.getElementById("grid");
    const conn = document.getElementById("connection");
    const rec = document.getElementById("count-recording");
    if (m.ready === undefined && body && body.dataset.ready === "true") m.ready = now;
    if (m.firstCard === undefined && grid && grid.childElementCount > 0) m.firstCard = now;
    if (m.cards === undefined && grid && grid.childElementCount === CARDS) m.cards = now;
    if (m.live === undefined && conn && conn.dataset.status === "live") m.live = now;
    if (m.recording === undefined && rec && rec.textContent === RECORDING) m.recording = now;
    if (["ready", "cards", "live", "recording"].every((k) => m[k] !== undefined)) {
      observer.disconnect();
      m.usable = Math.max(m.ready, m.cards, m.live, m.recording);
      setTimeout(() => { m.usableFrame = performance.now(); }, 0);
    }
  }

  probe.whenCards = (n) => new Promise((resolve) => {
    const grid = document.getElementById("grid");
    const done = () => setTimeout(() => resolve(performance.now()), 0);
    if (grid.childElementCount === n) return done();
    const mo = new MutationObserver(() => {
      if (grid.childElementCount === n) { mo.disconnect(); done(); }
    });
    mo.observe(grid, { childList: true });
  });
  for (const type of ["input", "change"]) {
    document.addEventListener(type, () => {
      if (probe.inputAt === null) probe.inputAt = performance.now();
    }, true);
  }
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) probe.longTasks.push([e.startTime, e.duration]);
    }).observe({ type: "longtask", buffered: true });
  } catch {}

  document.addEventListener("readystatechange", () => {
    if (document.readyState !== "interactive") return;
    const mo = new MutationObserver(() => check(mo));
    mo.observe(document.documentElement, {
      subtree: true, childList: true, characterData: true, attributes: true,
      attributeFilter: ["data-ready", "data-status"],
    });
    watchCards(document.getElementById("grid"));
  });
})();
"""

RESOURCES_JS = """
() => {
  const pick = (suffix) => performance.getEntriesByType("resource").find((e) => {
    const path = new URL(e.name).pathname;
    return path === suffix || path.startsWith(suffix + ".");
  });
  const out = {};
  for (const [name, path] of [["models", "/api/models"], ["session", "/auth/session"]]) {
    const e = pick(path);
    if (e) out[name] = { start: e.startTime, end: e.responseEnd, bytes: e.encodedBodySize };
  }
  const nav = performance.getEntriesByType("navigation")[0];
  if (nav) out.document = { start: 0, end: nav.responseEnd, bytes: nav.encodedBodySize };
  return out;
}
"""


def probe_script(cards: int, recording: int) -> str:
    return PROBE_JS.replace("__CARDS__", str(cards)).replace("__RECORDING__", str(recording))


# -- the stack ---------------------------------------------------------------------------------


async def _create_channels(addr: str, names: list[str], parallel: int = 32) -> None:
    """Watch every name, auto-record off (the recorder never checks them upstream)."""
    async with aio.insecure_channel(addr) as channel:
        stub = channel_service_pb2_grpc.ChannelServiceStub(channel)
        queue = list(reversed(names))

        async def worker() -> None:
            while queue:
                name = queue.pop()
                await stub.CreateChannel(
                    channel_service_pb2.CreateChannelRequest(
                        channel=channel_service_pb2.Channel(
                            username=name,
                            source_type=resolver_service_pb2.SOURCE_TYPE_CHATURBATE,
                            auto_record=False,
                        )
                    ),
                    timeout=60,
                )

        await asyncio.gather(*(worker() for _ in range(parallel)))


def _start_recording(st: BenchStack, target: str, persons: list[str], spread_s: float) -> None:
    """POST /api/start for each person, paced evenly over ``spread_s`` (sessions started at
    different times report progress at different moments), then wait until all record."""
    ids: list[str] = []
    began = time.monotonic()
    step = spread_s / len(persons)
    with httpx.Client(base_url=st.stack.base_url, timeout=60) as client:
        for i, person in enumerate(persons):
            time.sleep(max(0.0, began + i * step - time.monotonic()))
            response = client.post("/api/start", json={"target": target, "person": person})
            if response.status_code != 201:
                raise RuntimeError(f"start {person}: {response.status_code} {response.text}")
            ids.append(response.json()["session_id"])
    st.wait_all_recording(ids, timeout=60 + len(ids))


# -- one page ----------------------------------------------------------------------------------


@dataclass
class Load:
    """One cold load of the page: in-page times in ms from the navigation start."""

    marks: dict[str, float]
    wall_s: float
    resources: dict[str, dict[str, float]]
    metrics: dict[str, float]
    long_tasks: list[list[float]]
    filters: dict[str, float] = field(default_factory=dict)

    @property
    def usable_s(self) -> float:
        return self.marks["usableFrame"] / 1000


def _metrics(cdp: CDPSession) -> dict[str, float]:
    reply = cdp.send("Performance.getMetrics")
    return {item["name"]: float(item["value"]) for item in reply["metrics"]}


def _open(browser: Browser, url: str, cards: int, recording: int) -> tuple[Page, CDPSession, Load]:
    """A fresh context and page, loaded until usable."""
    context = browser.new_context(viewport=VIEWPORT)
    context.add_init_script(probe_script(cards, recording))
    page = context.new_page()
    page.set_default_timeout(60_000)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")
    began = time.monotonic()
    page.goto(url)
    try:
        page.wait_for_function("() => window.__bench.marks.usableFrame !== undefined")
    except Exception as exc:
        marks = page.evaluate("() => window.__bench.marks")
        raise RuntimeError(f"the page never became usable: marks {marks}, errors {errors}") from exc
    wall = time.monotonic() - began
    if errors:
        raise RuntimeError(f"page errors: {errors}")
    load = Load(
        marks=dict(page.evaluate("() => window.__bench.marks")),
        wall_s=wall,
        resources=dict(page.evaluate(RESOURCES_JS)),
        metrics=_metrics(cdp),
        long_tasks=list(page.evaluate("() => window.__bench.longTasks")),
    )
    return page, cdp, load


def _filter(page: Page, action: str, selector: str, value: str, expected: int) -> float:
    """ms from the input event to the frame that shows ``expected`` cards."""
    page.evaluate(
        "n => { const b = window.__bench; b.inputAt = null; b.waiting = b.whenCards(n); }",
        expected,
    )
    if action == "fill":
        page.fill(selector, value)
    else:
        page.select_option(selector, value)
    end = float(page.evaluate("() => window.__bench.waiting"))
    start = page.evaluate("() => window.__bench.inputAt")
    if start is None:
        raise RuntimeError(f"no input event from {action} {selector}")
    return end - float(start)


def _filters(page: Page, names: list[str], recording: int) -> dict[str, float]:
    n, matched = len(names), sum(NEEDLE in name for name in names)
    return {
        "text": _filter(page, "fill", "#filter-text", NEEDLE, matched),
        "clear": _filter(page, "fill", "#filter-text", "", n),
        "status": _filter(page, "select", "#filter-status", "recording", recording),
        "any": _filter(page, "select", "#filter-status", "", n),
    }


# -- the live page -----------------------------------------------------------------------------


@dataclass
class Live:
    """The page left open on the live updates."""

    window: WindowResult
    renderer: int
    renderers: int
    samples: list[list[float]]
    arrivals: list[float]
    events: int
    new_numbers: int
    memory_load: dict[str, float]
    memory_end: dict[str, float]
    heap_after_gc: float
    dom: dict[str, float]
    renderer_pss: int
    renderer_rss: int
    chromium_pss: int
    long_tasks: int


def _processes(browser: Browser) -> tuple[int, list[int]]:
    """The browser process and the renderers, as Chromium lists them."""
    session = browser.new_browser_cdp_session()
    try:
        info = session.send("SystemInfo.getProcessInfo")["processInfo"]
    finally:
        session.detach()
    main = next(int(p["id"]) for p in info if p["type"] == "browser")
    return main, [int(p["id"]) for p in info if p["type"] == "renderer"]


def _fixed(pids: list[int]) -> Group:
    return lambda: pids


def _live(browser: Browser, page: Page, cdp: CDPSession, st: BenchStack, seconds: float) -> Live:
    memory_load = _metrics(cdp)
    main, renderers = _processes(browser)
    gateway, recorder = st.pid("gateway"), st.recorder_pid
    groups: dict[str, Group] = {
        "gateway": lambda: [gateway],
        "recorder": lambda: [recorder],
        "chromium": lambda: m.tree(main),
    }
    for pid in renderers:
        groups[f"renderer {pid}"] = _fixed([pid])
    tasks_before = len(page.evaluate("() => window.__bench.longTasks"))
    page.evaluate("() => { window.__bench.measuring = true; }")
    window = measure_window(groups, seconds)
    page.evaluate("() => { window.__bench.measuring = false; }")
    time.sleep(0.2)  # the last samples' frames
    probe = page.evaluate(
        "() => ({changes: window.__bench.changes, arrivals: window.__bench.arrivals,"
        " events: window.__bench.events, newNumbers: window.__bench.newNumbers,"
        " longTasks: window.__bench.longTasks.length})"
    )
    renderer = max(renderers, key=lambda pid: window.cpu[f"renderer {pid}"])
    mem = m.memory(renderer)
    memory_end = _metrics(cdp)
    dom = {k: float(v) for k, v in cdp.send("Memory.getDOMCounters").items()}
    cdp.send("HeapProfiler.collectGarbage")
    heap_after_gc = _metrics(cdp)["JSHeapUsedSize"]
    return Live(
        window=window,
        renderer=renderer,
        renderers=len(renderers),
        samples=[s for s in probe["changes"] if s[3]],
        arrivals=list(probe["arrivals"]),
        events=int(probe["events"]),
        new_numbers=int(probe["newNumbers"]),
        memory_load=memory_load,
        memory_end=memory_end,
        heap_after_gc=heap_after_gc,
        dom=dom,
        renderer_pss=mem.get("Pss", 0),
        renderer_rss=mem.get("Rss", 0),
        chromium_pss=m.pss_sum(m.tree(main)),
        long_tasks=int(probe["longTasks"]) - tasks_before,
    )


# -- the case ----------------------------------------------------------------------------------


def _ms(values: list[float], p: float) -> str:
    return m.fmt(m.percentile(values, p), 0)


def _median(values: list[float]) -> float:
    return m.percentile(values, 50)


def dashboard_case(ctx: Context) -> CaseReport:
    n, recording, loads, seconds = (100, 4, 1, 5.0) if ctx.quick else (1000, 32, 5, 30.0)
    idle_s = 2.0 if ctx.quick else 10.0
    report = CaseReport(
        "dashboard", f"Dashboard: {n:,} channels in the watch list, {recording} recording"
    )
    if not (ROOT / "gateway" / "web" / "dist" / "app.js").is_file():
        raise RuntimeError("the dashboard's assets are not built: run `make web`")
    if not Path(CHROMIUM).exists():
        raise RuntimeError(
            f"Chromium not found at {CHROMIUM}: run tools/ensure_chromium.sh or set CHROMIUM_PATH"
        )
    names = [f"dash{i:04d}" for i in range(n)]
    persons = names[:: n // recording][:recording]
    env = {
        **FAST_START_ENV,
        "PROGRESS_INTERVAL": "1",
        # Auto-record is off for every channel; should anything still ask the site, it is a
        # closed local port that refuses at once.
        "CHATURBATE_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "CHATURBATE_THUMBNAIL_BASE_URL": f"http://127.0.0.1:{free_port()}/ri",
        "AUTORECORD_INTERVAL": "3600",
    }
    workdir = ctx.workdir("dashboard")
    with running_stack(workdir, env) as st:
        asyncio.run(_create_channels(st.recorder_addr, names))
        _start_recording(st, ctx.origin.master(), persons, spread_s=1.0)
        gateway, recorder = st.pid("gateway"), st.recorder_pid
        time.sleep(1.0)
        idle = measure_window(
            {"gateway": lambda: [gateway], "recorder": lambda: [recorder]}, idle_s
        )
        url = st.stack.base_url + "/"
        runs: list[Load] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
            )
            try:
                for i in range(loads):
                    page, _, load = _open(browser, url, n, recording)
                    load.filters = _filters(page, names, recording)
                    page.context.close()
                    runs.append(load)
                    log.info(
                        "dashboard load %d: usable in %.0f ms (%s)",
                        i + 1,
                        load.marks["usableFrame"],
                        json.dumps({k: round(v) for k, v in load.marks.items()}),
                    )
                page, cdp, _ = _open(browser, url, n, recording)
                time.sleep(1.0)
                live = _live(browser, page, cdp, st, seconds)
                page.context.close()
            finally:
                browser.close()
    _report(report, ctx, names, recording, runs, live, idle, seconds, idle_s)
    return report


def _report(
    report: CaseReport,
    ctx: Context,
    names: list[str],
    recording: int,
    runs: list[Load],
    live: Live,
    idle: WindowResult,
    seconds: float,
    idle_s: float,
) -> None:
    n = len(names)
    usable = [r.usable_s for r in runs]
    matched = sum(NEEDLE in name for name in names)
    report.add(
        f"grid usable ({n:,} cards, {recording} recording, live), median / max of "
        f"{len(runs)} cold loads",
        f"{_median(usable):.2f} / {max(usable):.2f} s",
        f"< {USABLE_TARGET_S:g} s",
        max(usable) < USABLE_TARGET_S,
    )
    status = [r.filters["status"] for r in runs]
    text = [r.filters["text"] for r in runs]
    report.add(
        "filter answered on screen, median: status select / search box (incl. 120 ms debounce)",
        f"{_median(status):.0f} / {_median(text):.0f} ms",
    )
    report.add(
        f"page memory after {seconds:.0f} s of live updates: JS heap (after a GC), renderer PSS",
        f"{live.memory_end['JSHeapUsedSize'] / m.MIB:.1f} MiB ({live.heap_after_gc / m.MIB:.1f}), "
        f"{live.renderer_pss / m.MIB:.0f} MiB",
    )
    changed = [s[2] - s[0] for s in live.samples]
    framed = [s[3] - s[0] for s in live.samples]
    arrived = [s[1] - s[0] for s in live.samples]
    report.add(
        "event leaves the recorder -> card changed (frame done), p50",
        f"{m.percentile(framed, 50):.0f} ms",
    )
    report.add(
        f"event leaves the recorder -> card changed (frame done), p99 ({len(framed)} samples)",
        f"{m.percentile(framed, 99):.0f} ms",
        f"< {DELAY_TARGET_MS:g} ms",
        m.percentile(framed, 99) < DELAY_TARGET_MS,
    )
    w = live.window
    gw_page, gw_idle = w.cores("gateway") * 100, idle.cores("gateway") * 100
    renderer_pct = w.cores(f"renderer {live.renderer}") * 100
    report.add(
        "CPU with the page open: its renderer / the gateway (gateway with no page)",
        f"{renderer_pct:.1f} / {gw_page:.1f} % of a core ({gw_idle:.1f} %)",
    )

    # The loads.
    rows = []
    for i, r in enumerate(runs, 1):
        models = r.resources.get("models", {})
        rows.append(
            [
                str(i),
                m.fmt(r.marks.get("usableFrame"), 0),
                m.fmt(models.get("end"), 0),
                m.fmt(r.marks.get("ready"), 0),
                m.fmt(r.marks.get("cards"), 0),
                m.fmt(r.marks.get("live"), 0),
                m.fmt(r.marks.get("recording"), 0),
                f"{r.metrics.get('ScriptDuration', 0) * 1000:.0f}",
                f"{r.metrics.get('RecalcStyleDuration', 0) * 1000:.0f}",
                f"{r.metrics.get('LayoutDuration', 0) * 1000:.0f}",
                _long_tasks(r.long_tasks),
                *(f"{r.filters[k]:.0f}" for k in ("status", "any", "text", "clear")),
            ]
        )
    report.details.append(
        "Loads (ms from the navigation start; each in a fresh browser context, cold cache):\n\n"
        + m.render_table(
            [
                "load",
                "usable (frame done)",
                "/api/models answered",
                "data-ready",
                "all cards",
                "stream live",
                "sessions shown",
                "script",
                "style",
                "layout",
                "long tasks (ms)",
                f"status filter -> {recording}",
                f"back -> {n}",
                f"search -> {matched}",
                f"cleared -> {n}",
            ],
            rows,
        )
    )

    # Delay.
    report.details.append(
        f"Event to card, {seconds:.0f} s of live updates on one page ({live.events} PROGRESS "
        f"events received, {live.new_numbers} with a size, bitrate or completeness other than "
        f"the card's previous event, {len(live.samples)} changed a card's text; ms):\n\n"
        + m.render_table(
            ["from the event's `event_time` to", "p50", "p99", "max"],
            [
                ["its arrival in the page (all events)", *_row(live.arrivals)],
                ["its arrival in the page (events that changed a card)", *_row(arrived)],
                ["the card's text changed (DOM)", *_row(changed)],
                ["the frame showing it done (setTimeout 0 after the change)", *_row(framed)],
            ],
        )
    )

    # Memory and CPU.
    ml, me = live.memory_load, live.memory_end
    report.details.append(
        "The open page: memory and CPU\n\n"
        + m.render_table(
            ["measure", "after load", f"after {seconds:.0f} s live"],
            [
                [
                    "JS heap used (total)",
                    f"{ml['JSHeapUsedSize'] / m.MIB:.1f} ({ml['JSHeapTotalSize'] / m.MIB:.1f}) MiB",
                    f"{me['JSHeapUsedSize'] / m.MIB:.1f} ({me['JSHeapTotalSize'] / m.MIB:.1f}) MiB",
                ],
                ["JS heap used after a forced GC", "", f"{live.heap_after_gc / m.MIB:.1f} MiB"],
                ["DOM nodes", f"{ml['Nodes']:.0f}", f"{live.dom.get('nodes', 0):.0f}"],
                [
                    "JS event listeners",
                    f"{ml['JSEventListeners']:.0f}",
                    f"{live.dom.get('jsEventListeners', 0):.0f}",
                ],
                [
                    "renderer process PSS (RSS)",
                    "",
                    f"{live.renderer_pss / m.MIB:.0f} ({live.renderer_rss / m.MIB:.0f}) MiB",
                ],
                ["all Chromium processes, PSS", "", f"{live.chromium_pss / m.MIB:.0f} MiB"],
                [
                    "layouts / style recalcs (count)",
                    f"{ml['LayoutCount']:.0f} / {ml['RecalcStyleCount']:.0f}",
                    f"{me['LayoutCount']:.0f} / {me['RecalcStyleCount']:.0f}",
                ],
                [
                    "script / style / layout time (cumulative)",
                    _durations(ml),
                    _durations(me),
                ],
                [
                    "per second of live updates: script / style / layout; frames laid out",
                    "",
                    f"{_per_second(ml, me, 'ScriptDuration', seconds)} / "
                    f"{_per_second(ml, me, 'RecalcStyleDuration', seconds)} / "
                    f"{_per_second(ml, me, 'LayoutDuration', seconds)} ms; "
                    f"{(me['LayoutCount'] - ml['LayoutCount']) / seconds:.0f}",
                ],
            ],
        )
        + "\n"
        + m.render_table(
            ["CPU (% of a core)", f"no page ({idle_s:.0f} s)", f"page open ({seconds:.0f} s)"],
            [
                [
                    "gateway",
                    f"{idle.cores('gateway') * 100:.1f}",
                    f"{w.cores('gateway') * 100:.1f}",
                ],
                [
                    "recorder",
                    f"{idle.cores('recorder') * 100:.1f}",
                    f"{w.cores('recorder') * 100:.1f}",
                ],
                ["the page's renderer", "", f"{w.cores(f'renderer {live.renderer}') * 100:.1f}"],
                ["all Chromium processes", "", f"{w.cores('chromium') * 100:.1f}"],
                [
                    "machine busy (2 cores = 200)",
                    f"{idle.system.busy * 200:.0f}",
                    f"{w.system.busy * 200:.0f}",
                ],
            ],
        )
    )
    report.notes += [
        f"{n:,} channels created over gRPC (`autoRecord` off, usernames dash0000...; "
        f"`AUTORECORD_INTERVAL` 3600 s and the site at a closed port, so nothing is checked "
        f"upstream; their cards say PAUSED), {recording} of them recording the bench origin "
        "through `POST /api/start` with `person` = the username (started over 1 s), "
        "`PROGRESS_INTERVAL` 1 s: about "
        f"{recording} PROGRESS events/s. Debian's Chromium "
        f"({_chromium_version()}), headless, driven by Playwright, viewport 1280x860, default "
        "density and sort (online first); cards use `content-visibility: auto`, so all "
        f"{n:,} are in the DOM but only those on screen are laid out and painted.",
        "Usable: `body[data-ready=true]`, all the cards in `#grid`, `#connection` live and the "
        f"header counting {recording} recording (the sessions arrived with the stream's "
        "snapshot); each time is taken in a MutationObserver callback right after the page's "
        "script changed the DOM, and 'frame done' is a `setTimeout(0)` posted from there, which "
        "runs once the frame being built (style, layout, paint) is finished. Times are from the "
        "navigation start (`performance.timeOrigin`); Playwright's own wait saw it "
        f"{_median([r.wall_s for r in runs]):.2f} s (median) after `page.goto` was called. "
        "Filters: from the `input`/`change` event (Playwright's `fill` / `select_option`) to "
        "the frame done after the grid holds the expected cards; the search box waits 120 ms "
        "after the last keystroke before it filters (the page's debounce).",
        "Event to card: the probe wraps `EventSource`; for each `progress` event it keeps, per "
        "card, the latest one received (`event_time`, set by the recorder when it publishes, to "
        "the millisecond, truncated; arrival by `Date.now()`). A MutationObserver on `#grid` "
        "sees a card's size, bitrate or completeness text change and pairs it with that "
        "card's latest event (the card shows the newest session the page has); the event is "
        "then used up, so one event gives at most one sample. An event whose numbers render "
        "as before (the same bytes as the second before: the recording grows as ffmpeg gets "
        "each 2 s segment; or new numbers that round to the same text) changes nothing and "
        "gives no sample; the next one that does is measured from its own `event_time`. The "
        "heading above counts the events with new numbers and those that changed a card's "
        "text. Same machine, same clock.",
        f"Memory: CDP `Performance.getMetrics` (JSHeapUsedSize, Nodes) and "
        f"`Memory.getDOMCounters` after {seconds:.0f} s of live updates, then a forced GC "
        "(`HeapProfiler.collectGarbage`); PSS from `/proc/<pid>/smaps_rollup` of the page's "
        f"renderer (of {live.renderers} renderer processes, the one that used the most CPU "
        "over the window). "
        f"{live.long_tasks} long task(s) (> 50 ms) during the live window.",
        f"What the page costs: the gateway's CPU with no page (over {idle_s:.0f} s before the "
        f"browser started) against with the page open (the live window; the page re-reads "
        "`GET /api/models`, all channels, every 10 s and follows `/api/events`).",
    ]
    if ctx.quick:
        report.notes.append("Quick mode: a smoke run, small and short; not the issue's sizes.")


def _row(values: list[float]) -> list[str]:
    return [_ms(values, 50), _ms(values, 99), m.fmt(max(values) if values else None, 0)]


def _durations(metrics: dict[str, float]) -> str:
    return (
        " / ".join(
            f"{metrics.get(k, 0) * 1000:.0f}"
            for k in ("ScriptDuration", "RecalcStyleDuration", "LayoutDuration")
        )
        + " ms"
    )


def _per_second(before: dict[str, float], after: dict[str, float], key: str, s: float) -> str:
    return f"{(after[key] - before[key]) * 1000 / s:.0f}"


def _long_tasks(tasks: list[list[float]]) -> str:
    if not tasks:
        return "-"
    return ", ".join(f"{d:.0f}" for _, d in tasks[:6]) + (" ..." if len(tasks) > 6 else "")


def _chromium_version() -> str:
    try:
        out = subprocess.run(
            [CHROMIUM, "--version"], capture_output=True, text=True, timeout=30, check=False
        ).stdout
    except OSError:
        return "version unknown"
    return out.strip().splitlines()[0] if out.strip() else "version unknown"
