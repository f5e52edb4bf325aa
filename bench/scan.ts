/**
 * Scanner throughput: a sparse 2 GB safetensors file and a 2 GB PyTorch-style zip (a
 * small data.pkl and one stored tensor member) are scanned from disk; the scan must
 * stay flat in memory because it reads headers and pickles, never tensor bytes. Also
 * the pickle VM's MB/s on large benign pickles.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { measurePickleThroughput } from "../src/supplychain/pickle/scan.js";
import { scanPaths } from "../src/supplychain/scan.js";

const SIZE = 2 * 1024 ** 3;

async function sparseSafetensors(path: string): Promise<void> {
  // Pad the header so the single tensor fills the rest of the file exactly.
  const bodyLen = SIZE - 8 - 1024;
  const json = Buffer.from(JSON.stringify({ w: { dtype: "F32", shape: [bodyLen / 4], data_offsets: [0, bodyLen] } }).padEnd(1024, " "));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  const f = await open(path, "w");
  await f.write(Buffer.concat([len, json]), 0, undefined, 0);
  await f.truncate(SIZE);
  await f.close();
}

/** A zip (no zip64 needed below 4 GiB) with archive/data.pkl and one stored 2 GB member. */
async function sparseTorchZip(path: string): Promise<void> {
  const pickle = Buffer.from([0x80, 0x02, 0x7d, 0x71, 0x00, 0x2e]); // {} — an empty state dict
  const entries = [
    { name: "archive/data.pkl", size: pickle.length },
    { name: "archive/data/0", size: SIZE },
  ];
  const f = await open(path, "w");
  const central: Buffer[] = [];
  let offset = 0;
  for (const e of entries) {
    const name = Buffer.from(e.name);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt32LE(e.size, 18);
    local.writeUInt32LE(e.size, 22);
    local.writeUInt16LE(name.length, 26);
    await f.write(Buffer.concat([local, name]), 0, undefined, offset);
    if (e.size === pickle.length) await f.write(pickle, 0, undefined, offset + 30 + name.length);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt16LE(20, 4);
    cd.writeUInt16LE(20, 6);
    cd.writeUInt32LE(e.size, 20);
    cd.writeUInt32LE(e.size, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt32LE(offset, 42);
    central.push(cd, name);
    offset += 30 + name.length + e.size;
  }
  const cd = Buffer.concat(central);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(entries.length, 8);
  eocd.writeUInt16LE(entries.length, 10);
  eocd.writeUInt32LE(cd.length, 12);
  eocd.writeUInt32LE(offset, 16);
  await f.write(Buffer.concat([cd, eocd]), 0, undefined, offset);
  await f.close();
}

async function timedScan(path: string): Promise<{ gbPerS: number; rssMb: number; verdict: string }> {
  const before = process.memoryUsage().rss;
  let peak = before;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const t = performance.now();
  const report = await scanPaths([path]);
  const seconds = (performance.now() - t) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  const bytes = report.files[0]?.bytes ?? 0;
  return { gbPerS: bytes / 1e9 / seconds, rssMb: (peak - before) / 1e6, verdict: report.verdict ?? "clean" };
}

export async function benchScan(): Promise<string[]> {
  const dir = mkdtempSync(join(tmpdir(), "aegis-bench-scan-"));
  try {
    const st = join(dir, "model.safetensors");
    const pt = join(dir, "model.pt");
    await sparseSafetensors(st);
    await sparseTorchZip(pt);
    const a = await timedScan(st);
    const b = await timedScan(pt);
    const vm = measurePickleThroughput(64, 3);
    const gb = (SIZE / 1e9).toFixed(2);
    return [
      `aegis scan, ${gb} GB safetensors: ${a.gbPerS.toFixed(1)} GB/s, peak RSS growth ${a.rssMb.toFixed(1)} MB (verdict ${a.verdict}; header checks, tensor bytes are not read)`,
      `aegis scan, ${gb} GB PyTorch zip (stored tensor member): ${b.gbPerS.toFixed(1)} GB/s, peak RSS growth ${b.rssMb.toFixed(1)} MB (verdict ${b.verdict}; the stored member is skipped, never read)`,
      `pickle VM: ${vm.floats} MB/s on a list of floats, ${vm.bytes} MB/s on a list of 4 KB byte strings`,
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
