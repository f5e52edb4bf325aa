/**
 * Keras v3 `.keras`: a zip holding config.json, metadata.json and model.weights.h5.
 * Only config.json matters for code execution, so the zip's central directory is read
 * from the end of the file and that one member inflated: multi-GB weights are never read.
 * Keras rebuilds the model by importing `module` and looking up `class_name`, so the
 * config decides what Python runs at load time.
 */
import { inflateSync } from "fflate";
import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ByteSource, FormatScanner, ScanContext } from "../types.js";

const CONFIG = "config.json";
const DANGEROUS_MODULES =
  /^(?:os|posix|nt|subprocess|builtins|__builtin__|sys|shutil|socket|runpy|importlib|pickle|_pickle|marshal|ctypes|code|codeop|pty|webbrowser|urllib|requests|http|ftplib|telnetlib|multiprocessing|pathlib|io|tempfile|commands|platform)(?:\.|$)/;
/** Keras functions that are dangerous in a config even though they live in keras itself. */
const DANGEROUS_KERAS = new Set(["get_file", "enable_unsafe_deserialization", "TFSMLayer", "load_model", "set_random_seed"]);

export const kerasScanner: FormatScanner = {
  format: "keras",
  detect(head) {
    if (head.length < 30 || head[0] !== 0x50 || head[1] !== 0x4b || head[2] !== 3 || head[3] !== 4) return false;
    const nameLength = head[26] | (head[27] << 8);
    const first = new TextDecoder().decode(head.subarray(30, 30 + nameLength));
    // saving_lib writes metadata.json then config.json first; other zips (PyTorch, npz) start elsewhere.
    return first === "metadata.json" || first === CONFIG;
  },
  async scan(source: ByteSource, context: ScanContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    const members = [...(context.location.members ?? []), CONFIG];
    const add = (severity: Severity, rule: string, message: string, detail?: string) =>
      findings.push(scanFinding(severity, rule, message, { ...context.location, members, symbol: detail }));
    let text: string;
    try {
      const bytes = await readMember(source, CONFIG, context);
      if (!bytes) {
        add("medium", "KERAS-NO-CONFIG", "the archive looks like a .keras file but holds no config.json; it cannot be checked");
        return findings;
      }
      text = new TextDecoder().decode(bytes);
    } catch (e) {
      return [malformedHeader({ ...context.location, members }, "keras", `config.json could not be read from the .keras zip (${(e as Error).message})`)];
    }
    let config: unknown;
    try {
      config = JSON.parse(text);
    } catch (e) {
      add("medium", "KERAS-BAD-CONFIG", `config.json is not JSON (${(e as Error).message})`);
      return findings;
    }
    walkKerasConfig(config, "$", add);
    return findings;
  },
};

type Add = (severity: Severity, rule: string, message: string, detail?: string) => void;

/** Reports what loading this Keras config would import or run; shared with the legacy .h5 scanner. */
export function walkKerasConfig(value: unknown, path: string, add: Add): void {
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) walkKerasConfig(v, `${path}[${i}]`, add);
    return;
  }
  if (typeof value !== "object" || value === null) return;
  const o = value as Record<string, unknown>;
  const className = typeof o.class_name === "string" ? o.class_name : undefined;
  const module = typeof o.module === "string" ? o.module : undefined;
  const registered = typeof o.registered_name === "string" ? o.registered_name : undefined;
  const name = `${module ?? "?"}.${className ?? "?"}`;
  if (className === "Lambda") checkLambda(o.config, path, add);
  if (className === "__lambda__") {
    add("critical", "KERAS-LAMBDA", `${path} holds a marshalled Python lambda; it runs when the model is loaded with safe_mode=False`, path);
  }
  if (module !== undefined && className !== undefined) {
    const isKeras = module === "keras" || module.startsWith("keras.") || module.startsWith("keras_");
    if (DANGEROUS_MODULES.test(module)) {
      add(
        "critical",
        "KERAS-DANGEROUS-MODULE",
        `${path} makes Keras import ${name}, which runs commands or touches files, even with safe_mode=True`,
        `${path}: ${name}`,
      );
    } else if (isKeras && DANGEROUS_KERAS.has(className)) {
      add("high", "KERAS-DANGEROUS-FUNCTION", `${path} calls ${name}, which downloads files, loads other models or turns off safe mode`, `${path}: ${name}`);
    } else if (!isKeras && registered?.includes(">")) {
      add(
        "medium",
        "KERAS-CUSTOM-OBJECT",
        `${path} needs custom object ${registered} from ${module}; that code runs at load time — review it before passing it to custom_objects`,
        `${path}: ${name}`,
      );
    } else if (!isKeras) {
      add("high", "KERAS-FOREIGN-MODULE", `${path} makes Keras import ${name}, outside keras; loading imports and calls it`, `${path}: ${name}`);
    }
  }
  for (const [k, v] of Object.entries(o)) walkKerasConfig(v, `${path}.${k}`, add);
}

