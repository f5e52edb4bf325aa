/**
 * Non-pickle format scanners. Every fixture is built here byte by byte (no Python, TF or
 * safetensors needed); `AEGIS_WRITE_FIXTURES=1` also writes them to
 * fixtures/supplychain/formats/ so the committed copies stay in step with the builders.
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { test } from "node:test";
import { zipSync } from "fflate";
import protobuf from "protobufjs";
import { DataType, type Model } from "../../src/onnx/ir.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { ONNX_PROTO } from "../../src/onnx/schema.js";
import { atLeast, type Severity } from "../../src/report/finding.js";
import { ggufScanner } from "../../src/supplychain/formats/gguf.js";
import { kerasScanner } from "../../src/supplychain/formats/keras.js";
import { onnxScanner } from "../../src/supplychain/formats/onnx.js";
import { safetensorsScanner } from "../../src/supplychain/formats/safetensors.js";
import { SAVED_MODEL_PROTO, savedModelScanner } from "../../src/supplychain/formats/savedmodel.js";
import type { FormatScanner, ScanContext } from "../../src/supplychain/types.js";

const FIXTURES = new URL("../../fixtures/supplychain/formats/", import.meta.url);
const enc = new TextEncoder();
const scanners = [safetensorsScanner, ggufScanner, onnxScanner, kerasScanner, savedModelScanner];

function context(file: string): ScanContext {
  return {
    location: { file },
    scanNested: async () => [],
    limits: { maxExtractedBytes: 1 << 26, maxDepth: 4, maxMembers: 1000, maxCompressionRatio: 200, readerTimeoutMs: 20_000 },
  };
}

/** Counts reads so tests can prove only headers were touched. */
function source(bytes: Uint8Array) {
  const s = {
    size: bytes.length,
    bytesRead: 0,
    async read(offset: number, length: number) {
      const out = bytes.subarray(offset, Math.min(bytes.length, offset + length));
      s.bytesRead += out.length;
      return out;
    },
  };
  return s;
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// ---------------------------------------------------------------- builders

function safetensors(header: Record<string, unknown>, dataBytes: number, claimedLength?: number): Uint8Array {
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new Uint8Array(8);
  new DataView(head.buffer).setBigUint64(0, BigInt(claimedLength ?? json.length), true);
  return concat([head, enc.encode(json), new Uint8Array(dataBytes)]);
}

class GgufWriter {
  parts: Uint8Array[] = [];
  u32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v, true);
    this.parts.push(b);
    return this;
  }
  u64(v: number) {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, BigInt(v), true);
    this.parts.push(b);
    return this;
  }
  str(s: string) {
    const b = enc.encode(s);
    this.u64(b.length);
    this.parts.push(b);
    return this;
  }
  bytes() {
    return concat(this.parts);
  }
}

function gguf(template: string, options: { tensorCount?: number; tensorOffset?: number } = {}): Uint8Array {
  const w = new GgufWriter();
  w.parts.push(enc.encode("GGUF"));
  w.u32(3)
    .u64(options.tensorCount ?? 1)
    .u64(5);
  w.str("general.architecture").u32(8).str("llama");
  w.str("general.alignment").u32(4).u32(32);
  w.str("tokenizer.ggml.tokens").u32(9).u32(8).u64(3).str("<s>").str("</s>").str("hi");
  w.str("tokenizer.ggml.scores").u32(9).u32(6).u64(3).u32(0).u32(0).u32(0);
  w.str("tokenizer.chat_template").u32(8).str(template);
  w.str("tok")
    .u32(1)
    .u64(4)
    .u32(0)
    .u64(options.tensorOffset ?? 0);
  const head = w.bytes();
  const padded = Math.ceil(head.length / 32) * 32;
  return concat([head, new Uint8Array(padded - head.length + 16)]);
}

const BENIGN_TEMPLATE =
  "{% set ns = namespace(system='') %}{% for m in messages %}{% if m['role'] == 'system' %}{% set ns.system = m['content'] %}{% endif %}" +
  "<|im_start|>{{ m['role'] }}\n{{ m['content'] | trim }}<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const EVIL_TEMPLATE = `{{ self.__init__.__globals__.__builtins__.__import__('os').popen('touch /tmp/aegis-pwned').read() }}${BENIGN_TEMPLATE}`;
const EVIL_CYCLER = "{{ cycler|attr('\\x5f\\x5finit\\x5f\\x5f') }}{{ joiner.__init__.__globals__.os.system('touch /tmp/aegis-pwned') }}";

