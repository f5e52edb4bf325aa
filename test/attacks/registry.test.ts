/**
 * The contract every attack in the registry keeps, as the red-team plugins have theirs:
 * it names its paper (authors and year) and the file implementing it cites that paper in
 * its header; it declares the model capabilities it needs, its norms and a default norm it
 * supports; every default has a help line for `--help-attack`; and it runs on a tiny
 * model, returning finite examples of the input's shape inside the clip range, within ε in
 * its norm when it is ε-bounded, and counting queries when it sees predictions only. Text
 * attacks (those that need predictTokens) run on a tiny token-id model instead and must
 * return valid token ids, change at most ε of them and leave the frozen ones alone.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { ATTACKS } from "../../src/attacks/index.js";
import { attackParams } from "../../src/attacks/params.js";
import { MINIMUM_NORM_ATTACKS } from "../../src/audit/config.js";
import { createRng } from "../../src/data/random.js";
import { buildArchitecture } from "../../src/engine/architectures.js";
import { ALL_CAPABILITIES } from "../../src/engine/capabilities.js";
import { OnnxClassifier } from "../../src/engine/classifier.js";
import { TokenClassifier } from "../../src/engine/token-classifier.js";
import { float32, sizeOf } from "../../src/tensor.js";
import { tokenModel } from "../helpers/token-model.js";

const EVASION = fileURLToPath(new URL("../../src/attacks/evasion/", import.meta.url));
const sources = readdirSync(EVASION).map((f) => readFileSync(EVASION + f, "utf8"));

/** Small budgets, so every attack runs in a moment; only the keys an attack declares are used. */
const TINY: Record<string, unknown> = {
  maxIter: 3,
  // ZOO spends 257 queries on one iteration over its 128 parallel coordinates.
  maxQueries: 300,
  restarts: 1,
  binarySearchSteps: 2,
  initEval: 5,
  maxEval: 10,
  samplesPerDraw: 10,
  numDirections: 10,
  attackerIter: 2,
  nbCandidate: 3,
};
/** Attacks whose ε is not a bound on the perturbation's norm: the patch's size, SimBA's step along each direction. */
const NOT_A_NORM_BOUND = new Set(["adversarial-patch", "simba"]);