function checkLambda(config: unknown, path: string, add: Add): void {
  const fn = (config as { function?: unknown } | undefined)?.function;
  // Keras 2 stored [base64 bytecode, defaults, closure]; Keras 3 a "__lambda__" object with base64 code.
  const marshalled = (Array.isArray(fn) && typeof fn[0] === "string") || (typeof fn === "string" && fn.length > 40);
  if (marshalled) {
    add("critical", "KERAS-LAMBDA", `${path} is a Lambda layer with marshalled Python bytecode; it runs when the model is loaded with safe_mode=False`, path);
  } else if (!(typeof fn === "object" && fn !== null && (fn as { class_name?: unknown }).class_name === "__lambda__")) {
    add("high", "KERAS-LAMBDA", `${path} is a Lambda layer; it calls a Python function at load or inference time`, path);
  }
}

// ---------------------------------------------------------------- zip, read from the end

const u16 = (b: Uint8Array, at: number) => b[at] | (b[at + 1] << 8);
const u32 = (b: Uint8Array, at: number) => (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
const u64 = (b: Uint8Array, at: number) => u32(b, at) + u32(b, at + 4) * 0x100000000;

/** One member's bytes, found through the central directory; undefined when absent. */
async function readMember(source: ByteSource, wanted: string, context: ScanContext): Promise<Uint8Array | undefined> {
  const tailLength = Math.min(source.size, 65535 + 22);
  const tail = await source.read(source.size - tailLength, tailLength);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) {
    if (u32(tail, i) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error("no end-of-central-directory record");
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  if (cdOffset === 0xffffffff && eocd >= 20 && u32(tail, eocd - 20) === 0x07064b50) {
    const z = await source.read(u64(tail, eocd - 12), 56);
    cdSize = u64(z, 40);
    cdOffset = u64(z, 48);
  }
  if (cdOffset + cdSize > source.size || cdSize > 64 * 1024 * 1024) throw new Error("central directory out of bounds");
  const cd = await source.read(cdOffset, cdSize);
  for (let p = 0; p + 46 <= cd.length && u32(cd, p) === 0x02014b50; ) {
    const nameLength = u16(cd, p + 28);
    const extraLength = u16(cd, p + 30);
    const name = new TextDecoder().decode(cd.subarray(p + 46, p + 46 + nameLength));
    if (name === wanted) {
      const method = u16(cd, p + 10);
      let compressed = u32(cd, p + 20);
      let size = u32(cd, p + 24);
      let local = u32(cd, p + 42);
      ({ compressed, size, local } = zip64Sizes(cd.subarray(p + 46 + nameLength, p + 46 + nameLength + extraLength), compressed, size, local));
      if (size > context.limits.maxExtractedBytes) throw new Error(`${wanted} inflates to ${size} bytes, above the extraction limit`);
      if (compressed > 0 && size / compressed > context.limits.maxCompressionRatio)
        throw new Error(`${wanted} has a compression ratio above the limit (zip bomb)`);
      const header = await source.read(local, 30);
      const dataAt = local + 30 + u16(header, 26) + u16(header, 28);
      if (dataAt + compressed > source.size) throw new Error(`${wanted} runs past the end of the archive`);
      const data = await source.read(dataAt, compressed);
      if (method === 0) return data;
      if (method === 8) {
        const out = inflateSync(data, { out: new Uint8Array(size) });
        if (out.length !== size) throw new Error(`${wanted} inflates to ${out.length} bytes, not the ${size} its header says`);
        return out;
      }
      throw new Error(`${wanted} uses unsupported compression method ${method}`);
    }
    p += 46 + nameLength + extraLength + u16(cd, p + 32);
  }
  return undefined;
}

/** Fields set to 0xffffffff are carried, in order, in the zip64 extra field (id 1). */
function zip64Sizes(extra: Uint8Array, compressed: number, size: number, local: number) {
  for (let q = 0; q + 4 <= extra.length; q += 4 + u16(extra, q + 2)) {
    if (u16(extra, q) !== 1) continue;
    let r = q + 4;
    const next = () => {
      const v = u64(extra, r);
      r += 8;
      return v;
    };
    if (size === 0xffffffff) size = next();
    if (compressed === 0xffffffff) compressed = next();
    if (local === 0xffffffff) local = next();
  }
  return { compressed, size, local };
}
