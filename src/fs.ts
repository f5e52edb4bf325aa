/**
 * Atomic file output: write a temporary file beside the target, flush it to disk, then
 * rename it over the target. A crash or Ctrl-C leaves either the old file or the new one,
 * never a half-written file that a later run would try to read.
 */
import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { AegisError } from "./errors.js";

/** `mode` sets the new file's permissions (e.g. 0o600 for secrets) before any byte is written. */
export function writeFileAtomic(path: string, data: Uint8Array | string, mode = 0o666): void {
  const bytes = typeof data === "string" ? Buffer.from(data) : data;
  writeAtomically(path, (fd) => writeFileSync(fd, bytes), mode);
}

/**
 * Streams a file atomically: `write` gets the temporary file's descriptor and may write it
 * piece by piece; the target appears only if `write` returns, so an exception (a failed
 * check half-way through a stream) leaves nothing behind.
 */
export function writeAtomically(path: string, write: (fd: number) => void, mode = 0o666): void {
  // Same directory, so the rename stays on one file system and is atomic.
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  let fd: number | undefined;
  try {
    fd = openSync(tmp, "wx", mode);
    write(fd);
    fsyncSync(fd);
    closeSync(fd);
    fd = undefined;
    renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) closeSync(fd);
    rmSync(tmp, { force: true });
    if ((e as NodeJS.ErrnoException).code === "ENOENT") {
      throw new AegisError("FILE_NOT_FOUND", `Cannot write ${path}: the folder ${dirname(path)} does not exist; create it first.`, { cause: e });
    }
    throw e;
  }
}
