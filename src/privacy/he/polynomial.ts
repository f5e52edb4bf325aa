/**
 * Polynomials in one variable as coefficient lists (c[k] multiplies x^k): the algebra
 * `aegis he compile` needs to read a polynomial activation out of an ONNX graph, and the
 * least-squares fit that replaces ReLU, sigmoid or tanh over the range their inputs were
 * observed in on calibration data (the approach of CryptoNets' successors, e.g. Hesamifard
 * et al. 2017, and TenSEAL's tutorials): the observed values and a uniform grid over [lo, hi], fitted in the
 * Chebyshev basis of the mapped interval [-1, 1] for conditioning, then converted back.
 */
import { AegisError } from "../../errors.js";

export type Polynomial = number[];

export function trim(p: Polynomial): Polynomial {
  const out = [...p];
  while (out.length > 1 && out[out.length - 1] === 0) out.pop();
  return out;
}

export function degreeOf(p: Polynomial): number {
  return trim(p).length - 1;
}

export function addPoly(a: Polynomial, b: Polynomial): Polynomial {
  return trim(Array.from({ length: Math.max(a.length, b.length) }, (_, k) => (a[k] ?? 0) + (b[k] ?? 0)));
}

export function scalePoly(a: Polynomial, s: number): Polynomial {
  return trim(a.map((c) => c * s));
}

export function mulPoly(a: Polynomial, b: Polynomial): Polynomial {
  const out = new Array<number>(a.length + b.length - 1).fill(0);
  for (let i = 0; i < a.length; i++) for (let j = 0; j < b.length; j++) out[i + j] += a[i] * b[j];
  return trim(out);
}

export function evalPoly(p: Polynomial, x: number): number {
  let y = 0;
  for (let k = p.length - 1; k >= 0; k--) y = y * x + p[k];
  return y;
}

export type FittedActivation = "relu" | "sigmoid" | "tanh";

export const ACTIVATIONS: Record<FittedActivation, (x: number) => number> = {
  relu: (x) => Math.max(0, x),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  tanh: Math.tanh,
};

/**
 * Least-squares polynomial of `degree` for `f` over [lo, hi], on 2,001 evenly spaced points.
 * With `observed` (the activation's inputs on calibration data), the fit weighs those values
 * as they occur, where the model needs accuracy, and the even grid carries a tenth of the
 * weight so the polynomial stays close to f across the whole range.
 */
export function fitPolynomial(f: (x: number) => number, lo: number, hi: number, degree: number, observed?: ArrayLike<number>): Polynomial {
  if (!(hi > lo)) throw new AegisError("BAD_DATA", `cannot fit a polynomial over the empty range [${lo}, ${hi}]; give calibration data that varies`);
  const points = 2001;
  const mid = (lo + hi) / 2;
  const half = (hi - lo) / 2;
  // Normal equations in the Chebyshev basis T_0..T_d of t = (x − mid)/half: well conditioned for small d.
  const n = degree + 1;
  const gram = Array.from({ length: n }, () => new Float64Array(n));
  const rhs = new Float64Array(n);
  const basis = new Float64Array(n);
  const add = (t: number, weight: number) => {
    chebyshev(t, basis);
    const y = f(mid + half * t);
    for (let a = 0; a < n; a++) {
      rhs[a] += weight * basis[a] * y;
      for (let b = 0; b < n; b++) gram[a][b] += weight * basis[a] * basis[b];
    }
  };
  const gridWeight = observed && observed.length > 0 ? observed.length / (9 * points) : 1;
  for (let i = 0; i < points; i++) add(-1 + (2 * i) / (points - 1), gridWeight);
  if (observed) for (let i = 0; i < observed.length; i++) add((observed[i] - mid) / half, 1);
  const inT = solve(gram, rhs);
  // Σ a_k T_k(t) with t = (x − mid)/half, expanded into powers of x.
  const t: Polynomial = [-mid / half, 1 / half];
  const inX: Polynomial[] = [[1], t];
  for (let k = 2; k < n; k++) inX.push(addPoly(scalePoly(mulPoly(t, inX[k - 1]), 2), scalePoly(inX[k - 2], -1)));
  return inT.reduce<Polynomial>((sum, a, k) => addPoly(sum, scalePoly(inX[k], a)), [0]);
}

function chebyshev(t: number, out: Float64Array): void {
  out[0] = 1;
  if (out.length > 1) out[1] = t;
  for (let k = 2; k < out.length; k++) out[k] = 2 * t * out[k - 1] - out[k - 2];
}

/** Gaussian elimination with partial pivoting; `a` is overwritten. */
function solve(a: Float64Array[], b: Float64Array): Float64Array {
  const n = b.length;
  const x = Float64Array.from(b);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(a[r][col]) > Math.abs(a[pivot][col])) pivot = r;
    [a[col], a[pivot]] = [a[pivot], a[col]];
    [x[col], x[pivot]] = [x[pivot], x[col]];
    for (let r = col + 1; r < n; r++) {
      const factor = a[r][col] / a[col][col];
      for (let c = col; c < n; c++) a[r][c] -= factor * a[col][c];
      x[r] -= factor * x[col];
    }
  }
  for (let r = n - 1; r >= 0; r--) {
    let s = x[r];
    for (let c = r + 1; c < n; c++) s -= a[r][c] * x[c];
    x[r] = s / a[r][r];
  }
  return x;
}
