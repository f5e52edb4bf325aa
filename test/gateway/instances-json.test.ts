/**
 * The dedicated reader of `{"instances": [...]}` bodies against the general path it stands
 * in for (JSON.parse, then the route's derived JSON Schema in ajv): it may only accept what
 * ajv accepts, with the very float32 values JSON.parse gives, and it must not decline
 * ordinary valid bodies (or the guard would silently lose its fast path). Mutated bodies
 * and numbers written every way JSON allows are compared one by one.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadMnist } from "../../src/data/mnist.js";
import { type InstancesShape, JsonBody, readInstances } from "../../src/gateway/instances-json.js";
import { InstanceValidator, predictRequestSchema, RequestError } from "../../src/gateway/validation.js";

const MNIST: InstancesShape = { inputShape: [1, 28, 28], clipRange: [0, 1], maxInstances: 4 };
const mnist = loadMnist().test.x;
const image = (i: number) => Array.from(mnist.data.subarray(i * 784, (i + 1) * 784));
const nested = (flat: number[]) => [Array.from({ length: 28 }, (_, r) => flat.slice(r * 28, (r + 1) * 28))];

const validators = new Map<InstancesShape, InstanceValidator>();
function validator(shape: InstancesShape) {
  const cached = validators.get(shape);
  if (cached) return cached;
  const info = { inputShape: [...shape.inputShape], numClasses: 0, clipRange: [...shape.clipRange] as [number, number], outputKind: "probs" as const };
  const made = new InstanceValidator(info, predictRequestSchema(info, { maxInstances: shape.maxInstances }));
  validators.set(shape, made);
  return made;
}

/** The general path's verdict: the float32 batch when JSON.parse and the derived schema accept the text. */
function generalPath(text: string, shape: InstancesShape): Float32Array | undefined {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return undefined;
  }
  try {
    return validator(shape).batchFromJson(body).data;
  } catch (e) {
    assert.ok(e instanceof RequestError);
    return undefined;
  }
}

/** Same bits, so -0 and 0 differ and the float32 rounding is checked exactly. */
function assertSameBatch(actual: Float32Array | undefined, expected: Float32Array | undefined, text: string) {
  assert.equal(actual === undefined, expected === undefined, `${actual ? "accepted" : "declined"}: ${text.slice(0, 200)}`);
  if (!actual || !expected) return;
  assert.deepEqual(new Uint32Array(actual.buffer, actual.byteOffset, actual.length), new Uint32Array(expected.buffer, expected.byteOffset, expected.length));
}

