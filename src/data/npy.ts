/**
 * NumPy `.npy` reader and writer (format versions 1.0, 2.0 and 3.0; see
 * numpy/lib/format.py for the specification). Only plain numeric, C-order,
 * little-endian arrays are read. The header is a Python dict literal that we parse with a
 * tiny literal grammar, never by evaluating it, and object arrays (which NumPy stores as
 * pickles) are refused: Aegis never unpickles anything, because unpickling runs code.
 */
import { AegisError } from "../errors.js";
import { type AnyTypedArray, type DType, sizeOf, type Tensor, tensor } from "../tensor.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"

const DTYPE_OF: Record<string, DType> = {
  f4: "float32",
  f8: "float64",
  i8: "int64",
  i4: "int32",
  u1: "uint8",
  b1: "bool",
};

const DESCR_OF: Record<DType, string> = {
  float32: "<f4",
  float64: "<f8",
  int64: "<i8",
  int32: "<i4",
  uint8: "|u1",
  bool: "|b1",
};

type ArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): AnyTypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

const CTOR_OF: Record<DType, ArrayCtor> = {
  float32: Float32Array,
  float64: Float64Array,
  int64: BigInt64Array,
  int32: Int32Array,
  uint8: Uint8Array,
  bool: Uint8Array,
};

// Typed arrays use the host's byte order and .npy files here are little-endian.
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function requireLittleEndianHost(): void {
  if (!HOST_IS_LITTLE_ENDIAN) {
    throw new AegisError("UNSUPPORTED", "Aegis reads and writes .npy data only on little-endian machines; run it on x86-64 or ARM.");
  }
}

/** True when the bytes start like a Python pickle (protocol 2 to 5), e.g. a torch.save file. */
export function looksLikePickle(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x80 && (bytes[1] ?? 0) >= 2 && (bytes[1] ?? 0) <= 5;
}

export function isNpy(bytes: Uint8Array): boolean {
  return MAGIC.every((b, i) => bytes[i] === b);
}

/** What a .npy header says, before any dtype is accepted: shared by the reader and `aegis scan`. */
export interface NpyHeader {
  /** Format major version: 1, 2 or 3. */
  version: number;
  /** 'descr' as written: a dtype string, or a list of fields for a structured dtype. */
  descr: PyValue;
  fortranOrder: boolean;
  shape: number[];
  /** Offset of the array data, just past the header. */
  dataStart: number;
}

/**
 * NumPy refuses headers over 10,000 bytes unless told otherwise; real ones are under 200.
 * A larger limit keeps wide shapes readable while a crafted 4 GB length cannot make us
 * decode and parse a whole file as a header.
 */
const MAX_HEADER_BYTES = 1 << 20;
/** Real headers nest at most a few levels (a structured dtype of sub-arrays); this is far above. */
const MAX_NESTING = 32;

/**
 * Reads and checks the magic, version and header dict of a .npy file. `bytes` must hold at
 * least the whole header; the data after it is not looked at.
 */
export function parseNpyHeader(bytes: Uint8Array, name = "the .npy data"): NpyHeader {
  if (!isNpy(bytes)) {
    throw new AegisError("BAD_DATA", `${name} is not a .npy file (it does not start with "\\x93NUMPY"); save arrays with numpy.save.`);
  }
  if (bytes.length < 10) throw truncated(name);
  const version = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerStart: number;
  let headerLength: number;
  if (version === 1) {
    headerStart = 10;
    headerLength = view.getUint16(8, true);
  } else if (version === 2 || version === 3) {
    if (bytes.length < 12) throw truncated(name);
    headerStart = 12;
    headerLength = view.getUint32(8, true);
  } else {
    throw new AegisError(
      "BAD_DATA",
      `${name} uses .npy format version ${version}.${bytes[7]}, which Aegis does not know; save it with numpy.save from NumPy 1.x or 2.x.`,
    );
  }
  if (headerLength > MAX_HEADER_BYTES) {
    throw malformed(name, `the header claims ${headerLength} bytes, more than the ${MAX_HEADER_BYTES} a .npy header can reasonably need`);
  }
  const dataStart = headerStart + headerLength;
  if (bytes.length < dataStart) throw truncated(name);
  // Version 3.0 exists only to allow UTF-8 in the header; earlier versions are latin-1.
  const text = new TextDecoder(version === 3 ? "utf-8" : "latin1").decode(bytes.subarray(headerStart, dataStart));
  const fail = (why: string): never => {
    throw malformed(name, why);
  };
  const header = parseLiteral(text.trimEnd(), fail);
  if (!(header instanceof Map)) return fail("it is not a dict");
  const descr = header.get("descr");
  const fortranOrder = header.get("fortran_order");
  const shape = header.get("shape");
  if (descr === undefined) return fail("'descr' is missing");
  if (typeof fortranOrder !== "boolean") return fail("'fortran_order' is not True or False");
  if (!Array.isArray(shape) || !shape.every((d) => typeof d === "number" && Number.isSafeInteger(d) && d >= 0)) {
    return fail("'shape' is not a tuple of non-negative integers");
  }
  return { version, descr, fortranOrder, shape: shape as number[], dataStart };
}

