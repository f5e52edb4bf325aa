/**
 * The shared vocabulary of `aegis scan`: a random-access byte source (files are never
 * read whole unless a format needs it, so multi-GB checkpoints scan with flat memory),
 * format scanners that detect by content, and findings (report/finding.ts) with an exact
 * location.
 */
import type { Finding, Location as FindingLocation, Severity } from "../report/finding.js";

/**
 * Where scanned bytes are: the file on disk, the archive members leading to them
 * (outermost first), a byte offset inside the innermost one, and what sits there (a
 * pickle global, an op name, a JSON key, a tensor name) as the finding's symbol.
 */
export type Location = FindingLocation & { file: string };

/** Random access to bytes: a file on disk, or an archive member held in memory. */
export interface ByteSource {
  readonly size: number;
  read(offset: number, length: number): Promise<Uint8Array>;
}

export interface ScanContext {
  /** Where the bytes come from (file and archive members), for finding locations. */
  location: Location;
  /** Scan nested content (a pickle inside a pickle, an archive inside an archive) with the same machinery. */
  scanNested(name: string, bytes: Uint8Array, kind?: string): Promise<Finding[]>;
  /** Limits against resource exhaustion. */
  limits: ScanLimits;
}

export interface ScanLimits {
  /** Largest member bytes decompressed from one archive. */
  maxExtractedBytes: number;
  /** Archives inside archives. */
  maxDepth: number;
  /** Members per archive. */
  maxMembers: number;
  /** Largest compression ratio accepted for one member (zip bombs). */
  maxCompressionRatio: number;
  /** Time a third-party reader (HDF5) gets before the file is reported as unreadable. */
  readerTimeoutMs: number;
}

export interface FormatScanner {
  /** Format name as reported, e.g. "pickle", "pytorch-zip", "safetensors", "gguf", "onnx". */
  readonly format: string;
  /** Decides from the first bytes (and the size), never from the file name. */
  detect(head: Uint8Array, size: number): boolean;
  scan(source: ByteSource, context: ScanContext): Promise<Finding[]>;
}

export interface FileReport {
  file: string;
  members?: string[];
  format: string;
  bytes: number;
  findings: Finding[];
}

export interface ScanReport {
  aegis: string;
  kind: "scan";
  files: FileReport[];
  /** Highest severity over all findings, or null when clean. */
  verdict: Severity | null;
  seconds: number;
}
