/**
 * Strength of the text attacks on the BERT-like fixture (fixtures/models/bert_tiny.onnx,
 * random weights): 48 random sequences labelled with the model's own predictions. A
 * gradient-guided substitution of one token must fool the model far more often than a
 * random one (measured here: ~11% for one random substitution, 100% for HotFlip).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type Attack, attackMetrics, embeddingPgd, hotflip } from "../../src/attacks/index.js";
import { attackParams } from "../../src/attacks/params.js";
import { createRng } from "../../src/data/random.js";
import { TokenClassifier } from "../../src/engine/token-classifier.js";
import { argmaxRow } from "../../src/engine/trainer.js";
import { float32, type Tensor } from "../../src/tensor.js";

const N = 48;
const T = 10;
let model: TokenClassifier;
let x: Tensor<"float32">;
let y: number[];
let randomSuccess: number;

before(async () => {
  model = await TokenClassifier.fromFile(new URL("../../fixtures/models/bert_tiny.onnx", import.meta.url).pathname, { threads: 1 });
  const rng = createRng(3);
  x = float32(
    [N, T],
    Array.from({ length: N * T }, () => 1 + rng.int(model.vocabulary - 1)),
  );
  const clean = await model.predict(x);
  y = Array.from({ length: N }, (_, i) => argmaxRow(clean, i));
  // One random substitution per sample, ten draws.
  let fooled = 0;
  for (let draw = 0; draw < 10; draw++) {
    const adv = Float32Array.from(x.data);
    for (let i = 0; i < N; i++) adv[i * T + rng.int(T)] = 1 + rng.int(model.vocabulary - 1);
    const out = await model.predict(float32([N, T], adv));
    for (let i = 0; i < N; i++) if (argmaxRow(out, i) !== y[i]) fooled++;
  }
  randomSuccess = fooled / (10 * N);
});

after(() => model.release());

// biome-ignore lint/suspicious/noExplicitAny: either text attack, each with its own parameters
const strengthCases: [Attack<any, TokenClassifier>, number][] = [
  [hotflip, 0.9],
  [embeddingPgd, 0.8],
];
for (const [attack, floor] of strengthCases) {
  test(`${attack.name} with one token fools the model far more often than a random substitution`, async () => {
    const out = await attack.run(model, x, y, attackParams(attack, { eps: 1 }), { rng: createRng(0) });
    const m = await attackMetrics(model, x, out.x, y);
    assert.ok(m.success_rate >= floor, `success ${m.success_rate} < ${floor}`);
    assert.ok(m.success_rate >= randomSuccess + 0.5, `success ${m.success_rate} vs random ${randomSuccess}`);
    assert.ok(m.perturbation.l0_median === 1, "one token changed");
  });
}

test("hotflip reaches target classes and keeps the ids it is told to freeze", async () => {
  const targets = y.map((c) => (c + 1) % 3);
  const frozen = Array.from(new Set(Array.from(x.data.subarray(0, 3 * T))));
  const out = await hotflip.run(
    model,
    x,
    targets,
    { ...hotflip.defaults, eps: 3, targeted: true, frozenTokens: frozen },
    {
      rng: createRng(0),
    },
  );
  const m = await attackMetrics(model, x, out.x, y, { targets });
  assert.ok(m.success_rate >= 0.5, `targeted success ${m.success_rate}`);
  for (let k = 0; k < x.data.length; k++) {
    if (x.data[k] === out.x.data[k]) continue;
    assert.ok(!frozen.includes(x.data[k]) && !frozen.includes(out.x.data[k]), `a frozen id changed at ${k}`);
  }
});