/** A deterministic generator, so a failure names a reproducible case. */
function random(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

test("MNIST bodies, nested and flat, one or several images: the reader gives JSON.parse's float32 values", () => {
  for (let i = 0; i < 40; i++) {
    const bodies = [{ instances: [image(i)] }, { instances: [nested(image(i))] }, { instances: [nested(image(i)), image(i + 1), nested(image(i + 2))] }];
    for (const body of bodies) {
      const text = JSON.stringify(body);
      const batch = readInstances(text, MNIST);
      assert.ok(batch, "a valid MNIST body must take the fast path");
      assertSameBatch(batch, generalPath(text, MNIST), text);
    }
  }
});

test("every way JSON writes a number is read as JSON.parse reads it, and range limits are exact", () => {
  const next = random(7);
  const shape: InstancesShape = { inputShape: [2], clipRange: [-1.5, 1e6], maxInstances: 8 };
  const written: string[] = ["0", "-0", "0.0", "-0.0", "1e0", "1E+2", "1e-7", "0.000001", "999999.9999999999", "1000000", "1000000.0000000001", "-1.5"];
  written.push(
    "-1.5000000000000002",
    "-1.4999999999999998",
    "1000000.0000000002",
    "0.1",
    "0.30000000000000004",
    "123456789012345678901234",
    "1e-400",
    "-1e-400",
    "1e400",
  );
  written.push("5e-324", "0.33333334326744080", "0.333333343267440796", "16777217", "0.100000001490116119384765625", "3.4028235677973366e38");
  for (let i = 0; i < 3000; i++) {
    const digits = 1 + Math.floor(next() * 21);
    let mantissa = String(1 + Math.floor(next() * 9));
    for (let d = 1; d < digits; d++) mantissa += Math.floor(next() * 10);
    const point = Math.floor(next() * (digits + 3));
    const decimal = point >= digits ? mantissa : `${mantissa.slice(0, point) || "0"}.${mantissa.slice(point)}`;
    const exponent = next() < 0.3 ? `e${Math.floor(next() * 50) - 30}` : "";
    written.push(`${next() < 0.2 ? "-" : ""}${decimal}${exponent}`);
    // Float32 values printed as doubles (16–17 digits), the numbers a serialised tensor holds.
    written.push(String(Math.fround((next() - 0.1) * 10 ** Math.floor(next() * 8 - 4))));
  }
  let accepted = 0;
  for (let i = 0; i + 1 < written.length; i += 2) {
    const text = `{"instances": [[${written[i]}, ${written[i + 1]}]]}`;
    const expected = generalPath(text, shape);
    const batch = readInstances(text, shape);
    assertSameBatch(batch, expected, text);
    if (batch) accepted++;
  }
  // Both outcomes must occur for the comparison to mean anything.
  assert.ok(accepted > 500 && accepted < written.length / 2 - 100, `${accepted} of ${written.length / 2} accepted`);
});

test("mutated bodies: the reader never accepts what the general path refuses, and declines only unusual valid JSON", () => {
  const next = random(11);
  const shape: InstancesShape = { inputShape: [2, 3], clipRange: [0, 1], maxInstances: 3 };
  const base = JSON.stringify({
    instances: [
      [
        [0.25, 0, 1],
        [0.5, 0.125, 0.75],
      ],
      [0, 0.5, 1, 0.25, 0.75, 0.5],
    ],
  });
  const pieces = [" ", "\n", "\t", ",", "[", "]", "{", "}", ":", '"', "-", ".", "e", "0", "1", "9", "x", "null", "true", '"a"', "1e5", "\\"];
  let declinedValid = 0;
  let compared = 0;
  for (let i = 0; i < 6000; i++) {
    let text = base;
    const edits = 1 + Math.floor(next() * 3);
    for (let e = 0; e < edits; e++) {
      const at = Math.floor(next() * (text.length + 1));
      const kind = next();
      const piece = pieces[Math.floor(next() * pieces.length)];
      if (kind < 0.4) text = text.slice(0, at) + piece + text.slice(at);
      else if (kind < 0.7) text = text.slice(0, at) + text.slice(at + 1);
      else text = text.slice(0, at) + piece + text.slice(at + 1);
    }
    const expected = generalPath(text, shape);
    const batch = readInstances(text, shape);
    if (batch || !expected) assertSameBatch(batch, expected, text);
    else declinedValid++;
    compared++;
  }
  // Valid mutants the reader may decline: none here, since no edit can make valid JSON with escapes or other keys.
  assert.equal(declinedValid, 0, `${declinedValid} of ${compared} valid mutants declined`);
});

test("what the reader declines: other fields, other types, wrong shapes, batch limits, invalid JSON", () => {
  const ok = JSON.stringify({ instances: [[0.5, 1]] });
  const shape: InstancesShape = { inputShape: [2], clipRange: [0, 1], maxInstances: 2 };
  assert.deepEqual(readInstances(ok, shape), Float32Array.of(0.5, 1));
  assert.deepEqual(readInstances(' \n{ "instances" :\t[ [ 0.5 ,1 ] , [0,0] ] }\r\n', shape), Float32Array.of(0.5, 1, 0, 0));
  for (const text of [
    '{"instances": [[0.5, 1]], "extra": 1}',
    '{"extra": 1, "instances": [[0.5, 1]]}',
    '{"instances": [[0.5, 1]], "instances": [[0, 0]]}',
    '{"instances": [["0.5", 1]]}',
    '{"instances": [[null, 1]]}',
    '{"instances": [[0.5]]}',
    '{"instances": [[0.5, 1, 0]]}',
    '{"instances": [0.5, 1]}',
    '{"instances": []}',
    '{"instances": [[0, 0], [0, 0], [0, 0]]}',
    '{"instances": [[1.0000000000000002, 0]]}',
    '{"instances": [[-0.1, 0]]}',
    '{"instances": [[01, 0]]}',
    '{"instances": [[.5, 0]]}',
    '{"instances": [[1., 0]]}',
    '{"instances": [[0, 0],]}',
    '{"instances": [[0, 0]]} x',
    '{"\\u0069nstances": [[0, 0]]}',
    "",
    "[]",
  ]) {
    assert.equal(readInstances(text, shape), undefined, text);
  }
  // Dimensions that are not fixed leave every body to the general path.
  assert.equal(readInstances(ok, { ...shape, inputShape: [-1] }), undefined);
  // A scalar instance shape: each instance is one number.
  assert.deepEqual(readInstances('{"instances": [0.5, 0.25]}', { ...shape, inputShape: [] }), Float32Array.of(0.5, 0.25));
});

test("the validator on a JsonBody: same batch, same refusals with the same words, INVALID_JSON for text that is not JSON", () => {
  const check = validator(MNIST);
  const text = JSON.stringify({ instances: [nested(image(3))] });
  const fromText = check.batchFromJson(new JsonBody(text));
  const fromParsed = check.batchFromJson(JSON.parse(text));
  assert.deepEqual(fromText.shape, [1, 1, 28, 28]);
  assert.deepEqual(fromText.shape, fromParsed.shape);
  assert.deepEqual(fromText.data, fromParsed.data);
  check.checkJson(new JsonBody(text));

  for (const bad of [{ instances: [image(0).slice(1)] }, { instances: [image(0)], model: "x" }, { instances: [[...image(0).slice(1), 2]] }, { data: [] }]) {
    const general = (() => {
      try {
        check.checkJson(bad);
      } catch (e) {
        return e as RequestError;
      }
    })();
    assert.ok(general instanceof RequestError);
    assert.throws(
      () => check.checkJson(new JsonBody(JSON.stringify(bad))),
      (e: unknown) => e instanceof RequestError && e.code === "INVALID_INPUT" && e.message === general.message,
    );
  }
  assert.throws(
    () => check.batchFromJson(new JsonBody('{"instances": [')),
    (e: unknown) => e instanceof RequestError && e.statusCode === 400 && e.code === "INVALID_JSON",
  );

  // A JSON Schema written by hand is ajv's alone; the reader is not consulted.
  const info = { inputShape: [2], numClasses: 0, clipRange: [0, 1] as [number, number], outputKind: "probs" as const };
  const custom = new InstanceValidator(info, { type: "object", required: ["instances"], properties: { instances: { type: "array", maxItems: 1 } } });
  custom.checkJson(new JsonBody('{"instances": [["any", "thing"]], "other": true}'));
  assert.throws(() => custom.checkJson(new JsonBody('{"instances": [1, 2]}')), RequestError);
});
