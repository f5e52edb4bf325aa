/**
 * The rules that turn a system description into threats, as data: each rule says which
 * components (or flows) it applies to, what it cites (ATLAS, OWASP, NIST, STRIDE, AI RMF),
 * its base scores, the factors of the description that move them, and the controls that
 * mitigate it with their strength. analyze.ts evaluates them and does the scoring.
 */
import type { Component, ComponentType, Flow, KnownControl, RmfFunction, Stride, SystemDescription } from "./types.js";

/** Factors that raise likelihood; analyze.ts documents the amounts (SCORING_METHOD). */
export type LikelihoodFactor = "exposure" | "access" | "outputs" | "pii" | "source" | "unauthenticated" | "indirect_sources";
/** Factors that raise impact. */
export type ImpactFactor = "pii" | "regulated" | "secrets" | "tools" | "public";

export interface ControlEffect {
  control: KnownControl;
  /** How much likelihood it removes when present: 1 partial, 2 strong. */
  strength: 1 | 2;
}

/** What a rule knows about the system while it is evaluated. */
export interface RuleContext {
  system: SystemDescription;
  byId: Map<string, Component>;
  /** Components a `user` can send input to, following flows. */
  reachable: Set<string>;
  /** Data components that flow (directly or through others) into a component. */
  upstream(id: string): Component[];
  /** Components connected to a component, in either direction, at any distance. */
  connected(id: string): Component[];
  inflows(id: string): Flow[];
  outflows(id: string): Flow[];
  has(type: ComponentType): boolean;
}

export interface AiRule {
  id: string;
  title: string;
  description: string;
  stride: Stride[];
  rmf: RmfFunction[];
  nist_class?: string;
  applies(c: Component, ctx: RuleContext): boolean;
  atlas: string[] | ((c: Component, ctx: RuleContext) => string[]);
  owasp_ml?: string[] | ((c: Component, ctx: RuleContext) => string[]);
  owasp_llm?: string[] | ((c: Component, ctx: RuleContext) => string[]);
  likelihood: { base: number; factors: LikelihoodFactor[] };
  impact: { base: number; factors: ImpactFactor[] };
  controls: ControlEffect[];
}

const PARTICIPANTS: ComponentType[] = ["training_data", "data_store", "feature_store", "model", "training_pipeline", "client_app"];
const QUERY_FRONTS: ComponentType[] = ["user", "client_app", "api_gateway", "inference_api"];
const DATA_TYPES: ComponentType[] = ["training_data", "data_store", "feature_store", "vector_store", "external_data_source"];
const UNSAFE_FORMATS = /pickle|pkl|\.?pt$|pth|joblib|dill|\bh5\b|hdf5|keras|bin/i;

/** A model served for queries: a model, a third-party model, or an inference API that fronts no model of its own. */
export function isServedModel(c: Component, ctx: RuleContext): boolean {
  if (c.type === "model") return true;
  // A hosted or embedding model behind an LLM app is covered by the LLM rules; only one that callers query counts.
  if (c.type === "third_party_model") return ctx.inflows(c.id).some((f) => QUERY_FRONTS.includes(ctx.byId.get(f.from)?.type ?? "user"));
  if (c.type !== "inference_api") return false;
  return !ctx.outflows(c.id).some((f) => {
    const t = ctx.byId.get(f.to)?.type;
    return t === "model" || t === "third_party_model";
  });
}

/** A training pipeline that produces a model (not, say, a RAG ingestion job). */
export function trainsModel(c: Component, ctx: RuleContext): boolean {
  return c.type === "training_pipeline" && ctx.outflows(c.id).some((f) => ["model", "model_registry"].includes(ctx.byId.get(f.to)?.type ?? ""));
}

const isLlm = (c: Component): boolean => c.type === "llm" || c.type === "agent";
const hasTools = (c: Component, ctx: RuleContext): boolean =>
  (c.tools?.length ?? 0) > 0 || ctx.outflows(c.id).some((f) => ["tool", "plugin"].includes(ctx.byId.get(f.to)?.type ?? ""));
const untrustedContent = (c: Component, ctx: RuleContext): boolean =>
  hasTools(c, ctx) || ctx.connected(c.id).some((o) => ["rag_retriever", "vector_store", "external_data_source", "tool", "plugin"].includes(o.type));
