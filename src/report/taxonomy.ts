/**
 * The public taxonomies findings are filed under, with names and links: MITRE ATLAS
 * techniques and mitigations, the OWASP Machine Learning Security Top 10 (2023) and Top 10
 * for LLM Applications (2025), and NIST AI 100-2 E2025 attack classes. Ids and names are
 * the published ones (checked against ATLAS 5.6.0); the descriptions are Aegis's own short
 * wording. `aegis threat --atlas FILE` can refresh ATLAS names from a newer release.
 */
import type { Reference } from "./finding.js";

export interface Entry {
  name: string;
  description: string;
}

export const ATLAS_TECHNIQUES: Record<string, Entry> = {
  "AML.T0010": { name: "AI Supply Chain Compromise", description: "An attacker tampers with something the AI system is built from before it reaches you." },
  "AML.T0010.001": { name: "AI Software", description: "A compromised ML library, build step or CI job." },
  "AML.T0010.002": { name: "Data", description: "A compromised dataset obtained from outside." },
  "AML.T0010.003": { name: "Model", description: "A compromised pre-trained model obtained from outside." },
  "AML.T0011": { name: "User Execution", description: "Someone on the inside is led to run something malicious." },
  "AML.T0011.000": { name: "Unsafe AI Artifacts", description: "Loading a model file in a format that can execute code (pickle and relatives)." },
  "AML.T0015": { name: "Evade AI Model", description: "Inputs crafted so the model gets them wrong while a person would not." },
  "AML.T0018": { name: "Manipulate AI Model", description: "Changing a model's weights or structure to plant behaviour such as a backdoor." },
  "AML.T0018.000": { name: "Poison AI Model", description: "Training or fine-tuning a model so that it answers a trigger the attacker chose." },
  "AML.T0020": { name: "Poison Training Data", description: "Inserting or altering training examples to degrade the model or plant a trigger." },
  "AML.T0024": { name: "Exfiltration via AI Inference API", description: "Learning private things through ordinary queries to the model." },
  "AML.T0024.000": { name: "Infer Training Data Membership", description: "Telling from the model's answers whether a given record was in its training set." },
  "AML.T0024.001": { name: "Invert AI Model", description: "Reconstructing training inputs or their features from the model's outputs." },
  "AML.T0024.002": { name: "Extract AI Model", description: "Training a functional copy of the model from its answers." },
  "AML.T0025": { name: "Exfiltration via Cyber Means", description: "Stealing model files or data by conventional intrusion." },
  "AML.T0029": { name: "Denial of AI Service", description: "Making the AI service slow, costly or unavailable." },
  "AML.T0034": { name: "Cost Harvesting", description: "Running up the owner's compute bill with expensive queries." },
  "AML.T0035": { name: "AI Artifact Collection", description: "Gathering models, datasets and configuration for later use." },
  "AML.T0040": { name: "AI Model Inference API Access", description: "Using the public prediction API as the way in." },
  "AML.T0043": { name: "Craft Adversarial Data", description: "Computing inputs that push the model to a wrong or chosen answer." },
  "AML.T0043.000": { name: "White-Box Optimization", description: "Crafting with the model's gradients in hand." },
  "AML.T0043.001": { name: "Black-Box Optimization", description: "Crafting from the model's answers to many queries." },
  "AML.T0043.002": { name: "Black-Box Transfer", description: "Crafting on a surrogate model and replaying the inputs on the target." },
  "AML.T0043.003": { name: "Manual Modification", description: "Hand-made changes such as stickers, typos or paraphrases." },
  "AML.T0043.004": { name: "Insert Backdoor Trigger", description: "Adding the trigger a poisoned model was trained to obey." },
  "AML.T0048": { name: "External Harms", description: "Harm to people, money or reputation caused through the AI system." },
  "AML.T0048.004": { name: "AI Intellectual Property Theft", description: "Losing the value of a model to someone who copied it." },
  "AML.T0051": { name: "LLM Prompt Injection", description: "Text that makes an LLM follow the attacker's instructions instead of yours." },
  "AML.T0051.000": { name: "Direct", description: "The attacker types the instructions into the conversation." },
  "AML.T0051.001": { name: "Indirect", description: "The instructions arrive inside content the LLM reads: documents, web pages, tool results." },
  "AML.T0053": { name: "AI Agent Tool Invocation", description: "Steering an LLM agent into calling its tools for the attacker." },
  "AML.T0054": { name: "LLM Jailbreak", description: "Prompts that talk an LLM out of its safety rules." },
  "AML.T0056": { name: "Extract LLM System Prompt", description: "Getting an LLM to reveal its hidden instructions." },
  "AML.T0057": { name: "LLM Data Leakage", description: "An LLM revealing sensitive data it was trained on or can read." },
  "AML.T0068": { name: "LLM Prompt Obfuscation", description: "Hiding instructions from filters by encoding, translating or splitting them." },
  "AML.T0070": { name: "RAG Poisoning", description: "Planting content in a retrieval corpus so it is fed to the LLM." },
  "AML.T0077": { name: "LLM Response Rendering", description: "LLM output that does harm when a client renders or executes it." },
};

