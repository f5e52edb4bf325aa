/**
 * Every `aegis` command as `aegis --help` lists it, and how to load it. A command's modules
 * (ONNX Runtime, fastify, the attacks…) are imported only when that command runs, so
 * `--version` and `--help` load nothing but commander and this table. A test keeps each
 * entry's usage and description equal to those of the command it loads.
 */
import type { Command } from "commander";

export interface CommandEntry {
  name: string;
  /** What follows the name in the list of commands: "[options]" when it has any, then its arguments. */
  usage: string;
  description: string;
  load(): Promise<Command>;
}

export const COMMANDS: CommandEntry[] = [
  {
    name: "audit",
    usage: "[options]",
    description:
      "audit a model against a suite of evasion attacks, through its `aegis defend` defences (--defence), or two side by side (--compare), for membership inference (--privacy) and for a poisoning attack's success (--backdoor); writes report.json, report.html and report.md, and exits 10 when a policy fails",
    load: async () => (await import("./commands/audit.js")).auditCommand(),
  },
  {
    name: "attack",
    usage: "[options] [name]",
    description: "run one evasion attack and report robust accuracy (over a list of ε for a curve)",
    load: async () => (await import("./commands/attack.js")).attackCommand(),
  },
  {
    name: "inspect",
    usage: "[options] <model>",
    description:
      "show a model's inputs, outputs, opsets, ops, parameters, what its input means for attacks, whether it is differentiable and its DP guarantee if any",
    load: async () => (await import("./commands/inspect.js")).inspectCommand(),
  },
  {
    name: "predict",
    usage: "[options]",
    description: "predict classes over a dataset and report accuracy when it has labels",
    load: async () => (await import("./commands/predict.js")).predictCommand(),
  },
  {
    name: "grad",
    usage: "[options]",
    description:
      "gradient of each sample's loss (or class output) with respect to its input (for token-id models: the embedding output), written as array `grad`",
    load: async () => (await import("./commands/grad.js")).gradCommand(),
  },
  {
    name: "train",
    usage: "[options]",
    description:
      "train a model defined in TypeScript (mlp, cnn, resnet-small; linear; he-cnn and he-mlp with x² activations for encrypted inference; dp-cnn, the tanh CNN of DP-SGD papers), or any differentiable ONNX model's architecture, with gradient graphs on ONNX Runtime",
    load: async () => (await import("./commands/train.js")).trainCommand(),
  },
  {
    name: "harden",
    usage: "[options] <method>",
    description:
      "harden a model: PGD adversarial training, TRADES, fast adversarial training, defensive distillation or Gaussian augmentation; --dp trains with DP-SGD too",
    load: async () => (await import("./commands/harden.js")).hardenCommand(),
  },
  {
    name: "privacy",
    usage: "",
    description:
      "differential privacy: ε of DP-SGD (RDP and PRV accountants), a model's DP guarantee as findings, an empirical audit of DP-SGD, and DP queries over data with a budget ledger",
    load: async () => (await import("./commands/privacy.js")).privacyCommand(),
  },
  {
    name: "fl",
    usage: "",
    description:
      "federated learning over HTTPS (server, client) with FedAvg/FedProx and robust aggregation, and a harness that pits the aggregators against malicious clients",
    load: async () => (await import("./commands/fl.js")).flCommand(),
  },
  {
    name: "he",
    usage: "",
    description: "encrypted inference with CKKS homomorphic encryption (Microsoft SEAL): the server predicts on data it never sees",
    load: async () => (await import("./commands/he.js")).heCommand(),
  },
  {
    name: "poison",
    usage: "[options] <attack>",
    description:
      "poison a labelled training set (BadNets backdoor, clean-label backdoor, feature collision, gradient matching, label flipping, tabular blind spot) and write a manifest of what changed, for evaluation only",
    load: async () => (await import("./commands/poison.js")).poisonCommand(),
  },
  {
    name: "inspect-data",
    usage: "[options]",
    description: "look for poisoned rows in a training set (activation clustering, spectral signatures, influence, RONI)",
    load: async () => (await import("./commands/inspect-data.js")).inspectDataCommand(),
  },
  {
    name: "inspect-model",
    usage: "[options]",
    description: "look for a backdoor in a trained model with a small clean set (Neural Cleanse: reverse a trigger per class, flag the outliers)",
    load: async () => (await import("./commands/inspect-model.js")).inspectModelCommand(),
  },
  {
    name: "repair",
    usage: "[options] <method>",
    description:
      "repair a backdoored model (fine-pruning, Neural Cleanse unlearning, retraining without flagged rows) and report clean accuracy and attack success before and after",
    load: async () => (await import("./commands/repair.js")).repairCommand(),
  },
  {
    name: "infer",
    usage: "",
    description: "privacy attacks: what a model gives away about its training data",
    load: async () => (await import("./commands/infer.js")).inferCommand(),
  },
  {
    name: "extract",
    usage: "[options] [attack]",
    description: "steal a model through its predictions within a query budget; report the copy's accuracy, fidelity and transfer",
    load: async () => (await import("./commands/extract.js")).extractCommand(),
  },
  {
    name: "watermark",
    usage: "",
    description: "embed a secret trigger-set watermark in a model while training it (Adi et al. 2018), and verify a suspect model against the key",
    load: async () => (await import("./commands/watermark.js")).watermarkCommand(),
  },
  {
    name: "fingerprint",
    usage: "",
    description: "fingerprint a model without retraining it (IPGuard / conferrable adversarial examples), and tell whether a suspect model is a copy of it",
    load: async () => (await import("./commands/fingerprint.js")).fingerprintCommand(),
  },
  {
    name: "defend",
    usage: "[options]",
    description: "wrap a model in input/output defences: bake what ONNX can express, list the rest for run time, and evaluate it honestly",
    load: async () => (await import("./commands/defend.js")).defendCommand(),
  },
  {
    name: "detect",
    usage: "",
    description: "adversarial-input and out-of-distribution detectors: fit one on clean data, score inputs",
    load: async () => (await import("./commands/detect.js")).detectCommand(),
  },
  {
    name: "drift",
    usage: "",
    description: "data and prediction drift for batch pipelines: fit a detector on reference data, check current data against it",
    load: async () => (await import("./commands/drift.js")).driftCommand(),
  },
  {
    name: "certify",
    usage: "[options]",
    description: "certify L2 robustness by randomized smoothing (Cohen et al. 2019): certified accuracy at a list of radii",
    load: async () => (await import("./commands/certify.js")).certifyCommand(),
  },
  {
    name: "threat",
    usage: "",
    description: "threat-model an AI system: STRIDE and AI-specific threats mapped to MITRE ATLAS, OWASP and NIST, with evidence",
    load: async () => (await import("./commands/threat.js")).threatCommand(),
  },
  {
    name: "scan",
    usage: "[options] <paths...>",
    description: "scan model files, folders and archives for code execution, tampering and malformed content (nothing is loaded or run)",
    load: async () => (await import("./commands/scan.js")).scanCommand(),
  },
  {
    name: "serve",
    usage: "[options]",
    description: 'serve ONNX classifiers over HTTP: POST /v1/models/{name}:predict with {"instances": [...]}',
    load: async () => (await import("./commands/serve.js")).serveCommand(),
  },
  {
    name: "worker",
    usage: "[options]",
    description:
      "take the jobs of campaigns (audit, infer membership, certify, scan and redteam with --queue) from a Redis queue and run them, until Ctrl-C or SIGTERM",
    load: async () => (await import("./commands/worker.js")).workerCommand(),
  },
  {
    name: "campaign",
    usage: "",
    description: "see, follow or cancel a campaign that a command with --queue started; collect its report by running that command again with --campaign ID",
    load: async () => (await import("./commands/campaign.js")).campaignCommand(),
  },
  {
    name: "guard",
    usage: "[options]",
    description: "run the security gateway in front of ML endpoints (see examples/guard.yaml); SIGHUP reloads the config",
    load: async () => (await import("./commands/guard.js")).guardCommand(),
  },
  {
    name: "encrypt",
    usage: "[options] <file>",
    description: "encrypt a model, data set or report at rest (AES-256-GCM in 64 KiB chunks; name and format authenticated)",
    load: async () => (await import("./commands/encrypt.js")).encryptCommand(),
  },
  {
    name: "decrypt",
    usage: "[options] <file>",
    description: "decrypt a file `aegis encrypt` wrote; a changed, truncated or renamed file is refused (exit 12) and nothing is written",
    load: async () => (await import("./commands/encrypt.js")).decryptCommand(),
  },
  {
    name: "keys",
    usage: "",
    description: "API keys of the guard (stored as salted hashes; the key is shown once, at creation)",
    load: async () => (await import("./commands/guard.js")).keysCommand(),
  },
  {
    name: "audit-log",
    usage: "",
    description: "the guard's hash-chained audit log",
    load: async () => (await import("./commands/guard.js")).auditLogCommand(),
  },
  {
    name: "incidents",
    usage: "",
    description: "incidents the guard opened (stored beside the audit log)",
    load: async () => (await import("./commands/guard.js")).incidentsCommand(),
  },
  {
    name: "llm",
    usage: "",
    description: "LLM input/output scanners: scan texts, evaluate on labelled data",
    load: async () => (await import("./commands/llm.js")).llmCommand(),
  },
  {
    name: "redteam",
    usage: "[options]",
    description: "red-team an OpenAI-compatible chat endpoint (OpenAI, vLLM, Ollama, llama.cpp): injection, jailbreaks, leakage, output handling, consumption",
    load: async () => (await import("./commands/redteam.js")).redteamCommand(),
  },
  {
    name: "keygen",
    usage: "[options]",
    description: "create a signing key pair: KEY (PKCS#8 PEM, mode 0600) and KEY.pub (SPKI PEM)",
    load: async () => (await import("./commands/keygen.js")).keygenCommand(),
  },
  {
    name: "sign",
    usage: "[options] <model>",
    description: "sign a model file or folder: SHA-256 of every file in an in-toto statement, in a DSSE envelope",
    load: async () => (await import("./commands/sign.js")).signCommand(),
  },
  {
    name: "verify",
    usage: "[options] <model>",
    description: "verify a model's signature and integrity (exit 0 valid, 12 invalid or modified)",
    load: async () => (await import("./commands/verify.js")).verifyCommand(),
  },
  {
    name: "bom",
    usage: "[options] <model>",
    description: "write a CycloneDX 1.6 ML-BOM (JSON) of a model file or folder",
    load: async () => (await import("./commands/bom.js")).bomCommand(),
  },
];
