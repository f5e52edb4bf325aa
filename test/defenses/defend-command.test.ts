import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { defendCommand } from "../../src/cli/commands/defend.js";
import { loadMnist } from "../../src/data/mnist.js";
import { defend } from "../../src/defenses/defended-classifier.js";
import { openDefence, parseDefenceSpecs } from "../../src/defenses/specs.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { isAegisError } from "../../src/errors.js";
import { sliceRows } from "../../src/tensor.js";

const dir = mkdtempSync(join(tmpdir(), "aegis-defend-"));
const badOption = (e: unknown) => isAegisError(e) && e.code === "BAD_OPTION";
const run = (args: string[]) => defendCommand().parseAsync(args, { from: "user" });

describe("defence specs", () => {
  it("parse chains, parameters that continue a defence, and bare names", () => {
    assert.deepEqual(parseDefenceSpecs("squeeze:bits=4,smooth:window=3", "--preprocess"), [
      { name: "squeeze", params: { bits: 4 } },
      { name: "smooth", params: { window: 3 } },
    ]);
    assert.deepEqual(parseDefenceSpecs("tv:keep=0.5,lambda=0.03,labels", "--x"), [
      { name: "tv", params: { keep: 0.5, lambda: 0.03 } },
      { name: "labels", params: {} },
    ]);
    assert.throws(() => parseDefenceSpecs("bits=4", "--preprocess"), badOption);
    assert.throws(() => parseDefenceSpecs("squeeze:bits=four", "--preprocess"), badOption);
  });
});

describe("aegis defend (the command function)", () => {
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("bakes the expressible tail, lists the rest in the sidecar, and both rebuild the same defended model", async () => {
    const out = join(dir, "wrapped.onnx");
    await run([
      "--model",
      "models/mnist-cnn.onnx",
      "--preprocess",
      "jpeg:quality=50,squeeze:bits=4,smooth:window=3",
      "--postprocess",
      "round:decimals=2",
      "--out",
      out,
    ]);
    const sidecar = JSON.parse(readFileSync(join(dir, "wrapped.defence.json"), "utf8"));
    assert.deepEqual(sidecar.baked, ["squeeze:bits=4", "smooth:window=3"]);
    assert.deepEqual(sidecar.runtime, ["jpeg:quality=50"]);
    assert.deepEqual(sidecar.postprocess, ["round:decimals=2"]);

    const deployed = openDefence(join(dir, "wrapped.defence.json"));
    assert.equal(deployed.modelFile, out);
    assert.deepEqual(
      deployed.preprocessors.map((p) => p.name),
      ["jpeg-compression(quality=50)"],
    );
    const adaptive = openDefence(join(dir, "wrapped.defence.json"), { adaptive: true });
    assert.equal(adaptive.preprocessors.length, 3);
    const x = sliceRows(loadMnist().test.x, 0, 50);
    const a = await OnnxClassifier.fromFile(deployed.modelFile);
    const b = await OnnxClassifier.fromFile(adaptive.modelFile);
    const pa = await defend(a, deployed).predict(x);
    const pb = await defend(b, adaptive).predict(x);
    for (let i = 0; i < pa.data.length; i++) assert.ok(Math.abs(pa.data[i]! - pb.data[i]!) <= 1e-5);
    await a.release();
    await b.release();
  });

  it("an adaptive reopening refuses a base model that changed", async () => {
    const base = join(dir, "base.onnx");
    writeFileSync(base, readFileSync("models/mnist-cnn.onnx"));
    await run(["--model", base, "--preprocess", "squeeze:bits=1", "--out", join(dir, "b.onnx")]);
    writeFileSync(base, Buffer.concat([readFileSync(base), Buffer.from([0])]));
    assert.throws(
      () => openDefence(join(dir, "b.defence.json"), { adaptive: true }),
      (e: unknown) => isAegisError(e) && e.code === "FILE_NOT_FOUND",
    );
  });

  it("--evaluate writes the side-by-side table as Markdown and JSON", async () => {
    const report = join(dir, "report");
    await run([
      "--model",
      "models/mnist-cnn.onnx",
      "--preprocess",
      "smooth:window=2",
      "--evaluate",
      "--samples",
      "40",
      "--eps",
      "0.3",
      "--no-autoattack",
      "--out-report",
      report,
      "--json",
      join(dir, "result.json"),
    ]);
    const evaluation = JSON.parse(readFileSync(join(report, "defence-evaluation.json"), "utf8"));
    assert.equal(evaluation.samples, 40);
    const [row] = evaluation.rows;
    assert.ok(row.transfer > row.bpda + 0.3, `transfer ${row.transfer}, BPDA ${row.bpda}`);
    assert.match(readFileSync(join(report, "defence-evaluation.md"), "utf8"), /\| eps \| undefended \| transfer \|/);
    const result = JSON.parse(readFileSync(join(dir, "result.json"), "utf8"));
    assert.deepEqual(result.baked, ["smooth:window=2"]);
  });

  it("rejects unknown defences and parameters with a sentence", async () => {
    await assert.rejects(run(["--model", "models/mnist-cnn.onnx", "--preprocess", "blur:radius=2", "--out", join(dir, "x.onnx")]), badOption);
    await assert.rejects(run(["--model", "models/mnist-cnn.onnx", "--preprocess", "squeeze:bit=2", "--out", join(dir, "x.onnx")]), badOption);
    await assert.rejects(run(["--model", "models/mnist-cnn.onnx", "--out", join(dir, "x.onnx")]), badOption);
  });
});
