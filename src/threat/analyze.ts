/**
 * `aegis threat analyze` without evidence: evaluate the rules of rules.ts on a system
 * description, score each threat, recommend mitigations, and sort the register by risk.
 *
 * Scoring (also exported as SCORING_METHOD for the reports):
 * - likelihood starts at the rule's base (1–5) and moves with the description:
 *   exposure +1 when the system is internet-facing and a `user` reaches the element through
 *   flows, −1 when no user reaches it; access +2 white_box, +1 grey_box; outputs +1
 *   probabilities or logits, −1 labels only (inference attacks); pii +1 when personal data is
 *   connected; source +2 web or user_generated, +1 third_party or unstated; unauthenticated
 *   +1 when a flow into the element from another trust zone is not authenticated;
 *   indirect_sources +1 when the LLM reads retrieved documents, web data or tool results;
 * - every control in `controls` that mitigates the threat lowers likelihood by its strength
 *   (1 partial, 2 strong) and is listed in `mitigated_by`; likelihood stays within 1–5;
 * - impact starts at the rule's base and rises: pii +1 (+2 for privacy attacks on a model),
 *   regulated +1 when `regulated_data` is declared, secrets +3 when the system prompt holds
 *   secrets, tools +2 when the LLM has tools, public +1 when internet-facing; within 1–5;
 * - risk = likelihood × impact; level critical ≥ 20, high ≥ 12, medium ≥ 6, else low.
 */

import { atlasName } from "../report/taxonomy.js";
import type { AtlasOverrides } from "./atlas-file.js";
import { CONTROL_MITIGATIONS } from "./catalogue.js";
import {
  AI_RULES,
  type AiRule,
  type ControlEffect,
  ELEMENT_KIND,
  type ImpactFactor,
  type LikelihoodFactor,
  type RuleContext,
  STRIDE_BY_KIND,
  STRIDE_ELEMENT_RULES,
  STRIDE_FLOW_RULES,
} from "./rules.js";
import {
  type Component,
  type ComponentType,
  type Flow,
  KNOWN_CONTROLS,
  type KnownControl,
  type RiskLevel,
  type Stride,
  type SystemDescription,
  type Threat,
  type ThreatModel,
} from "./types.js";

export const SCORING_METHOD = [
  "Risk = likelihood × impact, each scored 1–5 (risk 1–25).",
  "Likelihood starts at the rule's base and moves with the description: +1 when the system is internet-facing and a user reaches the element through flows (−1 when no user reaches it); +2 white-box, +1 grey-box access; +1 when the model returns probabilities or logits, −1 when it returns labels only; +1 when personal data is involved; +2 for web or user-generated data sources, +1 for third-party or unstated ones; +1 for an unauthenticated flow into the element from another trust zone; +1 when an LLM reads retrieved documents, web data or tool results.",
  "Each control listed in `controls` that mitigates the threat lowers likelihood by 1 (partial) or 2 (strong), never below 1, and is listed as mitigating it.",
  "Impact starts at the rule's base and rises: +1 for personal data (+2 for privacy attacks on a model), +1 for declared regulated data, +3 when the system prompt holds secrets, +2 when an LLM has tools, +1 for an internet-facing system where harm is public; at most 5.",
  "Level: critical ≥ 20, high ≥ 12, medium ≥ 6, low below.",
].join("\n");

const DATA_TYPES: ComponentType[] = ["training_data", "data_store", "feature_store", "vector_store", "external_data_source"];
const PRIVACY_MODEL_RULES = new Set(["AI-MEMBERSHIP-INVERSION"]);

