// The watch-list grid: keyed cards, created once, patched when their view changes, moved only
// when the order changes. A change to one channel touches one card.

import { createCard, patchCard, tick } from "./cards.js";
import { cardKeys } from "./store.js";
import { cardView, compare, matches } from "./view.js";

export class Grid {
  constructor(container, state) {
    this.container = container;
    this.state = state;
    this.cards = new Map(); // key -> card (also for cards filtered out, to reuse)
    this.order = [];
    this.selected = new Set();
    this.views = new Map();
    this.prefs = null;
  }

  viewOf(key) {
    return cardView(key, this.state.channels.get(key) || null, this.state.sessions.get(key) || null);
  }

  /** Recompute the views of `keys` (all when null); patch their cards; re-filter and re-order
   * only when something that filtering or order depends on changed (a PROGRESS event, the
   * most frequent, usually changes a few numbers on one card and nothing else). */
  update(prefs, keys = null) {
    if (keys !== null && prefs === this.prefs && this.patchOnly(prefs, keys)) return this.order.length;
    this.prefs = prefs;
    const all = cardKeys(this.state);
    for (const key of [...this.views.keys()]) {
      if (!all.has(key)) {
        this.views.delete(key);
        this.cards.delete(key);
        this.selected.delete(key);
      }
    }
    for (const key of keys === null ? all : keys) {
      if (all.has(key)) this.views.set(key, this.viewOf(key));
    }
    for (const key of all) if (!this.views.has(key)) this.views.set(key, this.viewOf(key));
    const visible = [...this.views.values()].filter((v) => matches(v, prefs)).sort(compare(prefs.sort));
    const now = Date.now();
    const wanted = visible.map((view) => {
      let card = this.cards.get(view.key);
      if (!card) {
        card = createCard(view);
        this.cards.set(view.key, card);
      } else if (card.view !== view) {
        patchCard(card, view, this.state.events.get(view.key) || null, now);
      }
      card.parts.check.checked = this.selected.has(view.key);
      return card.el;
    });
    const order = visible.map((v) => v.key);
    if (order.length !== this.order.length || order.some((k, i) => k !== this.order[i])) this.place(wanted);
    this.order = order;
    return visible.length;
  }

  /** Patch the cards of `keys` when none of them appears, disappears or moves; false when a
   * full update is needed. */
  patchOnly(prefs, keys) {
    const fresh = [];
    for (const key of keys) {
      const old = this.views.get(key);
      const exists = this.state.channels.has(key) || this.state.sessions.has(key);
      if (!old || !exists) return false;
      const view = this.viewOf(key);
      if (matches(view, prefs) !== matches(old, prefs)) return false;
      if (view.badge.group !== old.badge.group) return false;
      if (prefs.sort === "size" && view.bytes !== old.bytes) return false;
      fresh.push(view);
    }
    const now = Date.now();
    for (const view of fresh) {
      this.views.set(view.key, view);
      const card = this.cards.get(view.key);
      if (card) patchCard(card, view, this.state.events.get(view.key) || null, now);
    }
    return true;
  }

  /** Recent events changed (the expanded density shows them). */
  patchEvents(key) {
    const card = this.cards.get(key);
    const view = this.views.get(key);
    if (card && view) patchCard(card, view, this.state.events.get(key) || null, Date.now());
  }

  place(wanted) {
    const box = this.container;
    const keep = new Set(wanted);
    for (const child of [...box.children]) if (!keep.has(child)) child.remove();
    let cursor = box.firstElementChild;
    for (const el of wanted) {
      if (el === cursor) {
        cursor = cursor.nextElementSibling;
      } else {
        box.insertBefore(el, cursor);
      }
    }
  }

  tick() {
    const now = Date.now();
    for (const key of this.order) {
      const card = this.cards.get(key);
      if (card && card.view) tick(card, now);
    }
  }

  counts() {
    let online = 0;
    let recording = 0;
    for (const view of this.views.values()) {
      if (view.running) recording += 1;
      if (view.running || view.badge.group === "online") online += 1;
    }
    return { channels: this.state.channels.size, online, recording, shown: this.order.length };
  }
}
