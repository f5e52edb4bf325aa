import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { encodeNpy, parseNpy } from "../../src/data/npy.js";
import { parseNpz } from "../../src/data/npz.js";
import { AegisError } from "../../src/errors.js";
import type { Tensor } from "../../src/tensor.js";

const fixture = (name: string) => readFileSync(new URL(`../../fixtures/data/${name}`, import.meta.url));

const hasCode = (code: string, text?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof AegisError, `expected an AegisError, got ${e}`);
  assert.equal(e.code, code);
  if (text) assert.match(e.message, text);
  return true;
};

const samples: Tensor[] = [
  { dtype: "float32", shape: [2, 3], data: new Float32Array([0, -1.5, 3.25, Number.NaN, 1e-8, 65504]) },
  { dtype: "float64", shape: [3], data: new Float64Array([Math.PI, -0, Number.MAX_VALUE]) },
  { dtype: "int64", shape: [2, 1], data: new BigInt64Array([-(2n ** 63n), 2n ** 62n + 3n]) },
  { dtype: "int32", shape: [1, 2, 2], data: new Int32Array([-2147483648, 0, 7, 2147483647]) },
  { dtype: "uint8", shape: [4], data: new Uint8Array([0, 1, 128, 255]) },
  { dtype: "bool", shape: [2, 2], data: new Uint8Array([1, 0, 0, 1]) },
  { dtype: "float32", shape: [], data: new Float32Array([42]) },
  { dtype: "float64", shape: [0, 5], data: new Float64Array(0) },
];

test("every dtype survives encodeNpy then parseNpy", () => {
  for (const t of samples) {
    const bytes = encodeNpy(t);
    assert.equal((bytes.length - t.data.byteLength) % 64, 0, "header padded to a multiple of 64 bytes");
    const back = parseNpy(bytes);
    assert.equal(back.dtype, t.dtype);
    assert.deepEqual(back.shape, t.shape);
    assert.deepEqual(back.data, t.data);
  }
});

test("encodeNpy writes numpy's header byte for byte", () => {
  const bytes = encodeNpy({ dtype: "bool", shape: [3], data: new Uint8Array([1, 0, 1]) });
  // The same header numpy 1.24 wrote for fixtures/data/bool.npy.
  assert.deepEqual(bytes, new Uint8Array(fixture("bool.npy")));
  assert.deepEqual(encodeNpy(parseNpy(fixture("i64.npy"))), new Uint8Array(fixture("i64.npy")));
  assert.deepEqual(encodeNpy(parseNpy(fixture("scalar_f64.npy"))), new Uint8Array(fixture("scalar_f64.npy")));
});

/** A version 1.0 .npy built by hand: magic, version, header length, header, data. */
function handBuilt(header: string, body: number[]): Uint8Array {
  const head = [0x93, ..."NUMPY".split("").map((c) => c.charCodeAt(0)), 1, 0, header.length & 0xff, header.length >> 8];
  return new Uint8Array([...head, ...header.split("").map((c) => c.charCodeAt(0)), ...body]);
}

test("a hand-built .npy of a known int32 array parses", () => {
  const header = "{'descr': '<i4', 'fortran_order': False, 'shape': (2, 2), }\n";
  // 1, -1, 256, 2^31 - 1 as little-endian int32.
  const body = [1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0xff, 0xff, 0xff, 0x7f];
  const t = parseNpy(handBuilt(header, body));
  assert.equal(t.dtype, "int32");
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual([...t.data], [1, -1, 256, 2147483647]);
});

test("header spellings: '<u1', Python 2 long shapes, double quotes, no trailing comma", () => {
  const t = parseNpy(handBuilt('{"descr": "<u1", "shape": (3L,), "fortran_order": False}', [9, 8, 7]));
  assert.equal(t.dtype, "uint8");
  assert.deepEqual(t.shape, [3]);
  assert.deepEqual([...t.data], [9, 8, 7]);
});

test("bool bytes other than 0 and 1 read as true, as in numpy", () => {
  const t = parseNpy(handBuilt("{'descr': '|b1', 'fortran_order': False, 'shape': (3,), }", [0, 2, 255]));
  assert.deepEqual([...t.data], [0, 1, 1]);
});

test("unaligned data is copied, aligned data is shared", () => {
  const bytes = encodeNpy({ dtype: "float64", shape: [2], data: new Float64Array([1.5, -2]) });
  const shifted = new Uint8Array(bytes.length + 1).subarray(1);
  shifted.set(bytes);
  const copy = parseNpy(shifted);
  assert.deepEqual([...copy.data], [1.5, -2]);
  assert.notEqual(copy.data.buffer, shifted.buffer);
  assert.equal(parseNpy(bytes).data.buffer, bytes.buffer);
});

