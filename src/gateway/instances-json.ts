/**
 * A dedicated reader for the body of an ML prediction request, `{"instances": [...]}` with
 * numbers only. JSON.parse builds a generic tree (for one MNIST image: 29 arrays and 784
 * numbers) that the JSON Schema check then walks again; this reader makes one pass over
 * the text, checks the instances' shape and range and writes the numbers straight into
 * the float32 batch. It accepts only bodies the route's derived schema accepts; for
 * anything else (another field, a string, a wrong shape, a number out of range, JSON it
 * does not know) it returns undefined and the request takes the general path, JSON.parse
 * and ajv, which also words the refusal. So this reader only ever says "valid".
 *
 * Numbers must come out as JSON.parse makes them, because the range check and the
 * rounding to float32 depend on the exact double. A decimal with at most 15 significant
 * digits and a power of ten up to 10^22 is one correctly rounded division or
 * multiplication of two exact doubles (Clinger, "How to read floating point numbers
 * accurately", PLDI 1990). Longer decimals (a float32 printed as a double has 16–17
 * digits) are approximated within 2^-49 and used only when every double that close gives
 * the same float32 and the same range verdict; otherwise Number() reads the digits exactly.
 */
/** What a route's derived schema admits: the shape of one instance, the range of a value, the batch size. */
export interface InstancesShape {
  /** Shape of one instance; the fast path needs every dimension fixed (> 0). */
  inputShape: readonly number[];
  clipRange: readonly [number, number];
  maxInstances: number;
}

/**
 * The body of a JSON request kept as text until a route asks for it, so a route that can
 * read it with {@link readInstances} never builds the generic tree.
 */
export class JsonBody {
  private parsed: unknown;
  private isParsed = false;
  /** Whether the text is known to be JSON: parsed, or accepted by readInstances. */
  private knownJson = false;

  constructor(readonly text: string) {}

  /** The body as JSON.parse gives it; JSON.parse's SyntaxError when the text is not JSON. */
  value(): unknown {
    if (!this.isParsed) {
      this.parsed = JSON.parse(this.text);
      this.isParsed = true;
      this.knownJson = true;
    }
    return this.parsed;
  }

  /** Throws JSON.parse's SyntaxError unless the text is JSON; free once a reader accepted it. */
  assertJson(): void {
    if (!this.knownJson) this.value();
  }

  /** The batch when the text is exactly a valid instances body for `shape`, else undefined. */
  readInstances(shape: InstancesShape): Float32Array | undefined {
    const batch = readInstances(this.text, shape);
    if (batch) this.knownJson = true;
    return batch;
  }

  /** Serialises as the body it holds (for code that re-encodes request bodies). */
  toJSON(): unknown {
    return this.value();
  }
}

const SPACE = 0x20;
const TAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const PLUS = 0x2b;
const COMMA = 0x2c;
const MINUS = 0x2d;
const DOT = 0x2e;
const ZERO = 0x30;
const NINE = 0x39;
const COLON = 0x3a;
const UPPER_E = 0x45;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const LOWER_E = 0x65;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

const KEY = '"instances"';
/** 10^0 … 10^22, every one exact in a double. */
const POWERS_OF_TEN = Array.from({ length: 23 }, (_, i) => 10 ** i);
/** Relative distance within which an approximated long decimal surely holds the exact double. */
const APPROXIMATION_MARGIN = 2 ** -47;

/** One pass over the text; the position moves forward, and any surprise ends the read. */
class Reader {
  pos = 0;
  out: Float32Array;
  written = 0;
  private readonly lo: number;
  private readonly hi: number;

  constructor(
    private readonly text: string,
    private readonly shape: InstancesShape,
    private readonly perInstance: number,
  ) {
    this.out = new Float32Array(perInstance);
    [this.lo, this.hi] = shape.clipRange;
  }

  skipSpace(): void {
    this.pos = skipSpace(this.text, this.pos);
  }

  /** Consumes `code` after optional whitespace; false when something else is there. */
  expect(code: number): boolean {
    const pos = skipSpace(this.text, this.pos);
    if (this.text.charCodeAt(pos) !== code) return false;
    this.pos = pos + 1;
    return true;
  }

  /** The whole body; the number of instances, or -1 when the fast path does not apply. */
  body(): number {
    if (!this.expect(OPEN_BRACE)) return -1;
    this.skipSpace();
    if (!this.text.startsWith(KEY, this.pos)) return -1;
    this.pos += KEY.length;
    if (!this.expect(COLON) || !this.expect(OPEN_BRACKET)) return -1;
    let count = 0;
    do {
      if (++count > this.shape.maxInstances) return -1;
      if (!this.instance()) return -1;
    } while (this.expect(COMMA));
    if (!this.expect(CLOSE_BRACKET) || !this.expect(CLOSE_BRACE)) return -1;
    this.skipSpace();
    return this.pos === this.text.length ? count : -1;
  }