/**
 * Parses a .npy file. The tensor shares memory with `bytes` when the data is aligned for
 * its element type (numpy pads headers to 64 bytes, so usually it is), else it is a copy.
 */
export function parseNpy(bytes: Uint8Array, name = "the .npy data"): Tensor {
  requireLittleEndianHost();
  if (looksLikePickle(bytes)) {
    throw unsafe(name, "is a Python pickle (from pickle.dump or torch.save), not a .npy array");
  }
  const header = parseNpyHeader(bytes, name);
  const dtype = dtypeOf(header.descr, name);
  if (header.fortranOrder) {
    throw new AegisError(
      "BAD_DATA",
      `${name} is stored in Fortran (column-major) order, which Aegis does not read; save it with numpy.save(path, numpy.ascontiguousarray(a)).`,
    );
  }
  const { shape, dataStart } = header;
  const count = sizeOf(shape);
  const Ctor = CTOR_OF[dtype];
  const byteLength = count * Ctor.BYTES_PER_ELEMENT;
  if (!Number.isSafeInteger(byteLength) || bytes.length - dataStart < byteLength) {
    throw truncated(name, byteLength, bytes.length - dataStart);
  }
  const absolute = bytes.byteOffset + dataStart;
  let data =
    absolute % Ctor.BYTES_PER_ELEMENT === 0
      ? new Ctor(bytes.buffer, absolute, count)
      : new Ctor(bytes.slice(dataStart, dataStart + byteLength).buffer, 0, count);
  // NumPy reads any non-zero byte as True; normalise so consumers can rely on 0/1.
  if (dtype === "bool" && (data as Uint8Array).some((v) => v > 1)) data = (data as Uint8Array).map((v) => (v ? 1 : 0));
  return tensor(dtype, shape, data);
}

