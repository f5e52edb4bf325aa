/**
 * Zip and tar readers that work on a ByteSource: the zip central directory and tar
 * headers are read at their offsets, stored members become slices of the parent
 * source (a multi-GB tensor member is never copied), and only deflated members that
 * a caller asks for are inflated, with a cap on the output.
 */
import { inflateRawSync } from "node:zlib";
import type { Finding } from "../report/finding.js";
import { malformedHeader } from "./findings.js";
import { scanFinding } from "./rules.js";
import type { ByteSource, Location } from "./types.js";

export interface ArchiveMember {
  name: string;
  /** Uncompressed size as declared by the archive. */
  size: number;
  compressedSize: number;
  /** Opens the member's bytes; `maxBytes` caps what inflation may produce. */
  open(maxBytes: number): Promise<ByteSource>;
}

export interface ArchiveListing {
  members: ArchiveMember[];
  findings: Finding[];
}

export class ExtractionLimitError extends Error {}

export function sliceSource(source: ByteSource, start: number, size: number): ByteSource {
  const len = Math.max(0, Math.min(size, source.size - start));
  return {
    size: len,
    read: (offset, length) => source.read(start + offset, Math.max(0, Math.min(length, len - offset))),
  };
}

/** Names that would land outside the extraction folder, or differently on Windows. */
export function unsafeMemberName(name: string): boolean {
  return name.startsWith("/") || /^[A-Za-z]:/.test(name) || name.includes("\\") || name.split("/").includes("..");
}

/** Findings every archive shares: traversal names, duplicates, too many members. */
export function memberNameFindings(names: string[], location: Location, maxMembers: number): Finding[] {
  const findings: Finding[] = [];
  const seen = new Set<string>();
  for (const name of names) {
    const at = { ...location, members: [...(location.members ?? []), name] };
    if (unsafeMemberName(name))
      findings.push(
        scanFinding(
          "high",
          "ARCHIVE-PATH-TRAVERSAL",
          `Member "${name}" is a path traversal member (absolute, "..", or backslash) that would be written outside the extraction folder.`,
          at,
        ),
      );
    if (seen.has(name))
      findings.push(
        scanFinding(
          "medium",
          "ARCHIVE-DUPLICATE-MEMBER",
          `Member "${name}" appears more than once; tools disagree on which copy wins, so a scanner and a loader may see different bytes.`,
          at,
        ),
      );
    seen.add(name);
  }
  if (names.length > maxMembers)
    findings.push(
      scanFinding(
        "medium",
        "ARCHIVE-TOO-MANY-MEMBERS",
        `The archive has ${names.length} members, more than the limit of ${maxMembers}; only the first ${maxMembers} were scanned.`,
        location,
      ),
    );
  return findings;
}

