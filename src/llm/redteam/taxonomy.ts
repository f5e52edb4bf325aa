/**
 * Names of the OWASP Top 10 for LLM Applications (2025) entries and MITRE ATLAS techniques
 * the red-team plugins cite, so the report can print "LLM07 System Prompt Leakage" rather
 * than bare ids. ATLAS names follow the ATLAS data releases of 2025–2026 (AML.T0056, once
 * "LLM Meta Prompt Extraction", is now "Extract LLM System Prompt").
 */

export const OWASP_LLM_2025: Record<string, string> = {
  LLM01: "Prompt Injection",
  LLM02: "Sensitive Information Disclosure",
  LLM03: "Supply Chain",
  LLM04: "Data and Model Poisoning",
  LLM05: "Improper Output Handling",
  LLM06: "Excessive Agency",
  LLM07: "System Prompt Leakage",
  LLM08: "Vector and Embedding Weaknesses",
  LLM09: "Misinformation",
  LLM10: "Unbounded Consumption",
};

export const ATLAS_TECHNIQUES: Record<string, string> = {
  "AML.T0029": "Denial of AI Service",
  "AML.T0034": "Cost Harvesting",
  "AML.T0051": "LLM Prompt Injection",
  "AML.T0051.000": "LLM Prompt Injection: Direct",
  "AML.T0051.001": "LLM Prompt Injection: Indirect",
  "AML.T0054": "LLM Jailbreak",
  "AML.T0056": "Extract LLM System Prompt",
  "AML.T0057": "LLM Data Leakage",
  "AML.T0068": "LLM Prompt Obfuscation",
  "AML.T0077": "LLM Response Rendering",
};

export function owaspName(id: string): string {
  return OWASP_LLM_2025[id] ?? id;
}

export function atlasName(id: string): string {
  return ATLAS_TECHNIQUES[id] ?? id;
}