function onnxModel(customDomain: boolean): Uint8Array {
  const model: Model = {
    irVersion: 8,
    opsetImports: customDomain
      ? [
          { domain: "", version: 17 },
          { domain: "evil.ops", version: 1 },
        ]
      : [{ domain: "", version: 17 }],
    producerName: "aegis-test",
    producerVersion: "1",
    domain: "",
    modelVersion: 1,
    docString: "",
    graph: {
      name: "g",
      nodes: [
        { name: "add", opType: "Add", domain: "", inputs: ["x", "w"], outputs: ["y"], attributes: {} },
        ...(customDomain ? [{ name: "bd", opType: "Backdoor", domain: "evil.ops", inputs: ["y"], outputs: ["z"], attributes: {} }] : []),
      ],
      inputs: [{ name: "x", elemType: DataType.FLOAT, shape: [2] }],
      outputs: [{ name: customDomain ? "z" : "y", elemType: DataType.FLOAT, shape: [2] }],
      initializers: [{ name: "w", dataType: DataType.FLOAT, dims: [2], data: new Float32Array([1, 2]) }],
      valueInfo: [],
    },
    metadata: [{ key: "author", value: "aegis" }],
    functions: [],
  };
  return encodeModel(model);
}

function onnxExternal(location: string): Uint8Array {
  const ModelProto = protobuf.parse(ONNX_PROTO, { keepCase: true }).root.lookupType("onnx.ModelProto");
  return ModelProto.encode({
    ir_version: 8,
    opset_import: [{ domain: "", version: 17 }],
    graph: {
      name: "g",
      node: [{ name: "add", op_type: "Add", input: ["x", "w"], output: ["y"] }],
      input: [{ name: "x", type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }] } } } }],
      output: [{ name: "y", type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 2 }] } } } }],
      initializer: [
        {
          name: "w",
          data_type: 1,
          dims: [2],
          data_location: 1,
          external_data: [
            { key: "location", value: location },
            { key: "length", value: "8" },
          ],
        },
      ],
    },
  }).finish();
}

function keras(layers: unknown[]): Uint8Array {
  const config = {
    module: "keras",
    class_name: "Sequential",
    config: { name: "sequential", layers },
    registered_name: null,
    compile_config: { optimizer: { module: "keras.optimizers", class_name: "Adam", config: { learning_rate: 0.001 }, registered_name: null }, loss: "mse" },
  };
  return zipSync(
    {
      "metadata.json": enc.encode(JSON.stringify({ keras_version: "3.3.3", date_saved: "2026-01-01@00:00:00" })),
      "config.json": enc.encode(JSON.stringify(config)),
      "model.weights.h5": new Uint8Array(64),
    },
    { mtime: "2026-01-01T00:00:00Z" },
  );
}

const DENSE = {
  module: "keras.layers",
  class_name: "Dense",
  config: {
    name: "dense",
    units: 2,
    activation: "relu",
    kernel_initializer: { module: "keras.initializers", class_name: "GlorotUniform", config: { seed: null }, registered_name: null },
  },
  registered_name: null,
};
const LAMBDA = {
  module: "keras.layers",
  class_name: "Lambda",
  config: {
    name: "lambda",
    function: {
      class_name: "__lambda__",
      config: {
        code: Buffer.from("4wEAAAAAAAAAAAAAAAEAAAADAAAAQwAAAHMOAAAAdABkAYMBAQB8AFMAKQJOeg90b3VjaCAvdG1wL2Flz2lz").toString(),
        defaults: null,
        closure: null,
      },
    },
  },
  registered_name: null,
};
const EXEC_FUNCTION = {
  module: "keras.layers",
  class_name: "Lambda",
  config: { name: "l2", function: { module: "builtins", class_name: "function", config: "exec", registered_name: "function" } },
  registered_name: null,
};
const CUSTOM = { module: "my_package.layers", class_name: "MyLayer", config: { name: "mine" }, registered_name: "my_package>MyLayer" };

function savedModel(nodes: { name: string; op: string }[], functions: { signature: { name: string }; node_def: { name: string; op: string }[] }[]): Uint8Array {
  const SavedModel = protobuf.parse(SAVED_MODEL_PROTO, { keepCase: true }).root.lookupType("tensorflow.SavedModel");
  return SavedModel.encode({ saved_model_schema_version: 1, meta_graphs: [{ graph_def: { node: nodes, library: { function: functions } } }] }).finish();
}

const STANDARD_SAVER = [
  {
    signature: { name: "__inference__traced_save_123" },
    node_def: [
      { name: "SaveV2", op: "SaveV2" },
      { name: "MergeV2Checkpoints", op: "MergeV2Checkpoints" },
    ],
  },
  { signature: { name: "__inference__traced_restore_124" }, node_def: [{ name: "RestoreV2", op: "RestoreV2" }] },
];
const BENIGN_NODES = [
  { name: "x", op: "Placeholder" },
  { name: "dense/MatMul", op: "MatMul" },
  { name: "save/SaveV2", op: "SaveV2" },
  { name: "save/RestoreV2", op: "RestoreV2" },
];

