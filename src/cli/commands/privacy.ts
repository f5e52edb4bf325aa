/** `aegis privacy`: DP accounting (epsilon) and a model's DP guarantee as findings (check). */
import { resolve } from "node:path";
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { loadModel } from "../../onnx/io.js";
import {
  ACCOUNTANTS,
  type AccountantName,
  describeDp,
  dpFindings,
  epsilonSpent,
  noiseMultiplierFor,
  type PrivacySpent,
  readDpMetadata,
} from "../../privacy/index.js";
import { type Finding, severitySummary } from "../../report/finding.js";
import { esc, findingsSection, page } from "../../report/html.js";
import { findingsMarkdown } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, type ReportFormat, writeReports } from "../../report/write.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, printJson } from "../common.js";
import { parseInteger, parseNumber, withJson, withOut } from "../options.js";
import { auditCommand } from "./privacy-audit.js";
import { ledgerCommand, queryCommand } from "./privacy-query.js";

export function privacyCommand(): Command {
  const cmd = new Command("privacy").description(
    "differential privacy: ε of DP-SGD (RDP and PRV accountants), a model's DP guarantee as findings, an empirical audit of DP-SGD, and DP queries over data with a budget ledger",
  );
  cmd.addCommand(epsilonCommand());
  cmd.addCommand(checkCommand());
  cmd.addCommand(auditCommand());
  cmd.addCommand(queryCommand());
  cmd.addCommand(ledgerCommand());
  return cmd;
}

const CHECK_FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif"];

