/**
 * The `aegis` program. Errors a user can cause print one sentence and exit with the code
 * documented in the README; anything else is a bug and prints its stack.
 *
 * Start-up loads only commander and the table of commands (catalog.ts). Each command
 * starts as a placeholder; once commander has picked one, its module is imported and the
 * arguments are parsed again by a program holding the real command, set up like this one,
 * so help, errors and exit codes are the real command's. An error while loading a command
 * is reported like any other.
 */
import { Command, CommanderError, Help } from "commander";
import { AegisError } from "../errors.js";
import { AEGIS_VERSION } from "../version.js";
import { COMMANDS, type CommandEntry } from "./catalog.js";

/**
 * Runs `aegis` on `argv` (node, script, arguments…). Resolves to 0 when the command ran (it
 * may have set process.exitCode, as an audit whose policy fails does), else to the exit code
 * of its error.
 */
export async function runCli(argv: string[], commands: CommandEntry[] = COMMANDS): Promise<number> {
  const placeholders = program(commands.map((entry) => placeholder(entry, argv))).helpCommand(false);
  placeholders.addCommand(helpCommand(placeholders, commands, argv));
  const usages = new Map(commands.map((entry) => [entry.name, entry.usage]));
  const plainHelp = new Help();
  placeholders.configureHelp({
    subcommandTerm: (cmd) => (usages.has(cmd.name()) ? `${cmd.name()} ${usages.get(cmd.name())}`.trimEnd() : plainHelp.subcommandTerm(cmd)),
  });
  try {
    await placeholders.parseAsync(argv);
    return 0;
  } catch (e) {
    return report(e);
  }
}

function program(commands: Command[]): Command {
  const root = new Command("aegis")
    .description("Assess, harden, guard and govern machine-learning models")
    .version(AEGIS_VERSION)
    .showHelpAfterError()
    .exitOverride();
  for (const cmd of commands) root.addCommand(cmd);
  return root;
}

/** Takes any options and arguments, for the real command to parse. */
function placeholder(entry: CommandEntry, argv: string[]): Command {
  return new Command(entry.name)
    .description(entry.description)
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async () => {
      await program([await entry.load()]).parseAsync(argv);
    });
}

/**
 * `aegis help [command]`, as commander's own would be, except that it loads the command
 * first: commander prints a subcommand's help without running anything of it.
 */
function helpCommand(root: Command, commands: CommandEntry[], argv: string[]): Command {
  return new Command("help")
    .description("display help for command")
    .argument("[command]")
    .helpOption(false)
    .allowUnknownOption()
    .allowExcessArguments()
    .action(async (word?: string) => {
      // As in commander's: a word after an option is not a command name (`help --help` is plain help).
      const name = word?.startsWith("-") ? undefined : word;
      const entry = commands.find((e) => e.name === name);
      if (!entry) root.help({ error: name !== undefined });
      await program([await entry.load()]).parseAsync(argv);
    });
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
