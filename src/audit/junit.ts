/**
 * The audit as JUnit XML for CI: one test case per attack and ε (one per minimum-norm
 * attack), failing when a policy rule about that run fails, skipped when the attack did
 * not run; the policy's model-wide rules (clean accuracy, finding severity) are cases of
 * their own. Without a policy every case that ran passes: the report only records.
 */
import { type JunitCase, renderJunit } from "../report/junit.js";
import type { AttackRecord, AuditReport, PolicyRuleResult } from "./types.js";

export function renderAuditJunit(report: AuditReport): string {
  const rules = report.policy?.rules ?? [];
  const cases: JunitCase[] = [];
  for (const a of report.attacks) cases.push(...attackCases(a, rules));
  for (const rule of rules.filter((r) => r.key === null))
    cases.push({ name: `policy ${rule.rule}`, classname: "aegis.audit.policy", ...(rule.passed ? {} : { failure: { message: rule.detail } }) });
  const model = report.model.path.split(/[\\/]/).pop() ?? report.model.path;
  return renderJunit(`aegis audit ${model}`, [{ name: `aegis audit ${model} on ${report.data.name}`, cases, timestamp: report.created }]);
}

function attackCases(a: AttackRecord, rules: readonly PolicyRuleResult[]): JunitCase[] {
  const classname = `aegis.audit.${a.id}`;
  // A minimum-norm attack's rules may name it alone or at an ε of its derived curve.
  const about = (key: string | null, eps: number | null) =>
    key !== null && (eps === null ? key === a.id || key.startsWith(`${a.id}@`) : key === `${a.id}@${eps}`);
  const verdict = (name: string, eps: number | null, time: number, measured: string): JunitCase => {
    const failed = rules.filter((r) => about(r.key, eps) && !r.passed);
    return {
      name,
      classname,
      time,
      ...(failed.length > 0 ? { failure: { message: failed.map((r) => r.detail).join("; "), detail: measured } } : {}),
    };
  };
  if (a.runs.length === 0) {
    const eps = a.kind === "curve" ? ((a.params.eps as number[] | undefined) ?? [null]) : [null];
    return eps.map((e) => {
      const name = e === null ? a.id : `${a.id} ε=${e}`;
      const failed = rules.filter((r) => about(r.key, e) && !r.passed);
      // A policy rule about an attack that did not run fails: the policy cannot be shown to hold.
      return failed.length > 0
        ? { name, classname, failure: { message: failed.map((r) => r.detail).join("; "), detail: `${a.status}: ${a.reason ?? ""}` } }
        : { name, classname, skipped: `${a.status}: ${a.reason ?? ""}` };
    });
  }
  return a.runs.map((p) =>
    verdict(
      p.eps === null ? a.id : `${a.id} ε=${p.eps}`,
      p.eps,
      p.seconds,
      `robust accuracy ${p.robust_accuracy}, success rate ${p.success_rate} on ${p.samples} samples`,
    ),
  );
}
