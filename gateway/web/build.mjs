// Builds the dashboard's assets into gateway/web/dist: one ES module per page (app.js,
// login.js) with hls.js split into a chunk loaded only when something plays, the styles, and
// hls.js's worker (the player transmuxes off the main thread). `npm run build`; the Makefile
// runs it when a source changes. esbuild because it is one small, fast, maintained binary
// from npm: no framework, no config files, builds in well under a second.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { createRequire } from "node:module";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "dist");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });

await build({
  entryPoints: { app: join(here, "src/main.js"), login: join(here, "src/login.js") },
  bundle: true,
  splitting: true,
  format: "esm",
  minify: true,
  sourcemap: true,
  target: ["chrome100", "firefox100", "safari15"],
  outdir: out,
  chunkNames: "chunks/[name]-[hash]",
  legalComments: "linked",
  logLevel: "warning",
});
await build({
  entryPoints: { app: join(here, "src/app.css") },
  bundle: true,
  minify: true,
  outdir: out,
  logLevel: "warning",
});
const require = createRequire(import.meta.url);
copyFileSync(
  join(dirname(require.resolve("hls.js/package.json")), "dist/hls.worker.js"),
  join(out, "hls.worker.js"),
);
