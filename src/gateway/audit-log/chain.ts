/**
 * The hash chain of the audit log: each entry's hash covers its sequence number, time,
 * content and the previous entry's hash, so altering an entry breaks its own hash and
 * deleting one breaks the sequence and the link of the next. (Cutting entries off the
 * end leaves a valid shorter chain: compare the head that `verify` prints with one kept
 * elsewhere to catch that.)
 */
import { createHash } from "node:crypto";

export const GENESIS = "0".repeat(64);

export interface ChainedEntry {
  seq: number;
  time: string;
  /** The entry's content as stored (JSON). */
  data: string;
  prev: string;
  hash: string;
}

export function entryHash(seq: number, time: string, data: string, prev: string): string {
  return createHash("sha256").update(`${prev}\n${seq}\n${time}\n${data}`).digest("hex");
}

export interface ChainBreak {
  seq: number;
  problem: string;
}

export interface ChainVerdict {
  valid: boolean;
  entries: number;
  /** Hash of the last entry: record it elsewhere to detect a truncated log later. */
  head: string;
  breaks: ChainBreak[];
}

/** Walks entries in sequence order and names every altered, deleted or re-linked entry. */
export function verifyChain(entries: Iterable<ChainedEntry>): ChainVerdict {
  const breaks: ChainBreak[] = [];
  let expectedSeq = 1;
  let prevHash = GENESIS;
  let count = 0;
  for (const e of entries) {
    count++;
    if (e.seq !== expectedSeq) {
      breaks.push({
        seq: expectedSeq,
        problem: e.seq > expectedSeq ? `entries ${expectedSeq}–${e.seq - 1} are missing (deleted)` : `entry ${e.seq} is out of order`,
      });
    } else if (e.prev !== prevHash) {
      breaks.push({ seq: e.seq, problem: "its link to the previous entry does not match (an entry before it was altered or removed)" });
    }
    if (entryHash(e.seq, e.time, e.data, e.prev) !== e.hash) breaks.push({ seq: e.seq, problem: "its content does not match its hash (altered)" });
    expectedSeq = e.seq + 1;
    prevHash = e.hash;
  }
  return { valid: breaks.length === 0, entries: count, head: prevHash, breaks };
}
