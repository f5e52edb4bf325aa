/**
 * Attribute inference (Fredrikson et al. 2014) against the imputation baseline (Jayaraman &
 * Evans 2022) on the synthetic tabular task of test/helpers/attribute-task.ts. An MLP trained for 300 epochs on
 * 200 records memorises its flipped records, so on them the model reveals s beyond what the
 * attacker's own data (the baseline: other columns and label → s) gives; on records it
 * never saw it reveals nothing more. Both the black-box (one query per value) and the
 * white-box (gradient descent on the column) attacks must show that gap.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { attributeIndex, inferAttribute, sensitiveAttribute } from "../../../src/attacks/inference/attribute.js";
import { buildArchitecture } from "../../../src/engine/architectures.js";
import { OnnxClassifier } from "../../../src/engine/classifier.js";
import { adam } from "../../../src/engine/optimizers.js";
import { train } from "../../../src/engine/trainer.js";
import { isAegisError } from "../../../src/errors.js";
import { attributeRecords } from "../../helpers/attribute-task.js";

test("on its training records the model reveals the sensitive column beyond the baseline; on unseen ones it does not", async (t) => {
  const training = attributeRecords(200, 1);
  const auxiliary = attributeRecords(400, 2);
  const unseen = attributeRecords(400, 3);
  const model = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [6], numClasses: 2, seed: 1 }), {
    trainable: true,
    clipRange: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
  });
  try {
    await train(model, training, { epochs: 300, batchSize: 32, optimizer: adam({ lr: 1e-3 }), seed: 1 });
    const attribute = sensitiveAttribute([0], auxiliary);
    assert.deepEqual(attribute.valueNames, ["0", "1"]);
    const gains: Record<string, { blackBox: number; whiteBox: number }> = {};
    for (const [name, data] of [
      ["training", training],
      ["unseen", unseen],
    ] as const) {
      const guesses = await inferAttribute(model, data, { attribute, auxiliary, seed: 1 });
      const truth = attributeIndex(attribute, data);
      const accuracy = (g: number[]) => g.filter((v, i) => v === truth[i]).length / g.length;
      assert.ok(guesses.whiteBox, "the MLP has gradients, so the white-box attack runs");
      const baseline = accuracy(guesses.baseline);
      gains[name] = { blackBox: accuracy(guesses.blackBox) - baseline, whiteBox: accuracy(guesses.whiteBox) - baseline };
      t.diagnostic(`${name}: baseline ${baseline}, black-box ${accuracy(guesses.blackBox)}, white-box ${accuracy(guesses.whiteBox)}`);
    }
    for (const kind of ["blackBox", "whiteBox"] as const) {
      assert.ok(gains.training[kind] >= 0.05, `${kind} gain over the baseline on training records: ${gains.training[kind]}`);
      assert.ok(gains.training[kind] - gains.unseen[kind] >= 0.05, `${kind}: training gain ${gains.training[kind]} vs unseen ${gains.unseen[kind]}`);
    }
  } finally {
    await model.release();
  }
});

test("a column with too many values, or one value, is refused with a sentence", () => {
  const data = attributeRecords(50, 4);
  assert.throws(
    () => sensitiveAttribute([1], data),
    (e) => isAegisError(e) && e.code === "BAD_DATA" && /categorical column/.test(e.message),
  );
  assert.throws(
    () => sensitiveAttribute([7], data),
    (e) => isAegisError(e) && e.code === "BAD_OPTION" && /columns 0\.\.5/.test(e.message),
  );
});
