/**
 * Copies a sample of the permissively licensed ("use": "train") rows of the development
 * corpus (../shared/data/llm) into fixtures/llm/injection-train.jsonl, so the
 * prompt-injection tests run on a clean clone without ../shared. Eval-only rows
 * (non-commercial or unlicensed sources) are never copied. At most 150 rows per source,
 * taken in file order (the corpus is already shuffled with a fixed seed).
 *
 *   node --import tsx scripts/copy-injection-fixtures.ts [--data ../shared/data/llm]
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { writeFileAtomic } from "../src/fs.js";
import { readJsonl } from "../src/llm/injection/data.js";

const PER_SOURCE = 150;
const { values: args } = parseArgs({ options: { data: { type: "string", default: resolve(import.meta.dirname, "../../shared/data/llm") } } });
const rows = [...readJsonl(join(args.data, "prompts.jsonl")), ...readJsonl(join(args.data, "harmful.jsonl"))].filter((r) => r.use === "train");
const taken = new Map<string, number>();
const lines: string[] = [];
for (const r of rows) {
  const n = taken.get(r.source) ?? 0;
  if (n >= PER_SOURCE) continue;
  taken.set(r.source, n + 1);
  lines.push(JSON.stringify({ text: r.text, label: r.label, source: r.source, kind: r.kind, license: r.license }));
}
const out = resolve(import.meta.dirname, "../fixtures/llm/injection-train.jsonl");
writeFileAtomic(out, `${lines.join("\n")}\n`);
process.stderr.write(`wrote ${lines.length} rows from ${taken.size} sources to ${out}\n`);