// ---------------------------------------------------------------- cases

interface Case {
  file: string;
  bytes: Uint8Array;
  scanner: FormatScanner;
  /** Malicious cases: lowest acceptable worst severity and the rule that must fire. */
  expect?: { atLeast: Severity; rule: string };
}

const cases: Case[] = [
  {
    file: "benign.safetensors",
    scanner: safetensorsScanner,
    bytes: safetensors(
      { __metadata__: { format: "pt" }, w: { dtype: "F32", shape: [2, 2], data_offsets: [0, 16] }, b: { dtype: "BF16", shape: [2], data_offsets: [16, 20] } },
      20,
    ),
  },
  {
    file: "overlap.safetensors",
    scanner: safetensorsScanner,
    bytes: safetensors({ a: { dtype: "F32", shape: [4], data_offsets: [0, 16] }, b: { dtype: "F32", shape: [4], data_offsets: [8, 24] } }, 24),
    expect: { atLeast: "high", rule: "SAFETENSORS-OVERLAP" },
  },
  {
    file: "header-too-large.safetensors",
    scanner: safetensorsScanner,
    bytes: safetensors({ a: { dtype: "F32", shape: [1], data_offsets: [0, 4] } }, 4, 1 << 20),
    expect: { atLeast: "high", rule: "MALFORMED-HEADER" },
  },
  {
    file: "size-mismatch.safetensors",
    scanner: safetensorsScanner,
    bytes: safetensors({ a: { dtype: "F32", shape: [100, 100], data_offsets: [0, 16] } }, 16),
    expect: { atLeast: "high", rule: "SAFETENSORS-SIZE-MISMATCH" },
  },
  {
    file: "out-of-bounds.safetensors",
    scanner: safetensorsScanner,
    bytes: safetensors({ a: { dtype: "U8", shape: [4096], data_offsets: [0, 4096] } }, 16),
    expect: { atLeast: "high", rule: "SAFETENSORS-OUT-OF-BOUNDS" },
  },
  { file: "benign.gguf", scanner: ggufScanner, bytes: gguf(BENIGN_TEMPLATE) },
  { file: "template-injection.gguf", scanner: ggufScanner, bytes: gguf(EVIL_TEMPLATE), expect: { atLeast: "critical", rule: "GGUF-CHAT-TEMPLATE-CODE" } },
  { file: "template-cycler.gguf", scanner: ggufScanner, bytes: gguf(EVIL_CYCLER), expect: { atLeast: "critical", rule: "GGUF-CHAT-TEMPLATE-CODE" } },
  {
    file: "bad-count.gguf",
    scanner: ggufScanner,
    bytes: gguf(BENIGN_TEMPLATE, { tensorCount: 2 ** 40 }),
    expect: { atLeast: "high", rule: "MALFORMED-HEADER" },
  },
  {
    file: "tensor-out-of-bounds.gguf",
    scanner: ggufScanner,
    bytes: gguf(BENIGN_TEMPLATE, { tensorOffset: 1 << 30 }),
    expect: { atLeast: "high", rule: "GGUF-OUT-OF-BOUNDS" },
  },
  { file: "benign.onnx", scanner: onnxScanner, bytes: onnxModel(false) },
  { file: "benign-external.onnx", scanner: onnxScanner, bytes: onnxExternal("weights/w.bin") },
  {
    file: "external-traversal.onnx",
    scanner: onnxScanner,
    bytes: onnxExternal("../../etc/passwd"),
    expect: { atLeast: "high", rule: "ONNX-EXTERNAL-DATA-TRAVERSAL" },
  },
  {
    file: "external-absolute.onnx",
    scanner: onnxScanner,
    bytes: onnxExternal("/etc/passwd"),
    expect: { atLeast: "high", rule: "ONNX-EXTERNAL-DATA-TRAVERSAL" },
  },
  { file: "custom-domain.onnx", scanner: onnxScanner, bytes: onnxModel(true), expect: { atLeast: "medium", rule: "ONNX-CUSTOM-OP" } },
  { file: "benign.keras", scanner: kerasScanner, bytes: keras([DENSE]) },
  { file: "lambda.keras", scanner: kerasScanner, bytes: keras([DENSE, LAMBDA]), expect: { atLeast: "critical", rule: "KERAS-LAMBDA" } },
  { file: "builtins-exec.keras", scanner: kerasScanner, bytes: keras([EXEC_FUNCTION]), expect: { atLeast: "critical", rule: "KERAS-DANGEROUS-MODULE" } },
  { file: "custom-object.keras", scanner: kerasScanner, bytes: keras([DENSE, CUSTOM]), expect: { atLeast: "medium", rule: "KERAS-CUSTOM-OBJECT" } },
  { file: "benign-saved_model.pb", scanner: savedModelScanner, bytes: savedModel(BENIGN_NODES, STANDARD_SAVER) },
  {
    file: "readfile-saved_model.pb",
    scanner: savedModelScanner,
    bytes: savedModel(
      [...BENIGN_NODES, { name: "steal", op: "ReadFile" }],
      [...STANDARD_SAVER, { signature: { name: "__inference_call_7" }, node_def: [{ name: "py", op: "PyFunc" }] }],
    ),
    expect: { atLeast: "critical", rule: "SAVEDMODEL-RISKY-OP" },
  },
  {
    file: "rogue-save-saved_model.pb",
    scanner: savedModelScanner,
    bytes: savedModel([...BENIGN_NODES, { name: "dump/SaveV2", op: "SaveV2" }], STANDARD_SAVER),
    expect: { atLeast: "medium", rule: "SAVEDMODEL-SAVER-OP" },
  },
];

