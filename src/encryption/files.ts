/**
 * Encrypted files on disk: streaming `aegis encrypt` / `aegis decrypt`, each output written
 * atomically (a decryption that fails half-way leaves no plaintext behind), and
 * `readPlaintext` for commands that load a model or data set: an encrypted file is
 * decrypted in memory, never on disk.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { basename } from "node:path";
import { AegisError } from "../errors.js";
import { writeAtomically } from "../fs.js";
import { type ByteSource, bufferSource, DEFAULT_CHUNK_SIZE, decryptStream, ENCRYPTED_SUFFIX, encryptStream, type Header, isEncrypted } from "./format.js";
import { requireKey } from "./keys.js";
import type { Identity, Recipient } from "./recipients.js";

function openInput(path: string): number {
  try {
    return openSync(path, "r");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `cannot read ${path} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); check the path`, { cause: e });
  }
}

function fileSource(fd: number): ByteSource {
  return {
    size: fstatSync(fd).size,
    read(offset, length) {
      const buffer = Buffer.alloc(length);
      const got = readSync(fd, buffer, 0, length, offset);
      return buffer.subarray(0, got);
    },
  };
}

const writeAll = (fd: number) => (bytes: Uint8Array) => {
  for (let done = 0; done < bytes.length; ) done += writeSync(fd, bytes, done);
};

/** The name an encrypted file must have: the bound plaintext name plus ".aegis". */
export function encryptedName(name: string): string {
  return `${name}${ENCRYPTED_SUFFIX}`;
}

/** Refuses an output not named `name` + ".aegis", before anything is written. */
export function checkOutputName(output: string, name: string): void {
  if (basename(output) !== encryptedName(name))
    throw new AegisError(
      "BAD_OPTION",
      `the encrypted file must be named ${encryptedName(name)}: the name ${name} is bound into it and checked when it is read (give --name to bind another)`,
    );
}

/** Encrypts `input` into `output` (named `name` + ".aegis"; `name` defaults to the input's) for each recipient. */
export function encryptFile(
  input: string,
  output: string,
  recipients: readonly Recipient[],
  options: { name?: string; chunkSize?: number } = {},
): Header["name"] {
  const name = options.name ?? basename(input);
  checkOutputName(output, name);
  const fd = openInput(input);
  try {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
    let position = 0;
    const readChunk = () => {
      const buffer = Buffer.alloc(chunkSize);
      let got = 0;
      // readSync may return less than asked before the end (pipes); fill the chunk unless at EOF.
      for (let n = -1; got < chunkSize && n !== 0; got += n) n = readSync(fd, buffer, got, chunkSize - got, position + got);
      position += got;
      return buffer.subarray(0, got);
    };
    writeAtomically(output, (out) => encryptStream(readChunk, writeAll(out), recipients, name, chunkSize));
  } finally {
    closeSync(fd);
  }
  return name;
}

/** Refuses a file whose name is not the one bound into it, e.g. one encrypted model put in the place of another. */
function checkName(path: string, header: Header): void {
  if (basename(path) !== encryptedName(header.name))
    throw new AegisError(
      "INTEGRITY_FAILED",
      `${path} was encrypted as ${header.name} but is named ${basename(path)}: it may be another file put in its place; rename it back to ${encryptedName(header.name)} if that is what it is`,
    );
}

/** Decrypts `input` into `output` (mode 0600); the output appears only once every chunk has verified. */
export function decryptFile(input: string, output: string, identity: Identity): Header {
  const fd = openInput(input);
  try {
    let header: Header | undefined;
    writeAtomically(
      output,
      (out) => {
        header = decryptStream(fileSource(fd), writeAll(out), identity, input);
        checkName(input, header);
      },
      0o600,
    );
    return header as Header;
  } finally {
    closeSync(fd);
  }
}

/** Decrypts bytes already in memory (read from `path`, whose name is checked). */
export function decryptBytes(bytes: Uint8Array, identity: Identity, path: string): Buffer {
  const parts: Uint8Array[] = [];
  const header = decryptStream(bufferSource(bytes), (b) => parts.push(b), identity, path);
  checkName(path, header);
  return Buffer.concat(parts);
}

/**
 * A file's bytes: as they are, or decrypted in memory when `aegis encrypt` wrote it, with the
 * key from `keyFile`, AEGIS_KEY or AEGIS_KEY_FILE. Errors reading the file are the caller's to word.
 */
export function readPlaintext(path: string, keyFile?: string): Buffer {
  const bytes = readFileSync(path);
  if (!isEncrypted(bytes)) return bytes;
  return decryptBytes(bytes, requireKey(keyFile, `${path} is encrypted; reading it`), path);
}

/** The name a file is read under: an encrypted file's plaintext name. */
export function plaintextName(path: string): string {
  const name = basename(path);
  return name.endsWith(ENCRYPTED_SUFFIX) ? name.slice(0, -ENCRYPTED_SUFFIX.length) : name;
}
