/**
 * Throughput of the symbolic pickle machine on large benign pickles, for `npm run bench`:
 * a list of floats (one opcode per 9 bytes) and a list of byte blobs (long skips).
 */
import { analysePickle } from "./vm.js";

/** A protocol-4 pickle of `count` floats appended in batches of 1000, as pickle.dumps writes it. */
export function floatListPickle(count: number): Uint8Array {
  const batches = Math.ceil(count / 1000);
  const out = new Uint8Array(2 + 2 + batches * 2 + count * 9 + 1);
  let p = 0;
  out.set([0x80, 4, 0x5d, 0x94], p);
  p += 4;
  for (let done = 0; done < count; done += 1000) {
    out[p++] = 0x28;
    for (let i = done; i < Math.min(count, done + 1000); i++) {
      out[p++] = 0x47;
      p += 8;
    }
    out[p++] = 0x65;
  }
  out[p++] = 0x2e;
  return out.subarray(0, p);
}

/** A protocol-4 pickle of `count` byte strings of `size` bytes each. */
export function bytesListPickle(count: number, size: number): Uint8Array {
  const out = new Uint8Array(5 + count * (6 + size));
  let p = 0;
  out.set([0x80, 4, 0x5d, 0x94], p);
  p += 4;
  const dv = new DataView(out.buffer);
  for (let i = 0; i < count; i++) {
    out[p++] = 0x42;
    dv.setUint32(p, size, true);
    p += 4 + size;
    out[p++] = 0x61;
  }
  out[p++] = 0x2e;
  return out.subarray(0, p);
}

/** MB/s (10^6 bytes) of the machine on both shapes, best of `rounds`. */
export function measurePickleThroughput(megabytes = 64, rounds = 3): { floats: number; bytes: number } {
  const floats = floatListPickle(Math.floor((megabytes * 1e6) / 9));
  const blobs = bytesListPickle(Math.floor((megabytes * 1e6) / 4101), 4096);
  const rate = (b: Uint8Array) => {
    let best = 0;
    for (let r = 0; r < rounds; r++) {
      const t = performance.now();
      analysePickle(b);
      best = Math.max(best, b.length / 1e6 / ((performance.now() - t) / 1000));
    }
    return Math.round(best);
  };
  return { floats: rate(floats), bytes: rate(blobs) };
}
