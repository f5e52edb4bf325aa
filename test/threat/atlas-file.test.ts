/**
 * `--atlas FILE`: an ATLAS.yaml in the official layout (matrices with techniques and
 * mitigations, YAML anchors allowed) refreshes names and adds techniques; a file that is
 * not ATLAS data is refused with a sentence that says what to pass.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { isAegisError } from "../../src/errors.js";
import { atlasName } from "../../src/report/taxonomy.js";
import { analyze } from "../../src/threat/analyze.js";
import { loadAtlasFile } from "../../src/threat/atlas-file.js";

const ATLAS_LIKE = `---
id: ATLAS
name: Adversarial Threat Landscape for AI Systems
version: 9.9.0
matrices:
- id: ATLAS
  name: ATLAS Matrix
  tactics:
  - &staging
    id: AML.TA0001
    name: AI Attack Staging
  techniques:
  - id: AML.T0024
    name: Exfiltration via AI Inference API
    tactics:
    - AML.TA0010
  - id: AML.T0024.002
    name: Extract AI Model (renamed)
    subtechnique-of: AML.T0024
  - id: AML.T0999
    name: A Technique From The Future
    tactics:
    - *staging
  mitigations:
  - id: AML.M0004
    name: Restrict Number of AI Model Queries (renamed)
    techniques:
    - id: AML.T0024.002
      use: limit queries
case-studies:
- id: AML.CS0000
  name: not a technique
`;

function write(text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), "aegis-atlas-")), "ATLAS.yaml");
  writeFileSync(file, text);
  return file;
}

test("loadAtlasFile reads techniques, sub-techniques, mitigations and the version", () => {
  const atlas = loadAtlasFile(write(ATLAS_LIKE));
  assert.equal(atlas.version, "9.9.0");
  assert.equal(atlas.techniques["AML.T0024.002"], "Extract AI Model (renamed)");
  assert.equal(atlas.techniques["AML.T0999"], "A Technique From The Future");
  assert.equal(atlas.mitigations["AML.M0004"], "Restrict Number of AI Model Queries (renamed)");
  assert.equal(atlas.techniques["AML.CS0000"], undefined);
  assert.equal(atlas.techniques["AML.TA0001"], undefined);
  // Added techniques and refreshed names are looked up before the built-in catalogue.
  const names = { ...atlas.techniques, ...atlas.mitigations };
  assert.equal(atlasName("AML.T0999", names), "A Technique From The Future");
  assert.equal(atlasName("AML.T0043"), "Craft Adversarial Data");
});

test("analyze uses the loaded names for mitigations", () => {
  const atlas = loadAtlasFile(write(ATLAS_LIKE));
  const m = analyze(
    {
      system: { name: "api", deployment: "internet-facing" },
      components: [
        { id: "user", type: "user", trust_zone: "internet" },
        { id: "api", type: "inference_api", trust_zone: "dmz", outputs: "probabilities" },
      ],
      flows: [{ from: "user", to: "api" }],
      controls: ["rate_limiting"],
    },
    { atlas },
  );
  const extraction = m.threats.find((t) => t.rule === "AI-EXTRACTION");
  assert.ok(extraction);
  assert.equal(extraction.mitigations.find((x) => x.atlas === "AML.M0004")?.name, "Restrict Number of AI Model Queries (renamed)");
});

test("an older layout with top-level lists is read too", () => {
  const atlas = loadAtlasFile(write("techniques:\n  - id: AML.T0043\n    name: Craft Adversarial Data\nmitigations: []\n"));
  assert.equal(atlas.techniques["AML.T0043"], "Craft Adversarial Data");
});

test("a file that is not ATLAS data is refused with what to pass", () => {
  for (const text of ["- just\n- a list\n", "system:\n  name: x\n"]) {
    assert.throws(
      () => loadAtlasFile(write(text)),
      (e: unknown) => isAegisError(e) && e.code === "BAD_OPTION" && /ATLAS\.yaml/.test(e.message),
    );
  }
  assert.throws(
    () => loadAtlasFile("/nonexistent/ATLAS.yaml"),
    (e: unknown) => isAegisError(e) && e.code === "FILE_NOT_FOUND",
  );
});
