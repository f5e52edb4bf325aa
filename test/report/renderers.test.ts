/** The shared renderers every capability's report goes through: SARIF that code-scanning UIs accept, JUnit that CI systems read, findings in Markdown and HTML. */
import assert from "node:assert/strict";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Finding } from "../../src/report/finding.js";
import { findingsSection } from "../../src/report/html.js";
import { renderJunit } from "../../src/report/junit.js";
import { findingsMarkdown } from "../../src/report/markdown.js";
import { renderSarif } from "../../src/report/sarif.js";
import { reference } from "../../src/report/taxonomy.js";
import { parseFormats } from "../../src/report/write.js";
import { sarifValidator } from "../helpers/schemas.js";

const base = "/repo";
const finding = (over: Partial<Finding>): Finding => ({
  rule: "AEGIS-EVASION-PGD",
  capability: "audit",
  severity: "high",
  title: "PGD drops accuracy to 0%",
  detail: "On 100 samples PGD fooled 100%.",
  evidence: { robust_accuracy: 0 },
  location: { file: join(base, "models/model.onnx"), section: "pgd" },
  references: [reference("AML.T0043"), reference("ML01"), reference("LLM01"), reference("evasion")],
  recommendation: "Run `aegis harden adversarial-training`.",
  ...over,
});

const findings: Finding[] = [
  finding({}),
  finding({
    rule: "PICKLE-DANGEROUS-GLOBAL",
    capability: "scan",
    severity: "critical",
    location: { file: join(base, "m.zip"), members: ["archive/data.pkl"], offset: 812, symbol: "os.system" },
  }),
  finding({ rule: "T-AI-EVASION", capability: "threat", severity: "medium", location: { file: join(base, "system.yaml"), line: 14, symbol: "classifier" } }),
  finding({ rule: "REDTEAM-DAN", capability: "redteam", severity: "low", location: { route: "http://127.0.0.1:8080/v1/chat/completions", section: "dan" } }),
  finding({ rule: "HEADER", capability: "scan", severity: "info", location: { file: join(base, "dir with space/w.safetensors"), offset: 8 } }),
];

describe("SARIF", () => {
  const validate = sarifValidator();
  // biome-ignore lint/suspicious/noExplicitAny: a parsed SARIF log, checked by the schema
  const sarif: any = JSON.parse(renderSarif(findings, { name: "aegis-test", fullName: "Aegis test", version: "0.1.0" }, { baseDir: base }));

  it("validates against the official SARIF 2.1.0 schema, which rejects a broken log", () => {
    assert.ok(validate(sarif), JSON.stringify(validate.errors));
    const broken = JSON.parse(JSON.stringify(sarif));
    broken.runs[0].results[0].level = "fatal";
    assert.equal(validate(broken), false, "the validator is not vacuous");
  });

  it("gives every result a rule, a level and a location: the file relative to the repository, its line, or the endpoint", () => {
    const [run] = sarif.runs;
    const uris = run.results.map(
      (r: { locations: { physicalLocation: { artifactLocation: { uri: string } } }[] }) => r.locations[0].physicalLocation.artifactLocation.uri,
    );
    assert.deepEqual(uris, ["models/model.onnx", "m.zip", "system.yaml", "http://127.0.0.1:8080/v1/chat/completions", "dir%20with%20space/w.safetensors"]);
    assert.deepEqual(
      run.results.map((r: { level: string }) => r.level),
      ["error", "error", "warning", "note", "note"],
    );
    assert.deepEqual(run.results[2].locations[0].physicalLocation.region, { startLine: 14 });
    assert.equal(run.results[1].locations[0].physicalLocation.region, undefined, "an offset inside a member is not a file offset");
    assert.deepEqual(run.results[4].locations[0].physicalLocation.region, { byteOffset: 8 });
    for (const r of run.results) assert.equal(run.tool.driver.rules[r.ruleIndex].id, r.ruleId);
    assert.equal(run.tool.driver.rules.find((r: { id: string }) => r.id === "PICKLE-DANGEROUS-GLOBAL").properties["security-severity"], "9.5");
  });

  it("fingerprints a finding by rule and location, so the same finding keeps its alert across runs", () => {
    const again = JSON.parse(renderSarif([...findings].reverse(), { name: "aegis-test", fullName: "Aegis test", version: "0.1.0" }, { baseDir: base }));
    const prints = (s: typeof sarif) =>
      new Map(
        s.runs[0].results.map((r: { ruleId: string; partialFingerprints: Record<string, string> }) => [r.ruleId, r.partialFingerprints["aegisFinding/v1"]]),
      );
    assert.deepEqual(prints(again), prints(sarif));
    assert.equal(new Set(prints(sarif).values()).size, findings.length);
  });
});

describe("JUnit", () => {
  it("counts cases, failures and skips, and escapes what XML cannot hold", () => {
    const xml = renderJunit("aegis test", [
      {
        name: "suite <1>",
        cases: [
          { name: "pgd ε=0.3", classname: "aegis.audit.pgd", time: 1.5, failure: { message: 'robust accuracy 0 < 0.5 & "more"', detail: "a\u0000b" } },
          { name: "fgsm", classname: "aegis.audit.fgsm" },
          { name: "square", classname: "aegis.audit.square", skipped: "needs predict" },
        ],
      },
    ]);
    assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="aegis test" tests="3" failures="1" errors="0" skipped="1" time="1\.500">/);
    assert.match(xml, /<testsuite name="suite &lt;1&gt;" tests="3" failures="1"/);
    assert.match(xml, /<failure message="robust accuracy 0 &lt; 0\.5 &amp; &quot;more&quot;">a\uFFFDb<\/failure>/);
    assert.match(xml, /<skipped message="needs predict"\/>/);
    assert.ok(!xml.includes("\u0000"));
  });
});

describe("findings in Markdown and HTML", () => {
  it("show severity, rule, location, references and the recommendation, with every value escaped", () => {
    const hostile = finding({ title: '<img src=x onerror="alert(1)">', detail: "a | b" });
    const md = findingsMarkdown([hostile], "none").join("\n");
    assert.match(md, /### \[HIGH\] <img/);
    assert.match(md, /`AEGIS-EVASION-PGD` at `\/repo\/models\/model\.onnx#pgd`/);
    assert.match(
      md,
      /\[ML01 Input Manipulation Attack\]\(https:\/\/owasp\.org\/www-project-machine-learning-security-top-10\/docs\/ML01_2023-Input_Manipulation_Attack\)/,
    );
    const html = findingsSection([hostile], "none");
    assert.doesNotMatch(html, /<img/);
    assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
    assert.match(html, /<code>aegis harden adversarial-training<\/code>/);
    assert.match(html, /href="https:\/\/genai\.owasp\.org\/llmrisk\/llm01-prompt-injection\/"/);
    assert.match(findingsSection([], "No attack finished."), /No attack finished\./);
  });

  it("--format lists are checked against what a command writes", () => {
    assert.deepEqual(parseFormats("json, MD,sarif,json"), ["json", "md", "sarif"]);
    assert.throws(() => parseFormats("json,pdf"), /--format takes a comma-separated list of json, md, html, sarif, junit, not "pdf"/);
    assert.throws(() => parseFormats("sarif", ["json", "md"]), /not "sarif"/);
  });
});