  /** One instance, nested as the input shape or flat (the schema's two branches). */
  private instance(): boolean {
    if (this.written + this.perInstance > this.out.length) {
      const grown = new Float32Array(Math.min(2 * this.out.length, this.shape.maxInstances * this.perInstance));
      grown.set(this.out);
      this.out = grown;
    }
    const dims = this.shape.inputShape;
    if (dims.length === 0) return this.numbers(1, false);
    if (dims.length > 1) {
      const bracket = skipSpace(this.text, this.pos);
      if (this.text.charCodeAt(bracket) !== OPEN_BRACKET) return false;
      if (this.text.charCodeAt(skipSpace(this.text, bracket + 1)) !== OPEN_BRACKET) return this.numbers(this.perInstance, true);
    }
    return this.nested(0);
  }

  /** An array at `depth` of the instance shape: arrays of arrays down to a row of numbers. */
  private nested(depth: number): boolean {
    const dims = this.shape.inputShape;
    if (depth === dims.length - 1) return this.numbers(dims[depth], true);
    if (!this.expect(OPEN_BRACKET)) return false;
    for (let i = 0; i < dims[depth]; i++) {
      if (i > 0 && !this.expect(COMMA)) return false;
      if (!this.nested(depth + 1)) return false;
    }
    return this.expect(CLOSE_BRACKET);
  }

  /**
   * `length` comma-separated JSON numbers, in brackets when `bracketed`, each in range,
   * written to the batch. The loop every value goes through, so it keeps its state local.
   */
  private numbers(length: number, bracketed: boolean): boolean {
    if (bracketed && !this.expect(OPEN_BRACKET)) return false;
    const { text, out, lo, hi } = this;
    let written = this.written;
    let pos = this.pos;
    for (let i = 0; i < length; i++) {
      let c = text.charCodeAt(pos);
      if (i > 0) {
        if (c !== COMMA) {
          pos = skipSpace(text, pos);
          if (text.charCodeAt(pos) !== COMMA) return false;
        }
        c = text.charCodeAt(++pos);
      }
      if (c === SPACE || c === LF || c === CR || c === TAB) {
        pos = skipSpace(text, pos);
        c = text.charCodeAt(pos);
      }
      const start = pos;
      const negative = c === MINUS;
      if (negative) c = text.charCodeAt(++pos);
      let mantissa = 0;
      let digits = 0;
      let exponent = 0;
      if (c === ZERO) {
        c = text.charCodeAt(++pos);
      } else if (c > ZERO && c <= NINE) {
        do {
          mantissa = mantissa * 10 + (c - ZERO);
          digits++;
          c = text.charCodeAt(++pos);
        } while (c >= ZERO && c <= NINE);
      } else {
        return false;
      }
      if (c === DOT) {
        c = text.charCodeAt(++pos);
        if (!(c >= ZERO && c <= NINE)) return false;
        do {
          // Leading zeros of a fraction only move the decimal point.
          if (digits > 0 || c !== ZERO) {
            mantissa = mantissa * 10 + (c - ZERO);
            digits++;
          }
          exponent--;
          c = text.charCodeAt(++pos);
        } while (c >= ZERO && c <= NINE);
      }
      if (c === LOWER_E || c === UPPER_E) {
        c = text.charCodeAt(++pos);
        const negativeExponent = c === MINUS;
        if (negativeExponent || c === PLUS) c = text.charCodeAt(++pos);
        if (!(c >= ZERO && c <= NINE)) return false;
        let magnitude = 0;
        do {
          // Past 10^400 every double is 0 or infinite; stop growing so the sum stays exact.
          if (magnitude < 1000) magnitude = magnitude * 10 + (c - ZERO);
          c = text.charCodeAt(++pos);
        } while (c >= ZERO && c <= NINE);
        exponent += negativeExponent ? -magnitude : magnitude;
      }

      let value: number;
      if (mantissa === 0) {
        value = negative ? -0 : 0;
      } else if (exponent < -22 || exponent > 22 || digits > 19) {
        value = Number(text.slice(start, pos));
      } else {
        const magnitude = exponent < 0 ? mantissa / POWERS_OF_TEN[-exponent] : mantissa * POWERS_OF_TEN[exponent];
        value = negative ? -magnitude : magnitude;
        if (digits > 15) {
          const below = value - Math.abs(value) * APPROXIMATION_MARGIN;
          const above = value + Math.abs(value) * APPROXIMATION_MARGIN;
          if (Math.fround(below) !== Math.fround(above) || below < lo || above > hi) value = Number(text.slice(start, pos));
        }
      }
      if (!(value >= lo && value <= hi)) return false;
      out[written++] = value;
    }
    this.pos = pos;
    this.written = written;
    return !bracketed || this.expect(CLOSE_BRACKET);
  }
}

function skipSpace(text: string, pos: number): number {
  for (;;) {
    const c = text.charCodeAt(pos);
    if (c !== SPACE && c !== LF && c !== CR && c !== TAB) return pos;
    pos++;
  }
}

/**
 * The float32 batch (instances one after another, nested and flat instances alike) when
 * `text` is exactly `{"instances": [...]}` with 1 to maxInstances instances of the shape
 * and every number in range; undefined for every other text, valid JSON or not.
 */
export function readInstances(text: string, shape: InstancesShape): Float32Array | undefined {
  let perInstance = 1;
  for (const d of shape.inputShape) {
    if (!(d > 0)) return undefined;
    perInstance *= d;
  }
  const reader = new Reader(text, shape, perInstance);
  const count = reader.body();
  if (count < 0) return undefined;
  return reader.out.length === reader.written ? reader.out : reader.out.subarray(0, reader.written);
}
