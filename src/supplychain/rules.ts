/**
 * What every `aegis scan` rule is filed under and what to do about it, by rule family:
 * code that runs when a model is loaded (pickle globals, TorchScript, Keras Lambda layers,
 * TensorFlow Py ops, Jinja chat templates, ONNX custom ops) is ATLAS AML.T0011.000 Unsafe
 * AI Artifacts in a supply-chain compromise (AML.T0010.003); archive tricks and headers a
 * loader may read differently are supply-chain tampering; the rest tells what was not
 * fully scanned. Every family maps to OWASP ML06 and LLM03 (supply chain).
 */
import type { Finding, Severity } from "../report/finding.js";
import { references } from "../report/taxonomy.js";
import type { Location } from "./types.js";

interface Family {
  match: RegExp;
  cite: string[];
  recommendation: string;
}

const SUPPLY_CHAIN = ["AML.T0010.003", "ML06", "LLM03"];

const FAMILIES: readonly Family[] = [
  {
    match:
      /^(PICKLE-(DANGEROUS|COMPUTED|GETATTR|BUILD|UNKNOWN|NESTED)|TORCHSCRIPT-|KERAS-(LAMBDA|DANGEROUS|FOREIGN|CUSTOM)|SAVEDMODEL-(RISKY|SAVER)-OP|GGUF-CHAT-TEMPLATE-CODE|ONNX-CUSTOM-OP|ONNX-LOCAL-FUNCTION|NUMPY-OBJECT-ARRAY|SAFETENSORS-METADATA-CODE)/,
    cite: ["AML.T0011.000", ...SUPPLY_CHAIN],
    recommendation:
      "Do not load this file with its framework's loader (torch.load, pickle, keras.models.load_model, tf.saved_model.load) outside a sandbox; get the model from its publisher with a signature you verify (`aegis verify`), or have it re-exported as safetensors or ONNX, then `aegis scan` it again.",
  },
  {
    match: /^(ARCHIVE-|ZIP-|7Z-|ONNX-EXTERNAL-DATA-TRAVERSAL)/,
    cite: SUPPLY_CHAIN,
    recommendation:
      "Do not extract or load it with tools that follow member paths; re-create the archive from trusted sources, sign the result (`aegis sign`) and check it before use (`aegis verify`).",
  },
  {
    match: /^(MALFORMED-HEADER|EXTENSION-SPOOFING|SAFETENSORS-|GGUF-|ONNX-(UNUSED-INITIALIZER|LARGE-BLOB|METADATA-SCRIPT))/,
    cite: SUPPLY_CHAIN,
    recommendation:
      "Treat the file as crafted until its publisher explains it: compare it with the original export (hashes in an ML-BOM, `aegis bom`), re-export it from the source framework, and keep it out of serving until `aegis scan` is clean.",
  },
];

const INCOMPLETE: Family = {
  match: /./,
  cite: SUPPLY_CHAIN,
  recommendation:
    "Part of the file was not analysed: convert it to a format Aegis reads in full (safetensors, ONNX) or scan it with a larger --policy limit, and do not treat it as clean meanwhile.",
};

/** "PICKLE-DANGEROUS-GLOBAL" → "Pickle dangerous global": the rule's name, for a finding's title. */
export function ruleTitle(rule: string): string {
  const words = rule.toLowerCase().split("-");
  return [words[0][0]?.toUpperCase() + words[0].slice(1), ...words.slice(1)].join(" ").replace(/\b(onnx|gguf|7z|npy|zip)\b/gi, (w) => w.toUpperCase());
}

/** A scan finding: `message` says in one sentence what was found and why it matters. */
export function scanFinding(severity: Severity, rule: string, message: string, location: Location): Finding {
  const family = FAMILIES.find((f) => f.match.test(rule)) ?? INCOMPLETE;
  return {
    rule,
    capability: "scan",
    severity,
    title: ruleTitle(rule),
    detail: message,
    evidence: {},
    location,
    references: references(family.cite),
    recommendation: family.recommendation,
  };
}
