import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { zipSync } from "fflate";
import { encodeNpy } from "../../src/data/npy.js";
import { encodeNpz, parseNpz } from "../../src/data/npz.js";
import { AegisError } from "../../src/errors.js";
import type { Tensor } from "../../src/tensor.js";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/data/${name}`, import.meta.url));

const hasCode = (code: string, text?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof AegisError, `expected an AegisError, got ${e}`);
  assert.equal(e.code, code);
  if (text) assert.match(e.message, text);
  return true;
};

const arrays: Record<string, Tensor> = {
  x: { dtype: "float32", shape: [2, 2], data: new Float32Array([0.5, -1, 2, 3]) },
  y: { dtype: "int64", shape: [2], data: new BigInt64Array([1n, 0n]) },
  w: { dtype: "float64", shape: [1], data: new Float64Array([1e-300]) },
  i: { dtype: "int32", shape: [1], data: new Int32Array([-5]) },
  u: { dtype: "uint8", shape: [2], data: new Uint8Array([3, 250]) },
  mask: { dtype: "bool", shape: [2], data: new Uint8Array([0, 1]) },
};

test("stored and deflated archives round-trip every dtype", () => {
  for (const compress of [false, true]) {
    const back = parseNpz(encodeNpz(arrays, { compress }));
    assert.deepEqual([...back.keys()].sort(), Object.keys(arrays).sort());
    for (const [key, t] of Object.entries(arrays)) {
      const got = back.get(key);
      assert.ok(got);
      assert.equal(got.dtype, t.dtype);
      assert.deepEqual(got.shape, t.shape);
      assert.deepEqual(got.data, t.data);
    }
  }
});

test("members are dated 1980-01-01 like numpy's, so the bytes do not depend on the clock", () => {
  const zip = encodeNpz(arrays);
  // Local file header: DOS time at offset 10 (midnight = 0), DOS date at 12 ((0 << 9) | (1 << 5) | 1).
  assert.deepEqual([...zip.subarray(10, 14)], [0, 0, 0x21, 0]);
});

test("numpy.savez and numpy.savez_compressed files read correctly", () => {
  for (const file of ["xy.npz", "xy_compressed.npz"]) {
    const got = parseNpz(fixture(file), file);
    const x = got.get("x");
    const y = got.get("y");
    assert.ok(x && y);
    assert.equal(x.dtype, "float32");
    assert.deepEqual(x.shape, [4, 1, 2, 2]);
    assert.ok(Math.abs(Number(x.data[5]) - 5 / 15) < 1e-7);
    assert.equal(x.data[15], 1);
    assert.equal(y.dtype, "int64");
    assert.deepEqual([...y.data], [0n, 2n, 1n, 2n]);
  }
});

test("an archive with an object array is UNSAFE_DATA naming the member", () => {
  assert.throws(() => parseNpz(fixture("object.npz"), "object.npz"), hasCode("UNSAFE_DATA", /object\.npz:x\.npy/));
});

test("non-zip, damaged and array-less archives are BAD_DATA", () => {
  assert.throws(() => parseNpz(fixture("f32.npy"), "f32.npy"), hasCode("BAD_DATA", /not an \.npz/));
  const good = fixture("xy_compressed.npz");
  assert.throws(() => parseNpz(good.subarray(0, good.length - 30), "cut.npz"), hasCode("BAD_DATA", /cut\.npz/));
  const checkpoint = zipSync({
    "archive/data.pkl": new Uint8Array([0x80, 2]),
    "archive/version": new Uint8Array([51]),
  });
  assert.throws(() => parseNpz(checkpoint, "model.pt"), hasCode("BAD_DATA", /model\.pt.*without \.npy.*data\.pkl/));
});

test("members other than .npy are ignored, as numpy.load does", () => {
  const zip = zipSync({ "x.npy": encodeNpy(arrays.x as Tensor), "README.txt": new TextEncoder().encode("hi") });
  assert.deepEqual([...parseNpz(zip).keys()], ["x"]);
});
