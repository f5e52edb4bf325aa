import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AegisError } from "../../src/errors.js";
import { evaluatePipeline, formatEvalReport, loadLabelledJsonl, percentile } from "../../src/llm/evaluate.js";
import { createPipeline } from "../../src/llm/pipeline.js";
import { piiScanner } from "../../src/llm/scanners/pii.js";
import { secretsScanner } from "../../src/llm/scanners/secrets.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-llm-eval-"));
after(() => rmSync(dir, { recursive: true, force: true }));

const ROWS = [
  { text: "my card is 4111 1111 1111 1111", label: 1, kind: "pii", use: "train" },
  { text: "write to alice@example.com", label: 1, kind: "pii", use: "eval-only" },
  { text: "key AKIAZ2X7QWERTYUIOPAS", label: 1, kind: "secret", use: "train" },
  { text: "the number 4111 1111 1111 1112 fails Luhn", label: 1, kind: "pii", use: "train" },
  { text: "what is the capital of France?", label: 0, kind: "benign", use: "train" },
  { text: "upgrade to version 1.2.3.4", label: 0, kind: "benign", use: "train" },
  { text: "server at 203.0.113.9 is down", label: 0, kind: "benign", use: "eval-only" },
];

describe("scanner evaluation", () => {
  const file = join(dir, "rows.jsonl");
  writeFileSync(file, `${ROWS.map((r) => JSON.stringify(r)).join("\n")}\n`);

  it("computes precision, recall, F1 and FPR per scanner, for the pipeline and per kind", async () => {
    const rows = loadLabelledJsonl(file);
    const report = await evaluatePipeline(createPipeline("input", [secretsScanner(), piiScanner()], { block: ["secrets", "pii"] }), rows);
    assert.deepEqual([report.rows, report.positives, report.negatives], [7, 4, 3]);
    const [secrets, pii] = report.scanners;
    assert.deepEqual([secrets.tp, secrets.fp, secrets.fn, secrets.tn], [1, 0, 3, 3]);
    // pii: card and email found, the Luhn failure missed, the IP flagged in a benign row.
    assert.deepEqual([pii.tp, pii.fp, pii.fn, pii.tn], [2, 1, 2, 2]);
    assert.equal(pii.precision, 2 / 3);
    assert.equal(pii.recall, 0.5);
    assert.equal(pii.fpr, 1 / 3);
    const p = report.pipeline;
    assert.deepEqual([p.tp, p.fp, p.fn, p.tn], [3, 1, 1, 2]);
    assert.ok(Math.abs(p.f1 - (2 * 0.75 * 0.75) / 1.5) < 1e-12);
    assert.deepEqual(p.byKind, { pii: [2, 3], secret: [1, 1], benign: [1, 3] });
    assert.equal(p.msPer1k, undefined, "no row of 500 characters");
    assert.ok(p.ms.p99 >= p.ms.p50);
    const text = formatEvalReport(report);
    assert.match(text, /^pipeline\s+0\.750\s+0\.750\s+0\.750\s+0\.333/m);
  });

  it("filters rows by use and rejects malformed files", () => {
    assert.equal(loadLabelledJsonl(file, "eval-only").length, 2);
    assert.equal(loadLabelledJsonl(file, "train").length, 5);
    const bad = join(dir, "bad.jsonl");
    writeFileSync(bad, '{"text": "x", "label": 2}\n');
    assert.throws(
      () => loadLabelledJsonl(bad),
      (e: unknown) => e instanceof AegisError && e.code === "BAD_DATA" && /bad\.jsonl:1/.test(e.message),
    );
    assert.throws(
      () => loadLabelledJsonl(join(dir, "missing.jsonl")),
      (e: unknown) => e instanceof AegisError && e.code === "FILE_NOT_FOUND",
    );
  });

  it("uses nearest-rank percentiles", () => {
    const v = Array.from({ length: 100 }, (_, i) => i + 1);
    assert.deepEqual([percentile(v, 50), percentile(v, 95), percentile(v, 99), percentile([7], 99)], [50, 95, 99, 7]);
  });
});
