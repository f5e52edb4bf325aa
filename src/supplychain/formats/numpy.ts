/**
 * NumPy .npy: arrays with an object dtype are stored as a pickle after the header, and
 * np.load(allow_pickle=True) runs it. (.npz is a zip of .npy members, handled as a zip.)
 */
import type { FormatScanner, ScanFinding } from "../types.js";
import { scanPickleAt } from "./pickle.js";

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

export const numpyScanner: FormatScanner = {
  format: "npy",
  detect: (head) => MAGIC.every((b, i) => head[i] === b),
  async scan(source, context) {
    const pre = await source.read(0, 12);
    const major = pre[6];
    const headerLen = major === 1 ? pre[8] | (pre[9] << 8) : (pre[8] | (pre[9] << 8) | (pre[10] << 16) | (pre[11] << 24)) >>> 0;
    const dataStart = (major === 1 ? 10 : 12) + headerLen;
    const header = new TextDecoder("latin1").decode(await source.read(0, Math.min(dataStart, 1 << 20)));
    // A plain dtype is a quoted string ('<f4', '|O'); a structured one is a list of fields.
    const descr = /'descr'\s*:\s*(.*?),\s*'(?:fortran_order|shape)'/s.exec(header)?.[1];
    if (dataStart > source.size || descr === undefined)
      return [
        {
          severity: "LOW",
          rule: "NUMPY-MALFORMED",
          message: "The .npy header is truncated or has no dtype; NumPy will refuse it, but check where it came from.",
          location: { ...context.location, offset: 0 },
        },
      ];
    if (!/'[|<>=]?O\d*'/.test(descr)) return [];
    const findings: ScanFinding[] = [
      {
        severity: "LOW",
        rule: "NUMPY-OBJECT-ARRAY",
        message: "This array has an object dtype: loading it needs allow_pickle=True, which runs the embedded pickle (scanned below).",
        location: { ...context.location, offset: dataStart, detail: descr },
      },
    ];
    const bytes = await source.read(0, source.size);
    return findings.concat(await scanPickleAt(bytes, dataStart, context));
  },
};
