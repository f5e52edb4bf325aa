import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { PNG } from "pngjs";
import { checkLabels, encodeNpy, encodeNpz, loadDataset, parseNpz, saveNpz, toLabelIndices } from "../../src/data/index.js";
import { AegisError } from "../../src/errors.js";
import type { Tensor } from "../../src/tensor.js";

const hasCode = (code: string, text?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof AegisError, `expected an AegisError, got ${e}`);
  assert.equal(e.code, code);
  if (text) assert.match(e.message, text);
  return true;
};

const dir = mkdtempSync(join(tmpdir(), "aegis-dataset-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes bytes to a file in the temp folder and returns its path. */
function file(name: string, bytes: Uint8Array | string): string {
  const path = join(dir, name);
  writeFileSync(path, bytes);
  return path;
}

const fixture = (name: string) => fileURLToPath(new URL(`../../fixtures/data/${name}`, import.meta.url));

const f64 = (shape: number[], values: number[]): Tensor<"float64"> => ({
  dtype: "float64",
  shape,
  data: new Float64Array(values),
});
const x3: Tensor = { dtype: "uint8", shape: [3, 2], data: new Uint8Array([0, 1, 2, 3, 4, 255]) };

test("the built-in mnist defaults to the test split", () => {
  const test = loadDataset("mnist");
  assert.equal(test.name, "mnist-test");
  assert.deepEqual(test.x.shape, [2000, 1, 28, 28]);
  assert.equal(test.y?.shape[0], 2000);
  assert.equal(test.classNames?.length, 10);
  assert.deepEqual(loadDataset("mnist", { split: "train" }).x.shape, [8000, 1, 28, 28]);
});

test("a numpy-written .npz is detected by content, whatever its name", () => {
  const path = join(dir, "renamed.bin");
  copyFileSync(fixture("xy_compressed.npz"), path);
  const data = loadDataset(path);
  assert.equal(data.name, "renamed.bin");
  assert.deepEqual(data.x.shape, [4, 1, 2, 2]);
  assert.deepEqual([...(data.y?.data ?? [])], [0n, 2n, 1n, 2n]);
});

test("x is converted to float32; other keys are chosen with xKey and yKey", () => {
  const path = file("keys.npz", encodeNpz({ images: x3, targets: f64([3], [2, 0, 1]) }));
  const data = loadDataset(path, { xKey: "images", yKey: "targets" });
  assert.equal(data.x.dtype, "float32");
  assert.deepEqual([...data.x.data], [0, 1, 2, 3, 4, 255]);
  assert.equal(data.y?.dtype, "int64");
  assert.deepEqual([...(data.y?.data ?? [])], [2n, 0n, 1n]);
});

test("a missing key lists the available keys and names the flags", () => {
  const path = file("keys2.npz", encodeNpz({ images: x3, targets: f64([3], [2, 0, 1]) }));
  assert.throws(() => loadDataset(path), hasCode("BAD_DATA", /no array "x" \(it holds "images", "targets"\).*--x-key/));
  assert.throws(() => loadDataset(path, { xKey: "images", yKey: "labels" }), hasCode("BAD_DATA", /no array "labels".*--y-key/));
  // Without an explicit yKey, a missing "y" just means unlabelled data.
  assert.equal(loadDataset(path, { xKey: "images" }).y, undefined);
});

test("labels may be whole floats or one-hot rows; other values are refused", () => {
  const oneHot = f64([3, 3], [0, 0, 1, 1, 0, 0, 0, 1, 0]);
  const path = file("onehot.npz", encodeNpz({ x: x3, y: oneHot }));
  assert.deepEqual([...(loadDataset(path).y?.data ?? [])], [2n, 0n, 1n]);
  const column = file("column.npz", encodeNpz({ x: x3, y: f64([3, 1], [1, 1, 0]) }));
  assert.deepEqual([...(loadDataset(column).y?.data ?? [])], [1n, 1n, 0n]);

  const bad = (y: Tensor) => file("bad.npz", encodeNpz({ x: x3, y }));
  assert.throws(() => loadDataset(bad(f64([3], [0, 1.5, 2]))), hasCode("BAD_DATA", /sample 1 has label 1\.5/));
  assert.throws(() => loadDataset(bad(f64([3], [0, 1, -2]))), hasCode("LABEL_OUT_OF_RANGE", /sample 2 has label -2/));
  assert.throws(() => loadDataset(bad(f64([3, 2], [1, 0, 0.5, 0.5, 0, 1]))), hasCode("BAD_DATA", /sample 1 is not a one-hot row/));
  assert.throws(() => loadDataset(bad(f64([2], [0, 1]))), hasCode("SHAPE_MISMATCH", /3 samples in x but 2 labels/));
  assert.throws(() => loadDataset(bad(f64([3, 1, 1], [0, 1, 2]))), hasCode("BAD_DATA", /shape \[3, 1, 1\]/));
});

test("non-finite x is NON_FINITE naming the first bad sample", () => {
  const path = file("nan.npz", encodeNpz({ x: f64([3, 2], [0, 1, 2, 3, Number.NaN, 5]) }));
  assert.throws(() => loadDataset(path), hasCode("NON_FINITE", /sample 2 contains NaN/));
  // Finite in float64 but beyond float32's range.
  const huge = file("huge.npy", encodeNpy(f64([2, 1], [1, 1e300])));
  assert.throws(() => loadDataset(huge), hasCode("NON_FINITE", /sample 1 contains Infinity/));
  const csv = file("inf.csv", "a,b,label\n1,2,0\n3,inf,1\n");
  assert.throws(() => loadDataset(csv), hasCode("NON_FINITE", /inf\.csv: sample 1/));
});

test("a .npy file gives x without labels; a scalar or 1-D x is refused", () => {
  const data = loadDataset(fixture("f32.npy"));
  assert.deepEqual(data.x.shape, [3, 4]);
  assert.equal(data.y, undefined);
  assert.throws(() => loadDataset(fixture("scalar_f64.npy")), hasCode("BAD_DATA", /shape \[\]/));
  assert.throws(() => loadDataset(file("flat.npy", encodeNpy(f64([3], [1, 2, 3])))), hasCode("BAD_DATA", /reshape\(-1, 1\)/));
  assert.throws(() => loadDataset(file("none.npy", encodeNpy(f64([0, 3], [])))), hasCode("BAD_DATA", /no samples/));
});

test("unsafe and unknown files are refused by content", () => {
  assert.throws(() => loadDataset(fixture("object.npz")), hasCode("UNSAFE_DATA"));
  assert.throws(() => loadDataset(fixture("object.npy")), hasCode("UNSAFE_DATA"));
  const pickle = file("data.npz", new Uint8Array([0x80, 0x04, 0x95, 0, 0, 0, 0, 0, 0, 0, 0, 0x4e, 0x2e]));
  assert.throws(() => loadDataset(pickle), hasCode("UNSAFE_DATA", /data\.npz is a Python pickle/));
  const binary = file("image.gif", new Uint8Array([0x47, 0x49, 0x46, 0x38, 0, 0, 0xff]));
  assert.throws(() => loadDataset(binary), hasCode("BAD_DATA", /format Aegis does not read/));
  assert.throws(() => loadDataset(join(dir, "absent.npz")), hasCode("FILE_NOT_FOUND", /absent\.npz.*"mnist"/));
});

test("text files load as CSV and folders as image folders", () => {
  const csv = loadDataset(file("table.txt", "f1,f2,y\n1,2,0\n3,4,1\n"), { labelColumn: "y" });
  assert.deepEqual(csv.x.shape, [2, 2]);
  assert.deepEqual([...(csv.y?.data ?? [])], [0n, 1n]);
  assert.equal(loadDataset(file("semi.csv", "a;label\n1;3\n"), { separator: ";" }).y?.data[0], 3n);

  const root = join(dir, "images");
  for (const cls of ["cat", "dog"]) {
    mkdirSync(join(root, cls), { recursive: true });
    const image = new PNG({ width: 2, height: 2 });
    image.data.fill(cls === "cat" ? 0 : 255);
    writeFileSync(join(root, cls, "1.png"), PNG.sync.write(image));
  }
  const images = loadDataset(root);
  assert.equal(images.name, "images");
  assert.deepEqual(images.classNames, ["cat", "dog"]);
  assert.deepEqual(images.x.shape, [2, 1, 2, 2]);
  assert.deepEqual([...images.x.data], [0, 0, 0, 0, 1, 1, 1, 1]);
});

test("saveNpz writes a readable .npz atomically, leaving no temporary file", () => {
  const out = join(dir, "saved");
  mkdirSync(out);
  const path = join(out, "adv.npz");
  writeFileSync(path, "old contents");
  saveNpz(path, { x: x3, y: f64([3], [1, 2, 3]) }, { compress: true });
  assert.deepEqual(readdirSync(out), ["adv.npz"]);
  const back = parseNpz(readFileSync(path));
  assert.deepEqual(back.get("x")?.data, x3.data);
  assert.deepEqual([...(back.get("y")?.data ?? [])], [1, 2, 3]);
  assert.throws(() => saveNpz(join(dir, "missing-folder", "a.npz"), { x: x3 }), hasCode("FILE_NOT_FOUND", /missing-folder does not exist/));
});

test("checkLabels accepts 0 .. k-1 and names the first sample outside", () => {
  const y = toLabelIndices(f64([4], [0, 9, 3, 10]));
  checkLabels({ dtype: "int64", shape: [3], data: y.data.subarray(0, 3) }, 10);
  assert.throws(() => checkLabels(y, 10), hasCode("LABEL_OUT_OF_RANGE", /Sample 3 has label 10.*10 classes.*0 to 9.*start at 1/));
  assert.throws(() => checkLabels(y, 5), hasCode("LABEL_OUT_OF_RANGE", /Sample 1 has label 9/));
});