function checkCommand(): Command {
  const cmd = new Command("check")
    .description("read the (ε, δ) a model records (aegis train --dp) and report what it means for membership inference")
    .argument("<model>", "ONNX model");
  withOut(cmd, "report folder for --format", "aegis-privacy");
  cmd.option("--format <list>", `reports to write, comma-separated: ${CHECK_FORMATS.join(", ")} (none unless given)`);
  withJson(cmd, "the record and the findings");
  return cmd.action((file: string, opts: { out: string; format?: string; json?: boolean }) => {
    const formats = opts.format === undefined ? [] : parseFormats(opts.format, CHECK_FORMATS);
    const record = readDpMetadata(loadModel(file));
    const findings = dpFindings(record, resolve(file));
    const title = `Aegis privacy check: ${file}`;
    if (formats.length > 0) {
      const written = writeReports(
        opts.out,
        formats,
        {
          json: () => `${JSON.stringify({ model: file, differentialPrivacy: record, findings }, null, 2)}\n`,
          md: () => [`# ${title}`, "", ...findingsMarkdown(findings, "No findings."), ""].join("\n"),
          html: () => page(title, [`<h1>${esc(title)}</h1>`, findingsSection(findings, "No findings.")]),
          sarif: () => renderSarif(findings, { name: "aegis-privacy", fullName: "Aegis privacy check", version: AEGIS_VERSION }),
        },
        { base: "privacy" },
      );
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (opts.json) return printJson({ model: file, differentialPrivacy: record, findings });
    process.stdout.write(`${checkText(file, record ? describeDp(record) : "no differential-privacy guarantee recorded", findings)}\n`);
  });
}

function checkText(file: string, guarantee: string, findings: readonly Finding[]): string {
  return [`${file}: ${guarantee}`, `findings: ${severitySummary(findings)}`, ...findings.map((f) => `  [${f.severity}] ${f.rule}: ${f.title}`)].join("\n");
}

interface EpsilonOptions {
  noiseMultiplier?: number;
  targetEpsilon?: number;
  samplingRate: number;
  steps?: number;
  epochs?: number;
  delta: number;
  accountant: string;
  epsilonError: number;
  json?: boolean;
}

function epsilonCommand(): Command {
  const cmd = new Command("epsilon")
    .description(
      "ε spent by DP-SGD (the Poisson-subsampled Gaussian) after T steps at rate q with noise multiplier σ; or, with --target-epsilon, the σ that spends it",
    )
    .option("--noise-multiplier <sigma>", "noise standard deviation in units of the clip norm", parseNumber("--noise-multiplier"))
    .option("--target-epsilon <eps>", "find the smallest σ that spends at most this ε instead", parseNumber("--target-epsilon"))
    .requiredOption("--sampling-rate <q>", "Poisson sampling rate: expected batch size / dataset size", parseNumber("--sampling-rate"))
    .option("--steps <T>", "training steps", parseInteger("--steps", 0))
    .option("--epochs <E>", "or epochs: T = round(E/q)", parseNumber("--epochs"))
    .requiredOption("--delta <delta>", "δ of the (ε, δ) guarantee", parseNumber("--delta"))
    .option("--accountant <name>", `${ACCOUNTANTS.join(" | ")}: Rényi DP (Mironov et al.) or privacy random variables (Gopi et al., tighter)`, "rdp")
    .option("--epsilon-error <e>", "prv: error allowed in ε (its bounds are the estimate ± this)", parseNumber("--epsilon-error"), 0.01);
  withJson(cmd, "the result");
  return cmd.action((opts: EpsilonOptions) => {
    const accountant = opts.accountant as AccountantName;
    if (!ACCOUNTANTS.includes(accountant))
      throw new AegisError("BAD_OPTION", `--accountant must be one of ${ACCOUNTANTS.join(", ")}, not "${opts.accountant}"`);
    if ((opts.steps === undefined) === (opts.epochs === undefined)) throw new AegisError("BAD_OPTION", "give --steps T or --epochs E (one of them)");
    if ((opts.noiseMultiplier === undefined) === (opts.targetEpsilon === undefined))
      throw new AegisError("BAD_OPTION", "give --noise-multiplier σ (to get ε) or --target-epsilon ε (to get σ), one of them");
    if (!(opts.samplingRate > 0 && opts.samplingRate <= 1)) throw new AegisError("BAD_OPTION", `--sampling-rate must be in (0, 1], not ${opts.samplingRate}`);
    const steps = opts.steps ?? Math.round((opts.epochs as number) / opts.samplingRate);
    const options = { accountant, epsilonError: opts.epsilonError };
    const noiseMultiplier =
      opts.noiseMultiplier ??
      noiseMultiplierFor({ targetEpsilon: opts.targetEpsilon as number, delta: opts.delta, samplingRate: opts.samplingRate, steps }, options);
    const compositions = [{ noiseMultiplier, samplingRate: opts.samplingRate, steps }];
    const spent = epsilonSpent(compositions, opts.delta, options);
    // Published tables use the older RDP conversion; show it beside the current one.
    const older = accountant === "rdp" ? epsilonSpent(compositions, opts.delta, { accountant, conversion: "mironov2017" }) : undefined;
    if (opts.json) return printJson({ noiseMultiplier, samplingRate: opts.samplingRate, steps, ...spent, olderConversion: older && pick(older) });
    if (opts.targetEpsilon !== undefined)
      info(`σ = ${noiseMultiplier.toPrecision(4)} spends at most ε = ${opts.targetEpsilon} over ${steps} steps at q = ${opts.samplingRate}`);
    process.stdout.write(`${describeSpent(spent, older)}\n`);
  });
}

function pick(s: PrivacySpent): { epsilon: number; order?: number; conversion?: string } {
  return { epsilon: s.epsilon, order: s.order, conversion: s.conversion };
}

function describeSpent(s: PrivacySpent, older: PrivacySpent | undefined): string {
  const lines = [`ε = ${s.epsilon.toFixed(4)} at δ = ${s.delta}`];
  if (s.accountant === "rdp") {
    lines.push(`  accountant  RDP (Mironov 2017; Mironov, Talwar & Zhang 2019), conversion of Balle et al. 2020, best order α = ${s.order}`);
    if (older) lines.push(`  older conversion (Mironov 2017, used by published tables): ε = ${older.epsilon.toFixed(4)} at α = ${older.order}`);
  } else {
    lines.push(
      `  accountant  PRV (Gopi, Lee & Wutschitz 2021): estimate ${s.estimate?.toFixed(4)}, bounds [${s.lower?.toFixed(4)}, ${s.epsilon.toFixed(4)}]; ε is the upper bound`,
    );
  }
  return lines.join("\n");
}
