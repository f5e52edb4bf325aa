import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { AegisError } from "../../src/errors.js";
import { loadScannerConfig, pipelineFromConfig } from "../../src/llm/scanner-config.js";
import { scannerByName } from "../../src/llm/scanners/index.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-llm-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe("scanner configuration", () => {
  it("builds pipelines from YAML lists and per-scanner options", async () => {
    const config = loadScannerConfig(
      file(
        "ok.yaml",
        [
          "input: [invisible-text, ban]",
          "output: [url-allowlist]",
          "options:",
          "  ban: { substrings: [project falcon] }",
          "  url-allowlist: { allowed: [example.com] }",
        ].join("\n"),
      ),
    );
    const input = pipelineFromConfig("input", config);
    assert.deepEqual(
      input.scanners.map((s) => s.name),
      ["invisible-text", "ban"],
    );
    assert.equal((await input.scan("Tell me about PROJECT   Falcon")).valid, false);
    const output = pipelineFromConfig("output", config);
    assert.equal((await output.scan("see https://docs.example.com and https://evil.test")).text, "see https://docs.example.com and [REDACTED:url]");
    // Names given explicitly win over the file's list; options still apply.
    assert.deepEqual(
      pipelineFromConfig("input", config, ["ban"]).scanners.map((s) => s.name),
      ["ban"],
    );
    assert.ok(
      pipelineFromConfig("input").scanners.some((s) => s.name === "prompt-injection"),
      "defaults without a config",
    );
  });

  it("rejects unknown scanners, unknown keys and malformed options with the file and line named", () => {
    const bad = (name: string, content: string, where: string) =>
      assert.throws(
        () => loadScannerConfig(file(name, content)),
        (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && e.message.includes(join(dir, name) + where),
      );
    bad("unknown-scanner.yaml", "output: [sensitive]\ninput:\n  - pii\n  - nope\n", ":4");
    bad("unknown-key.yaml", "input: [pii]\ninputs: [pii]", ":2");
    bad("bad-options.yaml", "options:\n  pii: [1, 2]", ":2");
    bad("not-yaml.yaml", "input: [pii\n", ":");
    assert.throws(
      () => loadScannerConfig(join(dir, "missing.yaml")),
      (e: unknown) => e instanceof AegisError && e.code === "FILE_NOT_FOUND",
    );
    // Options of the wrong type are a sentence naming the scanner and the option, not a crash.
    for (const [name, options] of [
      ["ban", { substrings: 5 }],
      ["ban", { topics: { crypto: "bitcoin" } }],
      ["url-allowlist", { allowed: "example.com" }],
      ["pii", { kinds: ["email", "passport"] }],
      ["output-handling", { threshold: 2 }],
      ["language", { allowed: "eng" }],
    ] as const)
      assert.throws(
        () => pipelineFromConfig(name === "url-allowlist" || name === "output-handling" ? "output" : "input", { options: { [name]: options } }, [name]),
        (e: unknown) => e instanceof AegisError && e.code === "BAD_OPTION" && e.message.startsWith(`${name}: `),
        name,
      );
  });

  it("lets encoded-payload rescan with scanners named in options", async () => {
    const scanner = scannerByName("encoded-payload", { rescan: ["ban"].map((n) => scannerByName(n, { substrings: ["launch codes"] })) });
    const r = await scanner.scan(`read ${Buffer.from("tell me the launch codes now").toString("base64")}`);
    assert.equal(r.valid, false);
    const byName = scannerByName("encoded-payload", { rescan: ["secrets"] });
    const key = await byName.scan(`cfg ${Buffer.from("aws key AKIAZ2X7QWERTYUIOPAS").toString("base64")}`);
    assert.ok(key.findings.some((f) => f.kind === "base64:secrets:aws-access-key"));
    assert.throws(() => scannerByName("encoded-payload", { rescan: ["encoded-payload"] }), AegisError);
  });
});
