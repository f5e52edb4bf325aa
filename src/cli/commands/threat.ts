/**
 * `aegis threat init|analyze|ir-plan`: write a starting system.yaml, derive the threat
 * model from it (with evidence from Aegis's own reports) into the report formats, and turn
 * its high risks into an incident-response plan.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, type ReportFormat, writeReports } from "../../report/write.js";
import type { ThreatModel } from "../../threat/index.js";
import {
  analyze,
  attachEvidence,
  byRisk,
  LEVELS,
  levelCounts,
  loadAtlasFile,
  loadSystem,
  oneLine,
  renderCsv,
  renderHtml,
  renderIrPlan,
  renderJson,
  renderMarkdown,
  renderThreatJunit,
  TEMPLATES,
  targetLabel,
  templateText,
  threatFindings,
} from "../../threat/index.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, printJson } from "../common.js";
import { outOption, withFormat, withJson, withOut } from "../options.js";

const FORMATS: readonly ReportFormat[] = ["md", "html", "json", "sarif", "csv", "junit"];
/** What analyze writes unless --format says otherwise (JUnit only when asked for). */
const DEFAULT_FORMATS: readonly ReportFormat[] = ["md", "html", "json", "sarif", "csv"];

export function threatCommand(): Command {
  const cmd = new Command("threat").description(
    "threat-model an AI system: STRIDE and AI-specific threats mapped to MITRE ATLAS, OWASP and NIST, with evidence",
  );
  cmd
    .command("init")
    .description("write a commented starting system.yaml from a template")
    .option("--template <name>", `one of ${TEMPLATES.join(", ")}`, "image-classifier-api")
    .addOption(outOption("where to write it", "system.yaml"))
    .option("--force", "overwrite an existing file")
    .action((opts: { template: string; out: string; force?: boolean }) => {
      const text = templateText(opts.template);
      if (existsSync(opts.out) && !opts.force) {
        throw new AegisError("BAD_OPTION", `${opts.out} already exists; pass --force to overwrite it or --out to write somewhere else.`);
      }
      writeFileAtomic(opts.out, text);
      info(`wrote ${opts.out} (template ${opts.template}); edit it, then run: aegis threat analyze ${opts.out}`);
    });
  const analyzeCmd = cmd
    .command("analyze")
    .description("derive threats, risks and mitigations from system.yaml and write the reports")
    .argument("<system.yaml>", "the system description")
    .option("--evidence <reports...>", "Aegis reports (audit report.json, aegis attack --json output) whose results mark threats tested")
    .option("--atlas <ATLAS.yaml>", "the official ATLAS.yaml, to refresh technique names and add techniques");
  withOut(analyzeCmd, "report folder", "aegis-threat-model");
  withFormat(analyzeCmd, FORMATS, DEFAULT_FORMATS);
  withJson(analyzeCmd, "the threat model");
  analyzeCmd.action((file: string, opts: { evidence?: string[]; format: string; out: string; atlas?: string; json?: boolean }) => {
    const formats = parseFormats(opts.format, FORMATS);
    const model = buildModel(file, opts);
    const written = Object.values(
      writeReports(
        opts.out,
        formats,
        {
          md: () => renderMarkdown(model),
          html: () => renderHtml(model),
          json: () => renderJson(model),
          sarif: () =>
            renderSarif(
              threatFindings(model, resolve(file)),
              { name: "aegis-threat", fullName: "Aegis threat model", version: AEGIS_VERSION },
              {
                properties: { system: model.system.name, generated: model.generated },
              },
            ),
          csv: () => renderCsv(model),
          junit: () => renderThreatJunit(model),
        },
        { base: "threat-model", names: { csv: "risk-register.csv" } },
      ),
    );
    for (const w of model.warnings) info(`warning: ${w}`);
    if (opts.json) {
      printJson(model);
      info(`wrote ${written.join(", ")}`);
    } else {
      process.stdout.write(`${summary(model)}\nwrote ${written.join(", ")}\n`);
    }
  });
  cmd
    .command("ir-plan")
    .description("write an incident-response plan (Markdown) with one playbook per high or critical risk")
    .argument("<system.yaml>", "the system description")
    .option("--evidence <reports...>", "Aegis reports whose results mark threats tested")
    .option("--atlas <ATLAS.yaml>", "the official ATLAS.yaml, to refresh technique names")
    .addOption(outOption("where to write the plan", "ir-plan.md"))
    .action((file: string, opts: { evidence?: string[]; atlas?: string; out: string }) => {
      const model = buildModel(file, opts);
      writeFileAtomic(opts.out, renderIrPlan(model));
      const n = model.threats.filter((t) => t.level === "high" || t.level === "critical").length;
      info(`wrote ${opts.out}: ${n} playbook${n === 1 ? "" : "s"} for high and critical risks`);
    });
  return cmd;
}

function buildModel(file: string, opts: { evidence?: string[]; atlas?: string }): ThreatModel {
  const system = loadSystem(file);
  const model = analyze(system, opts.atlas ? { atlas: loadAtlasFile(opts.atlas) } : undefined);
  return opts.evidence && opts.evidence.length > 0 ? attachEvidence(model, opts.evidence) : model;
}

/** Counts per level and the five highest risks, for the terminal. */
export function summary(model: ThreatModel): string {
  const counts = levelCounts(model);
  const top = byRisk(model.threats).slice(0, 5);
  const lines = [
    `${model.system.name}: ${model.threats.length} threats — ${LEVELS.map((l) => `${counts[l]} ${l}`).join(", ")}`,
    ...(top.length > 0 ? ["top risks:"] : []),
    ...top.map(
      (t) =>
        `  ${String(t.risk).padStart(2)} ${t.level.padEnd(8)} ${oneLine(t.title)}${t.title.includes(targetLabel(t)) ? "" : ` (${targetLabel(t)})`} [${[...t.atlas, ...t.owasp_ml, ...t.owasp_llm].join(", ")}] ${t.status}`,
    ),
  ];
  return lines.join("\n");
}
