/**
 * `aegis bom`: a CycloneDX 1.6 ML-BOM (JSON) of a model file or folder. Each model file
 * becomes a component of type "machine-learning-model" with its SHA-256, its format and
 * what can be read from it without running it (ONNX: producer, opsets, inputs/outputs,
 * parameter count, model-card fields from metadata_props; safetensors: tensor count;
 * GGUF: version and tensor count); other files are "file" components with their hash.
 * Formats are told by content, not by extension.
 */
import { randomUUID } from "node:crypto";
import { closeSync, lstatSync, openSync, readdirSync, readSync } from "node:fs";
import { basename, join, relative, resolve, sep } from "node:path";
import { describeModel } from "../engine/inspect.js";
import { AegisError } from "../errors.js";
import { loadModel } from "../onnx/io.js";
import type { Dim } from "../onnx/ir.js";
import type { Finding } from "../report/finding.js";
import { worstSeverity } from "../report/finding.js";
import { AEGIS_VERSION } from "../version.js";
import { scanPaths } from "./scan.js";
import { DEFAULT_IGNORED, sha256File } from "./signing/manifest.js";

export interface BomProperty {
  name: string;
  value: string;
}

export interface BomComponent {
  "bom-ref": string;
  type: "machine-learning-model" | "file";
  name: string;
  description?: string;
  hashes: { alg: "SHA-256"; content: string }[];
  licenses?: { license: { name: string } }[];
  properties: BomProperty[];
  modelCard?: {
    modelParameters?: {
      task?: string;
      architectureFamily?: string;
      modelArchitecture?: string;
      inputs?: { format: string }[];
      outputs?: { format: string }[];
    };
    considerations?: { users?: string[]; useCases?: string[]; technicalLimitations?: string[] };
  };
}

export interface Bom {
  bomFormat: "CycloneDX";
  specVersion: "1.6";
  serialNumber: string;
  version: 1;
  metadata: {
    timestamp: string;
    tools: { components: { type: "application"; name: string; version: string }[] };
    component: { "bom-ref": string; type: "machine-learning-model" | "file"; name: string };
  };
  components: BomComponent[];
}

export interface BomOptions {
  /** Runs `aegis scan` over the model and adds its verdict per file ("clean" or the highest severity) as `aegis:scan:verdict`. */
  scan?: boolean;
  /** Fixed for reproducible tests; a fresh UUID and now otherwise. */
  serialNumber?: string;
  timestamp?: string;
}

/** Formats that hold a model; NumPy arrays and plain zips are data, listed as files. */
const MODEL_FORMATS = new Set(["onnx", "safetensors", "gguf", "pytorch-zip", "pickle", "hdf5"]);

function readHead(path: string, n: number): Buffer {
  const fd = openSync(path, "r");
  try {
    const buf = Buffer.alloc(n);
    return buf.subarray(0, readSync(fd, buf, 0, n, 0));
  } finally {
    closeSync(fd);
  }
}

/** Format by content: magic numbers, and for ONNX a protobuf that starts with ir_version (field 1, varint). */
export function detectModelFormat(head: Uint8Array, size: number): string | null {
  const text = Buffer.from(head).toString("latin1");
  if (text.startsWith("GGUF")) return "gguf";
  if (text.startsWith("\x93NUMPY")) return "numpy";
  if (text.startsWith("\x89HDF\r\n\x1a\n")) return "hdf5";
  if (text.startsWith("PK\x03\x04")) {
    const nameLength = head.length >= 30 ? head[26] | (head[27] << 8) : 0;
    const first = text.slice(30, 30 + nameLength);
    if (first.endsWith("data.pkl") || first.endsWith("/version") || first.endsWith("/.data/version")) return "pytorch-zip";
    return "zip";
  }
  if (head.length >= 9) {
    const n = Number(Buffer.from(head).readBigUInt64LE(0));
    if (n > 1 && 8 + n <= size && head[8] === 0x7b) return "safetensors";
  }
  if (head[0] === 0x80 && head[1] !== undefined && head[1] <= 5) return "pickle";
  if (head[0] === 0x08 && head[1] !== undefined && head[1] > 0 && head[1] < 0x80) return "onnx";
  return null;
}

const shapeText = (shape: Dim[] | null): string => (shape ? `[${shape.map((d) => d ?? "?").join(",")}]` : "[?]");

