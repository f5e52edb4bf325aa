import { execFile, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { stringify } from "yaml";

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

/** Runs promtool with `args` in `cwd`; rejects when promtool is absent. */
export function promtool(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve, reject) =>
    execFile("promtool", args, { cwd }, (error, stdout, stderr) => {
      if (error && (error as NodeJS.ErrnoException).code === "ENOENT") reject(new Error("promtool is needed for this test (apt-get install prometheus)"));
      else resolve({ code: error ? Number(error.code) : 0, output: stdout + stderr });
    }),
  );
}

/** Writes `rules` and a `promtool test rules` file of `tests` (evaluated every minute) into `dir`, and runs it. */
export async function promtoolUnitTest(dir: string, name: string, rules: string, tests: object[]): Promise<{ code: number; output: string }> {
  writeFileSync(join(dir, `${name}.rules.yml`), rules);
  writeFileSync(join(dir, `${name}.test.yml`), stringify({ rule_files: [`${name}.rules.yml`], evaluation_interval: "1m", tests }));
  return promtool(["test", "rules", `${name}.test.yml`], dir);
}
