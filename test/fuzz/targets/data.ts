/**
 * Data a user hands to --data: .npy, .npz, CSV and image folders, each through the
 * in-memory parser and through loadDataset (format detection and the checks every command
 * relies on). Success must give a tensor whose data fills its shape.
 */
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { zipSync } from "fflate";
import jpeg from "jpeg-js";
import { PNG } from "pngjs";
import { loadDataset } from "../../../src/data/dataset.js";
import { encodeNpy, parseNpy } from "../../../src/data/npy.js";
import { encodeNpz, parseNpz } from "../../../src/data/npz.js";
import { AegisError } from "../../../src/errors.js";
import { sizeOf, type Tensor } from "../../../src/tensor.js";
import { expectAegisOutcome, type FuzzTarget, inputsOf, readFixtures, text } from "../harness.js";
import { expectScanOutcome } from "./model-files.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-fuzz-data-"));

function assertWellFormed(t: Tensor, what: string): void {
  assert.equal(t.data.length, sizeOf(t.shape), `${what} gave ${t.data.length} values for shape [${t.shape.join(", ")}]`);
}

/** loadDataset on the bytes written as a file: detection by content, then the checks on x and y. */
async function expectDatasetOutcome(input: Uint8Array, file: string): Promise<void> {
  const path = join(tmp, file);
  writeFileSync(path, input);
  const result = await expectAegisOutcome(`loadDataset(${file})`, () => loadDataset(path));
  if (result instanceof AegisError) return;
  assertWellFormed(result.x, file);
  assert.ok(result.x.data.every(Number.isFinite), `${file} loaded with non-finite values`);
  if (result.y) assert.equal(result.y.shape[0], result.x.shape[0]);
}

const NPY_TOKENS = [
  "[",
  "(",
  "{",
  "}",
  ")",
  "]",
  "'",
  '"',
  ",",
  ":",
  "'descr': ",
  "'shape': ",
  "'fortran_order': ",
  "True",
  "None",
  "99999999999999999999",
  "-1",
  "1L",
  "\\",
  "'|O'",
  "'<f8'",
  "\n",
];

/** Headers built from parts: real and hostile dtypes, shapes and orders. */
const npyHeaders = fc
  .record({
    descr: fc.oneof(
      fc.constantFrom("'<f4'", "'<f8'", "'|u1'", "'<i8'", "'|O'", "'>f4'", "[('a', '<f4')]", "'<U3'"),
      fc.string().map((s) => JSON.stringify(s)),
    ),
    fortran: fc.constantFrom("False", "True", "0", "None"),
    shape: fc.array(fc.oneof(fc.nat(4), fc.integer({ min: -2, max: 2 ** 31 }), fc.constant(2 ** 53)), { maxLength: 5 }),
    version: fc.constantFrom(1, 2, 3),
    body: fc.uint8Array({ maxLength: 64 }),
  })
  .map(({ descr, fortran, shape, version, body }) => {
    const header = text(`{'descr': ${descr}, 'fortran_order': ${fortran}, 'shape': (${shape.join(", ")}${shape.length === 1 ? "," : ""}), }\n`);
    const prefix = version === 1 ? 10 : 12;
    const out = new Uint8Array(prefix + header.length + body.length);
    out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    const view = new DataView(out.buffer);
    if (version === 1) view.setUint16(8, header.length, true);
    else view.setUint32(8, header.length, true);
    out.set(header, prefix);
    out.set(body, prefix + header.length);
    return out;
  });

const npySeeds = () => [...readFixtures("data", /\.npy$/), encodeNpy({ dtype: "float32", shape: [2, 3], data: new Float32Array(6).fill(0.5) })];

export const npyTarget: FuzzTarget = {
  name: "npy",
  covers: ".npy arrays: parseNpy, loadDataset and the scanner on the same bytes",
  extension: "npy",
  runs: 400,
  inputs: () => inputsOf(npySeeds(), NPY_TOKENS, npyHeaders),
  async check(input) {
    const t = await expectAegisOutcome("parseNpy", () => parseNpy(input), ["BAD_DATA", "UNSAFE_DATA", "UNSUPPORTED"]);
    if (!(t instanceof AegisError)) assertWellFormed(t, "parseNpy");
    await expectDatasetOutcome(input, "data.npy");
    await expectScanOutcome(input, "data.npy");
  },
};