/** Encodes a tensor as a version 1.0 .npy file, header padded to 64 bytes as numpy does. */
export function encodeNpy(t: Tensor): Uint8Array {
  requireLittleEndianHost();
  if (t.data.length !== sizeOf(t.shape)) {
    throw new RangeError(`tensor data has ${t.data.length} elements but shape [${t.shape.join(", ")}] needs ${sizeOf(t.shape)}`);
  }
  const shape = t.shape.length === 1 ? `(${t.shape[0]},)` : `(${t.shape.join(", ")})`;
  let header = `{'descr': '${DESCR_OF[t.dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = MAGIC.length + 4 + header.length + 1;
  header += `${" ".repeat((64 - (unpadded % 64)) % 64)}\n`;
  if (header.length > 0xffff) {
    throw new RangeError(`a shape of ${t.shape.length} dimensions does not fit a .npy 1.0 header`);
  }

  const body = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  const out = new Uint8Array(MAGIC.length + 4 + header.length + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, header.length, true);
  for (let i = 0; i < header.length; i++) out[10 + i] = header.charCodeAt(i);
  out.set(body, 10 + header.length);
  return out;
}

function dtypeOf(descr: PyValue, name: string): DType {
  if (Array.isArray(descr)) {
    // A structured dtype: a list of (field name, type[, shape]) tuples.
    if (mentionsObject(descr)) throw unsafe(name, "has object fields, which NumPy stores as pickles");
    throw new AegisError("BAD_DATA", `${name} has a structured (record) dtype; save each field as its own numeric array.`);
  }
  if (typeof descr !== "string") throw malformed(name, "'descr' is not a string");
  const match = /^([<>|=]?)([A-Za-z])(\d*)$/.exec(descr);
  if (match?.[2] === "O") throw unsafe(name, "holds an object array, which NumPy stores as a pickle");
  const dtype = match ? DTYPE_OF[`${match[2]}${match[3]}`] : undefined;
  if (!match || !dtype) {
    throw new AegisError(
      "BAD_DATA",
      `${name} has dtype '${descr}', which Aegis does not read; convert it with a.astype(numpy.float32) (or int64 for labels) before saving.`,
    );
  }
  // Byte order only matters for multi-byte types; numpy writes '|' (or '<') for single bytes.
  if (CTOR_OF[dtype].BYTES_PER_ELEMENT > 1 && match[1] !== "<") {
    if (match[1] === ">") {
      throw new AegisError("BAD_DATA", `${name} is big-endian ('${descr}'); convert it with a.astype(a.dtype.newbyteorder('<')) before saving.`);
    }
    throw malformed(name, `'descr' '${descr}' does not state a little-endian byte order`);
  }
  return dtype;
}

/** True when a dtype (plain or structured) has object fields, which NumPy stores as pickles. */
export function mentionsObject(value: PyValue): boolean {
  if (typeof value === "string") return /^[<>|=]?O\d*$/.test(value);
  return Array.isArray(value) && value.some(mentionsObject);
}

function unsafe(name: string, what: string): AegisError {
  return new AegisError(
    "UNSAFE_DATA",
    `${name} ${what}. Unpickling can run arbitrary code, so Aegis never does it; save plain numeric arrays instead (a.astype(numpy.float32), then numpy.save or numpy.savez with allow_pickle=False).`,
  );
}

function malformed(name: string, why: string): AegisError {
  return new AegisError("BAD_DATA", `${name} has a malformed .npy header (${why}); re-save it with numpy.save.`);
}

function truncated(name: string, expected?: number, actual?: number): AegisError {
  const detail = expected === undefined ? "" : ` (the header promises ${expected} bytes of data but only ${actual} follow)`;
  return new AegisError("BAD_DATA", `${name} is truncated${detail}; re-save or re-download the file.`);
}

/** The values a .npy header can contain: tuples and lists both become arrays. */
export type PyValue = string | number | boolean | null | PyValue[] | Map<string, PyValue>;

/**
 * Parses the Python literal subset numpy writes in headers: dicts, tuples, lists, str, int,
 * bools, None. Nesting is bounded, so a header of thousands of brackets is refused, not a
 * stack overflow.
 */
function parseLiteral(text: string, fail: (why: string) => never): PyValue {
  let i = 0;
  const skipSpace = () => {
    while (i < text.length && /\s/.test(text.charAt(i))) i++;
  };
  const expect = (c: string) => {
    skipSpace();
    if (text.charAt(i) !== c) fail(`expected '${c}' at character ${i}`);
    i++;
  };
  // Items separated by commas, a trailing comma allowed, up to the closing bracket.
  const items = (close: string, item: () => void) => {
    skipSpace();
    while (text.charAt(i) !== close) {
      item();
      skipSpace();
      if (text.charAt(i) === ",") i++;
      else if (text.charAt(i) !== close) fail(`expected ',' or '${close}' at character ${i}`);
      skipSpace();
    }
    i++;
  };
  // Sticky, so each number is matched where it stands instead of on a copy of the rest.
  const integer = /-?\d+L?/y;
  const value = (depth: number): PyValue => {
    if (depth > MAX_NESTING) fail(`brackets nest more than ${MAX_NESTING} levels deep at character ${i}`);
    skipSpace();
    const c = text.charAt(i);
    if (c === "{") {
      i++;
      const dict = new Map<string, PyValue>();
      items("}", () => {
        const key = value(depth + 1);
        if (typeof key !== "string") fail(`a dict key at character ${i} is not a string`);
        expect(":");
        dict.set(key as string, value(depth + 1));
      });
      return dict;
    }
    if (c === "(" || c === "[") {
      i++;
      const list: PyValue[] = [];
      items(c === "(" ? ")" : "]", () => list.push(value(depth + 1)));
      return list;
    }
    if (c === "'" || c === '"') {
      let s = "";
      for (i++; text.charAt(i) !== c; i++) {
        if (i >= text.length) fail("unterminated string");
        if (text.charAt(i) === "\\") i++;
        s += text.charAt(i);
      }
      i++;
      return s;
    }
    // Python 2 numpy wrote shapes as long literals such as (3L, 4L).
    integer.lastIndex = i;
    const number = integer.exec(text);
    if (number) {
      i += number[0].length;
      return Number.parseInt(number[0], 10);
    }
    for (const [word, v] of [
      ["True", true],
      ["False", false],
      ["None", null],
    ] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    return fail(`unexpected ${c ? `'${c}'` : "end"} at character ${i}`);
  };
  const result = value(0);
  skipSpace();
  if (i !== text.length) fail(`unexpected text after the dict at character ${i}`);
  return result;
}
