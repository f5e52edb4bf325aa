import { spawn } from "node:child_process";

/**
 * Runs Prometheus's own linter (`promtool check metrics`, Debian's prometheus package,
 * which .ci/run installs) over an exposition and resolves with its complaints: what a
 * Prometheus user's CI would reject. It fails, rather than passing, when promtool is absent.
 */
export function promtoolProblems(exposition: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("promtool", ["check", "metrics"]);
    let output = "";
    child.stdout.on("data", (d) => {
      output += d;
    });
    child.stderr.on("data", (d) => {
      output += d;
    });
    child.on("error", (e) => reject(new Error(`promtool is needed for this test (apt-get install prometheus): ${e.message}`)));
    child.on("close", (code) => resolve(code === 0 ? "" : output || `promtool exited ${code}`));
    child.stdin.end(exposition);
  });
}