export function analyze(system: SystemDescription, options: { atlas?: AtlasOverrides } = {}): ThreatModel {
  // The parser's warnings (line-numbered) come first; analysis adds what only it can see.
  const warnings: string[] = [...(system.warnings ?? [])];
  const byId = new Map(system.components.map((c) => [c.id, c]));
  const flows = system.flows.filter((f) => {
    const missing = [f.from, f.to].filter((id) => !byId.has(id));
    if (missing.length > 0) warnings.push(`flow ${f.from} -> ${f.to} names unknown component ${missing.join(", ")}; it was ignored.`);
    return missing.length === 0;
  });
  const present = new Set<KnownControl>();
  for (const raw of system.controls) {
    const text = raw.trim().toLowerCase();
    if ((KNOWN_CONTROLS as readonly string[]).includes(text)) present.add(text as KnownControl);
    else if (/^[a-z0-9_-]+$/.test(text) && !warnings.some((w) => w.includes(`"${raw}"`))) {
      // An id-like word that is not a known id is most likely a typo that would silently change nothing.
      warnings.push(
        `control "${raw}" is not a known control id, so it does not lower any risk; use one of ${KNOWN_CONTROLS.join(", ")}, or write it as a sentence.`,
      );
    }
  }
  for (const c of system.components) {
    if (!flows.some((f) => f.from === c.id || f.to === c.id)) warnings.push(`component ${c.id} has no flows; add the flows that reach it, or remove it.`);
  }

  const ctx = context(system, byId, flows);
  const threats = new Map<string, Threat>();
  const keep = (t: Threat) => {
    const prior = threats.get(t.id);
    if (!prior || prior.risk < t.risk) threats.set(t.id, t);
  };

  for (const rule of AI_RULES) {
    for (const c of system.components) if (rule.applies(c, ctx)) keep(aiThreat(rule, c, ctx, present));
  }
  for (const c of system.components) {
    for (const stride of STRIDE_BY_KIND[ELEMENT_KIND[c.type]]) keep(strideElementThreat(stride, c, ctx, present));
  }
  for (const f of flows) {
    const from = byId.get(f.from)!;
    const to = byId.get(f.to)!;
    if (from.trust_zone === to.trust_zone) continue;
    for (const rule of STRIDE_FLOW_RULES) {
      if (!rule.when(f, system)) continue;
      const base = { likelihood: 3, impact: 3 };
      const reasons: string[] = [`base: ${rule.title.toLowerCase()} (${from.trust_zone} → ${to.trust_zone})`];
      if (system.system.deployment === "internet-facing" && (from.type === "user" || from.type === "external_data_source")) {
        base.likelihood += 1;
        reasons.push("+1 likelihood: the sender is outside and the system is internet-facing");
      }
      if (rule.stride !== "spoofing" && rule.stride !== "repudiation" && (from.contains_pii || to.contains_pii)) {
        base.impact += 1;
        reasons.push("+1 impact: personal data on this flow");
      }
      keep(
        finish(
          {
            id: `FLOW-${rule.stride.toUpperCase()}@${f.from}->${f.to}`,
            rule: `FLOW-${rule.stride.toUpperCase()}`,
            title: `${rule.title}: ${f.from} → ${f.to}`,
            description: `${rule.description}${f.data ? ` Data: ${f.data}.` : ""}`,
            kind: "stride",
            stride: [rule.stride],
            target: { flow: { from: f.from, to: f.to } },
            atlas: [],
            owasp_ml: [],
            owasp_llm: [],
            rmf: ["Map", "Manage"],
          },
          base,
          reasons,
          rule.controls,
          present,
        ),
      );
    }
  }

  const sorted = [...threats.values()].sort((a, b) => b.risk - a.risk || b.impact - a.impact || a.id.localeCompare(b.id));
  if (options.atlas) {
    const names = { ...options.atlas.techniques, ...options.atlas.mitigations };
    for (const t of sorted) for (const m of t.mitigations) if (m.atlas) m.name = atlasName(m.atlas, names) ?? m.name;
  }
  return { system: system.system, description: system, threats: sorted, warnings, generated: new Date().toISOString() };
}

type Partial0 = Omit<Threat, "likelihood" | "impact" | "risk" | "level" | "rationale" | "mitigations" | "mitigated_by" | "evidence" | "status">;

function aiThreat(rule: AiRule, c: Component, ctx: RuleContext, present: Set<KnownControl>): Threat {
  const pick = (v: string[] | ((c: Component, ctx: RuleContext) => string[]) | undefined) => (typeof v === "function" ? v(c, ctx) : (v ?? []));
  const reasons = [`base likelihood ${rule.likelihood.base}, impact ${rule.impact.base} for ${rule.title.toLowerCase()}`];
  let likelihood = rule.likelihood.base;
  for (const f of rule.likelihood.factors) likelihood += likelihoodFactor(f, c, ctx, reasons);
  let impact = rule.impact.base;
  for (const f of rule.impact.factors) impact += impactFactor(f, c, ctx, reasons, PRIVACY_MODEL_RULES.has(rule.id));
  return finish(
    {
      id: `${rule.id}@${c.id}`,
      rule: rule.id,
      title: `${rule.title}: ${c.name ?? c.id}`,
      description: rule.description,
      kind: "ai",
      stride: rule.stride,
      target: { component: c.id },
      atlas: pick(rule.atlas),
      owasp_ml: pick(rule.owasp_ml),
      owasp_llm: pick(rule.owasp_llm),
      nist_class: rule.nist_class,
      rmf: rule.rmf,
    },
    { likelihood, impact },
    reasons,
    rule.controls,
    present,
  );
}

