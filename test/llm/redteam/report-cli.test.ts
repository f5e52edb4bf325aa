/** The `aegis redteam` command (called in-process) and its reports: files, exit codes, and the HTML page in Chromium. */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { startVulnerableChatbot } from "../../../examples/vulnerable-chatbot/server.js";
import { EXIT_CODES } from "../../../src/errors.js";
import type { RedTeamReport } from "../../../src/llm/redteam/report.js";
import { openReport } from "../../helpers/chromium.js";
import { aegis } from "../../helpers/cli.js";
import { sarifValidator, schemaValidator } from "../../helpers/schemas.js";

const validate = schemaValidator("redteam-report.schema.json");

let bot: { url: string; close(): Promise<void> };
let stub: { url: string; close(): Promise<void> };

before(async () => {
  bot = await startVulnerableChatbot();
  stub = await startVulnerableChatbot({ mode: "refusing" });
});
after(async () => {
  await bot.close();
  await stub.close();
});

/** `aegis redteam …` through the real binary, with its exit code. */
function redteam(args: string[], env: Record<string, string> = {}) {
  return aegis(["redteam", ...args], { env });
}

test("writes report.json/html/md, prints a summary on stderr and JSON on stdout with --json", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-redteam-"));
  const { code, stdout, stderr } = await redteam(["--target", bot.url, "--model", "vulnerable-bot", "--out", dir, "--json", "--transforms", "base64"]);
  assert.equal(code, 0, stderr);
  const printed = JSON.parse(stdout) as RedTeamReport;
  const written = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as RedTeamReport;
  assert.deepEqual(printed.summary, written.summary);
  assert.ok(validate(written), JSON.stringify(validate.errors, null, 1));
  assert.equal(written.probes.length, 14);
  assert.ok(written.summary.successes > 50);
  assert.match(stderr, /attacks succeeded \(ASR \d+\.\d%\)/);
  assert.match(stderr, /jailbreak\.crescendo\s+2\/2\s+100\.0%/);
  const md = readFileSync(join(dir, "report.md"), "utf8");
  assert.match(md, /\| `leak\.pii` \| LLM02 \| AML\.T0057 \|/);
  assert.match(md, /## Successful attacks \(\d+\)/);

  const { browser, page, fetched, errors } = await openReport(join(dir, "report.html"));
  try {
    const rows = await page.$$eval("#probes tbody tr", (trs) =>
      trs.map((tr) => Array.from(tr.querySelectorAll("td")).map((td) => (td.textContent ?? "").trim())),
    );
    assert.equal(rows.length, 14);
    const crescendo = rows.find((r) => r[0].startsWith("jailbreak.crescendo"))!;
    assert.deepEqual(crescendo.slice(3, 7), ["2", "2", "0", "100.0%"]);
    const refusalSuppression = rows.find((r) => r[0].startsWith("jailbreak.refusal-suppression"))!;
    assert.equal(refusalSuppression[6], "50.0%", "plain attempts held, base64 ones got through");
    // Model output containing <script> and onerror= must be shown, never run.
    assert.equal(await page.locator("script").count(), 0);
    assert.equal(await page.locator("img").count(), 0);
    assert.ok(((await page.textContent("#successes")) ?? "").includes("<script>fetch("));
    assert.deepEqual(fetched, []);
    assert.deepEqual(errors, []);
    assert.ok((await page.textContent("#owasp"))?.includes("LLM07 System Prompt Leakage"));
  } finally {
    await browser.close();
  }
});

test("--fail-on: POLICY_FAILED when a probe's ASR is above it, after writing the reports; the refusing stub passes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-redteam-"));
  const failed = await redteam([
    "--target",
    bot.url,
    "--model",
    "m",
    "--out",
    dir,
    "--probes",
    "leak",
    "--fail-on",
    "0.3",
    "--format",
    "json,html,sarif,junit",
  ]);
  assert.equal(failed.code, EXIT_CODES.POLICY_FAILED);
  assert.match(failed.stderr, /aegis: attack success rate above --fail-on 0\.3 on leak\.system-prompt \(40\.0%\)/);
  assert.doesNotMatch(failed.stderr, /on [^\n]*leak\.pii \(/, "leak.pii is at 25%, under the threshold");
  assert.ok(existsSync(join(dir, "report.html")));
  // The same verdict for CI: the JUnit case of leak.system-prompt fails, leak.pii's passes; SARIF holds a finding per vulnerable probe.
  const junit = readFileSync(join(dir, "report.junit.xml"), "utf8");
  assert.match(junit, /<testcase name="leak\.system-prompt"[^>]*>\s*<failure message="attack success rate 40\.0% above 30\.0%/);
  assert.match(junit, /<testcase name="leak\.pii"[^>]*\/>/);
  const validSarif = sarifValidator();
  const sarif = JSON.parse(readFileSync(join(dir, "report.sarif"), "utf8"));
  assert.ok(validSarif(sarif), JSON.stringify(validSarif.errors));
  const passed = await redteam(["--target", stub.url, "--model", "m", "--out", dir, "--fail-on", "0", "--stream"]);
  assert.equal(passed.code, 0, passed.stderr);
  const clean = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as RedTeamReport;
  assert.equal(clean.summary.successes, 0);
  assert.ok(validate(clean), JSON.stringify(validate.errors, null, 1));
});