const u16 = (b: Uint8Array, o: number) => b[o] | (b[o + 1] << 8);
const u32 = (b: Uint8Array, o: number) => (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
const u64 = (b: Uint8Array, o: number) => u32(b, o) + u32(b, o + 4) * 2 ** 32;
const latin = (b: Uint8Array) => new TextDecoder("utf-8").decode(b);

export async function listZip(source: ByteSource, location: Location): Promise<ArchiveListing> {
  const findings: Finding[] = [];
  const tailLen = Math.min(source.size, 65557);
  const tail = await source.read(source.size - tailLen, tailLen);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--)
    if (u32(tail, i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) return { members: [], findings: [bad(location, "zip", "it has no end-of-central-directory record: the zip is truncated")] };
  let count = u16(tail, eocd + 10);
  let cdSize = u32(tail, eocd + 12);
  let cdOffset = u32(tail, eocd + 16);
  // Zip64 (every multi-GB PyTorch checkpoint): the real values sit in the zip64 record.
  if (eocd >= 20 && u32(tail, eocd - 20) === 0x07064b50) {
    const rec = await source.read(u64(tail, eocd - 12), 56);
    if (rec.length === 56 && u32(rec, 0) === 0x06064b50) {
      count = u64(rec, 32);
      cdSize = u64(rec, 40);
      cdOffset = u64(rec, 48);
    }
  }
  if (cdOffset + cdSize > source.size)
    return { members: [], findings: [bad(location, "zip", `its central directory (${cdSize} bytes at ${cdOffset}) lies beyond the end of the file`, "high")] };
  const cd = await source.read(cdOffset, cdSize);
  const members: ArchiveMember[] = [];
  let p = 0;
  let listed = 0;
  for (; listed < count && p + 46 <= cd.length && u32(cd, p) === 0x02014b50; listed++) {
    const flags = u16(cd, p + 8);
    const method = u16(cd, p + 10);
    let compressedSize = u32(cd, p + 20);
    let size = u32(cd, p + 24);
    const nameLen = u16(cd, p + 28);
    const extraLen = u16(cd, p + 30);
    const commentLen = u16(cd, p + 32);
    let localOffset = u32(cd, p + 42);
    const name = latin(cd.subarray(p + 46, p + 46 + nameLen));
    const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    for (let e = 0; e + 4 <= extra.length; e += 4 + u16(extra, e + 2)) {
      if (u16(extra, e) !== 0x0001) continue;
      let q = e + 4;
      if (size === 0xffffffff) {
        size = u64(extra, q);
        q += 8;
      }
      if (compressedSize === 0xffffffff) {
        compressedSize = u64(extra, q);
        q += 8;
      }
      if (localOffset === 0xffffffff) localOffset = u64(extra, q);
    }
    p += 46 + nameLen + extraLen + commentLen;
    const at: Location = { ...location, members: [...(location.members ?? []), name] };
    if (flags & 1)
      findings.push(
        scanFinding(
          "medium",
          "ZIP-ENCRYPTED-MEMBER",
          `Member "${name}" has the encrypted flag set, so its content cannot be scanned; loaders may still read it.`,
          at,
        ),
      );
    members.push({
      name,
      size,
      compressedSize,
      open: async (maxBytes) => {
        const local = await source.read(localOffset, 30);
        if (local.length < 30 || u32(local, 0) !== 0x04034b50) throw new ExtractionLimitError(`member "${name}" has no local header at offset ${localOffset}`);
        const localName = latin(await source.read(localOffset + 30, u16(local, 26)));
        const localSize = u32(local, 22);
        // Sizes 0 in the local header are legal with a data descriptor (flag 8); 0xffffffff is zip64.
        const sizeDiffers = !(flags & 8) && localSize !== size && localSize !== 0xffffffff;
        if (localName !== name || sizeDiffers)
          findings.push(
            scanFinding(
              "high",
              "ZIP-HEADER-MISMATCH",
              `Member "${name}" has a local header that disagrees with the central directory (${localName !== name ? `name "${localName}"` : `size ${localSize} vs ${size}`}); different readers would extract different content.`,
              at,
            ),
          );
        const dataStart = localOffset + 30 + u16(local, 26) + u16(local, 28);
        if (dataStart + compressedSize > source.size)
          findings.push(
            malformedHeader(
              at,
              "zip",
              `Member "${name}" claims ${compressedSize} bytes at offset ${dataStart}, past the end of the ${source.size}-byte archive`,
              { severity: "high" },
            ),
          );
        if (method === 0) return sliceSource(source, dataStart, compressedSize);
        if (method !== 8) throw new ExtractionLimitError(`member "${name}" uses compression method ${method}, which the scanner cannot read`);
        const raw = await source.read(dataStart, compressedSize);
        let out: Uint8Array;
        try {
          out = inflateRawSync(raw, { maxOutputLength: Math.max(1, maxBytes) });
        } catch (e) {
          if (e instanceof RangeError) throw new ExtractionLimitError(`member "${name}" inflates beyond ${maxBytes} bytes`);
          throw new ExtractionLimitError(`member "${name}" is not valid deflate data`);
        }
        return { size: out.length, read: async (o, l) => out.subarray(o, o + l) };
      },
    });
  }
  if (listed < count) findings.push(bad(location, "zip", `its end record counts ${count} members but the central directory holds ${listed}`));
  return { members, findings };
}

/** Tar (ustar, pax and GNU long names); every member is a slice of the source. */
export async function listTar(source: ByteSource, location: Location, maxMembers: number): Promise<ArchiveListing> {
  const members: ArchiveMember[] = [];
  const findings: Finding[] = [];
  let offset = 0;
  let longName: string | undefined;
  while (offset + 512 <= source.size && members.length <= maxMembers) {
    const h = await source.read(offset, 512);
    if (h.every((b) => b === 0)) break;
    // Python's tarfile and GNU tar stop at a header whose checksum fails; so does the scan, and says so.
    if (!tarChecksumMatches(h)) {
      findings.push(bad({ ...location, offset }, "tar", `the header at offset ${offset} fails its checksum; tar readers stop or skip there`));
      break;
    }
    const field = (o: number, n: number) => latin(h.subarray(o, o + n)).replace(/\0.*$/s, "");
    const size = tarSize(h.subarray(124, 136));
    const type = String.fromCharCode(h[156] || 48);
    const prefix = field(257, 6).startsWith("ustar") ? field(345, 155) : "";
    const dataStart = offset + 512;
    offset = dataStart + Math.ceil(size / 512) * 512;
    if (dataStart + size > source.size)
      findings.push(
        malformedHeader(
          { ...location, members: [...(location.members ?? []), longName ?? field(0, 100)] },
          "tar",
          `A tar header claims ${size} bytes at offset ${dataStart}, past the end of the ${source.size}-byte archive`,
          { severity: "high" },
        ),
      );
    if (type === "x" || type === "L") {
      const body = latin(await source.read(dataStart, Math.min(size, 1 << 20)));
      longName = type === "L" ? body.replace(/\0.*$/s, "") : /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body)?.[1];
      continue;
    }
    const name = longName ?? (prefix ? `${prefix}/${field(0, 100)}` : field(0, 100));
    longName = undefined;
    if (type === "1" || type === "2") {
      const target = field(157, 100);
      if (unsafeMemberName(target))
        findings.push(
          scanFinding(
            "high",
            "ARCHIVE-PATH-TRAVERSAL",
            `Link "${name}" points to "${target}", a path traversal member that reaches outside the extraction folder.`,
            { ...location, members: [...(location.members ?? []), name] },
          ),
        );
      continue;
    }
    if (type !== "0" && type !== "7") continue;
    members.push({ name, size, compressedSize: size, open: async () => sliceSource(source, dataStart, size) });
  }
  return { members, findings };
}