export const ATLAS_MITIGATIONS: Record<string, Entry> = {
  "AML.M0002": { name: "Passive AI Output Obfuscation", description: "Return less precise outputs: rounded scores or labels only." },
  "AML.M0003": { name: "Model Hardening", description: "Train the model to resist attacks, e.g. adversarial training." },
  "AML.M0004": { name: "Restrict Number of AI Model Queries", description: "Cap how many queries a client can send." },
  "AML.M0005": { name: "Control Access to AI Models and Data at Rest", description: "Limit who can read or change stored models and data." },
  "AML.M0007": { name: "Sanitize Training Data", description: "Find and remove suspicious training examples." },
  "AML.M0008": { name: "Validate AI Model", description: "Test the model for backdoors and weaknesses before use." },
  "AML.M0010": { name: "Input Restoration", description: "Preprocess inputs to wash out adversarial perturbations." },
  "AML.M0012": { name: "Encrypt Sensitive Information", description: "Encrypt models and data in transit and at rest." },
  "AML.M0013": { name: "Code Signing", description: "Sign artefacts and refuse unsigned ones." },
  "AML.M0014": { name: "Verify AI Artifacts", description: "Check hashes and signatures of models and datasets before use." },
  "AML.M0015": { name: "Adversarial Input Detection", description: "Detect and block atypical or attack queries." },
  "AML.M0016": { name: "Vulnerability Scanning", description: "Scan model files and dependencies for unsafe content." },
  "AML.M0019": { name: "Control Access to AI Models and Data in Production", description: "Authenticate and authorise every caller of the model." },
  "AML.M0020": { name: "Generative AI Guardrails", description: "Filter what goes into and comes out of an LLM." },
  "AML.M0021": { name: "Generative AI Guidelines", description: "Instructions and design that keep an LLM within bounds." },
  "AML.M0024": { name: "AI Telemetry Logging", description: "Log queries and outputs so attacks can be seen and traced." },
  "AML.M0025": { name: "Maintain AI Dataset Provenance", description: "Know where each piece of training data came from." },
  "AML.M0028": { name: "AI Agent Tools Permissions Configuration", description: "Give an agent's tools the least privilege they need." },
  "AML.M0029": { name: "Human In-the-Loop for AI Agent Actions", description: "A person approves consequential agent actions." },
};

export const OWASP_ML: Record<string, Entry> = {
  ML01: { name: "Input Manipulation Attack", description: "Adversarial inputs that change the model's decision." },
  ML02: { name: "Data Poisoning Attack", description: "Tampered training data." },
  ML03: { name: "Model Inversion Attack", description: "Reconstructing training data from the model." },
  ML04: { name: "Membership Inference Attack", description: "Learning whether a record was used for training." },
  ML05: { name: "Model Theft", description: "Copying the model, through its API or its files." },
  ML06: { name: "AI Supply Chain Attacks", description: "Compromised libraries, models or data from outside." },
  ML07: { name: "Transfer Learning Attack", description: "A weakness inherited from a pre-trained base model." },
  ML08: { name: "Model Skewing", description: "Feedback data steered to shift the model over time." },
  ML09: { name: "Output Integrity Attack", description: "Tampering with predictions after the model made them." },
  ML10: { name: "Model Poisoning", description: "Direct manipulation of the model's parameters." },
};

