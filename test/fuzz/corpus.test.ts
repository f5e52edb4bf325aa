/**
 * Every input the fuzzers ever broke a parser with (fixtures/fuzz/<target>/) is replayed
 * through its target's property on every run, so a fixed crash stays fixed.
 */
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { test } from "node:test";
import { CORPUS, corpusOf } from "./harness.js";
import { allTargets } from "./targets/index.js";

test("every corpus folder belongs to a fuzz target", () => {
  const names = allTargets.map((t) => t.name);
  for (const folder of readdirSync(CORPUS)) assert.ok(names.includes(folder), `fixtures/fuzz/${folder} matches no target (${names.join(", ")})`);
});

for (const target of allTargets) {
  const corpus = corpusOf(target.name);
  if (corpus.length === 0) continue;
  test(`${target.name}: the ${corpus.length} saved crash input${corpus.length === 1 ? "" : "s"} now succeed or fail cleanly`, async () => {
    await target.start?.();
    try {
      for (const { file, bytes } of corpus) await target.check(bytes).catch((e: Error) => assert.fail(`fixtures/fuzz/${target.name}/${file}: ${e.message}`));
    } finally {
      await target.stop?.();
    }
  });
}
