import { attr, getString } from "../../onnx/ir.js";
import { dy0, unsupported, type VjpContext, type VjpRule } from "../rule.js";

/**
 * Y = einsum("a,b,…->o", A, B, …) is linear in each operand, and its VJP is another
 * einsum: dA = einsum("o,b,…->a′", dY, B, …), where a′ keeps the letters of A that occur
 * in the output or in another operand. Letters only A has were summed away; dA is constant
 * along them, so the result is reshaped and expanded to A's shape. An ellipsis stands for
 * the same letters in every operand (right-aligned), as numpy broadcasts.
 * Not supported: a letter repeated within one operand (a diagonal, "ii->i"), and an
 * ellipsis that broadcasts a dimension of size 1 against a larger one.
 */
export const Einsum: VjpRule = {
  opType: "Einsum",
  grad: (ctx) => {
    const { node } = ctx;
    const terms = parseEquation(ctx);
    return node.inputs.map((input, k) => () => {
      const b = ctx.b;
      const own = terms.inputs[k];
      const others = terms.inputs.filter((_, j) => j !== k);
      const elsewhere = new Set([...terms.output, ...others.flat()]);
      const kept = own.filter((letter) => elsewhere.has(letter));
      const equation = `${[terms.output, ...others].map((t) => t.join("")).join(",")}->${kept.join("")}`;
      let g = b.op("Einsum", [dy0(ctx), ...node.inputs.filter((_, j) => j !== k)], { equation: attr.string(equation) });
      if (kept.length === own.length) return g;
      const dims = ctx.shape(input);
      g = b.reshape(
        g,
        own.map((letter, i) => (elsewhere.has(letter) ? dims[i] : 1)),
      );
      return b.op("Expand", [g, b.int64s(dims)]);
    });
  },
};

/** The letters of each operand and of the output, ellipses spelled out. */
function parseEquation(ctx: VjpContext): { inputs: string[][]; output: string[] } {
  const { node } = ctx;
  const equation = getString(node, "equation", "").replace(/\s/g, "");
  const [lhs, rhs] = equation.split("->");
  const operands = lhs.split(",");
  if (operands.length !== node.inputs.length) unsupported(node, `equation "${equation}" for ${node.inputs.length} operands`);
  // Ellipsis letters: upper-case ones the equation does not use, as many as the widest ellipsis.
  const ellipsisRanks = operands.map((term, i) => (term.includes("...") ? ctx.shape(node.inputs[i]).length - term.replace("...", "").length : 0));
  const width = Math.max(0, ...ellipsisRanks);
  const free = "ABCDEFGHIJKLMNOPQRSTUVWXYZ".split("").filter((c) => !equation.includes(c));
  const ellipsis = free.slice(0, width);
  const spell = (term: string, rank: number) => [...term.replace("...", ellipsis.slice(width - rank).join(""))];
  const inputs = operands.map((term, i) => spell(term, ellipsisRanks[i]));
  for (const [i, letters] of inputs.entries()) {
    if (new Set(letters).size !== letters.length) unsupported(node, `a repeated index in operand ${i} of "${equation}" (a diagonal)`);
    const dims = ctx.shape(node.inputs[i]);
    letters.forEach((letter, j) => {
      if (
        ellipsis.includes(letter) &&
        dims[j] === 1 &&
        inputs.some((other, o) => o !== i && other.includes(letter) && ctx.shape(node.inputs[o])[other.indexOf(letter)] !== 1)
      ) {
        unsupported(node, `an ellipsis broadcasting a dimension of size 1 in operand ${i} of "${equation}"`);
      }
    });
  }
  let output: string[];
  if (rhs === undefined) {
    // Implicit output: the ellipsis, then the letters used once, in alphabetical order.
    const counts = new Map<string, number>();
    for (const letter of inputs.flat()) counts.set(letter, (counts.get(letter) ?? 0) + 1);
    output = [
      ...ellipsis,
      ...[...counts]
        .filter(([l, c]) => c === 1 && !ellipsis.includes(l))
        .map(([l]) => l)
        .sort(),
    ];
  } else {
    output = spell(rhs, rhs.includes("...") ? ctx.shape(node.outputs[0]).length - rhs.replace("...", "").length : 0);
  }
  return { inputs, output };
}
