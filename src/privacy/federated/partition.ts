/**
 * Splitting a labelled dataset across simulated clients. Non-IID splits follow the usual
 * label-Dirichlet scheme (Hsu, Qi and Brown 2019, "Measuring the Effects of Non-Identical
 * Data Distribution for Federated Visual Classification"): for each class, the shares of
 * the clients are drawn from Dirichlet(α·1) and the class's examples are dealt out in those
 * proportions. Small α gives each client a few dominant classes; α → ∞ approaches IID.
 */
import { createRng, type Rng } from "../../data/index.js";
import { AegisError } from "../../errors.js";

/** Gamma(shape, 1) by Marsaglia and Tsang 2000, boosted for shape < 1. */
export function sampleGamma(shape: number, rng: Rng): number {
  if (shape < 1) return sampleGamma(shape + 1, rng) * (1 - rng.next()) ** (1 / shape);
  const d = shape - 1 / 3;
  const c = 1 / Math.sqrt(9 * d);
  for (;;) {
    const z = rng.normal();
    const v = (1 + c * z) ** 3;
    if (v <= 0) continue;
    const u = 1 - rng.next();
    if (Math.log(u) < 0.5 * z * z + d - d * v + d * Math.log(v)) return d * v;
  }
}

/** One draw of Dirichlet(α, …, α) over k components. */
export function sampleDirichlet(alpha: number, k: number, rng: Rng): number[] {
  const g = Array.from({ length: k }, () => sampleGamma(alpha, rng));
  const sum = g.reduce((a, b) => a + b, 0);
  return g.map((x) => x / sum);
}

/**
 * Row indices of each client's share. `alpha` = Infinity deals every class evenly (IID).
 * Every client gets at least one example: an empty one takes a row from the largest share.
 */
export function dirichletSplit(labels: readonly number[], clients: number, alpha: number, seed = 0): number[][] {
  if (!Number.isInteger(clients) || clients < 1) throw new AegisError("BAD_OPTION", `--clients must be a positive integer, not ${clients}`);
  if (!(alpha > 0)) throw new AegisError("BAD_OPTION", `the Dirichlet α must be positive (small = non-IID, Infinity = IID), not ${alpha}`);
  if (labels.length < clients)
    throw new AegisError("BAD_DATA", `${labels.length} examples cannot be split among ${clients} clients; use fewer clients or more data`);
  const rng = createRng(seed);
  const byClass = new Map<number, number[]>();
  for (const [row, label] of labels.entries()) byClass.set(label, [...(byClass.get(label) ?? []), row]);
  const shares: number[][] = Array.from({ length: clients }, () => []);
  for (const rows of [...byClass.entries()].sort(([a], [b]) => a - b).map(([, r]) => rng.shuffle(r))) {
    const p = Number.isFinite(alpha) ? sampleDirichlet(alpha, clients, rng) : new Array<number>(clients).fill(1 / clients);
    // Cumulative cut points, so the shares add up to the class exactly.
    let cumulative = 0;
    let start = 0;
    for (let k = 0; k < clients; k++) {
      cumulative += p[k];
      const end = k === clients - 1 ? rows.length : Math.round(cumulative * rows.length);
      shares[k].push(...rows.slice(start, end));
      start = end;
    }
  }
  for (const share of shares) {
    if (share.length > 0) continue;
    const largest = shares.reduce((a, b) => (b.length > a.length ? b : a));
    share.push(largest.pop() as number);
  }
  return shares.map((s) => rng.shuffle(s));
}