function onnxDetails(path: string, c: BomComponent): void {
  const model = loadModel(path);
  const s = describeModel(model);
  const p = c.properties;
  p.push({ name: "aegis:framework", value: s.producer || "unknown" });
  p.push({ name: "aegis:onnx:irVersion", value: String(s.irVersion) });
  for (const [domain, version] of Object.entries(s.opsets)) p.push({ name: `aegis:onnx:opset:${domain}`, value: String(version) });
  for (const v of s.inputs) p.push({ name: `aegis:input:${v.name}`, value: `${v.type}${shapeText(v.shape)}` });
  for (const v of s.outputs) p.push({ name: `aegis:output:${v.name}`, value: `${v.type}${shapeText(v.shape)}` });
  p.push({ name: "aegis:parameters", value: String(s.parameters) });
  const meta = new Map(model.metadata.map((m) => [m.key, m.value]));
  const take = (...keys: string[]): string | undefined => {
    for (const k of keys) {
      const v = meta.get(k);
      if (v !== undefined) {
        meta.delete(k);
        return v;
      }
    }
    return undefined;
  };
  const description = take("description", "model_description");
  if (description) c.description = description;
  const license = take("license");
  if (license) c.licenses = [{ license: { name: license } }];
  const task = take("task");
  const family = take("architecture_family", "aegis.arch", "architecture");
  const arch = take("model_architecture");
  const users = take("users", "intended_users");
  const useCases = take("use_cases", "intended_use");
  const limitations = take("limitations", "technical_limitations");
  const considerations = {
    ...(users ? { users: [users] } : {}),
    ...(useCases ? { useCases: [useCases] } : {}),
    ...(limitations ? { technicalLimitations: [limitations] } : {}),
  };
  c.modelCard = {
    modelParameters: {
      ...(task ? { task } : {}),
      ...(family ? { architectureFamily: family } : {}),
      ...(arch ? { modelArchitecture: arch } : {}),
      inputs: s.inputs.map((v) => ({ format: `${v.type}${shapeText(v.shape)}` })),
      outputs: s.outputs.map((v) => ({ format: `${v.type}${shapeText(v.shape)}` })),
    },
    ...(Object.keys(considerations).length > 0 ? { considerations } : {}),
  };
  // Metadata with no model-card field keeps its key, so nothing the author wrote is lost.
  for (const [k, v] of meta) p.push({ name: `aegis:onnx:metadata:${k}`, value: v });
}

function safetensorsDetails(path: string, size: number, c: BomComponent): void {
  const n = Number(readHead(path, 8).readBigUInt64LE(0));
  // A header larger than this is what the scanner flags; the BOM just does not count it.
  if (n > 100 * 1024 * 1024 || 8 + n > size) return;
  try {
    const header = JSON.parse(
      readHead(path, 8 + n)
        .subarray(8)
        .toString("utf8"),
    ) as Record<string, unknown>;
    c.properties.push({ name: "aegis:tensors", value: String(Object.keys(header).filter((k) => k !== "__metadata__").length) });
  } catch {
    // Not valid JSON: the scanner reports it; the BOM records the file without a count.
  }
}

function ggufDetails(path: string, c: BomComponent): void {
  const head = readHead(path, 16);
  if (head.length < 16) return;
  c.properties.push({ name: "aegis:gguf:version", value: String(head.readUInt32LE(4)) });
  c.properties.push({ name: "aegis:tensors", value: String(head.readBigUInt64LE(8)) });
}

async function component(path: string, name: string): Promise<BomComponent> {
  const size = lstatSync(path).size;
  const format = detectModelFormat(readHead(path, 64), size);
  const c: BomComponent = {
    "bom-ref": `file:${name}`,
    type: format && MODEL_FORMATS.has(format) ? "machine-learning-model" : "file",
    name,
    hashes: [{ alg: "SHA-256", content: await sha256File(path) }],
    properties: [
      { name: "aegis:format", value: format ?? "unknown" },
      { name: "aegis:bytes", value: String(size) },
    ],
  };
  if (format === "onnx") {
    try {
      onnxDetails(path, c);
    } catch (e) {
      // Looked like ONNX but is not: keep it as a file rather than fail the whole BOM.
      if (!(e instanceof AegisError)) throw e;
      c.type = "file";
      c.properties[0].value = "unknown";
    }
  } else if (format === "safetensors") safetensorsDetails(path, size, c);
  else if (format === "gguf") ggufDetails(path, c);
  return c;
}

function listFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const full = join(dir, entry.name);
      if (DEFAULT_IGNORED.includes(relative(root, full).split(sep).join("/"))) continue;
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile()) files.push(full);
    }
  };
  walk(root);
  return files.sort();
}

/** Highest severity per file on disk (archive members count for their file), "clean" when none. */
async function scanVerdicts(root: string): Promise<Map<string, string>> {
  const report = await scanPaths([root]);
  const byFile = new Map<string, Finding[]>();
  for (const r of report.files) byFile.set(resolve(r.file), [...(byFile.get(resolve(r.file)) ?? []), ...r.findings]);
  return new Map([...byFile].map(([file, findings]) => [file, worstSeverity(findings) ?? "clean"]));
}

/** Builds the ML-BOM of a model file or folder. */
export async function buildBom(modelPath: string, options: BomOptions = {}): Promise<Bom> {
  const root = resolve(modelPath);
  let isDir: boolean;
  try {
    isDir = lstatSync(root).isDirectory();
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `${modelPath} does not exist; give a model file or folder.`, { cause: e });
  }
  const files = isDir ? listFiles(root) : [root];
  const verdicts = options.scan ? await scanVerdicts(root) : undefined;
  const components: BomComponent[] = [];
  for (const f of files) {
    const name = isDir ? relative(root, f).split(sep).join("/") : basename(f);
    const c = await component(f, name);
    const verdict = verdicts?.get(f);
    if (verdict !== undefined) c.properties.push({ name: "aegis:scan:verdict", value: verdict });
    components.push(c);
  }
  return {
    bomFormat: "CycloneDX",
    specVersion: "1.6",
    serialNumber: options.serialNumber ?? `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: options.timestamp ?? new Date().toISOString(),
      tools: { components: [{ type: "application", name: "aegis", version: AEGIS_VERSION }] },
      component: { "bom-ref": "model", type: isDir ? "machine-learning-model" : components[0].type, name: basename(root) },
    },
    components,
  };
}