export const npzTarget: FuzzTarget = {
  name: "npz",
  covers: ".npz archives: parseNpz and loadDataset (x/y keys, labels, finiteness)",
  extension: "npz",
  runs: 300,
  inputs: () =>
    inputsOf(
      [...readFixtures("data", /^(xy|object)\.npz$/), encodeNpz({ x: { dtype: "float32", shape: [2, 2], data: new Float32Array(4) } }, { compress: true })],
      ["PK\x03\x04", "PK\x01\x02", "PK\x05\x06", ".npy", "\x93NUMPY", ...NPY_TOKENS.slice(0, 4)],
      npyHeaders.map((npy) => zipOf({ "x.npy": npy })),
    ),
  async check(input) {
    const arrays = await expectAegisOutcome("parseNpz", () => parseNpz(input), ["BAD_DATA", "UNSAFE_DATA", "UNSUPPORTED"]);
    if (!(arrays instanceof AegisError)) for (const [k, t] of arrays) assertWellFormed(t, `parseNpz member ${k}`);
    await expectDatasetOutcome(input, "data.npz");
  },
};

/** A zip of raw members (hostile .npy bytes included), laid out as numpy.savez does. */
const zipOf = (members: Record<string, Uint8Array>) => zipSync(members, { level: 0, mtime: new Date(1980, 0, 1) });

const CSV_SEEDS = [
  "a,b,label\n0.5,1,0\n-2.5e3,3.25,1\n",
  'x,"y, quoted",label\n1,"2",0\n"3",4,1\n',
  "f1;f2\n1;2\n3;4\n",
  "\uFEFFp,q,label\n1,nan,0\ninf,-inf,1\n",
  'a,label\n"multi\nline",1\n',
].map(text);

const csvRows = fc
  .array(
    fc.array(
      fc.oneof(fc.double().map(String), fc.integer().map(String), fc.constantFrom("", "nan", "-inf", '"', '""', "label", "1e999", "0x1F"), fc.string()),
      { minLength: 1, maxLength: 6 },
    ),
    {
      minLength: 1,
      maxLength: 8,
    },
  )
  .map((rows) => text(rows.map((r) => r.join(",")).join("\n")));

export const csvTarget: FuzzTarget = {
  name: "csv",
  covers: "CSV through loadDataset: quoting, labels, non-finite values, ragged rows",
  extension: "csv",
  runs: 400,
  inputs: () => inputsOf(CSV_SEEDS, [",", '"', '""', "\n", "\r\n", "label", "nan", "1e999", "-"], csvRows),
  check: (input) => expectDatasetOutcome(input, "data.csv"),
};

// ---------------------------------------------------------------- image folders

function png(width: number, height: number): Uint8Array {
  const image = new PNG({ width, height });
  image.data.fill(128);
  return PNG.sync.write(image);
}

const jpg = (width: number, height: number) => new Uint8Array(jpeg.encode({ width, height, data: Buffer.alloc(width * height * 4, 200) }, 90).data);

const imagesRoot = join(tmp, "images");
mkdirSync(join(imagesRoot, "cat"), { recursive: true });
mkdirSync(join(imagesRoot, "dog"), { recursive: true });

export const imagesTarget: FuzzTarget = {
  name: "images",
  covers: "image folders: PNG and JPEG decoding, sizes and channels through loadDataset",
  extension: "png",
  runs: 300,
  inputs: () => inputsOf([png(4, 4), jpg(4, 4), png(3, 5)], ["IHDR", "IDAT", "IEND", "\xff\xd8", "\xff\xc0", "\xff\xda", "\xff\xd9"]),
  async check(input) {
    // One hostile image next to a good one of another class.
    writeFileSync(join(imagesRoot, "cat", "a.png"), input);
    writeFileSync(join(imagesRoot, "dog", "b.png"), png(4, 4));
    const result = await expectAegisOutcome("loadDataset(image folder)", () => loadDataset(imagesRoot));
    if (!(result instanceof AegisError)) assertWellFormed(result.x, "image folder");
  },
};

export const dataTargets: FuzzTarget[] = [npyTarget, npzTarget, csvTarget, imagesTarget];