test("numpy-written files read correctly (versions 1.0, 2.0 and 3.0)", () => {
  const expected = Array.from({ length: 12 }, (_, i) => (i - 5.5) / 4);
  for (const file of ["f32.npy", "f32_v2.npy", "f32_v3.npy"]) {
    const t = parseNpy(fixture(file), file);
    assert.equal(t.dtype, "float32");
    assert.deepEqual(t.shape, [3, 4]);
    assert.deepEqual([...t.data], expected);
  }
  const i64 = parseNpy(fixture("i64.npy"));
  assert.equal(i64.dtype, "int64");
  assert.deepEqual(i64.shape, [2, 3]);
  assert.deepEqual([...i64.data], [-3n, 0n, 2n ** 62n + 1n, 7n, 8n, 9n]);
  assert.deepEqual([...parseNpy(fixture("u8.npy")).data], [0, 1, 128, 255]);
  const bool = parseNpy(fixture("bool.npy"));
  assert.equal(bool.dtype, "bool");
  assert.deepEqual([...bool.data], [1, 0, 1]);
  const scalar = parseNpy(fixture("scalar_f64.npy"));
  assert.deepEqual(scalar.shape, []);
  assert.deepEqual([...scalar.data], [2.5]);
});

test("Fortran order and big-endian files are refused with advice", () => {
  assert.throws(() => parseNpy(fixture("fortran.npy"), "fortran.npy"), hasCode("BAD_DATA", /fortran\.npy.*ascontiguousarray/));
  assert.throws(() => parseNpy(fixture("bigendian.npy"), "bigendian.npy"), hasCode("BAD_DATA", /big-endian.*'>f4'/));
});

test("object arrays and pickles are refused as UNSAFE_DATA, never unpickled", () => {
  assert.throws(() => parseNpy(fixture("object.npy"), "object.npy"), hasCode("UNSAFE_DATA", /object\.npy.*object array.*allow_pickle=False/));
  const pickle = new Uint8Array([0x80, 0x04, 0x95, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x5d, 0x94, 0x2e]);
  assert.throws(() => parseNpy(pickle, "model.pkl"), hasCode("UNSAFE_DATA", /model\.pkl is a Python pickle/));
  const structured = handBuilt("{'descr': [('a', '<f4'), ('b', '|O')], 'fortran_order': False, 'shape': (1,), }", []);
  assert.throws(() => parseNpy(structured), hasCode("UNSAFE_DATA"));
});

test("unsupported dtypes and malformed headers are BAD_DATA", () => {
  const withDescr = (descr: string) => handBuilt(`{'descr': '${descr}', 'fortran_order': False, 'shape': (1,), }`, [0, 0, 0, 0, 0, 0, 0, 0]);
  assert.throws(() => parseNpy(withDescr("<f2")), hasCode("BAD_DATA", /'<f2'.*astype/));
  assert.throws(() => parseNpy(withDescr("<U2")), hasCode("BAD_DATA", /'<U2'/));
  assert.throws(() => parseNpy(withDescr("|i1")), hasCode("BAD_DATA"));
  assert.throws(() => parseNpy(handBuilt("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", [])), hasCode("BAD_DATA", /structured/));
  assert.throws(() => parseNpy(handBuilt("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", [])), hasCode("BAD_DATA", /malformed/));
  assert.throws(() => parseNpy(handBuilt("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", [])), hasCode("BAD_DATA", /fortran_order/));
  assert.throws(() => parseNpy(handBuilt("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", [])), hasCode("BAD_DATA", /shape/));
  assert.throws(() => parseNpy(handBuilt("__import__('os')", [])), hasCode("BAD_DATA", /malformed/));
  assert.throws(() => parseNpy(new TextEncoder().encode("a,b\n1,2\n"), "data.csv"), hasCode("BAD_DATA", /data\.csv is not a \.npy file/));
});

test("truncated files are BAD_DATA", () => {
  const bytes = fixture("f32.npy");
  assert.throws(() => parseNpy(bytes.subarray(0, bytes.length - 1), "cut.npy"), hasCode("BAD_DATA", /cut\.npy is truncated.*48 bytes.*47/));
  assert.throws(() => parseNpy(bytes.subarray(0, 40), "cut.npy"), hasCode("BAD_DATA", /truncated/));
  assert.throws(() => parseNpy(bytes.subarray(0, 8), "cut.npy"), hasCode("BAD_DATA", /truncated/));
});

test("a header of 5,000 nested brackets is BAD_DATA naming the nesting, not a stack overflow (also inside an .npz)", () => {
  const corpus = (name: string) => readFileSync(new URL(`../../fixtures/fuzz/${name}`, import.meta.url));
  assert.throws(
    () => parseNpy(corpus("npy/deep-brackets.npy"), "deep.npy"),
    hasCode("BAD_DATA", /deep\.npy has a malformed \.npy header \(brackets nest more than 32 levels/),
  );
  assert.throws(
    () => parseNpz(corpus("npz/deep-brackets.npz"), "deep.npz"),
    hasCode("BAD_DATA", /deep\.npz:x\.npy has a malformed \.npy header \(brackets nest/),
  );
  // Shapes beyond 2^53 and headers claiming megabytes are refused the same way.
  assert.throws(() => parseNpy(handBuilt("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", [])), hasCode("BAD_DATA", /'shape'/));
  const huge = new Uint8Array(16);
  huge.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 2, 0, 0xff, 0xff, 0xff, 0x7f]);
  assert.throws(() => parseNpy(huge, "huge.npy"), hasCode("BAD_DATA", /huge\.npy has a malformed \.npy header \(the header claims 2147483647 bytes/));
});
