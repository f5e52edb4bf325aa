/**
 * Tabular data as CSV: a header row, numeric feature columns and an optional integer
 * label column. Quoted fields (RFC 4180: "a,b", "say ""hi""", line breaks inside quotes)
 * are accepted so files written by spreadsheets and pandas parse as they look.
 */
import { AegisError } from "../errors.js";
import { float32, type Tensor, tensor } from "../tensor.js";
import { toLabelIndices } from "./labels.js";

export interface CsvOptions {
  /** Column holding the class index; default "label". Without it, y is absent. */
  labelColumn?: string;
  /** Field separator, one character; default ",". */
  separator?: string;
}

export interface CsvData {
  x: Tensor<"float32">;
  y?: Tensor<"int64">;
  featureNames: string[];
}

interface CsvRecord {
  fields: string[];
  /** 1-based line where the record starts, for error messages. */
  line: number;
}

// Decimal numbers only: Number() alone would also accept "", "0x1F" and " ".
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
// Spellings numpy, pandas and R write for non-finite values; loadDataset then reports them.
const SPECIAL: Record<string, number> = {
  nan: Number.NaN,
  inf: Number.POSITIVE_INFINITY,
  "+inf": Number.POSITIVE_INFINITY,
  infinity: Number.POSITIVE_INFINITY,
  "+infinity": Number.POSITIVE_INFINITY,
  "-inf": Number.NEGATIVE_INFINITY,
  "-infinity": Number.NEGATIVE_INFINITY,
};

export function parseCsv(text: string, options: CsvOptions = {}, name = "the CSV data"): CsvData {
  const separator = options.separator ?? ",";
  if (separator.length !== 1 || separator === '"' || separator === "\n" || separator === "\r") {
    throw new AegisError("BAD_OPTION", `The CSV separator must be one character other than a quote or line break; got ${JSON.stringify(separator)}.`);
  }
  const { columns, cells, lines } = parseCsvTable(text, name, separator);

  const labelName = options.labelColumn ?? "label";
  const labelIndex = columns.indexOf(labelName);
  if (labelIndex === -1 && options.labelColumn !== undefined) {
    throw new AegisError(
      "BAD_DATA",
      `${name} has no column "${labelName}" (columns: ${columns.join(", ")}); give the name of the label column as labelColumn, or call it "label" in the header.`,
    );
  }
  const featureNames = columns.filter((_, j) => j !== labelIndex);
  if (featureNames.length === 0) {
    throw new AegisError("BAD_DATA", `${name} has no feature columns besides the label column "${labelName}".`);
  }

  const n = cells.length;
  const x = new Float32Array(n * featureNames.length);
  const labels = new Float64Array(n);
  cells.forEach((row, i) => {
    let f = 0;
    row.forEach((cell, j) => {
      const v = numberOf(cell);
      if (v === undefined) {
        const what = j === labelIndex ? "labels must be class indices 0, 1, 2, …" : "feature columns must be numeric (encode categories as numbers first)";
        throw new AegisError("BAD_DATA", `${name}, line ${lines[i]}, column "${columns[j]}": ${JSON.stringify(cell)} is not a number; ${what}.`);
      }
      if (j === labelIndex) labels[i] = v;
      else x[i * featureNames.length + f++] = v;
    });
  });
  const features = float32([n, featureNames.length], x);
  if (labelIndex === -1) return { x: features, featureNames };
  return {
    x: features,
    y: toLabelIndices(tensor("float64", [n], labels), `${name}, column "${labelName}"`),
    featureNames,
  };
}

/** A CSV as text cells, for tables with categorical columns (DP queries); the header names the columns. */
export interface CsvTable {
  columns: string[];
  /** cells[i][j]: row i, column j, as written (parseCsv and numberOf trim). */
  cells: string[][];
  /** The 1-based line where each row starts, for error messages. */
  lines: number[];
}

export function parseCsvTable(text: string, name = "the CSV data", separator = ","): CsvTable {
  const records = splitRecords(text.replace(/^\uFEFF/, ""), separator, name);
  const header = records.shift();
  if (!header) throw new AegisError("BAD_DATA", `${name} is empty; a CSV needs a header row naming its columns.`);
  const columns = header.fields.map((c) => c.trim());
  const cells = records.map((record) => {
    if (record.fields.length !== columns.length) {
      throw new AegisError(
        "BAD_DATA",
        `${name}, line ${record.line}: ${record.fields.length} fields but the header has ${columns.length}; every row needs one value per column.`,
      );
    }
    return record.fields;
  });
  return { columns, cells, lines: records.map((r) => r.line) };
}

/** A cell as a number (decimal, or numpy's and pandas' spellings of NaN and ±∞), undefined otherwise. */
export function numberOf(cell: string): number | undefined {
  const s = cell.trim();
  if (DECIMAL.test(s)) return Number(s);
  return SPECIAL[s.toLowerCase()];
}

/** Splits text into records, honouring quotes; blank lines are skipped. */
function splitRecords(text: string, separator: string, name: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let fields: string[] = [];
  let field = "";
  let quoted = false;
  let line = 1;
  let start = 1;
  const endRecord = () => {
    fields.push(field);
    if (fields.length > 1 || fields[0]?.trim() !== "") records.push({ fields, line: start });
    fields = [];
    field = "";
  };
  for (let i = 0; i < text.length; i++) {
    const c = text.charAt(i);
    if (quoted) {
      if (c === '"' && text.charAt(i + 1) === '"') {
        field += '"';
        i++;
      } else if (c === '"') {
        quoted = false;
      } else {
        if (c === "\n") line++;
        field += c;
      }
    } else if (c === '"') {
      quoted = true;
    } else if (c === separator) {
      fields.push(field);
      field = "";
    } else if (c === "\n" || c === "\r") {
      if (c === "\r" && text.charAt(i + 1) === "\n") i++;
      endRecord();
      start = ++line;
    } else {
      field += c;
    }
  }
  if (quoted) {
    throw new AegisError("BAD_DATA", `${name}, line ${start}: a quoted field is never closed; add the missing '"'.`);
  }
  endRecord();
  return records;
}
