/**
 * `aegis scan` over every model-file format it recognises, plus the loaders that read the
 * same formats (ONNX protobuf, the pickle VM). The scan property: it never throws, never
 * reports a scanner bug, and every finding is a known severity with a clean sentence.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import fc from "fast-check";
import { strToU8, zipSync } from "fflate";
import { DataType, type Model } from "../../../src/onnx/ir.js";
import { decodeModel, encodeModel } from "../../../src/onnx/proto.js";
import { SEVERITIES } from "../../../src/report/finding.js";
import { analysePickle } from "../../../src/supplychain/pickle/vm.js";
import { SCANNER_BUG, scanBytes } from "../../../src/supplychain/scan.js";
import { hdf5WithAttributes, sevenZip, tar } from "../../helpers/model-files.js";
import { assertNoInternals, expectAegisOutcome, type FuzzTarget, inputsOf, readFixture, readFixtures, withinTimeLimit } from "../harness.js";

/** Small limits keep a lying archive cheap to refuse; the logic under test is the same. */
const LIMITS = { maxExtractedBytes: 8 << 20, maxDepth: 4, maxMembers: 200, maxCompressionRatio: 200, readerTimeoutMs: 4000 };

export async function expectScanOutcome(bytes: Uint8Array, name: string): Promise<void> {
  const exitCode = process.exitCode;
  const report = await withinTimeLimit(`scanning ${name}`, () => scanBytes(bytes, name, { limits: LIMITS }));
  // A library that sets the exit status would change what `aegis scan` exits with after its report.
  assert.equal(process.exitCode, exitCode, `scanning ${name} changed process.exitCode to ${process.exitCode}`);
  for (const file of report.files) {
    for (const f of file.findings) {
      assert.ok(SEVERITIES.includes(f.severity), `finding ${f.rule} has severity ${f.severity}`);
      assert.match(f.rule, /^[A-Z0-9]+(-[A-Z0-9]+)*$/);
      assert.ok(!f.detail.includes(SCANNER_BUG), `${name}: a format scanner threw: ${f.detail}`);
      assertNoInternals(f.detail, `${f.rule} on ${name}`);
    }
  }
}

function scanTarget(name: string, covers: string, extension: string, runs: number, seeds: () => Uint8Array[], tokens: string[] = []): FuzzTarget {
  let loaded: Uint8Array[] = [];
  return {
    name,
    covers,
    extension,
    runs,
    async start() {
      loaded = seeds();
    },
    inputs: () => inputsOf(loaded, tokens),
    check: (input) => expectScanOutcome(input, `model.${extension}`),
  };
}

const PICKLE_TOKENS = [
  "(",
  ".",
  "\x80\x05",
  "\x95",
  "c",
  "\x93",
  "R",
  "b",
  "h\x00",
  "q\x00",
  "}",
  "]",
  "\x8c\x02os",
  "\x8c\x06system",
  "V\\U0011ffff\n",
  "S'\\x41'\n",
];

const pickleSeeds = () => [...readFixtures("supplychain/pickle", /\.(pkl|joblib|pt)$/), ...readFixtures("supplychain/pytorch", /legacy/)];

export const pickleTarget: FuzzTarget = {
  name: "pickle",
  covers: "the symbolic pickle VM (protocols 0–5, joblib, legacy torch.save) and the pickle scanner",
  extension: "pkl",
  runs: 800,
  inputs: () => inputsOf(pickleSeeds(), PICKLE_TOKENS),
  async check(input) {
    // The VM reports a break in its result; it never throws, whatever the bytes.
    const analysis = await withinTimeLimit("analysePickle", () => analysePickle(input));
    if (analysis.error) assertNoInternals(analysis.error.message, "a pickle break");
    await expectScanOutcome(input, "model.pkl");
  },
};

// ---------------------------------------------------------------- ONNX

