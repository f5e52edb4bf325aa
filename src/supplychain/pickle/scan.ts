/**
 * `scanPickle`: turns what the symbolic machine saw (imports, calls, BUILDs, a break)
 * into findings under the policy. Nested pickles handed to pickle.loads are scanned
 * through the context so their findings carry the right location.
 */
import { createHash } from "node:crypto";
import type { Finding, Severity } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { ScanContext } from "../types.js";
import { classifyGlobal, GETATTR_NAMES, MODULE_IMPORTERS, PICKLE_LOADERS } from "./policy.js";
import { analysePickle, type Value } from "./vm.js";

export { measurePickleThroughput } from "./bench.js";
export { analysePickle, type PickleAnalysis } from "./vm.js";

const MAX_REPEATS = 10;
/** Distinct nested pickles scanned per pickle; real files nest one or two. */
const MAX_NESTED = 16;
const fullName = (v: Value) => (v.k === "global" ? `${v.imp.module}.${v.imp.name}` : undefined);
const isDunder = (k: string) => k.length > 4 && k.startsWith("__") && k.endsWith("__");

/** Literal bytes, or bytes as protocols 0–2 write them: _codecs.encode(text, "latin1"). */
function bytesOf(v: Value): Uint8Array | undefined {
  if (v.k === "bytes") return v.v;
  if (v.k !== "result" || fullName(v.call.callee) !== "_codecs.encode" || v.call.args.k !== "tuple") return undefined;
  const [text, encoding] = v.call.args.items;
  if (text?.k !== "str" || (encoding?.k === "str" && !/^(latin-?1|iso-?8859-?1)$/i.test(encoding.v))) return undefined;
  return Uint8Array.from(text.v, (ch) => ch.charCodeAt(0) & 0xff);
}

export async function scanPickle(bytes: Uint8Array, context: ScanContext): Promise<Finding[]> {
  const a = analysePickle(bytes);
  const findings: Finding[] = [];
  // A hostile pickle can repeat one import a million times; the first few locations are enough.
  const seen = new Map<string, number>();
  const at = (severity: Severity, rule: string, message: string, offset: number, detail?: string) => {
    const key = `${rule} ${severity} ${detail}`;
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    if (n <= MAX_REPEATS) findings.push(scanFinding(severity, rule, message, { ...context.location, offset, ...(detail ? { symbol: detail } : {}) }));
  };

  for (const i of a.imports) {
    const name = `${i.module}.${i.name}`;
    if (i.computed) {
      at(
        "critical",
        "PICKLE-COMPUTED-GLOBAL",
        `The pickle imports a global whose name is computed while loading (${name}), a way around name-based checks; do not load this file.`,
        i.offset,
        name,
      );
      continue;
    }
    const v = classifyGlobal(i.module, i.name);
    const calledText = i.calledAt === undefined ? "imported" : `imported and called at offset ${i.calledAt}`;
    if (v.kind === "dangerous") {
      const severity = v.severity ?? (i.calledAt === undefined ? "high" : "critical");
      at(severity, "PICKLE-DANGEROUS-GLOBAL", `The pickle ${calledText} ${name}: ${v.why}; do not load this file.`, i.offset, name);
    } else if (v.kind === "unknown") {
      at(
        "medium",
        "PICKLE-UNKNOWN-GLOBAL",
        `The pickle ${calledText} ${name}, which is not on the allow-list; check that this class is expected before loading.`,
        i.offset,
        name,
      );
    }
  }

  // Each distinct nested pickle is scanned once: a pickle can hand the same memoised bytes to
  // pickle.loads thousands of times, at every level, and scanning each call would take n^depth.
  const nested = new Set<string>();
  for (const c of a.calls) {
    const callee = fullName(c.callee);
    const args = c.args.k === "tuple" ? c.args.items : [];
    if (callee && PICKLE_LOADERS.has(callee)) {
      for (const arg of args) {
        const inner = bytesOf(arg);
        if (!inner) continue;
        at(
          "critical",
          "PICKLE-NESTED",
          `The pickle passes ${inner.length} bytes to ${callee}, a second pickle loaded when this one is; its findings follow.`,
          c.offset,
          callee,
        );
        const digest = createHash("sha256").update(inner).digest("hex");
        if (nested.has(digest)) continue;
        if (nested.size === MAX_NESTED) {
          at(
            "medium",
            "PICKLE-PARTIALLY-SCANNED",
            `The pickle loads more than ${MAX_NESTED} different nested pickles; the others were not scanned, so treat the file as suspect.`,
            c.offset,
          );
          continue;
        }
        nested.add(digest);
        findings.push(...(await context.scanNested(`pickle@${c.offset}`, inner, "pickle")));
      }
    }
    // getattr on a module obtained at load time reaches any function, whatever the allow-list says.
    const target = args[0];
    if (
      callee &&
      GETATTR_NAMES.has(callee) &&
      target &&
      (target.k === "global" || (target.k === "result" && MODULE_IMPORTERS.has(fullName(target.call.callee) ?? "")))
    ) {
      const attr = args[1]?.k === "str" ? args[1].v : "?";
      at(
        "critical",
        "PICKLE-GETATTR-MODULE",
        `The pickle calls ${callee} to fetch "${attr}" from an imported module, a way around name-based checks; do not load this file.`,
        c.offset,
        attr,
      );
    }
  }

  for (const b of a.builds) {
    const dunders = b.keys.filter(isDunder);
    const onClass = b.target.k === "global";
    if (dunders.length || (onClass && b.keys.length)) {
      const what = fullName(b.target) ?? (b.target.k === "result" ? fullName(b.target.call.callee) : undefined) ?? "an object";
      const keys = (dunders.length ? dunders : b.keys).slice(0, 5).join(", ");
      at(
        "high",
        "PICKLE-BUILD-SETATTR",
        `A BUILD sets ${keys} on ${onClass ? "the class or function " : "an instance of "}${what}, which can replace methods that run later; do not load this file.`,
        b.offset,
        keys,
      );
    }
  }

  if (a.error) {
    // A loader runs everything before the break, and what it saw there is reported above.
    findings.push(
      malformedHeader(context.location, "pickle", `The pickle stream breaks at offset ${a.error.offset} (${a.error.message})`, { offset: a.error.offset }),
    );
  }
  return findings;
}
