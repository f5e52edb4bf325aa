/**
 * PyTorch containers. The zip format (torch.save since 1.6, TorchScript archives) is
 * walked by the orchestrator; this module says which zip members matter, scans
 * TorchScript code, and handles the legacy format: several pickles stacked at the
 * start of the file (magic number, protocol, sys info, the object, storage keys),
 * followed by raw storage bytes that are never read.
 */

import type { Finding } from "../../report/finding.js";
import { scanPickle } from "../pickle/scan.js";
import { scanFinding } from "../rules.js";
import { readAll } from "../sources.js";
import type { FormatScanner, Location } from "../types.js";

// Protocol 2, LONG1 of 10 bytes: the legacy magic number 0x1950a86a20f9469cfc6c.
const LEGACY_MAGIC = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

export const legacyPytorchScanner: FormatScanner = {
  format: "pytorch-legacy",
  detect: (head) => LEGACY_MAGIC.every((b, i) => head[i] === b),
  async scan(source, context) {
    // The pickles come first and are small; storage bytes after them are never read.
    const bytes = await source.read(0, Math.min(source.size, 256 << 20));
    return scanPickle(bytes, context);
  },
};

export type ZipKind = "pytorch-zip" | "torchscript" | "npz" | "zip";

export function zipKind(names: string[]): ZipKind {
  if (names.some((n) => /(^|\/)code\/.*\.py$/.test(n) && names.some((m) => /(^|\/)constants\.pkl$/.test(m)))) return "torchscript";
  if (names.some((n) => /(^|\/)data\.pkl$/.test(n))) return "pytorch-zip";
  if (names.length > 0 && names.every((n) => n.endsWith(".npy"))) return "npz";
  return "zip";
}

/**
 * Members of a PyTorch zip that are skipped: tensor storages (raw bytes, never inflated
 * nor read) and the small records torch parses as plain numbers or strings.
 */
export function isInertTorchMember(name: string): boolean {
  return /(^|\/)(data\/\d+|\.data\/.*|version|byteorder|\.format_version|\.storage_alignment)$/.test(name);
}

const CODE_RULES: { re: RegExp; severity: "high" | "medium"; why: string }[] = [
  { re: /\b(__import__|eval|exec|compile|execfile)\s*\(/, severity: "high", why: "runs or imports arbitrary Python" },
  { re: /\b(os\.(system|popen|exec\w*|spawn\w*)|subprocess|builtins|pty\.spawn|socket\.)/, severity: "high", why: "reaches the operating system" },
  { re: /\btorch\.ops\.\w+\.(system|popen|exec\w*|spawn\w*|load_library)\b/, severity: "high", why: "calls an operator named like a shell or loader" },
  {
    re: /\btorch\.ops\.(?!aten\b|prim\b|quantized\b|_caffe2\b|profiler\b)(\w+)\./,
    severity: "medium",
    why: "calls a custom operator namespace that needs a native library loaded by the host",
  },
];

/** TorchScript code/ members are Python source that torch.jit.load compiles and runs. */
export async function scanTorchScriptCode(source: Parameters<FormatScanner["scan"]>[0], location: Location): Promise<Finding[]> {
  const text = new TextDecoder("utf-8").decode(await readAll(source));
  const findings: Finding[] = [];
  text.split("\n").forEach((line, i) => {
    for (const rule of CODE_RULES) {
      const m = rule.re.exec(line);
      if (m)
        findings.push(
          scanFinding(rule.severity, "TORCHSCRIPT-SUSPICIOUS-CODE", `TorchScript code line ${i + 1} ${rule.why}: "${line.trim().slice(0, 120)}".`, {
            ...location,
            symbol: m[0],
          }),
        );
    }
  });
  return findings;
}