/** The checksum field holds the sum of the header's bytes, the field itself counted as spaces. */
function tarChecksumMatches(h: Uint8Array): boolean {
  // Some old writers summed signed bytes; tar readers accept either sum.
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : h[i];
    unsigned += b;
    signed += b < 128 ? b : b - 256;
  }
  const stored = Number.parseInt(latin(h.subarray(148, 156)).replace(/[\0 ]/g, ""), 8);
  return stored === unsigned || stored === signed;
}

function tarSize(f: Uint8Array): number {
  // GNU base-256 for sizes of 8 GiB and more.
  if (f[0] & 0x80) return f.subarray(1).reduce((n, b) => n * 256 + b, f[0] & 0x7f);
  return Number.parseInt(latin(f).replace(/[\0 ]/g, "") || "0", 8) || 0;
}

/** An archive whose structure does not parse: loaders may still accept parts of it. */
export function bad(location: Location, format: string, problem: string, severity: "medium" | "high" = "medium"): Finding {
  return malformedHeader(location, format, `The ${format} archive could not be read as written: ${problem}`, { severity });
}

export function bomb(location: Location, why: string): Finding {
  return scanFinding("high", "ARCHIVE-BOMB", `Decompression stopped: ${why}; this looks like a zip bomb meant to exhaust memory or disk.`, location);
}
