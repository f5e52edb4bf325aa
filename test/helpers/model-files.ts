/** Builders of the archive and model files the scanner tests and the fuzz harness start from. */

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { strToU8 } from "fflate";
import h5wasm from "h5wasm/node";
import { SevenZip } from "../../src/supplychain/archives-7z.js";

/** A ustar archive with correct checksums, one 512-byte header per member. */
export function tar(entries: Record<string, Uint8Array>): Uint8Array {
  const blocks: Uint8Array[] = [];
  for (const [name, data] of Object.entries(entries)) {
    const h = new Uint8Array(512);
    h.set(strToU8(name), 0);
    h.set(strToU8("0000644\0"), 100);
    h.set(strToU8(`${data.length.toString(8).padStart(11, "0")}\0`), 124);
    h[156] = 0x30;
    h.set(strToU8("ustar\0" + "00"), 257);
    h.fill(0x20, 148, 156);
    h.set(
      strToU8(
        `${h
          .reduce((a, b) => a + b, 0)
          .toString(8)
          .padStart(6, "0")}\0 `,
      ),
      148,
    );
    blocks.push(h, data, new Uint8Array((512 - (data.length % 512)) % 512));
  }
  blocks.push(new Uint8Array(1024));
  return Buffer.concat(blocks);
}

/** A 7z built by 7-Zip itself; `renames` then give members names `a` would refuse to store. */
export async function sevenZip(entries: Record<string, Uint8Array>, renames: Record<string, string> = {}): Promise<Uint8Array> {
  const module = await SevenZip({ stdout: () => {}, stderr: () => {} });
  module.FS.mkdir("/in");
  module.FS.chdir("/in");
  const created = new Set<string>();
  for (const [member, bytes] of Object.entries(entries)) {
    const dirs = member.split("/").slice(0, -1);
    for (let i = 1; i <= dirs.length; i++) {
      const dir = dirs.slice(0, i).join("/");
      if (!created.has(dir)) module.FS.mkdir(dir);
      created.add(dir);
    }
    module.FS.writeFile(member, bytes);
  }
  module.callMain(["a", "/out.7z", ...Object.keys(entries)]);
  for (const [from, to] of Object.entries(renames)) module.callMain(["rn", "/out.7z", from, to]);
  return module.FS.readFile("/out.7z");
}

/** A Keras 2 style .h5: string attributes at the root, as h5py writes model_config and training_config. */
export async function hdf5WithAttributes(attributes: Record<string, string>): Promise<Uint8Array> {
  await h5wasm.ready;
  const dir = mkdtempSync(join(tmpdir(), "aegis-h5-build-"));
  try {
    const path = join(dir, "model.h5");
    const file = new h5wasm.File(path, "w");
    for (const [name, value] of Object.entries(attributes)) file.create_attribute(name, value);
    file.close();
    return new Uint8Array(readFileSync(path));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
