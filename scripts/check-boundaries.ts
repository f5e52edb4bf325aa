/**
 * The architecture's import rules (DESIGN.md, "Architecture"), checked on every `npm run
 * lint` and in `npm test`:
 *  - a capability (attacks, defenses, audit, llm, supplychain, threat, gateway and those to
 *    come) is used from outside only through its index.ts, or an index.ts the package
 *    publishes as a subpath (package.json "exports", such as aegis-ml/llm/redteam);
 *  - the layers below the capabilities (onnx, autodiff, engine, data, report) import no
 *    capability and never the CLI: data flows one way, nothing reaches up;
 *  - only bin/ imports the CLI;
 *  - no two top-level folders import each other, directly or through others.
 * Each violation names the importing file, the import and the rule.
 *
 *   node --import tsx scripts/check-boundaries.ts [src]
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative, sep } from "node:path";

export const CAPABILITIES = ["attacks", "defenses", "audit", "llm", "supplychain", "threat", "gateway", "privacy", "campaigns", "monitoring"];
export const FOUNDATIONS = ["onnx", "autodiff", "engine", "data", "report"];

export interface Violation {
  file: string;
  specifier: string;
  rule: string;
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith(".ts") ? [path] : [];
  });
}

/** The top-level folder of a path inside `src`, or null for a file at its root (the shared errors, fs, tensor…). */
function folderOf(src: string, path: string): string | null {
  const parts = relative(src, path).split(sep);
  return parts.length > 1 ? parts[0] : null;
}

/** The index files a package.json beside `src` publishes as subpaths, relative to `src`. */
function publishedIndexes(src: string): Set<string> {
  const manifest = join(src, "..", "package.json");
  if (!existsSync(manifest)) return new Set();
  const exports = (JSON.parse(readFileSync(manifest, "utf8")) as { exports?: Record<string, string> }).exports ?? {};
  return new Set(Object.values(exports).map((target) => normalize(relative(src, join(src, "..", target))).replace(/\.ts$/, ".js")));
}

export function boundaryViolations(src: string): Violation[] {
  const violations: Violation[] = [];
  const published = publishedIndexes(src);
  const edges = new Map<string, Set<string>>();
  for (const file of sourceFiles(src)) {
    const from = folderOf(src, file);
    for (const match of readFileSync(file, "utf8").matchAll(IMPORT)) {
      const specifier = match[1] ?? match[2];
      const target = normalize(join(dirname(file), specifier));
      const to = folderOf(src, target);
      if (to === null || to === from) continue;
      const where = { file: relative(src, file), specifier };
      if (from !== null) {
        if (!edges.has(from)) edges.set(from, new Set());
        edges.get(from)?.add(to);
      }
      if (to === "cli") violations.push({ ...where, rule: "only bin/ imports the CLI" });
      else if (from !== null && FOUNDATIONS.includes(from) && CAPABILITIES.includes(to))
        violations.push({ ...where, rule: `${from}/ is a foundation: it must not import the capability ${to}/` });
      else if (CAPABILITIES.includes(to) && target !== join(src, to, "index.js") && !published.has(relative(src, target)))
        violations.push({ ...where, rule: `${to}/ is a capability: import it through its index.ts, not a file inside it` });
    }
  }
  for (const cycle of folderCycles(edges))
    violations.push({ file: `${cycle[0]}/`, specifier: cycle.join(" → "), rule: "top-level folders must not import each other in a cycle" });
  return violations;
}

/** Each cycle among folders once, as the path that closes it. */
function folderCycles(edges: Map<string, Set<string>>): string[][] {
  const cycles: string[][] = [];
  const seen = new Set<string>();
  const visit = (node: string, path: string[]) => {
    for (const next of edges.get(node) ?? []) {
      const at = path.indexOf(next);
      if (at >= 0) {
        const cycle = [...path.slice(at), next];
        const key = [...cycle.slice(0, -1)].sort().join(",");
        if (!seen.has(key)) {
          seen.add(key);
          cycles.push(cycle);
        }
      } else visit(next, [...path, next]);
    }
  };
  for (const node of edges.keys()) visit(node, [node]);
  return cycles;
}

if (process.argv[1] && normalize(process.argv[1]) === normalize(new URL(import.meta.url).pathname)) {
  const src = process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), "..", "src");
  const violations = boundaryViolations(src);
  for (const v of violations) process.stderr.write(`${v.file}: import "${v.specifier}": ${v.rule}\n`);
  if (violations.length > 0) {
    process.stderr.write(`${violations.length} import boundary violation(s)\n`);
    process.exit(1);
  }
}
