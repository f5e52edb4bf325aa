/**
 * GGUF (llama.cpp): magic, version, counts, typed key/value metadata, tensor infos.
 * Metadata is read progressively in chunks, never the tensor data. Chat templates are
 * Jinja rendered by the loader, so one that reaches Python objects runs code on load
 * (the llama-cpp-python template-injection CVE-2024-34359).
 */

import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ByteSource, FormatScanner, ScanContext } from "../types.js";

const CHUNK = 1 << 16;
/** A string longer than this is not metadata a loader should accept. */
const MAX_STRING = 256 * 1024 * 1024;

class Truncated extends Error {}

/** Little-endian reads over a ByteSource, refilled a chunk at a time. */
class Cursor {
  pos = 0;
  private buf: Uint8Array = new Uint8Array();
  private bufStart = 0;
  constructor(private readonly source: ByteSource) {}

  get remaining(): number {
    return this.source.size - this.pos;
  }

  async bytes(n: number): Promise<Uint8Array> {
    if (n > this.remaining) throw new Truncated();
    const off = this.pos - this.bufStart;
    if (off < 0 || off + n > this.buf.length) {
      this.bufStart = this.pos;
      this.buf = await this.source.read(this.pos, Math.min(Math.max(n, CHUNK), this.remaining));
    }
    const start = this.pos - this.bufStart;
    this.pos += n;
    return this.buf.subarray(start, start + n);
  }

  private async view(n: number): Promise<DataView> {
    const b = await this.bytes(n);
    return new DataView(b.buffer, b.byteOffset, n);
  }
  async u32(): Promise<number> {
    return (await this.view(4)).getUint32(0, true);
  }
  async u64(): Promise<number> {
    // Counts and offsets above 2^53 are nonsense for a file; the bound checks catch them.
    return Number((await this.view(8)).getBigUint64(0, true));
  }
}

const SCALAR_SIZE: Record<number, number> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
const T_STRING = 8;
const T_ARRAY = 9;

