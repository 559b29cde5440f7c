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
  }

  viewOf(key) {
    return cardView(key, this.state.channels.get(key) || null, this.state.sessions.get(key) || null);
  }

  /** Recompute the views of `keys` (all when null); patch their cards; re-filter and re-order. */
  update(prefs, keys = null) {
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
    this.place(wanted);
    this.order = visible.map((v) => v.key);
    return visible.length;
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
      if (card && card.view && card.view.running) tick(card, now);
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