/** Protobuf wire format by hand, so nesting can go past what protobufjs agrees to encode. */
function varint(n: number): number[] {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 128)) out.push((n % 128) | 0x80);
  out.push(n);
  return out;
}
const concat = (...parts: Uint8Array[]) => new Uint8Array(Buffer.concat(parts));
const field = (id: number, body: Uint8Array) => concat(Uint8Array.from([...varint((id << 3) | 2), ...varint(body.length)]), body);

/** A model whose If nodes nest `depth` sub-graphs: recursion in the decoder and the scanner. */
function nestedModel(depth: number): Uint8Array {
  let graph = new Uint8Array();
  for (let d = 0; d < depth; d++) {
    // AttributeProto { name: "then_branch", type: GRAPH (20 = 5), g: graph } inside NodeProto { op_type: "If", attribute }.
    const attribute = concat(field(1, strToU8("then_branch")), Uint8Array.of(0xa0, 0x01, 5), field(6, graph));
    graph = field(1, concat(field(4, strToU8("If")), field(5, attribute)));
  }
  // ir_version 8, opset_import { version 17 }, graph.
  return concat(Uint8Array.of(0x08, 8), field(8, Uint8Array.of(0x10, 17)), field(7, graph));
}

/** Tensors whose dims promise far more elements than they carry. */
function lyingTensorModel(dims: number[], dataType: DataType): Uint8Array {
  const model: Model = {
    irVersion: 8,
    opsetImports: [{ domain: "", version: 17 }],
    producerName: "fuzz",
    producerVersion: "",
    domain: "",
    modelVersion: 1,
    docString: "",
    graph: { name: "g", nodes: [], inputs: [], outputs: [], initializers: [{ name: "w", dataType, dims, data: new Uint8Array() }], valueInfo: [] },
    metadata: [],
    functions: [],
  };
  return encodeModel(model);
}

const onnxSeeds = () => [
  readFixture("models/tabular_mlp.onnx"),
  readFixture("models/tree_classifier.onnx"),
  ...readFixtures("supplychain/formats", /\.onnx$/),
  nestedModel(3),
];

export const onnxTarget: FuzzTarget = {
  name: "onnx",
  covers: "the ONNX protobuf decoder that loads models (src/onnx) and the ONNX scanner",
  extension: "onnx",
  runs: 300,
  inputs: () =>
    inputsOf(
      onnxSeeds(),
      [],
      fc.oneof(
        fc.integer({ min: 1, max: 300 }).map((depth) => nestedModel(depth)),
        fc
          .tuple(
            fc.array(fc.oneof(fc.nat(), fc.constantFrom(2 ** 31 - 1, 2 ** 40, 2 ** 53 - 1)), { maxLength: 6 }),
            fc.constantFrom(DataType.FLOAT, DataType.INT8, DataType.UINT64, DataType.BOOL),
          )
          .map(([dims, type]) => lyingTensorModel(dims, type)),
      ),
    ),
  async check(input) {
    await expectAegisOutcome("decodeModel", () => decodeModel(input), ["BAD_MODEL", "UNSUPPORTED"]);
    await expectScanOutcome(input, "model.onnx");
  },
};

// ---------------------------------------------------------------- formats by their scanners

export const safetensorsTarget = scanTarget(
  "safetensors",
  "the safetensors header scanner",
  "safetensors",
  1000,
  () => readFixtures("supplychain/formats", /\.safetensors$/),
  ['{"', '"}', "[", "]", '"data_offsets":', '"shape":', "1e309", "-1", '"__metadata__":', "\\u0000", "{", "}"],
);

export const ggufTarget = scanTarget("gguf", "the GGUF metadata scanner", "gguf", 1000, () => readFixtures("supplychain/formats", /\.gguf$/), [
  "GGUF",
  "{{",
  "}}",
  "\x09\0\0\0",
]);

export const savedModelTarget = scanTarget("savedmodel", "the TensorFlow SavedModel scanner", "pb", 1000, () =>
  readFixtures("supplychain/formats", /saved_model\.pb$/),
);

