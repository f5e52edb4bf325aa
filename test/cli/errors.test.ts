/** Bad input gets one clear sentence and a documented exit code, never a stack trace. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz } from "../../src/data/index.js";
import { float32, tensor } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const models = new URL("../../fixtures/models/", import.meta.url).pathname;
const cnn = join(models, "cnn_maxpool.onnx");
const tmp = mkdtempSync(join(tmpdir(), "aegis-cli-errors-"));

function npz(name: string, arrays: Parameters<typeof encodeNpz>[0]): string {
  const path = join(tmp, name);
  writeFileSync(path, encodeNpz(arrays));
  return path;
}

const images = (n: number, fill = 0.5) => float32([n, 1, 28, 28], new Float32Array(n * 784).fill(fill));
const labels = (values: number[]) => tensor("int64", [values.length], BigInt64Array.from(values.map(BigInt)));

function assertCleanError(r: { code: number; stderr: string }, code: number, pattern: RegExp): void {
  assert.equal(r.code, code, `exit code (stderr: ${r.stderr})`);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
}

test("a missing model file exits 3", async () => {
  assertCleanError(await aegis(["inspect", join(tmp, "nope.onnx")]), 3, /not found/);
});

test("a file that is not an ONNX model exits 4", async () => {
  const path = join(tmp, "text.onnx");
  writeFileSync(path, "this is not a model at all, just some text\n".repeat(20));
  assertCleanError(await aegis(["inspect", path]), 4, /ONNX/);
});

test("a truncated model exits 4", async () => {
  const path = join(tmp, "truncated.onnx");
  const bytes = readFileSync(cnn);
  writeFileSync(path, bytes.subarray(0, Math.floor(bytes.length / 2)));
  assertCleanError(await aegis(["inspect", path]), 4, /truncated|ONNX/);
});

test("input whose shape does not fit the model exits 6", async () => {
  const data = npz("wrong-shape.npz", { x: float32([4, 1, 14, 14]), y: labels([0, 1, 2, 3]) });
  assertCleanError(await aegis(["predict", "--model", cnn, "--data", data]), 6, /shape \[1, 14, 14\].*expects \[1, 28, 28\]/);
});

test("labels out of range exit 6", async () => {
  const data = npz("bad-labels.npz", { x: images(3), y: labels([0, 12, 1]) });
  assertCleanError(await aegis(["grad", "--model", cnn, "--data", data, "--out", join(tmp, "g.npz")]), 6, /label 12|range/);
});

test("NaN in the data exits 6", async () => {
  const x = images(2);
  x.data[900] = Number.NaN;
  const data = npz("nan.npz", { x, y: labels([0, 1]) });
  assertCleanError(await aegis(["predict", "--model", cnn, "--data", data]), 6, /NaN|finite/i);
});

test("an .npz holding a pickled object array exits 5 and is never unpickled", async () => {
  const data = new URL("../../fixtures/data/", import.meta.url).pathname;
  const pickled = readFileSync(join(data, "object.npz"));
  const path = join(tmp, "pickled.npz");
  writeFileSync(path, pickled);
  assertCleanError(await aegis(["predict", "--model", cnn, "--data", path]), 5, /pickle/i);
});

test("an unknown option value exits 2", async () => {
  assertCleanError(await aegis(["grad", "--model", cnn, "--data", "mnist", "--out", join(tmp, "g.npz"), "--loss", "hinge"]), 2, /--loss/);
});
