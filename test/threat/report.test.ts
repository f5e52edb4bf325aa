/**
 * The threat-model reports on a hand-built model: JSON round-trips, CSV follows RFC 4180,
 * SARIF 2.1.0 has one result per threat located in system.yaml, Markdown has the register,
 * details and the NIST AI RMF view, the IR plan has a playbook per high risk, and the HTML
 * report renders in Debian's Chromium with the data-flow diagram and a sortable register
 * (the screenshot is kept: AEGIS_SCREENSHOT=path.png to choose where).
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { renderSarif } from "../../src/report/sarif.js";
import { renderThreatJunit, threatFindings } from "../../src/threat/findings.js";
import { renderIrPlan } from "../../src/threat/ir-plan.js";
import { CSV_HEADER, renderCsv } from "../../src/threat/report/csv.js";
import { renderHtml } from "../../src/threat/report/html.js";
import { renderJson } from "../../src/threat/report/json.js";
import { renderMarkdown } from "../../src/threat/report/markdown.js";
import type { SystemDescription, Threat, ThreatModel } from "../../src/threat/types.js";
import { openReport } from "../helpers/chromium.js";
import { sarifValidator } from "../helpers/schemas.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-threat-report-"));

const description: SystemDescription = {
  system: { name: "Support chatbot", owner: "ML platform", deployment: "internet-facing", regulated_data: ["gdpr"] },
  components: [
    { id: "customer", type: "user", trust_zone: "internet", line: 8 },
    { id: "web", type: "client_app", trust_zone: "internet", line: 11 },
    { id: "gateway", type: "api_gateway", trust_zone: "dmz", line: 14 },
    { id: "assistant", type: "llm", trust_zone: "serving", system_prompt_has_secrets: true, tools: ["crm"], line: 17 },
    { id: "crm", type: "tool", trust_zone: "serving", line: 22 },
    { id: "tickets", type: "vector_store", trust_zone: "data", contains_pii: true, source: "user_generated", line: 25 },
  ],
  flows: [
    { from: "customer", to: "web", data: "questions", line: 30 },
    { from: "web", to: "gateway", data: "chat requests", protocol: "https", authenticated: true, encrypted: true, line: 31 },
    { from: "gateway", to: "assistant", data: "prompts", line: 32 },
    { from: "assistant", to: "gateway", data: "answers", line: 33 },
    { from: "assistant", to: "crm", data: "tool calls", line: 34 },
    { from: "tickets", to: "assistant", data: "retrieved tickets", line: 35 },
  ],
  controls: ["rate_limiting", "authentication"],
};

function threat(over: Partial<Threat> & Pick<Threat, "id" | "risk" | "level">): Threat {
  return {
    rule: over.id.split("@")[0],
    title: over.id,
    description: "A threat.",
    kind: "ai",
    stride: [],
    target: { component: "assistant" },
    atlas: [],
    owasp_ml: [],
    owasp_llm: [],
    rmf: ["Map", "Manage"],
    likelihood: 4,
    impact: Math.max(1, Math.round(over.risk / 4)),
    rationale: ["internet-facing"],
    mitigations: [],
    mitigated_by: [],
    evidence: [],
    status: "untested",
    ...over,
  };
}

const threats: Threat[] = [
  threat({
    id: "STRIDE-S@web->gateway",
    title: 'Spoofing, "forged" client, on the gateway',
    kind: "stride",
    stride: ["spoofing"],
    target: { flow: { from: "web", to: "gateway" } },
    risk: 6,
    level: "medium",
    likelihood: 2,
    impact: 3,
    rmf: ["Govern"],
  }),
  threat({
    id: "AI-PROMPT-INJECTION@assistant",
    title: "Prompt injection, direct and indirect",
    atlas: ["AML.T0051.000", "AML.T0051.001"],
    owasp_llm: ["LLM01"],
    nist_class: "misuse",
    risk: 20,
    level: "critical",
    likelihood: 5,
    impact: 4,
    rmf: ["Map", "Measure", "Manage"],
    mitigations: [
      { atlas: "AML.M0015", name: "Adversarial input detection", control: "prompt_injection_filter", aegis: "guard: llm.input_scanners.prompt_injection" },
    ],
    evidence: [{ source: "redteam.json", kind: "redteam", summary: "12 of 40 injection probes succeeded", mitigated: false }],
    status: "tested-vulnerable",
  }),
  threat({
    id: "AI-PROMPT-LEAK@assistant",
    title: "System prompt leakage\nwith secrets",
    atlas: ["AML.T0056"],
    owasp_llm: ["LLM07"],
    risk: 12,
    level: "high",
    likelihood: 3,
    impact: 4,
  }),
  threat({
    id: "AI-RAG-POISONING@tickets",
    title: "Poisoned retrieval content",
    target: { component: "tickets" },
    atlas: ["AML.T0070"],
    owasp_llm: ["LLM08"],
    nist_class: "poisoning",
    risk: 9,
    level: "medium",
    likelihood: 3,
    impact: 3,
  }),
  threat({
    id: "STRIDE-D@gateway",
    title: "Denial of service, cost",
    kind: "stride",
    stride: ["denial_of_service"],
    target: { component: "gateway" },
    risk: 4,
    level: "low",
    likelihood: 2,
    impact: 2,
    mitigated_by: ["rate_limiting"],
    mitigations: [{ name: "Rate limiting", control: "rate_limiting", aegis: "guard: rate_limit" }],
  }),
];

const model: ThreatModel = { system: description.system, description, threats, warnings: ["a control one typo away"], generated: "2026-01-01T00:00:00.000Z" };
const byRiskIds = ["AI-PROMPT-INJECTION@assistant", "AI-PROMPT-LEAK@assistant", "AI-RAG-POISONING@tickets", "STRIDE-S@web->gateway", "STRIDE-D@gateway"];

/** RFC 4180 reader: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  return rows;
}

test("JSON is the threat model itself", () => {
  assert.deepEqual(JSON.parse(renderJson(model)), model);
});

test("CSV: the register with RFC 4180 quoting, one row per threat, highest risk first", () => {
  const text = renderCsv(model);
  assert.ok(text.endsWith("\r\n"));
  const rows = parseCsv(text);
  assert.deepEqual(rows[0], [...CSV_HEADER]);
  assert.equal(rows.length, 1 + threats.length);
  assert.deepEqual(
    rows.slice(1).map((r) => r[0]),
    byRiskIds,
  );
  const spoof = rows.find((r) => r[0] === "STRIDE-S@web->gateway")!;
  assert.equal(spoof[1], 'Spoofing, "forged" client, on the gateway');
  assert.equal(spoof[2], "web → gateway");
  assert.ok(text.includes('"Spoofing, ""forged"" client, on the gateway"'));
  assert.equal(rows.find((r) => r[0] === "AI-PROMPT-LEAK@assistant")![1], "System prompt leakage\nwith secrets");
  assert.equal(rows[1][5], "AML.T0051.000; AML.T0051.001");
});

test("SARIF 2.1.0: a rule per threat rule, a result per threat at its line in system.yaml", () => {
  const tool = { name: "aegis-threat", fullName: "Aegis threat model", version: "0" };
  const text = renderSarif(threatFindings(model, "/repo/system.yaml"), tool, { baseDir: "/repo" });
  const validate = sarifValidator();
  assert.ok(validate(JSON.parse(text)), JSON.stringify(validate.errors));
  const sarif = JSON.parse(text);
  assert.equal(sarif.version, "2.1.0");
  const run = sarif.runs[0];
  const ruleIds = run.tool.driver.rules.map((r: { id: string }) => r.id);
  assert.equal(run.results.length, threats.length);
  for (const r of run.results) assert.equal(ruleIds[r.ruleIndex], r.ruleId);
  const pi = run.results[0];
  assert.equal(pi.ruleId, "AI-PROMPT-INJECTION");
  assert.equal(pi.level, "error");
  assert.deepEqual(
    pi.properties.references.filter((r: string) => r.startsWith("AML") || r.startsWith("LLM")),
    ["AML.T0051.000 Direct", "AML.T0051.001 Indirect", "LLM01 Prompt Injection"],
  );
  assert.equal(pi.locations[0].physicalLocation.artifactLocation.uri, "system.yaml");
  assert.equal(pi.locations[0].physicalLocation.region.startLine, 17);
  assert.equal(pi.locations[0].logicalLocations[0].name, "assistant");
  const flow = run.results.find((r: { locations: { logicalLocations: { name: string }[] }[] }) => r.locations[0].logicalLocations[0].name === "web → gateway");
  assert.equal(flow.level, "warning");
  assert.equal(flow.locations[0].physicalLocation.region.startLine, 31);
  assert.equal(run.results.at(-1).level, "note");
  // Without a file name the location is logical only.
  assert.equal(JSON.parse(renderSarif(threatFindings(model), tool)).runs[0].results[0].locations[0].physicalLocation, undefined);
});

test("JUnit: a case per threat; tested-vulnerable threats and open serious risks without a control fail", () => {
  const xml = renderThreatJunit(model);
  assert.equal((xml.match(/<testcase /g) ?? []).length, threats.length);
  const failing = threats.filter(
    (t) => t.status === "tested-vulnerable" || (t.status === "untested" && (t.level === "critical" || t.level === "high") && t.mitigated_by.length === 0),
  );
  assert.ok(failing.length > 0 && failing.length < threats.length, "the fixture has both");
  assert.equal((xml.match(/<failure /g) ?? []).length, failing.length);
  for (const t of failing) assert.match(xml, new RegExp(`<testcase name="${t.id.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/>/g, "&gt;")}: `));
});

test("Markdown: summary, sorted register, details with ids and Aegis commands, evidence, RMF functions", () => {
  const md = renderMarkdown(model);
  assert.match(md, /^# Threat model: Support chatbot/);
  assert.match(md, /5 threats .*1 critical, 1 high, 2 medium, 1 low/);
  const register = md.slice(md.indexOf("## Risk register"), md.indexOf("## Threats"));
  const order = byRiskIds.map((id) => register.indexOf(`\`${id}\``));
  assert.ok(
    order.every((p, i) => p > 0 && (i === 0 || p > order[i - 1])),
    "register sorted by risk",
  );
  assert.ok(!register.includes("leakage\nwith"), "a line break in a title stays inside its row");
  assert.match(md, /MITRE ATLAS: `AML\.T0051\.000`, `AML\.T0051\.001`/);
  assert.match(md, /OWASP LLM Top 10 \(2025\): `LLM01`/);
  assert.match(md, /NIST AI 100-2 class: misuse/);
  assert.match(md, /\| Adversarial input detection \| AML\.M0015 \| no \| `guard: llm\.input_scanners\.prompt_injection` \|/);
  assert.match(md, /\| Rate limiting \| — \| yes \|/);
  assert.match(md, /❌ vulnerable — 12 of 40 injection probes succeeded/);
  for (const f of ["Govern", "Map", "Measure", "Manage"]) assert.match(md, new RegExp(`### ${f}\\n`));
  const govern = md.slice(md.indexOf("### Govern"), md.indexOf("### Map\n"));
  assert.match(govern, /STRIDE-S@web->gateway/);
  assert.doesNotMatch(govern, /AI-PROMPT-INJECTION/);
});

test("the IR plan has a playbook per high or critical risk with Aegis detection signals", () => {
  const plan = renderIrPlan(model);
  const playbooks = plan.match(/^## \d+\. .*$/gm) ?? [];
  assert.equal(playbooks.length, 2);
  assert.match(playbooks[0], /AI-PROMPT-INJECTION@assistant/);
  assert.match(playbooks[1], /AI-PROMPT-LEAK@assistant/);
  for (const h of ["Detection signals", "Containment", "Recovery", "Post-incident review"]) assert.equal(plan.split(`### ${h}`).length - 1, 2);
  const pi = plan.slice(plan.indexOf("## 1."), plan.indexOf("## 2."));
  assert.match(pi, /prompt-injection scanner/);
  assert.match(pi, /aegis redteam/);
  assert.match(pi, /Put the missing control in place: Adversarial input detection/);
  const none = renderIrPlan({ ...model, threats: threats.filter((t) => t.level === "low" || t.level === "medium") });
  assert.match(none, /No threat is rated high or critical/);
});

test("the HTML report renders in Chromium with the data-flow diagram and a sortable register", async () => {
  const file = join(tmp, "threat-model.html");
  const html = renderHtml(model);
  writeFileSync(file, html);
  assert.doesNotMatch(html, /<link|src="http|url\(http/, "self-contained: no stylesheet or remote asset");
  const { browser, page, fetched, errors } = await openReport(file);
  try {
    const facts = await page.evaluate(() => {
      const svg = document.querySelector("svg.dfd")!;
      const boxes = [...svg.querySelectorAll("g.component")].map((g) => {
        const r = g.querySelector("rect")!.getBoundingClientRect();
        return { id: g.getAttribute("data-id"), w: r.width, h: r.height, x: r.x, y: r.y };
      });
      return {
        width: svg.getBoundingClientRect().width,
        boxes,
        flows: [...svg.querySelectorAll("path.flow")].map((p) => ({
          from: p.getAttribute("data-from"),
          to: p.getAttribute("data-to"),
          crossing: p.classList.contains("crossing"),
          length: (p as SVGPathElement).getTotalLength(),
          marker: p.getAttribute("marker-end"),
        })),
        boundaries: [...svg.querySelectorAll("rect.boundary")].map((r) => ({
          dashed: r.getAttribute("stroke-dasharray") !== null,
          w: r.getBoundingClientRect().width,
        })),
        zones: [...svg.querySelectorAll("g.zone")].map((g) => g.getAttribute("data-zone")),
        rows: [...document.querySelectorAll("#register tbody tr")].map((tr) => tr.querySelector(".fid")!.textContent),
        rmf: [...document.querySelectorAll(".rmf")].map((d) => d.getAttribute("data-rmf")),
        cards: document.querySelectorAll("article.finding").length,
        badges: [...document.querySelectorAll(".badge-status")].map((b) => b.textContent),
      };
    });
    assert.deepEqual(fetched, [], "the page fetches nothing");
    assert.deepEqual(errors, []);
    assert.ok(facts.width > 600, `diagram drawn at ${facts.width}px`);
    assert.deepEqual(facts.boxes.map((b) => b.id).sort(), description.components.map((c) => c.id).sort());
    assert.ok(
      facts.boxes.every((b) => b.w > 100 && b.h > 30),
      "boxes are visible",
    );
    assert.equal(facts.flows.length, description.flows.length);
    assert.ok(
      facts.flows.every((f) => f.length > 20 && f.marker?.startsWith("url(#arrow")),
      "every flow is a visible arrow",
    );
    // Crossing a trust boundary: everything but customer → web (internet) and assistant → crm (serving).
    assert.deepEqual(
      facts.flows.filter((f) => !f.crossing).map((f) => `${f.from}->${f.to}`),
      ["customer->web", "assistant->crm"],
    );
    // Columns follow the flows: the ticket store sits beside the dmz, next to the assistant it feeds.
    assert.deepEqual(facts.zones, ["internet", "dmz", "data", "serving"]);
    assert.equal(facts.boundaries.length, 4);
    assert.ok(facts.boundaries.every((b) => b.dashed && b.w > 150));
    // Zones run left to right with the flow: internet first, serving after the dmz.
    const x = (id: string) => facts.boxes.find((b) => b.id === id)!.x;
    assert.ok(x("customer") < x("gateway") && x("gateway") < x("assistant"));
    assert.equal(x("assistant"), x("crm"), "one zone, one column");

    assert.deepEqual(facts.rows, byRiskIds);
    assert.deepEqual(facts.rmf, ["Govern", "Map", "Measure", "Manage"]);
    assert.equal(facts.cards, threats.length);
    assert.ok(facts.badges.includes("tested: vulnerable"));

    const shot = process.env.AEGIS_SCREENSHOT ?? join(tmp, "threat-model.png");
    await page.screenshot({ path: shot, fullPage: true });

    // Sorting: risk ascending on the first click, descending on the second; text columns alphabetically.
    const ids = () => page.$$eval("#register tbody tr .fid", (els) => els.map((e) => e.textContent));
    await page.click("#register th:nth-child(6)");
    assert.deepEqual(await ids(), [...byRiskIds].reverse());
    await page.click("#register th:nth-child(6)");
    assert.deepEqual(await ids(), byRiskIds);
    await page.click("#register th:nth-child(3)");
    const targets = await page.$$eval("#register tbody tr td:nth-child(3)", (els) => els.map((e) => e.textContent ?? ""));
    assert.deepEqual(
      targets,
      [...targets].sort((a, b) => a.localeCompare(b)),
    );
  } finally {
    await browser.close();
  }
});
