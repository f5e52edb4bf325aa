/**
 * Byte sources for the scanner: a file read through a FileHandle at the offsets a
 * format asks for (multi-GB checkpoints are never loaded whole), or bytes in memory.
 */
import { type FileHandle, open } from "node:fs/promises";
import { AegisError } from "../errors.js";
import type { ByteSource } from "./types.js";

export interface FileSource extends ByteSource {
  close(): Promise<void>;
}

export async function openFileSource(path: string): Promise<FileSource> {
  let handle: FileHandle;
  try {
    handle = await open(path, "r");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `cannot open ${path}: check the path and its permissions`, { cause: e });
  }
  const size = (await handle.stat()).size;
  return {
    size,
    async read(offset, length) {
      const n = clamp(offset, length, size);
      const buf = new Uint8Array(n);
      let done = 0;
      // read() may return fewer bytes than asked (large reads, pipes); loop until filled or EOF.
      while (done < n) {
        const { bytesRead } = await handle.read(buf, done, n - done, offset + done);
        if (bytesRead === 0) break;
        done += bytesRead;
      }
      return done === n ? buf : buf.subarray(0, done);
    },
    close: () => handle.close(),
  };
}

export function bytesSource(bytes: Uint8Array): ByteSource {
  return {
    size: bytes.length,
    read: async (offset, length) => bytes.subarray(offset, offset + clamp(offset, length, bytes.length)),
  };
}

/** Reads a whole source; callers check the size against their limits first. */
export function readAll(source: ByteSource): Promise<Uint8Array> {
  return source.read(0, source.size);
}

function clamp(offset: number, length: number, size: number): number {
  return Math.max(0, Math.min(length, size - offset));
}