function strideElementThreat(stride: Stride, c: Component, ctx: RuleContext, present: Set<KnownControl>): Threat {
  const rule = STRIDE_ELEMENT_RULES[stride];
  const reasons = ["base likelihood 2, impact 2 for a STRIDE threat to an element"];
  let likelihood = 2;
  let impact = 2;
  if (ctx.system.system.deployment === "internet-facing" && ctx.reachable.has(c.id) && c.type !== "user") {
    likelihood += 1;
    reasons.push("+1 likelihood: internet-facing and reachable from users");
  }
  if ((stride === "information_disclosure" || stride === "tampering") && c.contains_pii) {
    impact += 1;
    reasons.push("+1 impact: holds personal data");
  }
  if (stride === "elevation_of_privilege" && (c.tools?.length ?? 0) > 0) {
    impact += 1;
    reasons.push("+1 impact: has tools");
  }
  return finish(
    {
      id: `STRIDE-${stride.toUpperCase()}@${c.id}`,
      rule: `STRIDE-${stride.toUpperCase()}`,
      title: `${rule.title} ${c.name ?? c.id}`,
      description: rule.description,
      kind: "stride",
      stride: [stride],
      target: { component: c.id },
      atlas: [],
      owasp_ml: [],
      owasp_llm: [],
      rmf: rule.rmf,
    },
    { likelihood, impact },
    reasons,
    rule.controls,
    present,
  );
}

function finish(t: Partial0, raw: { likelihood: number; impact: number }, reasons: string[], controls: ControlEffect[], present: Set<KnownControl>): Threat {
  let likelihood = clamp(raw.likelihood);
  const mitigatedBy: KnownControl[] = [];
  for (const { control, strength } of controls) {
    if (!present.has(control)) continue;
    mitigatedBy.push(control);
    const next = Math.max(1, likelihood - strength);
    reasons.push(`−${likelihood - next} likelihood: ${control} in place`);
    likelihood = next;
  }
  const impact = clamp(raw.impact);
  const risk = likelihood * impact;
  const rmf = [...t.rmf];
  if (!rmf.includes("Manage")) rmf.push("Manage");
  return {
    ...t,
    rmf,
    likelihood,
    impact,
    risk,
    level: level(risk),
    rationale: reasons,
    mitigations: controls.map(({ control }) => ({ ...CONTROL_MITIGATIONS[control], control })),
    mitigated_by: mitigatedBy,
    evidence: [],
    status: "untested",
  };
}

function likelihoodFactor(f: LikelihoodFactor, c: Component, ctx: RuleContext, reasons: string[]): number {
  const add = (n: number, why: string) => {
    if (n !== 0) reasons.push(`${n > 0 ? "+" : "−"}${Math.abs(n)} likelihood: ${why}`);
    return n;
  };
  switch (f) {
    case "exposure":
      if (!ctx.reachable.has(c.id)) return add(-1, "no user reaches it through the described flows");
      return ctx.system.system.deployment === "internet-facing" ? add(1, "internet-facing and reachable from users") : 0;
    case "access":
      return c.access === "white_box" ? add(2, "white-box access") : c.access === "grey_box" ? add(1, "grey-box access") : 0;
    case "outputs": {
      const outputs = outputsOf(c, ctx);
      if (outputs === "probabilities" || outputs === "logits") return add(1, `returns ${outputs}`);
      return outputs === "labels" ? add(-1, "returns labels only") : 0;
    }
    case "pii":
      return c.contains_pii || ctx.connected(c.id).some((o) => o.contains_pii) ? add(1, "personal data makes it a target") : 0;
    case "source": {
      // An LLM reads what its retriever finds, which flows towards it only as answers.
      const llm = c.type === "llm" || c.type === "agent";
      const around = llm ? ctx.connected(c.id) : ctx.upstream(c.id);
      // The model an LLM runs on is not content it reads; for everything else a third-party model is an input.
      const sources = [c, ...around].filter((d) => DATA_TYPES.includes(d.type) || (!llm && d.type === "third_party_model"));
      const worst = Math.max(0, ...sources.map(sourceRisk));
      if (worst === 2) return add(2, "data from the web or from users");
      if (worst === 1) return add(1, "data or model from a third party, or of unstated origin");
      return 0;
    }
    case "unauthenticated":
      return ctx.inflows(c.id).some((fl) => fl.authenticated !== true && ctx.byId.get(fl.from)?.trust_zone !== c.trust_zone)
        ? add(1, "unauthenticated flow in from another trust zone")
        : 0;
    case "indirect_sources":
      return ctx.connected(c.id).some((o) => ["rag_retriever", "vector_store", "external_data_source", "tool", "plugin"].includes(o.type)) ||
        (c.tools?.length ?? 0) > 0
        ? add(1, "reads retrieved documents, external data or tool results")
        : 0;
  }
}

