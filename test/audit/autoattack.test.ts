/** AutoAttack in an audit: which of its attacks broke each sample, in report.json, the HTML and the Markdown. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { renderHtml } from "../../src/audit/html.js";
import { renderMarkdown } from "../../src/audit/markdown.js";
import { schemaValidator } from "../helpers/schemas.js";
import { smallAudit, smallConfig } from "./helpers.js";

const validate = schemaValidator("audit-report.schema.json");

test("an AutoAttack run says which of its attacks broke each sample, and the counts add up to the broken samples", async () => {
  const logs: string[] = [];
  const { report } = await smallAudit({
    log: (m) => logs.push(m),
    config: {
      ...smallConfig(20),
      attacks: [
        { id: "fgsm", attack: "fgsm", kind: "curve", eps: [0.1] },
        // At ε = 0.1 the CNN resists part of the samples, so more than one stage has work to do.
        { id: "autoattack", attack: "autoattack", kind: "curve", eps: [0.1] },
      ],
    },
  });
  assert.ok(validate(report), JSON.stringify(validate.errors, null, 1));
  const [fgsm, aa] = report.attacks;
  assert.equal(fgsm.runs[0].ensemble, null, "a single attack has no breakdown");
  const run = aa.runs[0];
  const e = run.ensemble;
  assert.ok(e, "AutoAttack's run has a breakdown");
  assert.deepEqual(
    e.stages.map((s) => s.attack),
    ["apgd-ce", "apgd-t", "fab-t", "square"],
  );
  assert.equal(e.broken_by.length, 20);

  // The stages' counts are the samples broken: the success rate's numerator, and 20 less the robust and the misclassified.
  const broken = e.stages.reduce((s, x) => s + x.broken, 0);
  const correct = Math.round(run.clean_accuracy * 20);
  assert.equal(e.clean, 20 - correct);
  assert.equal(broken, Math.round(run.success_rate * correct));
  assert.equal(e.robust, Math.round(run.robust_accuracy * 20));
  assert.equal(broken + e.clean + e.robust, 20);
  for (const s of e.stages) assert.equal(s.broken, e.broken_by.filter((b) => b === s.attack).length);
  assert.ok(broken > 0 && e.robust > 0, `some broken (${broken}), some robust (${e.robust}) at ε = 0.1`);
  assert.ok(e.stages[0].broken >= broken / 2, "APGD-CE, first, does most of the work");
  assert.ok(run.robust_accuracy <= fgsm.runs[0].robust_accuracy, "AutoAttack is at least as strong as FGSM");

  const text = `broken by ${e.stages.map((s) => `${s.attack} ${s.broken}`).join(", ")}; ${e.clean} misclassified unperturbed; ${e.robust} robust`;
  assert.ok(
    logs.some((l) => l.startsWith("[2/2] autoattack ε=0.1: robust accuracy") && l.endsWith(text)),
    logs.join("\n"),
  );
  const md = renderMarkdown(report);
  assert.match(md, /## Ensemble breakdown/);
  assert.ok(md.includes(`- autoattack@0.1 (20 samples): ${text}`), md);

  const html = renderHtml(report);
  assert.equal((html.match(/<tr class="ensemble">/g) ?? []).length, 1);
  for (const s of e.stages) assert.ok(html.includes(`${s.attack}: <strong>${s.broken}</strong>`), `HTML shows ${s.attack}: ${s.broken}`);
  assert.ok(html.includes(`robust: <strong>${e.robust}</strong>`));
  // The stacked bar: one segment per non-zero count, widths adding up to the whole.
  const widths = [...(html.match(/<div class="stack">(.*?)<\/div>/)?.[1] ?? "").matchAll(/width:([\d.]+)%/g)].map((m) => Number(m[1]));
  assert.equal(widths.length, [...e.stages.map((s) => s.broken), e.clean, e.robust].filter((c) => c > 0).length);
  assert.ok(Math.abs(widths.reduce((s, w) => s + w, 0) - 100) < 0.05, `segments cover the bar: ${widths}`);
});
