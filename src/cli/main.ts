/**
 * The `aegis` command. Errors a user can cause print one sentence and exit with the
 * code documented in the README; anything else is a bug and prints its stack.
 */
import { Command, CommanderError } from "commander";
import { AegisError } from "../errors.js";
import { AEGIS_VERSION } from "../version.js";
import { attackCommand } from "./commands/attack.js";
import { auditCommand } from "./commands/audit.js";
import { bomCommand } from "./commands/bom.js";
import { certifyCommand } from "./commands/certify.js";
import { defendCommand } from "./commands/defend.js";
import { detectCommand } from "./commands/detect.js";
import { extractCommand } from "./commands/extract.js";
import { gradCommand } from "./commands/grad.js";
import { auditLogCommand, guardCommand, incidentsCommand, keysCommand } from "./commands/guard.js";
import { hardenCommand } from "./commands/harden.js";
import { inspectCommand } from "./commands/inspect.js";
import { keygenCommand } from "./commands/keygen.js";
import { llmCommand } from "./commands/llm.js";
import { predictCommand } from "./commands/predict.js";
import { redteamCommand } from "./commands/redteam.js";
import { scanCommand } from "./commands/scan.js";
import { serveCommand } from "./commands/serve.js";
import { signCommand } from "./commands/sign.js";
import { threatCommand } from "./commands/threat.js";
import { trainCommand } from "./commands/train.js";
import { verifyCommand } from "./commands/verify.js";

const program = new Command("aegis")
  .description("Assess, harden, guard and govern machine-learning models")
  .version(AEGIS_VERSION)
  .showHelpAfterError()
  .exitOverride();

for (const cmd of [
  auditCommand(),
  attackCommand(),
  inspectCommand(),
  predictCommand(),
  gradCommand(),
  trainCommand(),
  hardenCommand(),
  defendCommand(),
  detectCommand(),
  certifyCommand(),
  threatCommand(),
])
  program.addCommand(cmd);
program.addCommand(scanCommand());
program.addCommand(serveCommand());
for (const cmd of [guardCommand(), keysCommand(), auditLogCommand(), incidentsCommand()]) program.addCommand(cmd);
program.addCommand(llmCommand());
program.addCommand(extractCommand());
program.addCommand(redteamCommand());
for (const cmd of [keygenCommand(), signCommand(), verifyCommand(), bomCommand()]) program.addCommand(cmd);

try {
  await program.parseAsync(process.argv);
} catch (e) {
  process.exitCode = report(e);
}

function report(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
  if (e instanceof AegisError) {
    process.stderr.write(`aegis: ${e.message}\n`);
    return e.exitCode;
  }
  process.stderr.write(`aegis: internal error — please report it with the command you ran:\n${(e as Error)?.stack ?? String(e)}\n`);
  return 70;
}