export const ggufScanner: FormatScanner = {
  format: "gguf",
  detect(head) {
    return head.length >= 8 && head[0] === 0x47 && head[1] === 0x47 && head[2] === 0x55 && head[3] === 0x46;
  },
  async scan(source: ByteSource, context: ScanContext): Promise<Finding[]> {
    const findings: Finding[] = [];
    const add = (severity: Severity, rule: string, message: string, offset?: number, detail?: string) =>
      findings.push(scanFinding(severity, rule, message, { ...context.location, offset, symbol: detail }));
    // Counts and lengths that point past the file are HIGH: loaders have overflowed on them.
    const malformed = (problem: string, offset: number, severity: Severity = "high") =>
      findings.push(malformedHeader(context.location, "gguf", problem, { severity, offset }));
    const c = new Cursor(source);
    try {
      await c.bytes(4);
      const version = await c.u32();
      if (version < 1 || version > 3) {
        add("medium", "GGUF-VERSION", `GGUF version ${version} is not one of 1–3; the scanner cannot check the rest`, 4);
        return findings;
      }
      const count = () => (version === 1 ? c.u32() : c.u64());
      const tensorCount = await count();
      const kvCount = await count();
      // A key/value pair takes at least 13 bytes and a tensor info at least 21: larger counts are lies.
      if (kvCount * 13 > source.size || tensorCount * 21 > source.size) {
        malformed(`The GGUF header claims ${tensorCount} tensors and ${kvCount} metadata pairs, more than a file of ${source.size} bytes can hold`, 8);
        return findings;
      }
      const readString = async (): Promise<string> => {
        const at = c.pos;
        const n = await count();
        if (n > c.remaining || n > MAX_STRING) {
          malformed(`A GGUF string claims ${n} bytes, more than the file holds or a loader should accept`, at);
          throw new Truncated();
        }
        return new TextDecoder().decode(await c.bytes(n));
      };
      const skipValue = async (type: number): Promise<void> => {
        if (type === T_STRING) {
          await readString();
        } else if (type === T_ARRAY) {
          const at = c.pos;
          const inner = await c.u32();
          const n = await count();
          if (n > c.remaining) {
            malformed(`A GGUF array claims ${n} elements, more than the file holds`, at);
            throw new Truncated();
          }
          if (SCALAR_SIZE[inner] !== undefined) await c.bytes(n * SCALAR_SIZE[inner]);
          else for (let i = 0; i < n; i++) await skipValue(inner);
        } else if (SCALAR_SIZE[type] !== undefined) {
          await c.bytes(SCALAR_SIZE[type]);
        } else {
          malformed(`GGUF metadata value type ${type} is unknown`, c.pos - 4);
          throw new Truncated();
        }
      };
      let alignment = 32;
      for (let i = 0; i < kvCount; i++) {
        const key = await readString();
        const type = await c.u32();
        const at = c.pos;
        if (type === T_STRING && key.includes("chat_template")) {
          checkTemplate(await readString(), key, at, add);
        } else if (key === "general.alignment" && type === 4) {
          alignment = await c.u32();
          if (alignment === 0 || (alignment & (alignment - 1)) !== 0) {
            add("high", "GGUF-BAD-ALIGNMENT", `general.alignment is ${alignment}, not a power of two`, at, key);
            alignment = 32;
          }
        } else {
          await skipValue(type);
        }
      }
      const tensors: { name: string; offset: number; at: number }[] = [];
      for (let i = 0; i < tensorCount; i++) {
        const at = c.pos;
        const name = await readString();
        const nDims = await c.u32();
        if (nDims > 8) {
          malformed(`GGUF tensor ${name} claims ${nDims} dimensions; GGML allows at most 4`, at);
          return findings;
        }
        for (let d = 0; d < nDims; d++) await count();
        await c.u32();
        tensors.push({ name, offset: await c.u64(), at });
      }
      const dataStart = Math.ceil(c.pos / alignment) * alignment;
      for (const t of tensors) {
        if (dataStart + t.offset > source.size) {
          add("high", "GGUF-OUT-OF-BOUNDS", `tensor ${t.name} starts at data offset ${t.offset}, past the end of the file`, t.at, t.name);
        } else if (t.offset % alignment !== 0) {
          add("medium", "GGUF-MISALIGNED", `tensor ${t.name} offset ${t.offset} is not a multiple of the alignment ${alignment}`, t.at, t.name);
        }
      }
    } catch (e) {
      if (!(e instanceof Truncated)) throw e;
      if (!findings.some((f) => f.severity === "high")) malformed("The GGUF metadata ends before the header says it should", c.pos, "medium");
    }
    return findings;
  },
};

/** Jinja that climbs from a template object to Python internals; benign templates never need these. */
const TEMPLATE_RULES: { re: RegExp; severity: Severity; why: string }[] = [
  {
    re: /__(?:class|globals|subclasses|builtins|import|init|mro|base|bases|dict|getattribute|code|func_globals)__/,
    severity: "critical",
    why: "reaches Python internals through a dunder attribute",
  },
  {
    re: /\\x5f|\\u005f|\|\s*attr\s*\(/i,
    severity: "critical",
    why: "builds attribute names indirectly (escaped underscores or the attr filter), the usual way to hide a dunder",
  },
  {
    re: /\b(?:popen|system|subprocess|eval|exec|import_module)\s*\(|\bos\s*\.\s*(?:system|popen|environ|exec\w*|spawn\w*|remove|unlink)\b/,
    severity: "critical",
    why: "calls code that runs commands or imports modules",
  },
  {
    re: /\b(?:cycler|joiner|namespace|lipsum|range|self|config|request|url_for|get_flashed_messages)\s*\.\s*_/,
    severity: "high",
    why: "reads private attributes of a Jinja global, the start of a sandbox escape",
  },
  { re: /_TemplateReference__context|\.mro\(|\bgetattr\b/, severity: "high", why: "reaches the template's context or Python objects" },
];

function checkTemplate(template: string, key: string, offset: number, add: (s: Severity, r: string, m: string, o?: number, d?: string) => void): void {
  for (const rule of TEMPLATE_RULES) {
    const match = rule.re.exec(template);
    if (match) {
      add(rule.severity, "GGUF-CHAT-TEMPLATE-CODE", `${key} ${rule.why} ("${match[0]}"); rendering it can run code on the host`, offset, key);
    }
  }
}
