/**
 * TensorFlow SavedModel (`saved_model.pb`): the graph and its function library are
 * decoded with a small schema (just node names and ops) and every op that reads or
 * writes files or runs Python is reported. TF's own checkpoint sub-graph saves and
 * restores variables legitimately, so Save/Restore ops are only reported outside it.
 */
import protobuf from "protobufjs";
import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ByteSource, FormatScanner, ScanContext } from "../types.js";

export const SAVED_MODEL_PROTO = `
syntax = "proto3";
package tensorflow;
message SavedModel { int64 saved_model_schema_version = 1; repeated MetaGraphDef meta_graphs = 2; }
message MetaGraphDef { GraphDef graph_def = 2; }
message GraphDef { repeated NodeDef node = 1; FunctionDefLibrary library = 2; }
message NodeDef { string name = 1; string op = 2; }
message FunctionDefLibrary { repeated FunctionDef function = 1; }
message FunctionDef { OpDef signature = 1; repeated NodeDef node_def = 3; }
message OpDef { string name = 1; }
`;

const SavedModelProto = protobuf.parse(SAVED_MODEL_PROTO, { keepCase: true }).root.lookupType("tensorflow.SavedModel");
const MAX_PB = 2 * 1024 * 1024 * 1024 - 1;

const RISKY_OPS: Record<string, { severity: Severity; why: string }> = {
  PyFunc: { severity: "critical", why: "runs a Python function in the loading process" },
  PyFuncStateless: { severity: "critical", why: "runs a Python function in the loading process" },
  EagerPyFunc: { severity: "critical", why: "runs a Python function in the loading process" },
  ReadFile: { severity: "high", why: "reads any file the process can read" },
  WriteFile: { severity: "high", why: "writes any file the process can write" },
  MatchingFiles: { severity: "high", why: "lists files on the host" },
  WholeFileReader: { severity: "high", why: "reads whole files from the host" },
  WholeFileReaderV2: { severity: "high", why: "reads whole files from the host" },
  ImmutableConst: { severity: "high", why: "memory-maps a file from the host" },
  DebugIdentity: { severity: "high", why: "sends tensors to debug URLs (files or gRPC)" },
  DebugIdentityV2: { severity: "high", why: "sends tensors to debug URLs (files or gRPC)" },
  DebugIdentityV3: { severity: "high", why: "sends tensors to debug URLs (files or gRPC)" },
  DebugNanCount: { severity: "high", why: "sends tensors to debug URLs (files or gRPC)" },
  DebugNumericSummary: { severity: "high", why: "sends tensors to debug URLs (files or gRPC)" },
  DebugNumericSummaryV2: { severity: "high", why: "sends tensors to debug URLs (files or gRPC)" },
};
const SAVER_OPS = new Set(["Save", "SaveV2", "SaveV3", "SaveSlices", "Restore", "RestoreV2", "RestoreSlice", "MergeV2Checkpoints"]);
/** TF1 saver scopes ("save/", "save_1/") and TF2 traced save/restore functions. */
const SAVER_NODE = /^save(?:_\d+)?\//;
const SAVER_FUNCTION = /_traced_(?:save|restore)|^(?:save|restore)_fn|_SaveableObjectFunction|saveable/i;

// biome-ignore lint/suspicious/noExplicitAny: protobufjs messages are untyped objects
type Msg = any;

export const savedModelScanner: FormatScanner = {
  format: "tf-savedmodel",
  detect(head) {
    // saved_model_schema_version = 1 (08 01), then meta_graphs (12 len) opening with field 1 or 2.
    let p = head[0] === 0x08 && head[1] === 0x01 ? 2 : 0;
    if (head[p] !== 0x12) return false;
    p++;
    while (p < head.length && head[p] & 0x80) p++;
    return p + 1 < head.length && (head[p + 1] === 0x0a || head[p + 1] === 0x12);
  },
  async scan(source: ByteSource, context: ScanContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    const add = (severity: Severity, rule: string, message: string, detail?: string) =>
      findings.push(scanFinding(severity, rule, message, { ...context.location, symbol: detail }));
    if (source.size > MAX_PB) {
      add("medium", "SAVEDMODEL-TOO-LARGE", `saved_model.pb is ${source.size} bytes, above the 2 GB protobuf limit; it was not checked`);
      return findings;
    }
    let model: Msg;
    try {
      model = SavedModelProto.decode(await source.read(0, source.size));
    } catch (e) {
      return [malformedHeader(context.location, "tf-savedmodel", `The file starts like a SavedModel but does not decode (${(e as Error).message})`)];
    }
    const check = (nodes: Msg[], where: string, inSaver: boolean) => {
      for (const n of nodes ?? []) {
        const op: string = n.op ?? "";
        const name: string = n.name ?? "";
        const detail = `${where}${name} (${op})`;
        const risky = RISKY_OPS[op];
        if (risky) {
          add(risky.severity, "SAVEDMODEL-RISKY-OP", `op ${op} in node ${where}${name} ${risky.why}; it runs when the model is loaded or served`, detail);
        } else if (SAVER_OPS.has(op) && !inSaver && !SAVER_NODE.test(name)) {
          add(
            "medium",
            "SAVEDMODEL-SAVER-OP",
            `op ${op} in node ${where}${name} reads or writes checkpoint files outside the standard saver; it can overwrite or read files named by the graph`,
            detail,
          );
        }
      }
    };
    for (const [i, meta] of (model.meta_graphs ?? []).entries()) {
      const graph = meta.graph_def;
      if (!graph) continue;
      check(graph.node, `meta_graphs[${i}]/`, false);
      for (const f of graph.library?.function ?? []) {
        const fname: string = f.signature?.name ?? "";
        check(f.node_def, `${fname}/`, SAVER_FUNCTION.test(fname));
      }
    }
    return findings;
  },
};
