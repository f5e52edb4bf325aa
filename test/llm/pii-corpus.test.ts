import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { generatePiiCorpus, scoreDetections } from "../../src/llm/pii-corpus.js";
import { detectPii } from "../../src/llm/scanners/pii.js";
import { detectSecrets } from "../../src/llm/scanners/secrets.js";
import { resolveOverlaps } from "../../src/llm/scanners/spans.js";

const detectAll = (text: string) => resolveOverlaps([...detectSecrets(text), ...detectPii(text)]);

describe("generated PII/secret corpus", () => {
  const rows = generatePiiCorpus({ seed: 11, perKind: 30 });

  it("is reproducible and labels the entity spans", () => {
    assert.deepEqual(generatePiiCorpus({ seed: 11, perKind: 30 }), rows);
    const positives = rows.filter((r) => r.entities.length > 0);
    assert.ok(positives.length >= 20 * 30 && rows.length - positives.length >= 25 * 30);
    for (const r of positives) {
      const [s, e] = r.entities[0].span;
      assert.ok(s >= 0 && e <= r.text.length && e - s >= 7, r.text);
    }
  });

  it("the detectors reach precision and recall ≥ 0.95 and flag no tricky negative family", () => {
    const m = scoreDetections(rows, detectAll);
    assert.ok(m.precision >= 0.95, `precision ${m.precision} ${JSON.stringify(m.errors)}`);
    assert.ok(m.recall >= 0.95, `recall ${m.recall} ${JSON.stringify(m.errors)}`);
    const negativeErrors = Object.entries(m.errors).filter(([family, n]) => family.startsWith("negative:") && n > 0);
    assert.deepEqual(negativeErrors, []);
  });

  it("the metric catches a bad detector", () => {
    // Flag every digit run: recall stays high, precision collapses on the negatives.
    const naive = (text: string) =>
      [...text.matchAll(/\d[\d -]{7,}\d/g)].map((m) => ({ kind: "credit-card", span: [m.index, m.index + m[0].length] as [number, number], score: 1 }));
    const m = scoreDetections(rows, naive);
    assert.ok(m.precision < 0.5, `naive precision ${m.precision}`);
  });
});
