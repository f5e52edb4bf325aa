/**
 * How fast `aegis` starts: `--version`, `--help` and `inspect` on the bundled CNN, from the
 * compiled dist/ (what `npm install` builds), from the TypeScript through tsx (a checkout
 * edited since the build) and, as the CLI started before it loaded commands lazily, from
 * the TypeScript with every command loaded; bare Node is the reference, in the same run.
 * Each figure is the median of several runs: wall time, CPU time (user + system, steadier
 * than wall time on a loaded machine) and peak resident memory, which each child reports
 * as it exits (bench/startup-probe.mjs).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { compiledEntry } from "../bin/compiled.js";
import { buildDist } from "../scripts/build.js";

const root = fileURLToPath(new URL("..", import.meta.url));
const probe = fileURLToPath(new URL("./startup-probe.mjs", import.meta.url));
const RUNS = 7;
const TARGET = { seconds: 0.5, mb: 150 };

interface Run {
  seconds: number;
  cpuSeconds: number;
  mb: number;
}

function once(nodeArgs: string[], report: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn(process.execPath, ["--import", probe, ...nodeArgs], {
      cwd: root,
      env: { ...process.env, AEGIS_STARTUP_PROBE: report },
      stdio: "ignore",
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (performance.now() - started) / 1000;
      if (code !== 0) return reject(new Error(`node ${nodeArgs.join(" ")} exited ${code}`));
      const { cpuMicros, maxRssKb } = JSON.parse(readFileSync(report, "utf8")) as { cpuMicros: number; maxRssKb: number };
      resolve({ seconds, cpuSeconds: cpuMicros / 1e6, mb: maxRssKb / 1024 });
    });
  });
}

const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function measure(nodeArgs: string[], dir: string): Promise<Run> {
  const runs: Run[] = [];
  // The first run warms the file cache and tsx's transpile cache; it is not counted.
  for (let i = 0; i <= RUNS; i++) runs.push(await once(nodeArgs, join(dir, "probe.json")));
  runs.shift();
  return { seconds: median(runs.map((r) => r.seconds)), cpuSeconds: median(runs.map((r) => r.cpuSeconds)), mb: median(runs.map((r) => r.mb)) };
}

export async function benchStartup(): Promise<string[]> {
  if (!compiledEntry(root)) await buildDist(root);
  const dir = mkdtempSync(join(tmpdir(), "aegis-bench-startup-"));
  const inspect = ["inspect", "models/mnist-cnn.onnx"];
  const allCommands = `import { COMMANDS } from "./src/cli/catalog.ts"; for (const c of COMMANDS) await c.load(); console.log("loaded");`;
  try {
    const load = loadavg()[0];
    const bare = await measure(["-e", ""], dir);
    const rows: [string, Run][] = [
      ["aegis --version, compiled", await measure(["bin/aegis.js", "--version"], dir)],
      ["aegis --version, from TypeScript (tsx)", await measure(["--import", "tsx", "src/cli/main.ts", "--version"], dir)],
      [
        "every command loaded, from TypeScript (how --version started before)",
        await measure(["--import", "tsx", "--input-type=module", "-e", allCommands], dir),
      ],
      ["aegis --help, compiled", await measure(["bin/aegis.js", "--help"], dir)],
      ["aegis inspect models/mnist-cnn.onnx, compiled", await measure(["bin/aegis.js", ...inspect], dir)],
      ["aegis inspect models/mnist-cnn.onnx, from TypeScript (tsx)", await measure(["--import", "tsx", "src/cli/main.ts", ...inspect], dir)],
    ];
    const figures = (r: Run) => `${r.seconds.toFixed(2)} s wall, ${r.cpuSeconds.toFixed(2)} s CPU, ${r.mb.toFixed(0)} MB peak`;
    return [
      `start-up, median of ${RUNS} runs (load average ${load.toFixed(1)} on ${availableParallelism()} cores; targets for --version: ${TARGET.seconds} s, ${TARGET.mb} MB)`,
      `  bare node -e "": ${figures(bare)}`,
      ...rows.map(([label, r]) => `  ${label}: ${figures(r)}; ${(r.cpuSeconds / bare.cpuSeconds).toFixed(1)}× bare Node's CPU`),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
