/** The CycloneDX 1.6 ML-BOM: required fields and types, hashes, ONNX interface and model-card fields. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { loadModel, saveModel } from "../../src/onnx/io.js";
import { type Bom, buildBom } from "../../src/supplychain/bom.js";

const sha256 = (path: string) => createHash("sha256").update(readFileSync(path)).digest("hex");
const prop = (c: Bom["components"][number], name: string) => c.properties.find((p) => p.name === name)?.value;

/** The fields CycloneDX 1.6 requires (bomFormat, specVersion) and the types of those we emit. */
function assertWellFormed(bom: Bom): void {
  assert.equal(bom.bomFormat, "CycloneDX");
  assert.equal(bom.specVersion, "1.6");
  assert.match(bom.serialNumber, /^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[1-5][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  assert.equal(bom.version, 1);
  assert.ok(!Number.isNaN(Date.parse(bom.metadata.timestamp)));
  assert.equal(bom.metadata.tools.components[0].name, "aegis");
  const refs = new Set<string>();
  for (const c of bom.components) {
    assert.ok(["machine-learning-model", "file"].includes(c.type));
    assert.equal(typeof c.name, "string");
    assert.ok(!refs.has(c["bom-ref"]), "bom-refs are unique");
    refs.add(c["bom-ref"]);
    for (const h of c.hashes) {
      assert.equal(h.alg, "SHA-256");
      assert.match(h.content, /^[0-9a-f]{64}$/);
    }
    for (const p of c.properties) assert.ok(typeof p.name === "string" && typeof p.value === "string");
    for (const io of [...(c.modelCard?.modelParameters?.inputs ?? []), ...(c.modelCard?.modelParameters?.outputs ?? [])])
      assert.equal(typeof io.format, "string");
  }
}

test("the BOM of models/mnist-cnn.onnx names its hash, opset 17, interface and parameters", async () => {
  const bom = await buildBom("models/mnist-cnn.onnx");
  assertWellFormed(bom);
  assert.equal(bom.components.length, 1);
  const [c] = bom.components;
  assert.equal(c.type, "machine-learning-model");
  assert.equal(c.hashes[0].content, sha256("models/mnist-cnn.onnx"));
  assert.equal(prop(c, "aegis:format"), "onnx");
  assert.equal(prop(c, "aegis:onnx:opset:ai.onnx"), "17");
  assert.equal(prop(c, "aegis:input:input"), "float[batch,1,28,28]");
  assert.equal(prop(c, "aegis:output:logits"), "float[batch,10]");
  assert.equal(prop(c, "aegis:parameters"), "1199882");
  // metadata_props: aegis.arch feeds the model card, the rest stays as properties.
  assert.equal(c.modelCard?.modelParameters?.architectureFamily, "cnn");
  assert.deepEqual(c.modelCard?.modelParameters?.inputs, [{ format: "float[batch,1,28,28]" }]);
  assert.equal(prop(c, "aegis:onnx:metadata:aegis.num_classes"), "10");
});

test("the BOM of fixtures/models/ hashes every file and types ONNX files as models", async () => {
  const bom = await buildBom("fixtures/models");
  assertWellFormed(bom);
  const names = readdirSync("fixtures/models").sort();
  assert.deepEqual(bom.components.map((c) => c.name).sort(), names);
  for (const c of bom.components) {
    assert.equal(c.hashes[0].content, sha256(join("fixtures/models", c.name)), c.name);
    assert.equal(c.type, c.name.endsWith(".onnx") ? "machine-learning-model" : "file", c.name);
  }
  const cnn = bom.components.find((c) => c.name === "cnn_maxpool_op11.onnx");
  assert.equal(cnn && prop(cnn, "aegis:onnx:opset:ai.onnx"), "11");
});

test("--scan records each file's verdict", async () => {
  const bom = await buildBom("models/mnist-cnn.onnx", { scan: true });
  assert.equal(prop(bom.components[0], "aegis:scan:verdict"), "clean");
});

test("ONNX metadata_props fill the component's description, license and model card", async () => {
  const model = loadModel("fixtures/models/tabular_mlp.onnx");
  model.metadata = [
    { key: "description", value: "fraud scoring MLP" },
    { key: "license", value: "Apache-2.0" },
    { key: "task", value: "classification" },
    { key: "intended_use", value: "card transactions" },
    { key: "limitations", value: "tabular inputs only" },
    { key: "owner", value: "risk team" },
  ];
  const path = join(mkdtempSync(join(tmpdir(), "aegis-bom-")), "card.onnx");
  saveModel(path, model);
  const [c] = (await buildBom(path)).components;
  assert.equal(c.description, "fraud scoring MLP");
  assert.deepEqual(c.licenses, [{ license: { name: "Apache-2.0" } }]);
  assert.equal(c.modelCard?.modelParameters?.task, "classification");
  assert.deepEqual(c.modelCard?.considerations, { useCases: ["card transactions"], technicalLimitations: ["tabular inputs only"] });
  assert.equal(prop(c, "aegis:onnx:metadata:owner"), "risk team");
});
