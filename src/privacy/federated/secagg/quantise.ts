/**
 * Fixed-point encoding of real updates into Z_{2^32}, the ring SecAgg masks in (Bonawitz et
 * al. 2017 mask vectors in Z_R; we take R = 2^32 so masking is one Uint32 addition). Each
 * coordinate is clipped to [−clip, clip], multiplied by `scale` and rounded to the nearest
 * integer, and stored modulo 2^32 (two's complement). The scale is chosen from the number of
 * clients so the SUM cannot overflow: n clients each contributing at most clip·scale in
 * absolute value give |Σ| ≤ n·clip·scale ≤ 2^31 − 1, which decodes unambiguously as a
 * signed 32-bit integer. Each client's rounding error is at most 1/(2·scale) per
 * coordinate, so the decoded sum is off by at most n/(2·scale) = n²·clip/(2·(2^31 − 1)).
 */
import { AegisError } from "../../../errors.js";

const LIMIT = 2 ** 31 - 1;
const RING = 2 ** 32;

export interface FixedPoint {
  /** The largest absolute value a coordinate keeps; larger ones are clipped. */
  readonly clip: number;
  /** Field units per real unit. */
  readonly scale: number;
  /** The clients whose sum the encoding must hold without overflow. */
  readonly clients: number;
}

/** The finest encoding under which the sum of `clients` vectors clipped at `clip` cannot overflow. */
export function fixedPointFor(clients: number, clip: number): FixedPoint {
  if (!(clip > 0 && Number.isFinite(clip))) throw new AegisError("BAD_OPTION", `the secure-aggregation clip must be a positive number, not ${clip}`);
  // Each client's coordinate rounds to at most clip·scale + 1/2 field units, so n of them stay within LIMIT.
  const scale = Math.floor((LIMIT / clients - 0.5) / clip);
  if (scale < 1) throw new AegisError("BAD_OPTION", `${clients} clients with clip ${clip} overflow a 32-bit sum; lower the clip`);
  return { clip, scale, clients };
}

/** The largest error of one coordinate of a decoded sum of `fixedPoint.clients` vectors. */
export function sumError(fixedPoint: FixedPoint): number {
  return fixedPoint.clients / (2 * fixedPoint.scale);
}

/** Encodes `values`; `clipped` counts the coordinates that were outside [−clip, clip]. */
export function quantise(values: ArrayLike<number>, fixedPoint: FixedPoint): { field: Uint32Array; clipped: number } {
  const { clip, scale } = fixedPoint;
  const field = new Uint32Array(values.length);
  let clipped = 0;
  for (let i = 0; i < values.length; i++) {
    let v = values[i];
    if (!Number.isFinite(v)) throw new AegisError("NON_FINITE", `coordinate ${i} of the update is ${v}; secure aggregation needs finite updates`);
    if (v > clip || v < -clip) {
      v = v > 0 ? clip : -clip;
      clipped++;
    }
    // Uint32Array stores ToUint32 of the value: negative integers wrap to two's complement.
    field[i] = Math.round(v * scale);
  }
  return { field, clipped };
}

/** Decodes a sum of at most `fixedPoint.clients` encoded vectors. */
export function dequantise(sum: Uint32Array, fixedPoint: FixedPoint): Float64Array {
  return Float64Array.from(sum, (u) => (u > LIMIT ? u - RING : u) / fixedPoint.scale);
}