const ragConnected = (c: Component, ctx: RuleContext): boolean => ctx.connected(c.id).some((o) => o.type === "rag_retriever" || o.type === "vector_store");
const piiConnected = (c: Component, ctx: RuleContext): boolean => c.contains_pii === true || ctx.connected(c.id).some((o) => o.contains_pii === true);
const feedsTraining = (c: Component, ctx: RuleContext): boolean =>
  c.type === "training_data" || ctx.connected(c.id).some((o) => trainsModel(o, ctx) && ctx.upstream(o.id).some((u) => u.id === c.id));
/** An aggregator of model updates from several other trust zones, or anything the user calls federated. */
function isFederatedAggregator(c: Component, ctx: RuleContext): boolean {
  if (!trainsModel(c, ctx)) return false;
  const senders = ctx.inflows(c.id).map((f) => ctx.byId.get(f.from)!);
  const zones = new Set(senders.filter((s) => PARTICIPANTS.includes(s.type) && s.trust_zone !== c.trust_zone).map((s) => s.trust_zone));
  const text = [c.id, c.name, c.description, ...ctx.inflows(c.id).map((f) => f.data)].join(" ");
  return zones.size >= 2 || /federat|model updates?\b/i.test(text);
}

export const AI_RULES: AiRule[] = [
  {
    id: "AI-EVASION",
    title: "Evasion of the model with adversarial inputs",
    description: "An attacker who can send inputs crafts small changes that make the model misclassify them, to slip past a decision the model guards.",
    stride: ["tampering"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "evasion",
    applies: isServedModel,
    atlas: (c) => ["AML.T0015", "AML.T0043", c.access === "white_box" ? "AML.T0043.000" : "AML.T0043.001", "AML.T0043.002"],
    owasp_ml: ["ML01"],
    likelihood: { base: 3, factors: ["exposure", "access", "outputs"] },
    impact: { base: 3, factors: ["regulated"] },
    controls: [
      { control: "adversarial_training", strength: 2 },
      { control: "adversarial_detection", strength: 1 },
      { control: "input_preprocessing", strength: 1 },
    ],
  },
  {
    id: "AI-EXTRACTION",
    title: "Model extraction through the inference API",
    description: "An attacker queries the model and trains a copy from its answers, stealing its value and gaining a white-box surrogate for further attacks.",
    stride: ["information_disclosure"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "privacy",
    applies: isServedModel,
    atlas: ["AML.T0024.002", "AML.T0040", "AML.T0048.004"],
    owasp_ml: ["ML05"],
    likelihood: { base: 2, factors: ["exposure", "outputs", "unauthenticated"] },
    impact: { base: 3, factors: [] },
    controls: [
      { control: "extraction_detection", strength: 2 },
      { control: "output_labels_only", strength: 2 },
      { control: "rate_limiting", strength: 1 },
      { control: "output_rounding", strength: 1 },
      { control: "authentication", strength: 1 },
    ],
  },
  {
    id: "AI-MEMBERSHIP-INVERSION",
    title: "Membership inference and model inversion",
    description: "From the model's answers an attacker tells whether a person's record was in the training set, or reconstructs training features.",
    stride: ["information_disclosure"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "privacy",
    applies: isServedModel,
    atlas: ["AML.T0024.000", "AML.T0024.001"],
    owasp_ml: ["ML03", "ML04"],
    likelihood: { base: 2, factors: ["exposure", "outputs", "pii"] },
    impact: { base: 2, factors: ["pii", "regulated"] },
    controls: [
      { control: "dp_training", strength: 2 },
      { control: "output_labels_only", strength: 1 },
      { control: "output_rounding", strength: 1 },
      { control: "rate_limiting", strength: 1 },
    ],
  },
  {
    id: "AI-POISONING",
    title: "Poisoning of training data",
    description: "Someone who can write to the data the model learns from inserts or alters examples to degrade it or plant a trigger.",
    stride: ["tampering"],
    rmf: ["Map", "Measure", "Manage", "Govern"],
    nist_class: "poisoning",
    applies: (c, ctx) => DATA_TYPES.includes(c.type) && c.type !== "vector_store" && feedsTraining(c, ctx),
    atlas: (c) => (c.source === "third_party" || c.source === "web" ? ["AML.T0020", "AML.T0010.002"] : ["AML.T0020"]),
    owasp_ml: ["ML02"],
    owasp_llm: (_c, ctx) => (ctx.has("llm") || ctx.has("agent") ? ["LLM04"] : []),
    likelihood: { base: 2, factors: ["source"] },
    impact: { base: 3, factors: ["regulated"] },
    controls: [
      { control: "data_validation", strength: 2 },
      { control: "data_provenance", strength: 1 },
      { control: "access_control", strength: 1 },
    ],
  },
  {
    id: "AI-BACKDOOR",
    title: "Backdoor planted in the model",
    description: "A model trained or supplied by someone else answers normally except on a trigger the attacker chose.",
    stride: ["tampering"],
    rmf: ["Map", "Measure", "Manage", "Govern"],
    nist_class: "poisoning",
    applies: (c, ctx) =>
      c.type === "third_party_model" ||
      (trainsModel(c, ctx) && ctx.upstream(c.id).some((u) => u.type === "third_party_model" || (u.source !== undefined && u.source !== "first_party"))),
    atlas: ["AML.T0018", "AML.T0018.000", "AML.T0043.004"],
    owasp_ml: (c) => (c.type === "third_party_model" ? ["ML10", "ML07"] : ["ML10"]),
    likelihood: { base: 2, factors: ["source"] },
    impact: { base: 4, factors: [] },
    controls: [
      { control: "model_scanning", strength: 1 },
      { control: "data_validation", strength: 1 },
      { control: "data_provenance", strength: 1 },
    ],
  },
  {
    id: "AI-SUPPLY-CHAIN",
    title: "Compromised model, library or build in the AI supply chain",
    description:
      "A third-party model file, ML dependency or CI job carries malicious code or weights into the system; unsafe model formats run code when loaded.",
    stride: ["tampering", "elevation_of_privilege"],
    rmf: ["Govern", "Map", "Measure", "Manage"],
    nist_class: "poisoning",
    applies: (c) => c.type === "third_party_model" || c.type === "ci_cd" || (c.type === "model" && UNSAFE_FORMATS.test(c.format ?? "")),
    atlas: (c) => {
      if (c.type === "ci_cd") return ["AML.T0010", "AML.T0010.001"];
      const ids = ["AML.T0010", "AML.T0010.003"];
      if (c.type === "third_party_model" || UNSAFE_FORMATS.test(c.format ?? "")) ids.push("AML.T0011.000");
      return ids;
    },
    owasp_ml: ["ML06"],
    owasp_llm: (_c, ctx) => (ctx.has("llm") || ctx.has("agent") ? ["LLM03"] : []),
    likelihood: { base: 3, factors: [] },
    impact: { base: 4, factors: [] },
    controls: [
      { control: "model_scanning", strength: 2 },
      { control: "model_signing", strength: 2 },
      { control: "access_control", strength: 1 },
    ],
  },
  {
    id: "AI-MODEL-THEFT",
    title: "Theft of model files from the registry",
    description: "An intruder copies trained models straight from where they are stored, skipping any API defence.",
    stride: ["information_disclosure"],
    rmf: ["Govern", "Manage"],
    applies: (c) => c.type === "model_registry",
    atlas: ["AML.T0025", "AML.T0035", "AML.T0048.004"],
    owasp_ml: ["ML05"],
    likelihood: { base: 2, factors: ["unauthenticated"] },
    impact: { base: 3, factors: [] },
    controls: [
      { control: "access_control", strength: 2 },
      { control: "encryption_at_rest", strength: 1 },
      { control: "audit_logging", strength: 1 },
    ],
  },
  {
    id: "AI-FL-POISONING",
    title: "Poisoned updates from federated participants",
    description: "A participant sends crafted model updates that degrade the shared model or plant a backdoor in it.",
    stride: ["tampering"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "poisoning",
    applies: isFederatedAggregator,
    atlas: ["AML.T0020", "AML.T0018.000"],
    owasp_ml: ["ML02", "ML10"],
    likelihood: { base: 3, factors: ["unauthenticated"] },
    impact: { base: 4, factors: ["regulated"] },
    controls: [
      { control: "data_validation", strength: 2 },
      { control: "authentication", strength: 1 },
      { control: "monitoring", strength: 1 },
    ],
  },
  {
    id: "AI-FL-LEAKAGE",
    title: "Training data reconstructed from federated updates",
    description: "Whoever sees individual participants' updates can infer or reconstruct the records they were computed from.",
    stride: ["information_disclosure"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "privacy",
    applies: isFederatedAggregator,
    atlas: ["AML.T0024.000", "AML.T0024.001"],
    owasp_ml: ["ML03", "ML04"],
    likelihood: { base: 2, factors: ["pii"] },
    impact: { base: 3, factors: ["pii", "regulated"] },
    controls: [
      { control: "federated_secure_aggregation", strength: 2 },
      { control: "dp_training", strength: 2 },
    ],
  },
  {
    id: "LLM-PROMPT-INJECTION",
    title: "Direct prompt injection",
    description: "A user writes instructions that override the system prompt; with tools or data access the LLM then acts for the attacker.",
    stride: ["tampering", "elevation_of_privilege"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "misuse",
    applies: isLlm,
    atlas: ["AML.T0051", "AML.T0051.000"],
    owasp_llm: ["LLM01"],
    likelihood: { base: 3, factors: ["exposure"] },
    impact: { base: 2, factors: ["tools", "secrets", "pii"] },
    controls: [
      { control: "prompt_injection_filter", strength: 2 },
      { control: "input_validation", strength: 1 },
      { control: "human_in_the_loop", strength: 1 },
    ],
  },
  {
    id: "LLM-INDIRECT-INJECTION",
    title: "Indirect prompt injection through retrieved content or tool results",
    description: "Instructions hidden in documents, web pages or tool output the LLM reads are followed as if they came from its owner.",
    stride: ["tampering", "elevation_of_privilege"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "abuse",
    applies: (c, ctx) => isLlm(c) && untrustedContent(c, ctx),
    atlas: (c, ctx) => (ragConnected(c, ctx) ? ["AML.T0051", "AML.T0051.001", "AML.T0070"] : ["AML.T0051", "AML.T0051.001"]),
    owasp_llm: (c, ctx) => (ragConnected(c, ctx) ? ["LLM01", "LLM08"] : ["LLM01"]),
    likelihood: { base: 2, factors: ["indirect_sources", "source"] },
    impact: { base: 2, factors: ["tools", "secrets", "pii"] },
    controls: [
      { control: "prompt_injection_filter", strength: 1 },
      { control: "data_validation", strength: 1 },
      { control: "tool_sandboxing", strength: 1 },
      { control: "human_in_the_loop", strength: 1 },
    ],
  },
  {
    id: "AI-RAG-POISONING",
    title: "Poisoning of the retrieval corpus",
    description: "Content planted in the documents or embeddings the retriever serves reaches the LLM as trusted context.",
    stride: ["tampering"],
    rmf: ["Map", "Manage", "Govern"],
    nist_class: "poisoning",
    applies: (c, ctx) => c.type === "vector_store" || (c.type === "rag_retriever" && !ctx.has("vector_store")),
    atlas: ["AML.T0070"],
    owasp_llm: ["LLM08", "LLM04"],
    likelihood: { base: 2, factors: ["source"] },
    impact: { base: 3, factors: ["tools"] },
    controls: [
      { control: "data_validation", strength: 2 },
      { control: "data_provenance", strength: 1 },
      { control: "access_control", strength: 1 },
    ],
  },
  {
    id: "LLM-JAILBREAK",
    title: "Jailbreak of the LLM's safety rules",
    description: "Users talk the LLM into content or actions its owner forbids, with harm to users and the owner's reputation.",
    stride: ["elevation_of_privilege"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "misuse",
    applies: (c, ctx) => isLlm(c) && ctx.reachable.has(c.id),
    atlas: ["AML.T0054", "AML.T0048"],
    owasp_llm: ["LLM01"],
    likelihood: { base: 3, factors: ["exposure"] },
    impact: { base: 2, factors: ["public", "tools"] },
    controls: [
      { control: "prompt_injection_filter", strength: 1 },
      { control: "output_filtering", strength: 1 },
    ],
  },
  {
    id: "LLM-SYSTEM-PROMPT-LEAK",
    title: "System prompt leakage",
    description: "The LLM is asked to repeat its hidden instructions; any credentials or business rules in them are then exposed.",
    stride: ["information_disclosure"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "privacy",
    applies: isLlm,
    atlas: ["AML.T0056"],
    owasp_llm: ["LLM07"],
    likelihood: { base: 3, factors: ["exposure"] },
    impact: { base: 1, factors: ["secrets"] },
    controls: [
      { control: "system_prompt_protection", strength: 2 },
      { control: "output_filtering", strength: 1 },
    ],
  },
  {
    id: "LLM-SENSITIVE-DISCLOSURE",
    title: "Sensitive information disclosure by the LLM",
    description: "The LLM repeats personal or confidential data it was trained on or can retrieve to someone not entitled to it.",
    stride: ["information_disclosure"],
    rmf: ["Map", "Measure", "Manage"],
    nist_class: "privacy",
    applies: (c, ctx) => isLlm(c) && piiConnected(c, ctx),
    atlas: ["AML.T0057"],
    owasp_llm: ["LLM02"],
    likelihood: { base: 3, factors: ["exposure"] },
    impact: { base: 3, factors: ["regulated"] },
    controls: [
      { control: "pii_redaction", strength: 2 },
      { control: "output_filtering", strength: 1 },
      { control: "access_control", strength: 1 },
    ],
  },
  {
    id: "LLM-EXCESSIVE-AGENCY",
    title: "Excessive agency of the LLM's tools",
    description: "The LLM can call tools with more reach than its task needs, so one manipulated answer becomes a real action.",
    stride: ["elevation_of_privilege"],
    rmf: ["Govern", "Map", "Manage"],
    applies: (c, ctx) => isLlm(c) && hasTools(c, ctx),
    atlas: ["AML.T0053"],
    owasp_llm: ["LLM06"],
    likelihood: { base: 2, factors: ["exposure", "indirect_sources"] },
    impact: { base: 3, factors: ["tools", "pii"] },
    controls: [
      { control: "tool_sandboxing", strength: 2 },
      { control: "human_in_the_loop", strength: 2 },
      { control: "access_control", strength: 1 },
    ],
  },
  {
    id: "LLM-OUTPUT-HANDLING",
    title: "Improper handling of LLM output downstream",
    description: "LLM output is rendered, executed or passed to tools without validation, turning an injection into script, query or command execution.",
    stride: ["tampering", "elevation_of_privilege"],
    rmf: ["Map", "Manage"],
    applies: isLlm,
    atlas: ["AML.T0077"],
    owasp_llm: ["LLM05"],
    likelihood: { base: 2, factors: ["exposure"] },
    impact: { base: 2, factors: ["tools"] },
    controls: [
      { control: "output_filtering", strength: 2 },
      { control: "tool_sandboxing", strength: 1 },
    ],
  },
  {
    id: "LLM-MISINFORMATION",
    title: "Misinformation acted upon",
    description: "Confident but wrong answers are trusted by users or downstream processes.",
    stride: [],
    rmf: ["Govern", "Map", "Manage"],
    applies: (c, ctx) => isLlm(c) && ctx.reachable.has(c.id),
    atlas: ["AML.T0048"],
    owasp_llm: ["LLM09"],
    likelihood: { base: 3, factors: [] },
    impact: { base: 2, factors: ["regulated"] },
    controls: [
      { control: "human_in_the_loop", strength: 1 },
      { control: "output_filtering", strength: 1 },
    ],
  },
  {
    id: "AI-DOS",
    title: "Denial of service and cost harvesting",
    description: "Floods of queries, or inputs that are expensive to process, make the service slow, unavailable or costly to run.",
    stride: ["denial_of_service"],
    rmf: ["Map", "Manage"],
    nist_class: "availability",
    applies: (c, ctx) => (isLlm(c) || c.type === "inference_api") && ctx.reachable.has(c.id),
    atlas: (c) => (isLlm(c) ? ["AML.T0029", "AML.T0034"] : ["AML.T0029", "AML.T0034", "AML.T0040"]),
    owasp_llm: (c) => (isLlm(c) ? ["LLM10"] : []),
    likelihood: { base: 2, factors: ["exposure", "unauthenticated"] },
    impact: { base: 2, factors: ["public"] },
    controls: [
      { control: "rate_limiting", strength: 2 },
      { control: "token_budget", strength: 2 },
      { control: "authentication", strength: 1 },
      { control: "monitoring", strength: 1 },
    ],
  },
];

/** How the STRIDE-per-element rules see each component type. */
export type ElementKind = "external" | "store" | "process";

export const ELEMENT_KIND: Record<ComponentType, ElementKind> = {
  user: "external",
  external_data_source: "external",
  client_app: "process",
  api_gateway: "process",
  inference_api: "process",
  model: "process",
  llm: "process",
  agent: "process",
  tool: "process",
  plugin: "process",
  rag_retriever: "process",
  training_pipeline: "process",
  ci_cd: "process",
  third_party_model: "process",
  monitoring: "process",
  training_data: "store",
  data_store: "store",
  feature_store: "store",
  vector_store: "store",
  model_registry: "store",
};

export const STRIDE_BY_KIND: Record<ElementKind, Stride[]> = {
  external: ["spoofing", "repudiation"],
  store: ["tampering", "information_disclosure", "denial_of_service"],
  process: ["spoofing", "tampering", "repudiation", "information_disclosure", "denial_of_service", "elevation_of_privilege"],
};

export interface StrideRule {
  title: string;
  description: string;
  rmf: RmfFunction[];
  controls: ControlEffect[];
}

export const STRIDE_ELEMENT_RULES: Record<Stride, StrideRule> = {
  spoofing: {
    title: "Spoofing of",
    description: "Something pretends to be this element, or to be a caller it trusts.",
    rmf: ["Map", "Manage"],
    controls: [
      { control: "authentication", strength: 2 },
      { control: "access_control", strength: 1 },
    ],
  },
  tampering: {
    title: "Tampering with",
    description: "Its data, code or model is changed by someone without the right to.",
    rmf: ["Map", "Manage"],
    controls: [
      { control: "access_control", strength: 1 },
      { control: "model_signing", strength: 1 },
      { control: "input_validation", strength: 1 },
    ],
  },
  repudiation: {
    title: "Repudiation of actions by",
    description: "Actions taken by or through this element cannot be traced afterwards.",
    rmf: ["Govern", "Manage"],
    controls: [
      { control: "audit_logging", strength: 2 },
      { control: "monitoring", strength: 1 },
    ],
  },
  information_disclosure: {
    title: "Information disclosure from",
    description: "Data it holds or handles reaches someone not entitled to it.",
    rmf: ["Map", "Manage"],
    controls: [
      { control: "access_control", strength: 2 },
      { control: "encryption_at_rest", strength: 1 },
    ],
  },
  denial_of_service: {
    title: "Denial of service of",
    description: "It is made unavailable or too slow to use.",
    rmf: ["Map", "Manage"],
    controls: [
      { control: "rate_limiting", strength: 2 },
      { control: "monitoring", strength: 1 },
    ],
  },
  elevation_of_privilege: {
    title: "Elevation of privilege through",
    description: "A caller gets it to do what the caller alone could not.",
    rmf: ["Map", "Manage"],
    controls: [
      { control: "access_control", strength: 2 },
      { control: "input_validation", strength: 1 },
      { control: "tool_sandboxing", strength: 1 },
    ],
  },
};

/** STRIDE on a flow that crosses a trust boundary: which property is missing and what fixes it. */
export const STRIDE_FLOW_RULES: {
  stride: Stride;
  when(f: Flow, s: SystemDescription): boolean;
  title: string;
  description: string;
  controls: ControlEffect[];
}[] = [
  {
    stride: "spoofing",
    when: (f) => f.authenticated !== true,
    title: "Unauthenticated flow across a trust boundary",
    description: "The receiver cannot tell who sent this data, so anyone who reaches it can impersonate the sender.",
    controls: [{ control: "authentication", strength: 2 }],
  },
  {
    stride: "tampering",
    when: (f) => f.encrypted !== true,
    title: "Unprotected flow can be altered in transit",
    description: "Without an integrity-protected channel, data crossing the boundary can be changed on the way.",
    controls: [{ control: "encryption_in_transit", strength: 2 }],
  },
  {
    stride: "information_disclosure",
    when: (f) => f.encrypted !== true,
    title: "Unencrypted flow across a trust boundary",
    description: "Data crossing the boundary in clear can be read by anyone on the path.",
    controls: [{ control: "encryption_in_transit", strength: 2 }],
  },
  {
    stride: "repudiation",
    when: (_f, s) => !s.controls.some((c) => c.trim().toLowerCase() === "audit_logging"),
    title: "Requests across the boundary are not logged",
    description: "With no audit log a sender can deny having sent a request, and an attack leaves no trail.",
    controls: [{ control: "audit_logging", strength: 2 }],
  },
];