describe("attack registry contract", () => {
  for (const attack of ATTACKS) {
    describe(attack.name, () => {
      it("names its paper, and its file cites it in the header", () => {
        assert.match(attack.name, /^[a-z0-9-]+$/);
        assert.ok(attack.title.length > 3);
        assert.match(attack.paper, /(19|20)\d\d/, "the paper's year");
        const firstAuthor = attack.paper.split(/[ ,&]/)[0];
        const files = sources.filter((s) => s.includes(`name: "${attack.name}"`));
        assert.ok(files.length > 0, `no file in src/attacks/evasion defines ${attack.name}`);
        const cites = files.some((file) => file.startsWith("/**") && file.slice(0, file.indexOf("*/")).includes(firstAuthor));
        assert.ok(cites, `the header comment of ${attack.name}'s file cites ${firstAuthor}`);
      });

      it("declares its capabilities, norms and a help line per parameter", () => {
        assert.ok(attack.needs.includes("predict") !== attack.needs.includes("predictTokens"), "predictions on continuous inputs or on token ids");
        for (const need of attack.needs) assert.ok(ALL_CAPABILITIES.includes(need), need);
        assert.ok(attack.norms.length > 0 && attack.norms.every((n) => ["inf", "2", "1", "0"].includes(n)));
        assert.ok(attack.norms.includes(attack.defaults.norm), "the default norm is supported");
        for (const key of Object.keys(attack.defaults)) {
          if (key === "constraints") continue;
          const help = (attack.help as Record<string, string>)[key];
          assert.ok(typeof help === "string" && help.length > 2, `${key} has a help line`);
        }
      });

      if (attack.needs.includes("predictTokens")) {
        it("runs on a tiny token-id model: valid ids, at most ε changed, frozen ids kept", async () => {
          const model = await TokenClassifier.create(tokenModel({ vocabulary: 12, dimension: 4, length: 6, classes: 3, seed: 2 }), { threads: 1 });
          try {
            // Padding (0) at the end of two rows: frozen by default, never replaced nor put in.
            const ids = [3, 5, 7, 1, 0, 0, 2, 2, 9, 11, 4, 6, 8, 1, 0, 0, 0, 0, 10, 3, 5, 7, 9, 2];
            const x = float32([4, 6], ids);
            const settings = Object.fromEntries(Object.entries(TINY).filter(([key]) => key in attack.help));
            const params = attackParams(attack, { ...settings, eps: 2 }, { batchSize: 4 });
            const out = await attack.run(model, x, [0, 1, 2, 0], params, { rng: createRng(0) });
            assert.deepEqual(out.x.shape, x.shape);
            for (let i = 0; i < 4; i++) {
              let changed = 0;
              for (let p = 0; p < 6; p++) {
                const [before, after] = [ids[i * 6 + p], out.x.data[i * 6 + p]];
                assert.ok(Number.isInteger(after) && after >= 0 && after < 12, `token ${after} outside the vocabulary`);
                if (before === after) continue;
                changed++;
                assert.ok(before !== 0 && after !== 0, `sample ${i}: frozen padding replaced or put in at ${p}`);
              }
              assert.ok(changed <= 2, `sample ${i}: ${changed} tokens changed > ε 2`);
            }
          } finally {
            await model.release();
          }
        });
        return;
      }

      it("runs on a tiny model: finite, same shape, in the clip range, within ε when bounded, queries counted when black-box", async () => {
        // Four classes: APGD-T's targeted DLR loss needs them.
        const model = await OnnxClassifier.create(buildArchitecture("cnn", { inputShape: [1, 8, 8], numClasses: 4, seed: 1 }), { threads: 1 });
        try {
          const rng = createRng(7);
          const x = float32(
            [4, 1, 8, 8],
            Float32Array.from({ length: 4 * 64 }, () => rng.next()),
          );
          // Attacks targeted by nature (JSMA, the patch) take one target class; the others the true labels.
          const labels = attack.defaults.targeted ? [3, 3, 3, 3] : [0, 1, 2, 3];
          const bounded = !MINIMUM_NORM_ATTACKS.has(attack.name) && !NOT_A_NORM_BOUND.has(attack.name);
          const settings = Object.fromEntries(Object.entries(TINY).filter(([key]) => key in attack.help));
          const params = attackParams(attack, { ...settings, ...(bounded ? { eps: 0.1 } : {}) }, { batchSize: 4 });
          const out = await attack.run(model, x, labels, params, { rng: createRng(0) });
          assert.deepEqual(out.x.shape, x.shape);
          const row = sizeOf(x.shape.slice(1));
          for (let i = 0; i < 4; i++) {
            let linf = 0;
            let l2 = 0;
            let l1 = 0;
            for (let j = i * row; j < (i + 1) * row; j++) {
              const v = out.x.data[j];
              assert.ok(Number.isFinite(v) && v >= 0 && v <= 1, `value ${v} outside [0, 1]`);
              const d = Math.abs(v - x.data[j]);
              linf = Math.max(linf, d);
              l2 += d * d;
              l1 += d;
            }
            const size = params.norm === "inf" ? linf : params.norm === "2" ? Math.sqrt(l2) : l1;
            if (bounded) assert.ok(size <= 0.1 + 1e-5, `sample ${i}: ‖δ‖_${params.norm} = ${size} > ε 0.1`);
          }
          if (attack.needs.length === 1)
            assert.ok(
              out.queries?.every((q) => q > 0),
              "a black-box attack counts its queries",
            );
        } finally {
          await model.release();
        }
      });
    });
  }
});
