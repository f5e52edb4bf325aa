import { readFileSync } from "node:fs";
import { allTargets } from "./test/fuzz/targets/index.js";
const [name, file] = process.argv.slice(2);
const target = allTargets.find((t) => t.name === name)!;
await target.start?.();
const t = performance.now();
try { await target.check(new Uint8Array(readFileSync(file))); console.log("ok"); } catch (e) { console.log("FAIL", (e as Error).message.slice(0, 300)); }
console.log(name, file, (performance.now() - t).toFixed(0), "ms");
await target.stop?.();
