/**
 * The shared vocabulary of `aegis threat`: the system description a user writes
 * (system.yaml, schema/system.schema.json), the threats the rules derive from it, and the
 * evidence from Aegis's own reports that marks a threat tested.
 */

export const COMPONENT_TYPES = [
  "user",
  "client_app",
  "api_gateway",
  "inference_api",
  "model",
  "llm",
  "agent",
  "tool",
  "plugin",
  "vector_store",
  "rag_retriever",
  "training_pipeline",
  "training_data",
  "data_store",
  "feature_store",
  "model_registry",
  "ci_cd",
  "external_data_source",
  "third_party_model",
  "monitoring",
] as const;
export type ComponentType = (typeof COMPONENT_TYPES)[number];

/** Control ids the rules know; other strings in `controls` are kept as free text. */
export const KNOWN_CONTROLS = [
  "rate_limiting",
  "authentication",
  "input_validation",
  "adversarial_training",
  "input_preprocessing",
  "adversarial_detection",
  "output_rounding",
  "output_labels_only",
  "extraction_detection",
  "prompt_injection_filter",
  "output_filtering",
  "pii_redaction",
  "system_prompt_protection",
  "tool_sandboxing",
  "human_in_the_loop",
  "model_signing",
  "model_scanning",
  "data_provenance",
  "data_validation",
  "dp_training",
  "federated_secure_aggregation",
  "encryption_in_transit",
  "encryption_at_rest",
  "audit_logging",
  "monitoring",
  "access_control",
  "token_budget",
] as const;
export type KnownControl = (typeof KNOWN_CONTROLS)[number];

export interface Component {
  id: string;
  type: ComponentType;
  name?: string;
  description?: string;
  trust_zone: string;
  /** model, third_party_model, inference_api */
  access?: "white_box" | "grey_box" | "black_box";
  outputs?: "labels" | "top_k" | "probabilities" | "logits";
  framework?: string;
  format?: string;
  /** llm, agent */
  system_prompt_has_secrets?: boolean;
  tools?: string[];
  /** training_data, data_store, feature_store, vector_store, external_data_source */
  contains_pii?: boolean;
  source?: "first_party" | "third_party" | "user_generated" | "web";
  /** Where in system.yaml the component is declared (1-based line), for messages. */
  line?: number;
}

export interface Flow {
  from: string;
  to: string;
  data?: string;
  protocol?: string;
  authenticated?: boolean;
  encrypted?: boolean;
  line?: number;
}

export interface SystemDescription {
  system: {
    name: string;
    owner?: string;
    description?: string;
    deployment: "internet-facing" | "internal";
    regulated_data?: string[];
  };
  components: Component[];
  flows: Flow[];
  /** Known control ids and free text, as written. */
  controls: string[];
  /**
   * Set by the parser (not a key of system.yaml) when the description is valid but probably
   * not what the author meant, e.g. a control one typo away from a known id.
   */
  warnings?: string[];
}

export type Stride = "spoofing" | "tampering" | "repudiation" | "information_disclosure" | "denial_of_service" | "elevation_of_privilege";
export type RmfFunction = "Govern" | "Map" | "Measure" | "Manage";
export type RiskLevel = "low" | "medium" | "high" | "critical";

export interface Mitigation {
  /** ATLAS mitigation id, e.g. AML.M0004. */
  atlas?: string;
  name: string;
  /** The control id in `controls` that stands for it. */
  control: KnownControl;
  /** The Aegis command or guard setting that implements it. */
  aegis: string;
}

export interface Evidence {
  /** Report file it came from and its kind. */
  source: string;
  kind: "audit" | "attack" | "redteam" | "scan" | "membership" | "inversion" | "attribute" | "extraction" | "data-inspection";
  /** One line: what was measured, e.g. "robust accuracy 0.0% under pgd at ε=0.3". */
  summary: string;
  /** Whether the measurement shows the threat mitigated. */
  mitigated: boolean;
  metrics?: Record<string, number>;
}

export interface Threat {
  /** Stable id: rule id plus the element, e.g. AI-EVASION@classifier. */
  id: string;
  rule: string;
  title: string;
  description: string;
  kind: "stride" | "ai";
  stride: Stride[];
  /** The component id, or the flow "from->to", the threat applies to. */
  target: { component?: string; flow?: { from: string; to: string } };
  atlas: string[];
  owasp_ml: string[];
  owasp_llm: string[];
  /** NIST AI 100-2 attack class, e.g. "evasion", "poisoning", "privacy", "abuse"/"misuse" (GenAI). */
  nist_class?: string;
  rmf: RmfFunction[];
  /** 1–5 each; risk = likelihood × impact (1–25). */
  likelihood: number;
  impact: number;
  risk: number;
  level: RiskLevel;
  /** Why the scores are what they are: one short reason per factor that moved them. */
  rationale: string[];
  mitigations: Mitigation[];
  /** Known controls present in the description that address this threat. */
  mitigated_by: KnownControl[];
  evidence: Evidence[];
  status: "untested" | "tested-mitigated" | "tested-vulnerable";
}

export interface ThreatModel {
  system: SystemDescription["system"];
  description: SystemDescription;
  threats: Threat[];
  warnings: string[];
  generated: string;
}
