/**
 * JUnit XML, which every CI system shows as tests: a capability turns its checks into test
 * cases (an audit: one per attack and ε; a scan: one per file; a red team: one per probe),
 * failing where its policy fails, and this writes them.
 */

export interface JunitCase {
  name: string;
  /** Groups cases in CI views, e.g. "aegis.audit.pgd". */
  classname: string;
  /** Seconds. */
  time?: number;
  /** A failed check: one line, then the detail. */
  failure?: { message: string; detail?: string };
  /** Why the check did not run. */
  skipped?: string;
}

export interface JunitSuite {
  name: string;
  cases: readonly JunitCase[];
  timestamp?: string;
}

/** XML 1.0 cannot hold most control characters, even escaped: they become U+FFFD. */
const allowedInXml = (c: number) => c === 0x9 || c === 0xa || c === 0xd || (c >= 0x20 && c !== 0xfffe && c !== 0xffff);

const xml = (v: unknown): string =>
  Array.from(String(v), (ch) => (allowedInXml(ch.codePointAt(0) ?? 0) ? ch : "\uFFFD"))
    .join("")
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;");

export function renderJunit(name: string, suites: readonly JunitSuite[]): string {
  const count = (pick: (c: JunitCase) => boolean) => suites.reduce((n, s) => n + s.cases.filter(pick).length, 0);
  const seconds = (cases: readonly JunitCase[]) => cases.reduce((t, c) => t + (c.time ?? 0), 0).toFixed(3);
  const all = suites.flatMap((s) => s.cases);
  const lines = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="${xml(name)}" tests="${all.length}" failures="${count((c) => c.failure !== undefined)}" errors="0" skipped="${count((c) => c.skipped !== undefined)}" time="${seconds(all)}">`,
  ];
  for (const s of suites) {
    const failures = s.cases.filter((c) => c.failure).length;
    const skipped = s.cases.filter((c) => c.skipped !== undefined).length;
    lines.push(
      `  <testsuite name="${xml(s.name)}" tests="${s.cases.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds(s.cases)}"${s.timestamp ? ` timestamp="${xml(s.timestamp)}"` : ""}>`,
    );
    for (const c of s.cases) {
      const open = `    <testcase name="${xml(c.name)}" classname="${xml(c.classname)}" time="${(c.time ?? 0).toFixed(3)}"`;
      if (c.failure)
        lines.push(`${open}>`, `      <failure message="${xml(c.failure.message)}">${xml(c.failure.detail ?? c.failure.message)}</failure>`, "    </testcase>");
      else if (c.skipped !== undefined) lines.push(`${open}>`, `      <skipped message="${xml(c.skipped)}"/>`, "    </testcase>");
      else lines.push(`${open}/>`);
    }
    lines.push("  </testsuite>");
  }
  lines.push("</testsuites>", "");
  return lines.join("\n");
}
