/**
 * The one-run audit of DP-SGD (issue 18, Steinke, Nasr & Jagielski 2023) at bench scale: the
 * MLP of `aegis privacy audit` on BENCH_AUDIT_SAMPLES rows of the built-in MNIST train split
 * (default 4,000) with BENCH_AUDIT_CANARIES sparse-noise canaries (default 2,000), expected
 * batch 64, C 1, SGD lr 1, BENCH_AUDIT_EPOCHS epochs (default 15), δ 1e-5, 95% confidence.
 * Three runs: DP-SGD at ε 1 and ε 8 (σ solved by the RDP accountant), and the same ε-1 run
 * with its noise switched off (the deliberately broken DP-SGD, which must be caught). Prints
 * the accountant's ε, the measured lower bound and the best k's right guesses for each.
 */
import { loadDataset } from "../src/data/index.js";
import { buildArchitecture, OnnxClassifier, sgd } from "../src/engine/index.js";
import { auditDpSgd, makeCanaries, SecureRandom } from "../src/privacy/index.js";
import { labelsOf, sliceRows } from "../src/tensor.js";

export async function benchDpAudit(log: (line: string) => void = () => {}): Promise<string[]> {
  const samples = Number(process.env.BENCH_AUDIT_SAMPLES ?? 4000);
  const m = Number(process.env.BENCH_AUDIT_CANARIES ?? 2000);
  const epochs = Number(process.env.BENCH_AUDIT_EPOCHS ?? 15);
  const mnist = loadDataset("mnist", { split: "train" });
  const labels = labelsOf(mnist.y as NonNullable<typeof mnist.y>);
  const data = { x: sliceRows(mnist.x, 0, samples), labels: labels.slice(0, samples) };
  const canaries = makeCanaries(
    { x: sliceRows(mnist.x, samples, samples + m), labels: labels.slice(samples, samples + m) },
    m,
    10,
    "noise",
    SecureRandom.fromSeed(1),
  );
  const lines = [
    `One-run DP audit: MLP, ${samples.toLocaleString("en-US")} MNIST rows + ${m.toLocaleString("en-US")} noise canaries, batch 64, C 1, ${epochs} epochs, δ 1e-5, 95% confidence`,
  ];
  const runs = [
    { name: "DP-SGD, target ε 1", targetEpsilon: 1, noiseScale: 1 },
    { name: "DP-SGD, target ε 8", targetEpsilon: 8, noiseScale: 1 },
    { name: "broken DP-SGD (noise off), claims ε 1", targetEpsilon: 1, noiseScale: 0 },
  ];
  for (const run of runs) {
    const classifier = await OnnxClassifier.create(buildArchitecture("mlp", { inputShape: [1, 28, 28], numClasses: 10, seed: 3 }), {
      trainable: true,
      batchSize: 64,
    });
    const started = performance.now();
    const r = await auditDpSgd({
      classifier,
      data,
      canaries,
      settings: { targetEpsilon: run.targetEpsilon, maxGradNorm: 1, delta: 1e-5, batchSize: 64, epochs },
      optimizer: sgd({ lr: 1 }),
      seed: 11,
      noiseScale: run.noiseScale,
      onEpoch: (s) => log(`  ${run.name}: epoch ${s.epoch}/${epochs} accuracy ${(s.accuracy * 100).toFixed(1)}%`),
    });
    await classifier.release();
    const best = r.outcomes.reduce((a, b) => (b.epsilonLower > a.epsilonLower ? b : a));
    lines.push(
      `  ${run.name.padEnd(40)} σ ${r.plan.noiseMultiplier.toFixed(3)} · accountant ε ${r.claimedEpsilon.toFixed(3)} · measured ε ≥ ${r.epsilonLower.toFixed(3)} (k ${best.perSide}: ${best.correct}/${2 * best.perSide} right) · ${r.violated ? "FLAGGED: broken" : "not flagged"} · ${((performance.now() - started) / 1000).toFixed(0)} s`,
    );
  }
  return lines;
}

if (import.meta.url === `file://${process.argv[1]}`) for (const line of await benchDpAudit((l) => console.error(l))) console.log(line);
