/**
 * What `aegis threat` adds to the shared taxonomy (report/taxonomy.ts): the STRIDE
 * categories, and for every known control the ATLAS mitigation it stands for and what
 * implements it in Aegis.
 */
import type { Entry } from "../report/taxonomy.js";
import type { KnownControl, Mitigation, Stride } from "./types.js";

export const STRIDE_CATEGORIES: Record<Stride, Entry> = {
  spoofing: { name: "Spoofing", description: "Pretending to be another user or component (authentication)." },
  tampering: { name: "Tampering", description: "Changing data, code or models without right (integrity)." },
  repudiation: { name: "Repudiation", description: "Acting without a trace that can be attributed (non-repudiation)." },
  information_disclosure: { name: "Information disclosure", description: "Exposing data to someone not entitled to it (confidentiality)." },
  denial_of_service: { name: "Denial of service", description: "Making the element unavailable (availability)." },
  elevation_of_privilege: { name: "Elevation of privilege", description: "Gaining rights one was not given (authorisation)." },
};

/** For every known control: the ATLAS mitigation it stands for and what implements it in Aegis. */
export const CONTROL_MITIGATIONS: Record<KnownControl, Omit<Mitigation, "control">> = {
  rate_limiting: { atlas: "AML.M0004", name: "Restrict Number of AI Model Queries", aegis: "guard.yaml: rate_limit" },
  authentication: { atlas: "AML.M0019", name: "Control Access to AI Models and Data in Production", aegis: "guard.yaml: auth (API keys or JWT)" },
  access_control: { atlas: "AML.M0005", name: "Control Access to AI Models and Data at Rest", aegis: "storage and registry permissions (outside Aegis)" },
  input_validation: { atlas: "AML.M0015", name: "Adversarial Input Detection", aegis: "guard.yaml: validation" },
  adversarial_training: { atlas: "AML.M0003", name: "Model Hardening", aegis: "aegis harden adversarial-training" },
  input_preprocessing: { atlas: "AML.M0010", name: "Input Restoration", aegis: "aegis harden preprocess / guard.yaml: preprocessing" },
  adversarial_detection: { atlas: "AML.M0015", name: "Adversarial Input Detection", aegis: "guard.yaml: adversarial_detection" },
  output_rounding: { atlas: "AML.M0002", name: "Passive AI Output Obfuscation", aegis: "guard.yaml: output.rounding" },
  output_labels_only: { atlas: "AML.M0002", name: "Passive AI Output Obfuscation", aegis: "guard.yaml: output.labels_only" },
  extraction_detection: { atlas: "AML.M0015", name: "Adversarial Input Detection", aegis: "guard.yaml: extraction_detection (PRADA)" },
  prompt_injection_filter: { atlas: "AML.M0020", name: "Generative AI Guardrails", aegis: "guard.yaml: llm.input_scanners: prompt_injection" },
  output_filtering: { atlas: "AML.M0020", name: "Generative AI Guardrails", aegis: "guard.yaml: llm.output_scanners" },
  pii_redaction: { atlas: "AML.M0020", name: "Generative AI Guardrails", aegis: "guard.yaml: llm.output_scanners: pii (redact)" },
  system_prompt_protection: { atlas: "AML.M0021", name: "Generative AI Guidelines", aegis: "guard.yaml: llm.output_scanners: system_prompt_leak" },
  tool_sandboxing: {
    atlas: "AML.M0028",
    name: "AI Agent Tools Permissions Configuration",
    aegis: "least-privilege tool permissions in the agent's configuration",
  },
  human_in_the_loop: { atlas: "AML.M0029", name: "Human In-the-Loop for AI Agent Actions", aegis: "approval step before consequential tool calls" },
  model_signing: { atlas: "AML.M0013", name: "Code Signing", aegis: "aegis sign / aegis verify" },
  model_scanning: { atlas: "AML.M0016", name: "Vulnerability Scanning", aegis: "aegis scan" },
  data_provenance: { atlas: "AML.M0025", name: "Maintain AI Dataset Provenance", aegis: "aegis sign on dataset snapshots" },
  data_validation: { atlas: "AML.M0007", name: "Sanitize Training Data", aegis: "aegis audit (poisoning detection on the training set)" },
  // DP-SGD has no ATLAS mitigation of its own; Model Hardening is the closest.
  dp_training: { atlas: "AML.M0003", name: "Model Hardening", aegis: "aegis train --dp" },
  federated_secure_aggregation: { atlas: "AML.M0012", name: "Encrypt Sensitive Information", aegis: "aegis train --federated --secure-aggregation" },
  encryption_in_transit: { atlas: "AML.M0012", name: "Encrypt Sensitive Information", aegis: "guard.yaml: tls" },
  encryption_at_rest: { atlas: "AML.M0012", name: "Encrypt Sensitive Information", aegis: "storage encryption (outside Aegis)" },
  audit_logging: { atlas: "AML.M0024", name: "AI Telemetry Logging", aegis: "guard.yaml: audit" },
  monitoring: { atlas: "AML.M0024", name: "AI Telemetry Logging", aegis: "guard.yaml: metrics (Prometheus) and the guard dashboard" },
  token_budget: { atlas: "AML.M0004", name: "Restrict Number of AI Model Queries", aegis: "guard.yaml: llm.token_budget" },
};
