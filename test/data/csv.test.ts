import assert from "node:assert/strict";
import { test } from "node:test";
import { parseCsv } from "../../src/data/csv.js";
import { AegisError } from "../../src/errors.js";

const hasCode = (code: string, text?: RegExp) => (e: unknown) => {
  assert.ok(e instanceof AegisError, `expected an AegisError, got ${e}`);
  assert.equal(e.code, code);
  if (text) assert.match(e.message, text);
  return true;
};

test("features and labels are split by the label column, wherever it is", () => {
  const { x, y, featureNames } = parseCsv("a,label,b\n1,0,2.5\n-3e2,2,.5\n", {}, "t.csv");
  assert.deepEqual(featureNames, ["a", "b"]);
  assert.equal(x.dtype, "float32");
  assert.deepEqual(x.shape, [2, 2]);
  assert.deepEqual([...x.data], [1, 2.5, -300, 0.5]);
  assert.ok(y);
  assert.equal(y.dtype, "int64");
  assert.deepEqual([...y.data], [0n, 2n]);
});

test("quotes, CRLF, a BOM, blank lines and a custom separator are handled", () => {
  const text = '\uFEFF"f;1";"the ""class"""\r\n" 1.5 ";"1"\r\n\r\n2;"0"\r\n';
  const { x, y, featureNames } = parseCsv(text, { separator: ";", labelColumn: 'the "class"' });
  assert.deepEqual(featureNames, ["f;1"]);
  assert.deepEqual([...x.data], [1.5, 2]);
  assert.deepEqual([...(y?.data ?? [])], [1n, 0n]);
});

test("a line break inside quotes does not end the row, and errors name the right line", () => {
  const text = 'x,"long\nname",label\n1,2,0\n3,oops,1\n';
  assert.throws(() => parseCsv(text, {}, "t.csv"), hasCode("BAD_DATA", /t\.csv, line 4, column "long\nname": "oops" is not a number/));
});

test("without a label column the labels are absent; a named missing column is an error", () => {
  const { x, y } = parseCsv("a,b\n1,2\n");
  assert.deepEqual(x.shape, [1, 2]);
  assert.equal(y, undefined);
  assert.throws(() => parseCsv("a,b\n1,2\n", { labelColumn: "target" }), hasCode("BAD_DATA", /no column "target" \(columns: a, b\).*labelColumn/));
});

test("a non-numeric or empty cell is BAD_DATA naming line and column", () => {
  assert.throws(() => parseCsv("a,b,label\n1,2,0\n3,cat,1\n", {}, "t.csv"), hasCode("BAD_DATA", /t\.csv, line 3, column "b": "cat" is not a number/));
  assert.throws(() => parseCsv("a,label\n,0\n", {}, "t.csv"), hasCode("BAD_DATA", /line 2, column "a": ""/));
  assert.throws(() => parseCsv("a,label\n0x10,0\n"), hasCode("BAD_DATA", /"0x10"/));
  assert.throws(() => parseCsv("a,label\n1,dog\n"), hasCode("BAD_DATA", /column "label": "dog".*class indices/));
});

test("nan and inf spellings parse, so loadDataset can report them as NON_FINITE", () => {
  const { x } = parseCsv("a,b,c,d\nNaN,inf,-Infinity,1\n");
  assert.ok(Number.isNaN(x.data[0]));
  assert.equal(x.data[1], Number.POSITIVE_INFINITY);
  assert.equal(x.data[2], Number.NEGATIVE_INFINITY);
});

test("ragged rows, unclosed quotes, bad labels and bad separators are refused", () => {
  assert.throws(() => parseCsv("a,b\n1,2,3\n", {}, "t.csv"), hasCode("BAD_DATA", /line 2: 3 fields but the header has 2/));
  assert.throws(() => parseCsv('a,b\n"1,2\n'), hasCode("BAD_DATA", /never closed/));
  assert.throws(() => parseCsv("a,label\n1,1.5\n"), hasCode("BAD_DATA", /1\.5.*not a whole number/));
  assert.throws(() => parseCsv("a,label\n1,-1\n"), hasCode("LABEL_OUT_OF_RANGE", /-1/));
  assert.throws(() => parseCsv("label\n1\n"), hasCode("BAD_DATA", /no feature columns/));
  assert.throws(() => parseCsv(""), hasCode("BAD_DATA", /empty/));
  assert.throws(() => parseCsv("a\n1\n", { separator: "::" }), hasCode("BAD_OPTION"));
});