test("--system-prompt: the user's prompt is the one attacked, canaries appended", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-redteam-"));
  const file = join(dir, "prompt.txt");
  writeFileSync(file, "You are Zephyr, the travel-booking helper of Contoso Air. Only discuss flights.");
  const { code, stderr } = await redteam(["--target", bot.url, "--model", "m", "--out", dir, "--probes", "leak.system-prompt", "--system-prompt", file]);
  assert.equal(code, 0, stderr);
  const report = JSON.parse(readFileSync(join(dir, "report.json"), "utf8")) as RedTeamReport;
  assert.equal(report.settings.system_prompt, "user");
  const leak = report.successes.find((f) => f.attempt === "ignore-and-print")!;
  assert.ok(leak.transcript[0].content.startsWith("You are Zephyr"));
  assert.match(leak.transcript.at(-1)!.content, /Contoso Air/);
});

test("the API key comes from AEGIS_REDTEAM_API_KEY (or --api-key-env) and --header adds headers", async () => {
  const seen: (string | undefined)[][] = [];
  const server = createServer((req, res) => {
    seen.push([req.headers.authorization, req.headers["x-tenant"] as string | undefined]);
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ message: { content: "I'm sorry, but I can't help with that." }, finish_reason: "stop" }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const dir = mkdtempSync(join(tmpdir(), "aegis-redteam-"));
  try {
    const common = ["--target", url, "--model", "m", "--out", dir, "--probes", "injection.direct", "--max-attempts", "1"];
    const first = await redteam([...common, "--header", "X-Tenant: blue"], { AEGIS_REDTEAM_API_KEY: "sk-default" });
    assert.equal(first.code, 0, first.stderr);
    const second = await redteam([...common, "--api-key-env", "MY_LLM_KEY"], { MY_LLM_KEY: "sk-custom" });
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(seen, [
      ["Bearer sk-default", "blue"],
      ["Bearer sk-custom", undefined],
    ]);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test("--list prints every probe, transform and detector (as JSON with --json)", async () => {
  const text = await redteam(["--list"]);
  assert.match(text.stdout, /injection\.indirect\s+Indirect prompt injection/);
  assert.match(text.stdout, /base64\s+Encode/);
  const json = JSON.parse((await redteam(["--list", "--json"])).stdout) as {
    probes: { name: string; owasp: string[] }[];
    transforms: unknown[];
    detectors: unknown[];
  };
  assert.equal(json.probes.length, 14);
  assert.equal(json.transforms.length, 5);
  assert.deepEqual(json.probes.find((p) => p.name === "consumption.unbounded-output")?.owasp, ["LLM10"]);
});

test("user errors exit with their documented code and one sentence: missing options, unknown probe, missing file, dead target", async () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-redteam-"));
  const cases: [string[], number, RegExp][] = [
    [["--model", "m"], EXIT_CODES.BAD_OPTION, /--target is required/],
    [["--target", bot.url], EXIT_CODES.BAD_OPTION, /--model is required/],
    [
      ["--target", bot.url, "--model", "m", "--out", dir, "--probes", "jailbrake"],
      EXIT_CODES.BAD_OPTION,
      /unknown probe "jailbrake"; known: injection\.direct/,
    ],
    [["--target", bot.url, "--model", "m", "--out", dir, "--fail-on", "2"], EXIT_CODES.BAD_OPTION, /between 0 and 1/],
    [["--target", bot.url, "--model", "m", "--out", dir, "--system-prompt", join(dir, "nope.txt")], EXIT_CODES.FILE_NOT_FOUND, /does not exist/],
    [["--target", bot.url, "--model", "m", "--out", dir, "--api-key-env", "AEGIS_TEST_SURELY_UNSET"], EXIT_CODES.BAD_OPTION, /environment variable is empty/],
  ];
  const dead = await startVulnerableChatbot();
  await dead.close();
  cases.push([["--target", dead.url, "--model", "m", "--out", dir, "--retries", "0"], EXIT_CODES.TARGET_ERROR, /connection refused/]);
  for (const [args, code, message] of cases) {
    const result = await redteam(args);
    assert.equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.doesNotMatch(result.stderr, /\n\s+at /, "no stack trace");
  }
});
