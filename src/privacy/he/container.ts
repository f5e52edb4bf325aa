/**
 * One binary format for everything that crosses between client and server: keys,
 * encrypted requests and encrypted answers. "AEGISHE1", a little-endian u32 header length,
 * a JSON header (what it is, the parameter set and key set it belongs to, the byte length
 * of each section), then the sections — each a SEAL-serialised object, compressed by
 * SEAL (zstd). Headers hold no values, so logging one shows nothing of the data.
 */
import { AegisError } from "../../errors.js";

export const CONTAINER_MAGIC = "AEGISHE1";
export const HE_CONTENT_TYPE = "application/vnd.aegis.he";
const MAX_HEADER = 1 << 20;

export type ContainerKind = "public-keys" | "secret-key" | "request" | "response";

export interface ContainerHeader {
  kind: ContainerKind;
  paramsId: string;
  /** SHA-256 of the public-keys container the ciphertexts were made for. */
  keyId?: string;
  /** Samples in a request or response. */
  samples?: number;
  [key: string]: unknown;
}

export interface Container {
  header: ContainerHeader;
  sections: Uint8Array[];
}

export function encodeContainer(header: ContainerHeader, sections: readonly Uint8Array[]): Buffer {
  const json = Buffer.from(JSON.stringify({ ...header, sections: sections.map((s) => s.length) }));
  const prefix = Buffer.alloc(12);
  prefix.write(CONTAINER_MAGIC, 0, "latin1");
  prefix.writeUInt32LE(json.length, 8);
  return Buffer.concat([prefix, json, ...sections]);
}

/** Whether `bytes` starts like a container (what a gateway can check without parsing it). */
export function isContainer(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && Buffer.from(bytes.buffer, bytes.byteOffset, 8).toString("latin1") === CONTAINER_MAGIC;
}

/** Parses a container, checking it is of `kind`; `what` names it in errors. Sections are views into `bytes`. */
export function decodeContainer(bytes: Uint8Array, kind: ContainerKind, what: string): Container {
  const bad = (why: string) =>
    new AegisError(
      "BAD_DATA",
      `${what} is not a valid ${kind} file (${why}); make it with \`aegis he ${kind === "response" ? "infer" : kind === "request" ? "encrypt" : "keygen"}\``,
    );
  if (!isContainer(bytes)) throw bad("it does not start with AEGISHE1");
  const buffer = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = buffer.readUInt32LE(8);
  if (headerLength > MAX_HEADER || 12 + headerLength > buffer.length) throw bad("its header runs past the end");
  let header: ContainerHeader & { sections?: unknown };
  try {
    header = JSON.parse(buffer.subarray(12, 12 + headerLength).toString("utf8"));
  } catch {
    throw bad("its header is not JSON");
  }
  if (header?.kind !== kind) throw bad(`it holds ${typeof header?.kind === "string" ? header.kind : "something else"}`);
  if (typeof header.paramsId !== "string") throw bad("it names no parameter set");
  const lengths = header.sections;
  if (!Array.isArray(lengths) || !lengths.every((n) => Number.isInteger(n) && n > 0)) throw bad("its section list is malformed");
  const sections: Uint8Array[] = [];
  let offset = 12 + headerLength;
  for (const n of lengths as number[]) {
    if (offset + n > buffer.length) throw bad("a section runs past the end");
    sections.push(buffer.subarray(offset, offset + n));
    offset += n;
  }
  if (offset !== buffer.length) throw bad("bytes follow its last section");
  const { sections: _, ...rest } = header;
  return { header: rest, sections };
}
