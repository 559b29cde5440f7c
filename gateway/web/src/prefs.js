// What the page remembers in this browser: density, filters and sort.

const KEY = "streamrec.dashboard.v1";
export const DEFAULTS = { density: "grid", text: "", status: "", site: "", sort: "online" };
export const DENSITIES = ["grid", "expanded", "compact"];
export const SORTS = [
  ["online", "Online first"],
  ["name", "A–Z"],
  ["size", "Size recorded"],
];

export function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || "{}");
    const prefs = { ...DEFAULTS, ...(saved && typeof saved === "object" ? saved : {}) };
    if (!DENSITIES.includes(prefs.density)) prefs.density = DEFAULTS.density;
    if (!SORTS.some(([k]) => k === prefs.sort)) prefs.sort = DEFAULTS.sort;
    for (const k of ["text", "status", "site"]) prefs[k] = String(prefs[k] || "");
    return prefs;
  } catch {
    return { ...DEFAULTS };
  }
}

export function save(prefs) {
  try {
    localStorage.setItem(KEY, JSON.stringify(prefs));
  } catch {
    // Private mode or a full storage: the page works, it only forgets.
  }
}
