#!/usr/bin/env node
// Runs the JavaScript that `npm install` compiled into dist/ when it matches src/ exactly
// (bin/compiled.js); otherwise, in a checkout edited since or never built, the TypeScript
// through tsx. Both report errors with TypeScript file names and lines.
import { fileURLToPath, pathToFileURL } from "node:url";
import { compiledEntry } from "./compiled.js";

const entry = compiledEntry(fileURLToPath(new URL("..", import.meta.url)));
if (entry) {
  process.setSourceMapsEnabled(true);
  await import(pathToFileURL(entry).href);
} else {
  const { register } = await import("tsx/esm/api");
  register();
  await import("../src/cli/main.ts");
}