function impactFactor(f: ImpactFactor, c: Component, ctx: RuleContext, reasons: string[], privacyOfModel: boolean): number {
  const add = (n: number, why: string) => {
    reasons.push(`+${n} impact: ${why}`);
    return n;
  };
  switch (f) {
    case "pii":
      return c.contains_pii || ctx.connected(c.id).some((o) => o.contains_pii) ? add(privacyOfModel ? 2 : 1, "personal data involved") : 0;
    case "regulated":
      return (ctx.system.system.regulated_data?.length ?? 0) > 0 ? add(1, `regulated data (${ctx.system.system.regulated_data!.join(", ")})`) : 0;
    case "secrets":
      return c.system_prompt_has_secrets ? add(3, "the system prompt holds secrets") : 0;
    case "tools":
      return (c.tools?.length ?? 0) > 0 || ctx.outflows(c.id).some((fl) => ["tool", "plugin"].includes(ctx.byId.get(fl.to)?.type ?? ""))
        ? add(2, "it can act through tools")
        : 0;
    case "public":
      return ctx.system.system.deployment === "internet-facing" ? add(1, "internet-facing: harm is public") : 0;
  }
}

/** 0 first party, 1 third party or unstated, 2 web or user-generated. */
function sourceRisk(d: Component): number {
  if (d.type === "third_party_model") return 1;
  if (d.source === "web" || d.source === "user_generated") return 2;
  if (d.source === "first_party") return 0;
  return d.type === "external_data_source" || d.source === "third_party" || d.source === undefined ? 1 : 0;
}

/** The outputs a model returns: its own, else those of an inference API in front of it. */
function outputsOf(c: Component, ctx: RuleContext): Component["outputs"] {
  if (c.outputs) return c.outputs;
  for (const f of ctx.inflows(c.id)) {
    const from = ctx.byId.get(f.from);
    if (from?.type === "inference_api" && from.outputs) return from.outputs;
  }
  return undefined;
}

function context(system: SystemDescription, byId: Map<string, Component>, flows: Flow[]): RuleContext {
  const out = new Map<string, Flow[]>();
  const inn = new Map<string, Flow[]>();
  for (const f of flows) {
    out.set(f.from, [...(out.get(f.from) ?? []), f]);
    inn.set(f.to, [...(inn.get(f.to) ?? []), f]);
  }
  const walk = (start: string[], next: (id: string) => string[]): Set<string> => {
    const seen = new Set(start);
    const queue = [...start];
    while (queue.length > 0) {
      for (const n of next(queue.shift()!)) {
        if (!seen.has(n)) {
          seen.add(n);
          queue.push(n);
        }
      }
    }
    return seen;
  };
  const users = system.components.filter((c) => c.type === "user").map((c) => c.id);
  // Requests follow flows from users; a component that answers a user directly is reachable too.
  const answering = flows.filter((f) => users.includes(f.to)).map((f) => f.from);
  const reachable = walk([...users, ...answering], (id) => (out.get(id) ?? []).map((f) => f.to));
  for (const u of users) reachable.delete(u);
  const cache = new Map<string, Component[]>();
  const memo = (key: string, f: () => Component[]) => {
    if (!cache.has(key)) cache.set(key, f());
    return cache.get(key)!;
  };
  return {
    system,
    byId,
    reachable,
    upstream: (id) => memo(`u:${id}`, () => [...walk([id], (n) => (inn.get(n) ?? []).map((f) => f.from))].filter((n) => n !== id).map((n) => byId.get(n)!)),
    connected: (id) =>
      memo(`c:${id}`, () =>
        [...walk([id], (n) => [...(inn.get(n) ?? []).map((f) => f.from), ...(out.get(n) ?? []).map((f) => f.to)])]
          .filter((n) => n !== id)
          .map((n) => byId.get(n)!),
      ),
    inflows: (id) => inn.get(id) ?? [],
    outflows: (id) => out.get(id) ?? [],
    has: (type) => system.components.some((c) => c.type === type),
  };
}

function clamp(n: number): number {
  return Math.min(5, Math.max(1, n));
}

function level(risk: number): RiskLevel {
  return risk >= 20 ? "critical" : risk >= 12 ? "high" : risk >= 6 ? "medium" : "low";
}
