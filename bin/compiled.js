/**
 * Whether dist/ holds JavaScript compiled from exactly the sources on disk. scripts/build.ts
 * (run by `npm install` as the prepare script, or `npm run build`) records a SHA-256 of
 * src/, tsconfig.json and itself; every start recomputes it (about 20 ms for 3 MB), so an
 * edit, a checkout, an added or a deleted file makes dist/ stale and bin/aegis.js runs the
 * TypeScript through tsx instead: nobody runs old compiled code by accident.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";

export const BUILD_DIR = "dist";
export const STAMP_FILE = "source.sha256";
const SOURCES = ["src", "tsconfig.json", "scripts/build.ts"];

/** SHA-256 over the paths and contents of every source file under `root`, in a fixed order. */
export function sourceHash(root) {
  const hash = createHash("sha256");
  for (const path of SOURCES.flatMap((source) => filesUnder(root, source)).sort()) {
    const content = readFileSync(join(root, path));
    hash.update(`${path}\0${content.length}\0`);
    hash.update(content);
  }
  return hash.digest("hex");
}

/** The compiled CLI's entry when dist/ was built from the sources as they are now, else undefined. */
export function compiledEntry(root) {
  let stamp;
  try {
    stamp = readFileSync(join(root, BUILD_DIR, STAMP_FILE), "utf8").trim();
  } catch {
    return undefined;
  }
  return stamp === sourceHash(root) ? join(root, BUILD_DIR, "cli", "main.js") : undefined;
}

/** Paths relative to `root`, with forward slashes, of the files at or under `path` (none if it does not exist). */
export function filesUnder(root, path) {
  let stats;
  try {
    stats = statSync(join(root, path));
  } catch {
    return [];
  }
  if (!stats.isDirectory()) return [path];
  return readdirSync(join(root, path)).flatMap((name) => filesUnder(root, `${path}/${name}`));
}
