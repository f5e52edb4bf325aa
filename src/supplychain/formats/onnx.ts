/**
 * ONNX: the ModelProto is decoded with the repo's schema but without resolving external
 * data (the scanner must never open files a model points at), then walked for paths that
 * leave the model folder, custom op domains that need native code, oversized or unused
 * blobs, model-local functions and metadata that carries scripts or links.
 */
import protobuf from "protobufjs";
import { ONNX_PROTO } from "../../onnx/schema.js";
import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ByteSource, FormatScanner, ScanContext } from "../types.js";

const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType("onnx.ModelProto");

/** Protobuf messages are decoded into a ~ 1:1 object graph; above this the scan would need GBs of memory. */
const MAX_MODEL = 2 * 1024 * 1024 * 1024 - 1;
const LARGE_BLOB = 100 * 1024 * 1024;
const LARGE_UNUSED = 1024 * 1024;
const STANDARD_DOMAINS = new Set(["", "ai.onnx", "ai.onnx.ml", "com.microsoft", "ai.onnx.preview.training"]);
const SCRIPT_OR_URL = /<script|javascript:|https?:\/\/|\beval\(|\bexec\(|__import__|\bos\.system/i;

// biome-ignore lint/suspicious/noExplicitAny: protobufjs messages are untyped objects
type Msg = any;

export const onnxScanner: FormatScanner = {
  format: "onnx",
  detect(head) {
    // ModelProto opens with ir_version (field 1, varint; real models use 3 and up) then another known field.
    return head.length >= 3 && head[0] === 0x08 && head[1] >= 3 && head[1] <= 15 && [0x12, 0x1a, 0x22, 0x28, 0x32, 0x3a, 0x42, 0x72].includes(head[2]);
  },
  async scan(source: ByteSource, context: ScanContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    const add = (severity: Severity, rule: string, message: string, detail?: string) =>
      findings.push(scanFinding(severity, rule, message, { ...context.location, symbol: detail }));
    if (source.size > MAX_MODEL) {
      add(
        "info",
        "ONNX-TOO-LARGE",
        `the model is ${source.size} bytes, above the 2 GB protobuf limit; only its size was checked — keep weights as external data`,
      );
      return findings;
    }
    let model: Msg;
    try {
      model = ModelProto.decode(await source.read(0, source.size));
    } catch (e) {
      return [malformedHeader(context.location, "onnx", `The file starts like an ONNX model but does not decode (${(e as Error).message})`)];
    }

    const functions: Msg[] = model.functions ?? [];
    const localFunctions = new Set(functions.map((f) => `${f.domain ?? ""}::${f.name ?? ""}`));
    for (const f of functions) {
      add(
        "info",
        "ONNX-LOCAL-FUNCTION",
        `model-local function ${f.domain ?? ""}::${f.name ?? ""} is defined in the model; its body is scanned like the graph`,
        `${f.domain ?? ""}::${f.name ?? ""}`,
      );
    }

    const customOps = new Map<string, Set<string>>();
    const used = new Set<string>();
    const initializers: { tensor: Msg; graph: string }[] = [];
    const walkNodes = (nodes: Msg[]) => {
      for (const n of nodes ?? []) {
        const domain: string = n.domain ?? "";
        for (const input of n.input ?? []) used.add(input);
        if (!STANDARD_DOMAINS.has(domain) && !localFunctions.has(`${domain}::${n.op_type ?? ""}`)) {
          const ops = customOps.get(domain) ?? new Set<string>();
          ops.add(n.op_type ?? "");
          customOps.set(domain, ops);
        }
        for (const a of n.attribute ?? []) {
          if (a.g) walkGraph(a.g);
          for (const g of a.graphs ?? []) walkGraph(g);
          if (a.t) checkTensor(a.t, `${n.name ?? n.op_type}.${a.name}`);
          for (const t of a.tensors ?? []) checkTensor(t, `${n.name ?? n.op_type}.${a.name}`);
        }
      }
    };
    const walkGraph = (g: Msg) => {
      walkNodes(g.node);
      for (const o of g.output ?? []) used.add(o.name ?? "");
      for (const t of g.initializer ?? []) {
        initializers.push({ tensor: t, graph: g.name ?? "" });
        checkTensor(t, t.name ?? "");
      }
      if (g.doc_string && SCRIPT_OR_URL.test(g.doc_string))
        add("low", "ONNX-METADATA-SCRIPT", `graph ${g.name ?? ""} doc_string holds a script or URL`, `graph ${g.name ?? ""}`);
    };
    const checkTensor = (t: Msg, where: string) => {
      if (t.data_location === 1) {
        const entries = new Map<string, string>((t.external_data ?? []).map((e: Msg) => [e.key ?? "", e.value ?? ""]));
        const location = entries.get("location") ?? "";
        if (leavesFolder(location)) {
          add(
            "high",
            "ONNX-EXTERNAL-DATA-TRAVERSAL",
            `tensor ${where} reads its external data from ${location}, outside the model folder; loading the model would read (and may leak) that file`,
            where,
          );
        }
      }
      const raw = t.raw_data?.length ?? 0;
      const strings = (t.string_data ?? []).reduce((s: number, b: Uint8Array) => s + b.length, 0);
      if (raw > LARGE_BLOB || strings > LARGE_BLOB) {
        add(
          "low",
          "ONNX-LARGE-BLOB",
          `tensor ${where} embeds ${Math.max(raw, strings)} bytes; a blob this size can hide a payload — prefer external data`,
          where,
        );
      }
    };

    if (model.graph) walkGraph(model.graph);
    for (const f of functions) walkNodes(f.node);
    for (const t of model.training_info ?? []) {
      if (t.initialization) walkGraph(t.initialization);
      if (t.algorithm) walkGraph(t.algorithm);
    }

    for (const [domain, ops] of customOps) {
      add(
        "medium",
        "ONNX-CUSTOM-OP",
        `ops ${[...ops].join(", ")} use custom domain ${domain}; running them needs a native library registered by the user, which runs arbitrary code`,
        `${domain}: ${[...ops].join(", ")}`,
      );
    }
    for (const { tensor, graph } of initializers) {
      if (used.has(tensor.name ?? "")) continue;
      const bytes = (tensor.raw_data?.length ?? 0) + (tensor.string_data ?? []).reduce((s: number, b: Uint8Array) => s + b.length, 0);
      const severity: Severity = bytes > LARGE_UNUSED ? "medium" : "info";
      add(
        severity,
        "ONNX-UNUSED-INITIALIZER",
        `initializer ${tensor.name ?? ""} (${bytes} bytes) in graph ${graph} is used by no node; unused data can smuggle a payload`,
        tensor.name ?? "",
      );
    }
    for (const p of model.metadata_props ?? []) {
      if (SCRIPT_OR_URL.test(p.value ?? ""))
        add("low", "ONNX-METADATA-SCRIPT", `metadata ${p.key} holds a script or URL; check where it is displayed or fetched`, p.key ?? "");
    }
    if (model.doc_string && SCRIPT_OR_URL.test(model.doc_string))
      add("low", "ONNX-METADATA-SCRIPT", "the model doc_string holds a script or URL", "doc_string");
    return findings;
  },
};

/** Absolute (POSIX, Windows drive or UNC, URL) or climbing out with "..". */
function leavesFolder(location: string): boolean {
  if (/^[/\\]|^[A-Za-z]:|^[a-z][a-z0-9+.-]*:/i.test(location)) return true;
  let depth = 0;
  for (const part of location.split(/[/\\]+/)) {
    if (part === "..") depth--;
    else if (part !== "." && part !== "") depth++;
    if (depth < 0) return true;
  }
  return false;
}
