/** The import rules of DESIGN.md hold for src/, and the check catches a deliberately bad import. */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { boundaryViolations } from "../../scripts/check-boundaries.js";

const src = fileURLToPath(new URL("../../src", import.meta.url));

test("src/ keeps the import boundaries: capabilities through their index.ts, foundations never reaching up, no folder cycles", () => {
  assert.deepEqual(boundaryViolations(src), []);
});

test("the check names the file and the import of each kind of violation", () => {
  const tree = mkdtempSync(join(tmpdir(), "aegis-boundaries-"));
  const write = (path: string, text: string) => {
    mkdirSync(dirname(join(tree, path)), { recursive: true });
    writeFileSync(join(tree, path), text);
  };
  write("attacks/index.ts", 'export { pgd } from "./evasion/pgd.js";\n');
  write("attacks/evasion/pgd.ts", "export const pgd = 1;\n");
  write("defenses/index.ts", 'export { train } from "./trainers/train.js";\n');
  // A capability reaching into another's file, the deliberately bad import of the issue.
  write("defenses/trainers/train.ts", 'import { pgd } from "../../attacks/evasion/pgd.js";\nexport const train = pgd;\n');
  // A foundation reaching up to a capability (through its index, still wrong).
  write("engine/classifier.ts", 'import { train } from "../defenses/index.js";\nexport const c = train;\n');
  write("cli/main.ts", "export const main = 1;\n");
  write("report/html.ts", 'export { main } from "../cli/main.js";\n');
  // A cycle between two capabilities, each through the other's index.
  write("audit/index.ts", 'import { x } from "../threat/index.js";\nexport const a = x;\n');
  write("threat/index.ts", 'import { a } from "../audit/index.js";\nexport const x = a;\n');
  const violations = boundaryViolations(tree).map((v) => `${v.file}: ${v.specifier}: ${v.rule}`);
  assert.deepEqual(violations.sort(), [
    "audit/: audit → threat → audit: top-level folders must not import each other in a cycle",
    "defenses/trainers/train.ts: ../../attacks/evasion/pgd.js: attacks/ is a capability: import it through its index.ts, not a file inside it",
    "engine/classifier.ts: ../defenses/index.js: engine/ is a foundation: it must not import the capability defenses/",
    "report/html.ts: ../cli/main.js: only bin/ imports the CLI",
  ]);
});
