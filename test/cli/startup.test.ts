/**
 * `aegis --version` and `--help` load no command and not ONNX Runtime, the property that
 * makes them start fast (the times are in `npm run bench`); a command's modules load when
 * it runs, and a failure to load one is reported like any other error. bin/aegis.js runs
 * the compiled dist/ only while it matches the sources.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Command, Help } from "commander";
import { compiledEntry } from "../../bin/compiled.js";
import { buildDist } from "../../scripts/build.js";
import { COMMANDS, type CommandEntry } from "../../src/cli/catalog.js";
import { runCli } from "../../src/cli/program.js";
import { AegisError } from "../../src/errors.js";
import { AEGIS_VERSION } from "../../src/version.js";
import { aegis } from "../helpers/cli.js";

const root = fileURLToPath(new URL("../../", import.meta.url));
const recorder = fileURLToPath(new URL("../helpers/record-imports.mjs", import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), "aegis-startup-"));
const COMMAND_MODULE = /\/cli\/commands\//;
let runs = 0;

/** Runs `aegis args` and lists the URLs of the modules it loaded. */
async function traced(args: string[]): Promise<{ code: number; stdout: string; stderr: string; modules: string[] }> {
  const log = join(tmp, `imports-${runs++}.log`);
  writeFileSync(log, "");
  const r = await aegis(args, { node: ["--import", recorder], env: { AEGIS_IMPORT_LOG: log } });
  return { ...r, modules: readFileSync(log, "utf8").split("\n").filter(Boolean) };
}

const loads = (modules: string[], pattern: RegExp) => modules.some((url) => pattern.test(url));

test("--version and --help load no command module, nor ONNX Runtime or fastify; a command loads its own module only", async () => {
  const version = await traced(["--version"]);
  assert.equal(version.code, 0, version.stderr);
  assert.equal(version.stdout, `${AEGIS_VERSION}\n`);
  const help = await traced(["--help"]);
  assert.equal(help.code, 0, help.stderr);
  for (const { name } of COMMANDS) assert.match(help.stdout, new RegExp(`^  ${name}\\b`, "m"), `--help lists ${name}`);
  for (const run of [version, help]) {
    assert.ok(loads(run.modules, /\/cli\/catalog\.(ts|js)$/), "the recorder saw the CLI's modules");
    assert.deepEqual(
      run.modules.filter((url) => COMMAND_MODULE.test(url) || /onnxruntime|fastify/.test(url)),
      [],
    );
  }

  const attacks = await traced(["attack", "--list"]);
  assert.equal(attacks.code, 0, attacks.stderr);
  assert.ok(loads(attacks.modules, /onnxruntime-node/));
  assert.deepEqual(
    attacks.modules.filter((url) => COMMAND_MODULE.test(url)).map((url) => url.replace(/.*\/commands\/(.*)\.[jt]s$/, "$1")),
    ["attack"],
  );
});

test("bin/aegis.js runs dist/ when it was compiled from the sources on disk, and src/ through tsx otherwise", async () => {
  const { modules } = await traced(["--version"]);
  const compiled = compiledEntry(root) !== undefined;
  assert.equal(loads(modules, /\/dist\/cli\/main\.js$/), compiled);
  assert.equal(loads(modules, /\/src\/cli\/main\.ts$/), !compiled);
});

test("the table of commands lists each one with the usage and description of the command it loads", async () => {
  const help = new Help();
  for (const entry of COMMANDS) {
    const cmd = await entry.load();
    assert.equal(cmd.name(), entry.name);
    assert.equal(`${entry.name} ${entry.usage}`.trimEnd(), help.subcommandTerm(cmd), `usage of ${entry.name}`);
    assert.equal(entry.description, cmd.description(), `description of ${entry.name}`);
  }
});

