/**
 * The rules and the scoring of `aegis threat analyze`: each template yields the threats a
 * practitioner would name, a control in `controls` lowers the matching risk, and the
 * threats that must never be missing are there for descriptions written from scratch.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { ATLAS_MITIGATIONS, ATLAS_TECHNIQUES, OWASP_LLM, OWASP_ML } from "../../src/report/taxonomy.js";
import { analyze, SCORING_METHOD } from "../../src/threat/analyze.js";
import { parseSystem } from "../../src/threat/parse.js";
import { TEMPLATES, templateText } from "../../src/threat/templates.js";
import type { Component, Flow, SystemDescription, Threat, ThreatModel } from "../../src/threat/types.js";

function system(
  components: Component[],
  flows: Flow[],
  controls: string[] = [],
  deployment: "internet-facing" | "internal" = "internet-facing",
): SystemDescription {
  return { system: { name: "test", deployment }, components, flows, controls };
}

const classifierApi = (outputs: Component["outputs"], controls: string[] = []) =>
  system(
    [
      { id: "user", type: "user", trust_zone: "internet" },
      { id: "api", type: "inference_api", trust_zone: "dmz", outputs },
      { id: "clf", type: "model", trust_zone: "serving", access: "black_box", format: "onnx" },
    ],
    [
      { from: "user", to: "api", authenticated: false, encrypted: true },
      { from: "api", to: "clf" },
    ],
    controls,
  );

const chatbot = (controls: string[] = [], secrets = true) =>
  system(
    [
      { id: "user", type: "user", trust_zone: "internet" },
      { id: "bot", type: "llm", trust_zone: "app", system_prompt_has_secrets: secrets, tools: ["send_email", "lookup_order"] },
      { id: "orders", type: "data_store", trust_zone: "data", contains_pii: true, source: "first_party" },
    ],
    [
      { from: "user", to: "bot", authenticated: true, encrypted: true },
      { from: "bot", to: "orders", authenticated: true, encrypted: true },
    ],
    controls,
  );

const find = (m: ThreatModel, rule: string): Threat[] => m.threats.filter((t) => t.rule === rule);
const atlasIds = (m: ThreatModel) => new Set(m.threats.flatMap((t) => t.atlas));
const owaspIds = (m: ThreatModel) => new Set(m.threats.flatMap((t) => [...t.owasp_ml, ...t.owasp_llm]));
function assertCites(m: ThreatModel, ids: string[]) {
  const all = new Set([...atlasIds(m), ...owaspIds(m)]);
  for (const id of ids) assert.ok(all.has(id), `expected ${id} among ${[...all].join(", ")}`);
}

test("every cited id is in the catalogue", () => {
  for (const name of TEMPLATES) {
    const m = analyze(parseSystem(templateText(name), `${name}.yaml`));
    for (const t of m.threats) {
      for (const id of t.atlas) assert.ok(ATLAS_TECHNIQUES[id], `${t.id} cites unknown ${id}`);
      for (const id of t.owasp_ml) assert.ok(OWASP_ML[id], `${t.id} cites unknown ${id}`);
      for (const id of t.owasp_llm) assert.ok(OWASP_LLM[id], `${t.id} cites unknown ${id}`);
      for (const mit of t.mitigations) if (mit.atlas) assert.ok(ATLAS_MITIGATIONS[mit.atlas], `${t.id} cites unknown ${mit.atlas}`);
      assert.equal(t.risk, t.likelihood * t.impact);
      assert.ok(t.likelihood >= 1 && t.likelihood <= 5 && t.impact >= 1 && t.impact <= 5);
      assert.ok(t.rationale.length > 0 && t.mitigations.length > 0);
      assert.equal(t.status, "untested");
    }
  }
});

test("the five templates analyse without warnings and yield the expected threats", () => {
  const expected: Record<string, string[]> = {
    "image-classifier-api": ["AML.T0043", "AML.T0015", "ML01", "AML.T0024.002", "ML05", "AML.T0024.000", "AML.T0020", "ML02"],
    "llm-chatbot": ["AML.T0051.000", "LLM01", "AML.T0054", "AML.T0056", "LLM07", "LLM06", "AML.T0053", "LLM05", "LLM10"],
    "rag-assistant": ["AML.T0051.001", "AML.T0070", "LLM01", "LLM08", "AML.T0051.000"],
    "fraud-model": ["AML.T0020", "ML02", "AML.T0024.000", "ML04", "AML.T0043", "ML01"],
    "federated-health": ["AML.T0020", "ML02", "ML10", "AML.T0024.000", "AML.T0024.001", "ML03"],
  };
  for (const name of TEMPLATES) {
    const m = analyze(parseSystem(templateText(name), `${name}.yaml`));
    assert.deepEqual(m.warnings, [], name);
    assertCites(m, expected[name] ?? []);
    for (let i = 1; i < m.threats.length; i++) assert.ok(m.threats[i - 1]!.risk >= m.threats[i]!.risk, `${name} is sorted by risk`);
  }
  const fed = analyze(parseSystem(templateText("federated-health"), "federated-health.yaml"));
  assert.ok(fed.threats.some((t) => t.nist_class === "poisoning") && fed.threats.some((t) => t.nist_class === "privacy"));
});

test("a public API returning probabilities yields extraction and evasion, likelier than a labels-only one", () => {
  const probs = analyze(classifierApi("probabilities"));
  const [extraction] = find(probs, "AI-EXTRACTION");
  assert.ok(extraction);
  assert.ok(extraction.atlas.includes("AML.T0024.002") && extraction.atlas.includes("AML.T0040"));
  assert.deepEqual(extraction.owasp_ml, ["ML05"]);
  assert.equal(extraction.target.component, "clf");
  const [evasion] = find(probs, "AI-EVASION");
  assert.ok(evasion?.atlas.includes("AML.T0043") && evasion.owasp_ml.includes("ML01") && evasion.nist_class === "evasion");
  const labels = analyze(classifierApi("labels"));
  assert.ok(find(labels, "AI-EXTRACTION")[0]!.likelihood < extraction.likelihood, "labels-only output lowers extraction likelihood");
});

test("rate limiting and output rounding lower the extraction risk and are listed", () => {
  const before = find(analyze(classifierApi("probabilities")), "AI-EXTRACTION")[0]!;
  const after = find(analyze(classifierApi("probabilities", ["rate_limiting", "output_rounding"])), "AI-EXTRACTION")[0]!;
  assert.ok(after.risk < before.risk, `${after.risk} < ${before.risk}`);
  assert.deepEqual([...after.mitigated_by].sort(), ["output_rounding", "rate_limiting"]);
  assert.deepEqual(before.mitigated_by, []);
  const m = after.mitigations.find((x) => x.control === "rate_limiting");
  assert.equal(m?.atlas, "AML.M0004");
  assert.match(m!.aegis, /rate_limit/);
  assert.ok(after.mitigations.some((x) => x.control === "extraction_detection" && /PRADA/.test(x.aegis)));
});

test("an LLM with tools always has direct prompt injection and excessive agency; the filter lowers the risk", () => {
  const m = analyze(chatbot());
  const [pi] = find(m, "LLM-PROMPT-INJECTION");
  assert.ok(pi?.atlas.includes("AML.T0051.000") && pi.owasp_llm.includes("LLM01"));
  assert.ok(find(m, "LLM-EXCESSIVE-AGENCY")[0]?.owasp_llm.includes("LLM06"));
  assert.ok(find(m, "LLM-SYSTEM-PROMPT-LEAK")[0]?.atlas.includes("AML.T0056"));
  assert.ok(find(m, "LLM-SENSITIVE-DISCLOSURE")[0]?.atlas.includes("AML.T0057"), "PII store reachable: LLM02");
  const filtered = find(analyze(chatbot(["prompt_injection_filter"])), "LLM-PROMPT-INJECTION")[0]!;
  assert.ok(filtered.risk < pi.risk);
  assert.deepEqual(filtered.mitigated_by, ["prompt_injection_filter"]);
  // Secrets in the system prompt raise the impact of its leakage.
  const noSecrets = find(analyze(chatbot([], false)), "LLM-SYSTEM-PROMPT-LEAK")[0]!;
  assert.ok(noSecrets.impact < find(m, "LLM-SYSTEM-PROMPT-LEAK")[0]!.impact);
});

test("an LLM reachable by nobody, internal, with tools still gets prompt injection", () => {
  const m = analyze(
    system(
      [
        { id: "agent", type: "agent", trust_zone: "batch", tools: ["shell"] },
        { id: "inbox", type: "external_data_source", trust_zone: "internet", source: "web" },
      ],
      [{ from: "inbox", to: "agent", authenticated: false, encrypted: false }],
      [],
      "internal",
    ),
  );
  assert.ok(find(m, "LLM-PROMPT-INJECTION").length === 1);
  assert.ok(find(m, "LLM-INDIRECT-INJECTION")[0]?.atlas.includes("AML.T0051.001"));
  assert.ok(find(m, "LLM-EXCESSIVE-AGENCY").length === 1);
});

test("STRIDE: an unauthenticated flow across a trust boundary yields spoofing; same-zone flows do not", () => {
  const m = analyze(classifierApi("labels"));
  const spoof = m.threats.find((t) => t.id === "FLOW-SPOOFING@user->api");
  assert.ok(spoof);
  assert.deepEqual(spoof.stride, ["spoofing"]);
  assert.deepEqual(spoof.target.flow, { from: "user", to: "api" });
  assert.ok(!m.threats.some((t) => t.id === "FLOW-INFORMATION_DISCLOSURE@user->api"), "the flow is encrypted");
  assert.ok(
    m.threats.some((t) => t.id === "FLOW-REPUDIATION@user->api"),
    "no audit_logging",
  );
  assert.ok(!analyze(classifierApi("labels", ["audit_logging"])).threats.some((t) => t.rule === "FLOW-REPUDIATION"));
  // STRIDE per element: a user is spoofable, a data store is not "elevated".
  const chat = analyze(chatbot());
  assert.ok(chat.threats.some((t) => t.id === "STRIDE-SPOOFING@user"));
  assert.ok(chat.threats.some((t) => t.id === "STRIDE-TAMPERING@orders"));
  assert.ok(!chat.threats.some((t) => t.id === "STRIDE-ELEVATION_OF_PRIVILEGE@orders"));
});

test("poisoning is likelier from web data than first-party data, and data validation lowers it", () => {
  const make = (source: Component["source"], controls: string[] = []) =>
    analyze(
      system(
        [
          { id: "data", type: "training_data", trust_zone: "data", source },
          { id: "train", type: "training_pipeline", trust_zone: "ml" },
          { id: "m", type: "model", trust_zone: "ml" },
        ],
        [
          { from: "data", to: "train" },
          { from: "train", to: "m" },
        ],
        controls,
        "internal",
      ),
    );
  const web = find(make("web"), "AI-POISONING")[0]!;
  const first = find(make("first_party"), "AI-POISONING")[0]!;
  assert.ok(web.likelihood > first.likelihood);
  assert.ok(web.atlas.includes("AML.T0020") && web.owasp_ml.includes("ML02"));
  const validated = find(make("web", ["data_validation"]), "AI-POISONING")[0]!;
  assert.ok(validated.risk < web.risk && validated.mitigated_by.includes("data_validation"));
});

test("warnings: a component with no flows, a flow to a missing component, a control id that is not known", () => {
  const s = classifierApi("labels", ["rate_limit", "we review models quarterly"]);
  s.components.push({ id: "orphan", type: "data_store", trust_zone: "data" });
  s.flows.push({ from: "api", to: "ghost" });
  const m = analyze(s);
  assert.ok(m.warnings.some((w) => w.includes("orphan") && w.includes("no flows")));
  assert.ok(m.warnings.some((w) => w.includes("ghost")));
  assert.ok(m.warnings.some((w) => w.includes('"rate_limit"')));
  assert.ok(!m.warnings.some((w) => w.includes("quarterly")), "free text is kept quietly");
  assert.match(SCORING_METHOD, /likelihood × impact/);
});

test("levels follow the documented thresholds and threats are unique", () => {
  const m = analyze(chatbot());
  for (const t of m.threats) {
    const expected = t.risk >= 20 ? "critical" : t.risk >= 12 ? "high" : t.risk >= 6 ? "medium" : "low";
    assert.equal(t.level, expected);
  }
  assert.equal(new Set(m.threats.map((t) => t.id)).size, m.threats.length);
});

test("the parser's warnings reach the threat model once, with their line", () => {
  const text = templateText("image-classifier-api").replace(/^controls:.*$/m, (line) => `${line}\n  - rate_limitng`);
  const system = parseSystem(text, "system.yaml");
  const model = analyze(system);
  const about = model.warnings.filter((w) => w.includes('"rate_limitng"'));
  assert.equal(about.length, 1, model.warnings.join("\n"));
  assert.match(about[0], /system\.yaml:\d+/);
});
