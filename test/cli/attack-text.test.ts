/**
 * `aegis attack` on a model that takes token ids (fixtures/models/bert_tiny.onnx): the text
 * attacks run, the report lists the substituted tokens per data row (as text with --vocab)
 * exactly where the written adversarial ids differ, and attacks on continuous inputs are
 * refused with exit 7.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { Ajv } from "ajv";
import { encodeNpz, parseNpz } from "../../src/data/index.js";
import { createRng } from "../../src/data/random.js";
import { TokenClassifier } from "../../src/engine/token-classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { float32, type Tensor, tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const model = new URL("../../fixtures/models/bert_tiny.onnx", import.meta.url).pathname;
const schema = JSON.parse(readFileSync(new URL("../../schema/attack-report.schema.json", import.meta.url), "utf8"));
const tmp = mkdtempSync(join(tmpdir(), "aegis-attack-text-"));
const N = 8;
const T = 10;
const rng = createRng(5);
const ids = Array.from({ length: N * T }, () => 1 + rng.int(59));
const data = join(tmp, "ids.npz");
// Labelled with the model's own predictions, so every row is correctly classified before the attack.
let labels: number[] = [];

before(async () => {
  const clf = await TokenClassifier.fromFile(model, { threads: 1 });
  const out = await clf.predict(float32([N, T], ids));
  await clf.release();
  labels = Array.from({ length: N }, (_, i) => argmaxRow(out, i));
  writeFileSync(data, encodeNpz({ x: tensor("int64", [N, T], BigInt64Array.from(ids, BigInt)), y: tensor("int64", [N], BigInt64Array.from(labels, BigInt)) }));
});
const vocab = join(tmp, "vocab.txt");
writeFileSync(vocab, `${Array.from({ length: 60 }, (_, id) => `tok${id}`).join("\n")}\n`);

interface Changes {
  sample: number;
  changes: { position: number; from: string; to: string }[];
}

/** Runs an attack writing adv.npz and a JSON report; checks the report against the ids written and returns it. */
async function attackRun(name: string, extra: string[]) {
  const out = join(tmp, `${name}.npz`);
  const report = join(tmp, `${name}.json`);
  const r = await aegis(["attack", name, "--model", model, "--data", data, "--eps", "1", "--vocab", vocab, "--out", out, "--json", report, ...extra]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(report, "utf8")) as { samples: number; success_rate: number; changed_tokens: Changes[] };
  const validate = new Ajv({ allErrors: true }).compile(schema);
  assert.ok(validate(json), JSON.stringify(validate.errors));
  const adv = parseNpz(readFileSync(out)).get("x") as Tensor;
  return { json, adv: Array.from(adv.data, Number) };
}

/** The report's changes are exactly where the adversarial ids of each attacked row differ from the data's. */
function assertChangesMatch(changes: Changes[], rows: number[], adv: number[]) {
  const listed = new Map(changes.map((c) => [c.sample, c.changes]));
  rows.forEach((row, k) => {
    const expected = [];
    for (let p = 0; p < T; p++) {
      const before = ids[row * T + p];
      const after = adv[k * T + p];
      if (before !== after) expected.push({ position: p, from: `tok${before}`, to: `tok${after}` });
    }
    assert.deepEqual(listed.get(row) ?? [], expected, `row ${row}`);
    assert.ok(expected.length <= 1, `row ${row}: at most ε = 1 token changed`);
  });
}

test("hotflip on token ids reports the substituted tokens as text, per data row, where the written ids differ", async () => {
  const { json, adv } = await attackRun("hotflip", []);
  assert.ok(json.changed_tokens.length > 0, "some tokens changed");
  assert.ok(json.success_rate > 0);
  assertChangesMatch(json.changed_tokens, [...Array(N).keys()], adv);
});

test("embedding-pgd towards row 0's class leaves out the rows already of that class and still names data rows", async () => {
  const { json, adv } = await attackRun("embedding-pgd", ["--target-class", String(labels[0])]);
  const rows = [...Array(N).keys()].filter((i) => labels[i] !== labels[0]);
  assert.ok(rows.length > 0 && rows[0] > 0, "some rows are attacked, and their run positions differ from their data rows");
  assert.equal(json.samples, rows.length);
  assertChangesMatch(json.changed_tokens, rows, adv);
});

test("an attack on continuous inputs is refused for token ids with exit 7, pointing at --list", async () => {
  const r = await aegis(["attack", "pgd", "--model", model, "--data", data]);
  assert.equal(r.code, 7);
  assert.match(r.stderr, /pgd needs .*aegis attack --list/);
});
