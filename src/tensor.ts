/**
 * The one tensor type that crosses module boundaries: a shape and a flat, C-order typed
 * array. ONNX Runtime tensors are converted at the engine's edge only.
 */
export type DType = "float32" | "float64" | "int64" | "int32" | "uint8" | "bool";

export type TypedArrayOf<D extends DType> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : D extends "int64"
      ? BigInt64Array
      : D extends "int32"
        ? Int32Array
        : Uint8Array;

export type AnyTypedArray = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array;

export interface Tensor<D extends DType = DType> {
  readonly dtype: D;
  readonly shape: readonly number[];
  readonly data: TypedArrayOf<D>;
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function tensor<D extends DType>(dtype: D, shape: readonly number[], data: TypedArrayOf<D>): Tensor<D> {
  if (data.length !== sizeOf(shape)) {
    throw new RangeError(`tensor data has ${data.length} elements but shape [${shape.join(", ")}] needs ${sizeOf(shape)}`);
  }
  return { dtype, shape: [...shape], data };
}

export function float32(shape: readonly number[], data?: Float32Array | readonly number[]): Tensor<"float32"> {
  const values = data instanceof Float32Array ? data : data === undefined ? new Float32Array(sizeOf(shape)) : Float32Array.from(data);
  return tensor("float32", shape, values);
}

/** Converts any numeric tensor to float32 (labels and images arrive as integers). */
export function toFloat32(t: Tensor): Tensor<"float32"> {
  if (t.dtype === "float32") return t as Tensor<"float32">;
  const out = new Float32Array(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return float32(t.shape, out);
}

/** Rows [start, end) along the first axis, sharing memory with the source. */
export function sliceRows<D extends DType>(t: Tensor<D>, start: number, end: number): Tensor<D> {
  const row = sizeOf(t.shape.slice(1));
  const data = t.data.subarray(start * row, end * row) as TypedArrayOf<D>;
  return { dtype: t.dtype, shape: [end - start, ...t.shape.slice(1)], data };
}

/** Picks rows by index into a new tensor (for shuffled batches). */
export function gatherRows<D extends DType>(t: Tensor<D>, rows: ArrayLike<number>): Tensor<D> {
  const row = sizeOf(t.shape.slice(1));
  const Ctor = t.data.constructor as new (n: number) => TypedArrayOf<D>;
  const data = new Ctor(rows.length * row);
  for (let i = 0; i < rows.length; i++) {
    (data as unknown as { set(a: ArrayLike<unknown>, o: number): void }).set(
      t.data.subarray(rows[i] * row, (rows[i] + 1) * row) as unknown as ArrayLike<unknown>,
      i * row,
    );
  }
  return { dtype: t.dtype, shape: [rows.length, ...t.shape.slice(1)], data };
}

/** Integer labels as plain numbers, whatever integer or float dtype they were stored in. */
export function labelsOf(t: Tensor): number[] {
  const out = new Array<number>(t.data.length);
  for (let i = 0; i < out.length; i++) out[i] = Number(t.data[i]);
  return out;
}