export const OWASP_LLM: Record<string, Entry> = {
  LLM01: { name: "Prompt Injection", description: "Input that overrides the LLM's instructions." },
  LLM02: { name: "Sensitive Information Disclosure", description: "The LLM reveals personal or confidential data." },
  LLM03: { name: "Supply Chain", description: "Compromised models, adapters, data or packages." },
  LLM04: { name: "Data and Model Poisoning", description: "Tampered pre-training, fine-tuning or embedding data." },
  LLM05: { name: "Improper Output Handling", description: "LLM output used downstream without validation." },
  LLM06: { name: "Excessive Agency", description: "An LLM with more tools, permissions or autonomy than it needs." },
  LLM07: { name: "System Prompt Leakage", description: "Secrets or logic in the system prompt get revealed." },
  LLM08: { name: "Vector and Embedding Weaknesses", description: "Poisoned or leaky retrieval stores and embeddings." },
  LLM09: { name: "Misinformation", description: "Confident wrong answers that people act on." },
  LLM10: { name: "Unbounded Consumption", description: "Uncontrolled use that exhausts cost, capacity or the model." },
};

/** NIST AI 100-2 attack classes (and the availability goal, for denial of service). */
export const NIST_CLASSES: Record<string, Entry> = {
  evasion: { name: "Evasion", description: "Test-time inputs that cause wrong outputs (integrity violation)." },
  poisoning: { name: "Poisoning", description: "Training-time tampering with data or model (integrity or availability violation)." },
  privacy: { name: "Privacy", description: "Membership inference, data reconstruction or model extraction (privacy violation)." },
  abuse: { name: "Abuse", description: "GenAI fed hostile content through sources it trusts, e.g. indirect prompt injection." },
  misuse: { name: "Misuse", description: "GenAI talked into producing output its owner forbids (misuse enablement)." },
  availability: { name: "Availability", description: "Attacks on the service's capacity or cost (availability violation)." },
};

/** Name of an ATLAS technique or mitigation id: from a loaded ATLAS file first, then the built-in catalogue. */
export function atlasName(id: string, overrides?: Record<string, string>): string | undefined {
  return overrides?.[id] ?? ATLAS_TECHNIQUES[id]?.name ?? ATLAS_MITIGATIONS[id]?.name;
}

const kebab = (s: string) =>
  s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-|-$/g, "");

/**
 * The reference for a taxonomy id: AML.T…/AML.M… (ATLAS), ML01–ML10, LLM01–LLM10, or a
 * NIST AI 100-2 class name. An id outside the catalogue keeps the id as its name.
 */
export function reference(id: string, atlasNames?: Record<string, string>): Reference {
  if (id.startsWith("AML.")) {
    const kind = id.startsWith("AML.M") ? "mitigations" : "techniques";
    return { framework: "MITRE ATLAS", id, name: atlasName(id, atlasNames) ?? id, url: `https://atlas.mitre.org/${kind}/${id}` };
  }
  if (/^ML\d\d$/.test(id)) {
    const name = OWASP_ML[id]?.name ?? id;
    return {
      framework: "OWASP ML Top 10",
      id,
      name,
      url: `https://owasp.org/www-project-machine-learning-security-top-10/docs/${id}_2023-${name.replace(/[^A-Za-z0-9]+/g, "_")}`,
    };
  }
  if (/^LLM\d\d$/.test(id)) {
    const name = OWASP_LLM[id]?.name ?? id;
    return { framework: "OWASP LLM Top 10", id, name, url: `https://genai.owasp.org/llmrisk/${id.toLowerCase()}-${kebab(name)}/` };
  }
  return { framework: "NIST AI 100-2", id, name: NIST_CLASSES[id]?.name ?? id, url: "https://csrc.nist.gov/pubs/ai/100/2/e2025/final" };
}

/** References for a list of ids, in order. */
export function references(ids: readonly string[], atlasNames?: Record<string, string>): Reference[] {
  return ids.map((id) => reference(id, atlasNames));
}