export const kerasTarget = scanTarget(
  "keras",
  "the .keras zip and its config.json walker",
  "keras",
  600,
  () => readFixtures("supplychain/formats", /\.keras$/),
  ["PK\x01\x02", "PK\x05\x06", '{"class_name": ', "[", "{"],
);

export const npyScanTarget = scanTarget(
  "npy-scan",
  "the .npy scanner (object arrays and their pickles)",
  "npy",
  1000,
  () => [...readFixtures("data", /\.npy$/), readFixture("supplychain/pytorch/malicious_object.npy")],
  ["[", "(", "'|O'", "'descr': ", "\\"],
);

const EVIL_PICKLE = strToU8("cos\nsystem\n(S'touch /tmp/aegis-pwned'\ntR.");
const stamp = { mtime: new Date(1980, 0, 1) };

export const zipTarget = scanTarget(
  "zip",
  "zip archives (central directory, local headers, zip64, deflate), PyTorch zips, .npz and nested archives",
  "zip",
  600,
  () => [
    readFixture("supplychain/pytorch/benign_state_dict.pt"),
    readFixture("supplychain/pytorch/malicious_state_dict.pt"),
    readFixture("data/xy_compressed.npz"),
    zipSync({ "a/evil.pkl": EVIL_PICKLE, "b.txt": strToU8("hello"), "inner.zip": zipSync({ "x.pkl": EVIL_PICKLE }, stamp) }, { level: 6, ...stamp }),
  ],
  ["PK\x03\x04", "PK\x01\x02", "PK\x05\x06", "PK\x06\x06", "PK\x06\x07", "\xff\xff\xff\xff"],
);

export const tarTarget = scanTarget(
  "tar",
  "tar (ustar, pax, GNU long names, base-256 sizes) and gzip",
  "tar",
  1000,
  () => {
    const plain = tar({ "model/data.pkl": EVIL_PICKLE, "model/readme.txt": strToU8("weights") });
    return [plain, gzipSync(plain), tar({ "x.npy": readFixture("data/f32.npy") })];
  },
  ["ustar\0", "00000000000\0", "\x80\0\0\0\0\0\0\0\0\0\0\xff", "././@LongLink"],
);

let sevenZipSeeds: Uint8Array[] = [];
export const sevenZipTarget: FuzzTarget = {
  name: "7z",
  covers: "7z archives through 7-Zip compiled to WebAssembly",
  extension: "7z",
  // Each run instantiates 7-Zip's WebAssembly module: costly, so fewer runs.
  runs: 25,
  async start() {
    sevenZipSeeds = [await sevenZip({ "models/evil.pkl": EVIL_PICKLE, "ok.txt": strToU8("fine") })];
  },
  inputs: () => inputsOf(sevenZipSeeds, ["7z\xbc\xaf\x27\x1c"]),
  check: (input) => expectScanOutcome(input, "model.7z"),
};

let hdf5Seeds: Uint8Array[] = [];
export const hdf5Target: FuzzTarget = {
  name: "hdf5",
  covers: "HDF5 / legacy Keras .h5 through h5wasm",
  extension: "h5",
  // Each run copies the file and starts h5wasm in a worker thread: costly, so fewer runs.
  runs: 20,
  async start() {
    const config = JSON.stringify({ class_name: "Sequential", config: { layers: [{ class_name: "Dense", config: { units: 4 } }] } });
    hdf5Seeds = [await hdf5WithAttributes({ model_config: config, keras_version: "2.15.0" })];
  },
  inputs: () => inputsOf(hdf5Seeds, ["\x89HDF\r\n\x1a\n"]),
  check: (input) => expectScanOutcome(input, "model.h5"),
};

export const modelFileTargets: FuzzTarget[] = [
  pickleTarget,
  onnxTarget,
  safetensorsTarget,
  ggufTarget,
  savedModelTarget,
  kerasTarget,
  npyScanTarget,
  zipTarget,
  tarTarget,
  sevenZipTarget,
  hdf5Target,
];
