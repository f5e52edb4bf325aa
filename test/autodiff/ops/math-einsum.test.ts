/** Finite-difference checks of Einsum: contractions, sums over a letter only one operand has, ellipses, implicit outputs, and the refusals. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { attr } from "../../../src/onnx/ir.js";
import { checkVjp } from "../../helpers/fd.js";

const einsum = (equation: string, ...shapes: number[][]) =>
  checkVjp({ opType: "Einsum", inputs: shapes.map((shape) => ({ shape })), attributes: { equation: attr.string(equation) }, opset: 12 });

test("Einsum as the attention products exporters write: batched MatMul, q·kᵀ per head, and a weighted sum of values", async () => {
  await einsum("bij,bjk->bik", [2, 3, 4], [2, 4, 5]);
  await einsum("bhqd,bhkd->bhqk", [2, 2, 3, 4], [2, 2, 5, 4]);
  await einsum("bhqk,bhkd->bqhd", [1, 2, 3, 4], [1, 2, 4, 3]);
});

test("Einsum with a letter only one operand has (summed away), a transpose, a dot product to a scalar, an outer product and three operands", async () => {
  await einsum("ij,jk->i", [3, 4], [4, 5]);
  await einsum("ij->ji", [3, 4]);
  await einsum("ijk->j", [2, 3, 4]);
  await einsum("i,i->", [5], [5]);
  await einsum("i,j->ij", [3], [4]);
  await einsum("bn,anm,bm->ba", [2, 3], [4, 3, 2], [2, 2]);
});

test("Einsum with ellipses (of different ranks), spaces, and an implicit output", async () => {
  await einsum("...ij,...jk->...ik", [2, 3, 3, 4], [2, 3, 4, 2]);
  await einsum("...ij, jk -> ...ik", [2, 3, 4], [4, 2]);
  await einsum("ij,jk", [3, 4], [4, 2]);
  await einsum("...ij->...j", [2, 3, 4]);
});

test("Einsum diagonals and ellipses that broadcast a 1 are refused by name", async () => {
  const refused = (what: string, equation: string, ...shapes: number[][]) =>
    assert.rejects(einsum(equation, ...shapes), (e: unknown) => {
      assert.ok(e instanceof AegisError);
      assert.ok(e.message.includes(what), e.message);
      return true;
    });
  await refused("a repeated index", "ii->i", [3, 3]);
  await refused("an ellipsis broadcasting", "...ij,...jk->...ik", [1, 3, 4], [2, 4, 5]);
});
