import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { atLeast } from "../../src/report/finding.js";
import { scanPaths } from "../../src/supplychain/scan.js";
import { hdf5WithAttributes } from "../helpers/model-files.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-h5-test-"));

const DENSE = { class_name: "Dense", config: { name: "dense", units: 4, activation: "relu" } };
// Keras 2 stores a Lambda as [base64 marshalled bytecode, defaults, closure]; this code is never run.
const LAMBDA = {
  class_name: "Lambda",
  config: {
    name: "lambda",
    function: ["4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMOAAAAdABkAYMBAQB8AFMAKQJOeg90b3VjaCAvdG1wL2Flz2lz", null, null],
    function_type: "lambda",
  },
};
const TRAINING = { optimizer_config: { class_name: "Adam", config: { learning_rate: 0.001 } }, loss: "mse" };

/** A Keras 2 style .h5 with the given layers in its root `model_config` attribute. */
async function kerasH5(name: string, layers: unknown[]): Promise<string> {
  const path = join(tmp, name);
  const config = JSON.stringify({ class_name: "Sequential", config: { name: "sequential", layers } });
  writeFileSync(path, await hdf5WithAttributes({ model_config: config, training_config: JSON.stringify(TRAINING), keras_version: "2.15.0" }));
  return path;
}

test("a benign Keras .h5 scans as hdf5 with nothing above LOW", async () => {
  const report = await scanPaths([await kerasH5("benign.h5", [DENSE])]);
  assert.equal(report.files[0].format, "hdf5");
  assert.ok(report.verdict === null || !atLeast(report.verdict, "medium"), JSON.stringify(report.files[0].findings));
});

test("a Lambda layer with marshalled code in model_config is CRITICAL", async () => {
  const report = await scanPaths([await kerasH5("lambda.h5", [DENSE, LAMBDA])]);
  assert.ok(report.verdict !== null && atLeast(report.verdict, "high"));
  const lambda = report.files[0].findings.find((f) => f.rule === "KERAS-LAMBDA");
  assert.equal(lambda?.severity, "critical");
  assert.equal(lambda?.location.symbol, "model_config: $.config.layers[1]");
});

test("a corrupt HDF5 file is reported, not thrown", async () => {
  const bytes = new Uint8Array(1024);
  bytes.set([0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a]);
  const path = join(tmp, "corrupt.h5");
  writeFileSync(path, bytes);
  const report = await scanPaths([path]);
  assert.deepEqual(
    report.files[0].findings.map((f) => [f.rule, f.severity]),
    [["MALFORMED-HEADER", "medium"]],
  );
});

test("an HDF5 file above the extraction limit is skipped with an INFO finding", async () => {
  const report = await scanPaths([await kerasH5("big.h5", [DENSE, LAMBDA])], { limits: { maxExtractedBytes: 100 } });
  assert.deepEqual(
    report.files[0].findings.map((f) => [f.rule, f.severity]),
    [["H5-TOO-LARGE", "info"]],
  );
});
