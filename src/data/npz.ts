/**
 * NumPy `.npz` archives: a zip of `.npy` members, stored (numpy.savez) or deflated
 * (numpy.savez_compressed). Members are parsed by npy.ts, so the same safety rules apply:
 * object arrays (pickles) are refused, never loaded.
 */
import { unzipSync, zipSync } from "fflate";
import { AegisError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { encodeNpy, parseNpy } from "./npy.js";

/** True for a zip local-file header or the end record of an empty zip (numpy.savez with no arrays). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes[0] === 0x50 && bytes[1] === 0x4b && ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/** Parses an .npz archive into arrays keyed by member name without ".npy", as numpy.load does. */
export function parseNpz(bytes: Uint8Array, name = "the .npz data"): Map<string, Tensor> {
  if (!isZip(bytes)) {
    throw new AegisError("BAD_DATA", `${name} is not an .npz file (not a zip archive); save arrays with numpy.savez.`);
  }
  let members: Record<string, Uint8Array>;
  const others: string[] = [];
  try {
    // numpy.load ignores members that are not .npy; skip them before inflating anything.
    members = unzipSync(bytes, {
      filter: (file) => {
        if (file.name.endsWith(".npy")) return true;
        if (!file.name.endsWith("/")) others.push(file.name);
        return false;
      },
    });
  } catch (e) {
    throw new AegisError("BAD_DATA", `${name} is a damaged or unsupported zip archive (${(e as Error).message}); re-save it with numpy.savez.`, {
      cause: e,
    });
  }
  if (Object.keys(members).length === 0 && others.length > 0) {
    // A zip without arrays is usually another tool's format, e.g. a PyTorch checkpoint.
    throw new AegisError(
      "BAD_DATA",
      `${name} is a zip archive without .npy arrays (it holds ${others.slice(0, 3).join(", ")}${others.length > 3 ? ", …" : ""}); Aegis reads .npz files written by numpy.savez.`,
    );
  }
  const arrays = new Map<string, Tensor>();
  for (const [member, data] of Object.entries(members)) {
    arrays.set(member.slice(0, -".npy".length), parseNpy(data, `${name}:${member}`));
  }
  return arrays;
}

/**
 * Encodes arrays as an .npz that numpy.load reads. Like numpy, every member is dated
 * 1980-01-01 so the same arrays always give the same bytes (stable hashes and signatures).
 */
export function encodeNpz(arrays: Record<string, Tensor>, options: { compress?: boolean } = {}): Uint8Array {
  const files: Record<string, Uint8Array> = {};
  for (const [key, t] of Object.entries(arrays)) files[`${key}.npy`] = encodeNpy(t);
  return zipSync(files, { level: options.compress ? 6 : 0, mtime: new Date(1980, 0, 1) });
}