test("a command loads when it runs, and an error while loading it exits as any error does", async (t) => {
  const stderr = t.mock.method(process.stderr, "write", () => true);
  const stdout = t.mock.method(process.stdout, "write", () => true);
  let loaded = 0;
  let greeted = "";
  const entry = (name: string, load: () => Command): CommandEntry => ({
    name,
    usage: "<who>",
    description: `${name} someone`,
    load: async () => {
      loaded++;
      return load();
    },
  });
  const commands = [
    entry("greet", () =>
      new Command("greet").argument("<who>").action((who: string) => {
        greeted = who;
      }),
    ),
    entry("broken-model", () => {
      throw new AegisError("BAD_MODEL", "the command's model is not ONNX");
    }),
    entry("bug", () => {
      throw new TypeError("undefined is not a function");
    }),
  ];
  const argv = (...args: string[]) => ["node", "aegis", ...args];

  assert.equal(await runCli(argv("--help"), commands), 0);
  assert.equal(loaded, 0);
  assert.match(String(stdout.mock.calls.at(-1)?.arguments[0]), /^ {2}greet <who> +greet someone$/m);

  assert.equal(await runCli(argv("greet", "world"), commands), 0);
  assert.equal(greeted, "world");
  assert.equal(loaded, 1);

  assert.equal(await runCli(argv("broken-model", "x"), commands), 4);
  assert.equal(stderr.mock.calls.at(-1)?.arguments[0], "aegis: the command's model is not ONNX\n");
  assert.equal(await runCli(argv("bug"), commands), 70);
  assert.match(String(stderr.mock.calls.at(-1)?.arguments[0]), /^aegis: internal error .*\nTypeError: undefined is not a function\n\s+at /);
});

test("the build compiles src/ into dist/ and stamps it; any change to the sources makes it stale until rebuilt", async () => {
  const project = mkdtempSync(join(tmp, "project-"));
  try {
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(project, path)), { recursive: true });
      writeFileSync(join(project, path), text);
    };
    write("package.json", '{ "type": "module" }\n');
    write("tsconfig.json", '{ "compilerOptions": { "target": "ES2022" } }\n');
    write("src/greeting.ts", 'export const greeting: string = "hello";\n');
    write(
      "src/cli/main.ts",
      'import { readFileSync } from "node:fs";\nimport { greeting } from "../greeting.js";\nconsole.log(greeting, readFileSync(new URL("../templates/t.yaml", import.meta.url), "utf8").trim());\n',
    );
    write("src/templates/t.yaml", "kind: template\n");
    await buildDist(project);

    const entry = join(project, "dist", "cli", "main.js");
    assert.equal(compiledEntry(project), entry);
    assert.equal(execFileSync(process.execPath, [entry], { encoding: "utf8" }), "hello kind: template\n");
    assert.deepEqual(readdirSync(project).sort(), ["dist", "package.json", "src", "tsconfig.json"], "no staging folder is left");

    const stale = (change: () => void, undo: () => void, what: string) => {
      change();
      assert.equal(compiledEntry(project), undefined, what);
      undo();
      assert.equal(compiledEntry(project), entry, `${what}, undone`);
    };
    const greeting = readFileSync(join(project, "src/greeting.ts"), "utf8");
    stale(
      () => write("src/greeting.ts", greeting.replace("hello", "hullo")),
      () => write("src/greeting.ts", greeting),
      "an edited file",
    );
    stale(
      () => write("src/extra.ts", "export {};\n"),
      () => rmSync(join(project, "src/extra.ts")),
      "an added file",
    );
    stale(
      () => rmSync(join(project, "src/templates/t.yaml")),
      () => write("src/templates/t.yaml", "kind: template\n"),
      "a deleted file",
    );
    stale(
      () => write("tsconfig.json", "{}\n"),
      () => write("tsconfig.json", '{ "compilerOptions": { "target": "ES2022" } }\n'),
      "another tsconfig.json",
    );

    write("src/greeting.ts", greeting.replace("hello", "hullo"));
    await buildDist(project);
    assert.equal(compiledEntry(project), entry);
    assert.ok(existsSync(join(project, "dist", "greeting.js.map")), "stack traces map back to the TypeScript");
    assert.match(readFileSync(join(project, "dist", "greeting.js"), "utf8"), /hullo/);
  } finally {
    rmSync(project, { recursive: true, force: true });
  }
});
