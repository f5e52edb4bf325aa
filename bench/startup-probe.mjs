// `node --import` this: on exit, the process writes its CPU time and peak memory as JSON to
// the file named by $AEGIS_STARTUP_PROBE (bench/startup.ts reads it).
import { writeFileSync } from "node:fs";

process.on("exit", () => {
  const usage = process.resourceUsage();
  writeFileSync(process.env.AEGIS_STARTUP_PROBE, JSON.stringify({ cpuMicros: usage.userCPUTime + usage.systemCPUTime, maxRssKb: usage.maxRSS }));
});
