/**
 * Whole-model gradients against PyTorch autograd on the architectures users bring today
 * (fixtures written by scripts/make_modern_fixtures.py with torch.onnx, random weights):
 * a ViT (opset 17: LayerNormalization, torch's chunk as Shape → Gather → Div → Slice), a
 * BERT-like encoder over token ids (opset 14: LayerNorm decomposed, attention mask from the
 * ids, gradients with respect to the word-embedding output), a bidirectional two-layer LSTM
 * with learned initial states, a GRU followed by tanh and ReLU RNNs, and a
 * MobileNetV3-small-like net (opset 14: HardSwish, HardSigmoid gates), a decoder with
 * nearest and bilinear Resize and torch.einsum attention pooling (opset 13), and the ViT
 * exported with a fixed batch, and a RoBERTa-like encoder (positions by CumSum, attention
 * masked by Where). Each is opened as `aegis grad` opens it (openClassifier).
 * Criterion: max |Aegis − PyTorch| ≤ 1e-4 × max |PyTorch|, through the CLI for four of them.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { encodeNpz, parseNpz } from "../../src/data/index.js";
import { summarizeModel } from "../../src/engine/inspect.js";
import { openClassifier, TokenClassifier } from "../../src/engine/token-classifier.js";
import { loadModel } from "../../src/onnx/io.js";
import { labelsOf, type Tensor, toFloat32 } from "../../src/tensor.js";
import { aegis } from "../helpers/cli.js";

const dir = new URL("../../fixtures/models/", import.meta.url).pathname;
const reference = (name: string) => parseNpz(readFileSync(join(dir, `${name}.npz`)));

/** max |actual − expected| / max |expected|. */
function relativeError(actual: ArrayLike<number>, expected: Tensor): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < expected.data.length; i++) {
    scale = Math.max(scale, Math.abs(Number(expected.data[i])));
    err = Math.max(err, Math.abs(Number(actual[i]) - Number(expected.data[i])));
  }
  assert.ok(scale > 1e-3, "the reference is not vanishingly small");
  return err / scale;
}

// The static-batch ViT has vit_tiny's weights: vit_tiny.npz is its reference.
for (const [name, refName] of [
  ["vit_tiny", "vit_tiny"],
  ["vit_tiny_static", "vit_tiny"],
  ["lstm_classifier", "lstm_classifier"],
  ["gru_rnn_classifier", "gru_rnn_classifier"],
  ["mobilenetv3_small", "mobilenetv3_small"],
  ["upsample_einsum", "upsample_einsum"],
]) {
  test(`${name}: logits, CE and class gradients match PyTorch`, async () => {
    const ref = reference(refName);
    const x = ref.get("x") as Tensor<"float32">;
    const y = labelsOf(ref.get("y") as Tensor);
    // Batch 3 splits the 4 samples unevenly: gradients must not depend on batching.
    const clf = await openClassifier(loadModel(join(dir, `${name}.onnx`)), { batchSize: 3 });
    assert.ok(!(clf instanceof TokenClassifier), `${name} takes floats`);
    try {
      assert.ok(relativeError((await clf.predict(x)).data, ref.get("logits") as Tensor) <= 1e-4, "logits");
      assert.ok(relativeError((await clf.lossGradient(x, y)).data, ref.get("grad_ce") as Tensor) <= 1e-4, "CE gradient");
      assert.ok(relativeError((await clf.classGradient(x, [0, 0, 0, 0])).data, ref.get("grad_class0") as Tensor) <= 1e-4, "class-0 gradient");
    } finally {
      await clf.release();
    }
  });
}

for (const [name, padding, how] of [
  ["bert_tiny", 0, "padding 0, additive attention mask"],
  ["roberta_tiny", 1, "padding 1, positions by CumSum over the mask, attention masked by Where"],
] as const) {
  test(`${name} (token ids; ${how}): logits, embeddings, and CE and class gradients with respect to the embedding output match PyTorch`, async () => {
    const ref = reference(name);
    const ids = toFloat32(ref.get("x") as Tensor);
    const y = labelsOf(ref.get("y") as Tensor);
    // inspect points at the padding id: PyTorch's padding_idx row is all zeros.
    const summary = await summarizeModel(loadModel(join(dir, `${name}.onnx`)));
    assert.deepEqual(summary.input.embedding?.zeroRows, [padding]);
    assert.ok(summary.input.note.includes(`--param frozenTokens=${padding} `), summary.input.note);
    const clf = await openClassifier(loadModel(join(dir, `${name}.onnx`)), { batchSize: 3 });
    assert.ok(clf instanceof TokenClassifier, `${name} is opened as a token-id model`);
    try {
      // The attention mask (and RoBERTa's positions) are made from the ids, so they ride along beside the embedding.
      assert.equal(clf.site.idsReadElsewhere, true);
      assert.deepEqual([clf.vocabulary, clf.dimension], [60, 16]);
      assert.deepEqual([...clf.embed(ids).data], [...(ref.get("embedded") as Tensor<"float32">).data]);
      assert.ok(relativeError((await clf.predict(ids)).data, ref.get("logits") as Tensor) <= 1e-4, "logits");
      const { grad } = await clf.embeddingGradient(ids, clf.embed(ids), y);
      assert.ok(relativeError(grad.data, ref.get("grad_ce") as Tensor) <= 1e-4, "CE gradient");
      assert.ok(relativeError((await clf.embeddingClassGradient(ids, [0, 0, 0, 0])).data, ref.get("grad_class0") as Tensor) <= 1e-4, "class-0 gradient");
    } finally {
      await clf.release();
    }
  });
}

test("aegis grad on the transformer encoder, the opset-14 MobileNetV3 and the LSTM classifier matches PyTorch within 1e-4", async () => {
  const tmp = mkdtempSync(join(tmpdir(), "aegis-modern-"));
  for (const name of ["vit_tiny", "bert_tiny", "mobilenetv3_small", "lstm_classifier"]) {
    const ref = reference(name);
    const data = join(tmp, `${name}.npz`);
    writeFileSync(data, encodeNpz({ x: ref.get("x") as Tensor, y: ref.get("y") as Tensor }));
    const out = join(tmp, `${name}.grad.npz`);
    const r = await aegis(["grad", "--model", join(dir, `${name}.onnx`), "--data", data, "--out", out, "--batch-size", "3"]);
    assert.equal(r.code, 0, r.stderr);
    const grad = parseNpz(readFileSync(out)).get("grad") as Tensor<"float32">;
    assert.deepEqual(grad.shape, (ref.get("grad_ce") as Tensor).shape, name);
    assert.ok(relativeError(grad.data, ref.get("grad_ce") as Tensor) <= 1e-4, name);
  }
});
