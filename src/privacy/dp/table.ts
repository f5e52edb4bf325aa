/** Tables for DP queries (queries.ts): a CSV with a header (text cells), or an npz whose 1-D arrays of one length are the columns. */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { parseCsvTable, parseNpz } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import type { Table } from "./queries.js";

/** The table in `path` and the SHA-256 of its bytes (the ledger records which data each release came from). */
export function loadTable(path: string): { table: Table; sha256: string } {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `cannot read ${path} (${(e as NodeJS.ErrnoException).code}); give a CSV or .npz file with --data`, { cause: e });
  }
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const name = basename(path);
  if (/\.csv$/i.test(path)) {
    const { columns, cells } = parseCsvTable(bytes.toString("utf8"), name);
    return { table: { name, rows: cells.length, columns: new Map(columns.map((c, j) => [c, cells.map((row) => row[j])])) }, sha256 };
  }
  if (/\.npz$/i.test(path)) {
    const arrays = [...parseNpz(bytes, name)].filter(([, t]) => t.shape.length === 1 || (t.shape.length === 2 && t.shape[1] === 1));
    const rows = arrays[0]?.[1].shape[0] ?? 0;
    const columns = new Map(arrays.filter(([, t]) => t.shape[0] === rows).map(([key, t]) => [key, Array.from(t.data as ArrayLike<number | bigint>, Number)]));
    if (columns.size === 0)
      throw new AegisError("BAD_DATA", `${name} has no 1-D arrays to query; save each column as its own array (numpy.savez(path, age=..., region=...))`);
    return { table: { name, rows, columns }, sha256 };
  }
  throw new AegisError("BAD_DATA", `${name}: DP queries read .csv files (with a header row) or .npz files (one 1-D array per column)`);
}