if (process.env.AEGIS_WRITE_FIXTURES) {
  mkdirSync(FIXTURES, { recursive: true });
  for (const c of cases) writeFileSync(new URL(c.file, FIXTURES), c.bytes);
}

for (const c of cases) {
  test(`${c.file}: ${c.expect ? `flagged ${c.expect.rule} at ≥ ${c.expect.atLeast}` : "scans clean (≤ LOW)"}`, async () => {
    const head = c.bytes.subarray(0, 4096);
    assert.deepEqual(
      scanners.filter((s) => s.detect(head, c.bytes.length)).map((s) => s.format),
      [c.scanner.format],
      "exactly one scanner claims the bytes",
    );
    const findings = await c.scanner.scan(source(c.bytes), context(c.file));
    if (c.expect) {
      assert.ok(
        findings.some((f) => atLeast(f.severity, c.expect!.atLeast)),
        JSON.stringify(findings, null, 1),
      );
      assert.ok(
        findings.some((f) => f.rule === c.expect?.rule),
        JSON.stringify(findings, null, 1),
      );
      for (const f of findings) assert.equal(f.location.file, c.file);
    } else {
      assert.ok(!findings.some((f) => atLeast(f.severity, "medium")), JSON.stringify(findings, null, 1));
    }
  });
}

test("committed fixtures match the builders", () => {
  for (const c of cases) {
    assert.deepEqual(new Uint8Array(readFileSync(new URL(c.file, FIXTURES))), new Uint8Array(c.bytes), `${c.file} is stale; run with AEGIS_WRITE_FIXTURES=1`);
  }
});

test("safetensors reads only the header of a large file", async () => {
  const header = safetensors({ w: { dtype: "F32", shape: [1 << 22], data_offsets: [0, 1 << 24] } }, 0);
  const big = concat([header, new Uint8Array(1 << 24)]);
  const s = source(big);
  assert.deepEqual(await safetensorsScanner.scan(s, context("big.safetensors")), []);
  assert.ok(s.bytesRead < 1024, `read ${s.bytesRead} bytes`);
});

test("GGUF tensor data is never read", async () => {
  const bytes = concat([gguf(BENIGN_TEMPLATE), new Uint8Array(1 << 20)]);
  const s = source(bytes);
  await ggufScanner.scan(s, context("x.gguf"));
  assert.ok(s.bytesRead <= 1 << 16, `read ${s.bytesRead} bytes`);
});

test("Keras reads config.json only, and refuses a zip bomb", async () => {
  const bomb = zipSync({ "metadata.json": enc.encode("{}"), "config.json": enc.encode(`{"a":"${" ".repeat(1 << 22)}"}`) }, { level: 9 });
  const findings = await kerasScanner.scan(source(bomb), context("bomb.keras"));
  assert.equal(findings[0]?.rule, "MALFORMED-HEADER");
  assert.match(findings[0]?.detail ?? "", /compression ratio above the limit/);
  assert.deepEqual(findings[0]?.location.members, ["config.json"]);
});

test("truncated and corrupted files are reported, never thrown", async () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  for (const c of cases) {
    for (let i = 0; i < 40; i++) {
      const bytes = c.bytes.slice(0, i < 20 ? Math.floor(random() * c.bytes.length) : c.bytes.length);
      if (i >= 20) for (let k = 0; k < 4; k++) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      await c.scanner.scan(source(bytes), context(c.file));
    }
  }
});
