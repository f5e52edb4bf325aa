/**
 * NumPy .npy: arrays with an object dtype are stored as a pickle after the header, and
 * np.load(allow_pickle=True) runs it. The header is read by the same parser that loads
 * data (src/data/npy.ts), so a header the loader refuses is never called clean here.
 * (.npz is a zip of .npy members, handled as a zip.)
 */
import { mentionsObject, type NpyHeader, parseNpyHeader } from "../../data/index.js";
import { AegisError } from "../../errors.js";
import type { Finding } from "../../report/finding.js";
import { malformedHeader } from "../findings.js";
import { scanFinding } from "../rules.js";
import type { FormatScanner } from "../types.js";
import { scanPickleAt } from "./pickle.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
/** Magic, version and length, then the largest header parseNpyHeader accepts. */
const MAX_HEAD = 12 + (1 << 20);

export const numpyScanner: FormatScanner = {
  format: "npy",
  detect: (head) => MAGIC.every((b, i) => head[i] === b),
  async scan(source, context) {
    let header: NpyHeader;
    try {
      header = parseNpyHeader(await source.read(0, Math.min(source.size, MAX_HEAD)), "This .npy file");
    } catch (e) {
      if (!(e instanceof AegisError)) throw e;
      // The loader's sentence without its advice to re-save: here the file is evidence, not the user's own.
      return [malformedHeader(context.location, "npy", e.message.replace(/;[^;]*$/, ""), { offset: 0 })];
    }
    if (!mentionsObject(header.descr)) return [];
    const descr = typeof header.descr === "string" ? header.descr : JSON.stringify(header.descr);
    const findings: Finding[] = [
      scanFinding(
        "low",
        "NUMPY-OBJECT-ARRAY",
        "This array has an object dtype: loading it needs allow_pickle=True, which runs the embedded pickle (scanned below).",
        { ...context.location, offset: header.dataStart, symbol: descr },
      ),
    ];
    const bytes = await source.read(0, source.size);
    return findings.concat(await scanPickleAt(bytes, header.dataStart, context));
  },
};
