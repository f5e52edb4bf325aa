/**
 * 7z archives, read with 7-Zip compiled to WebAssembly (7z-wasm, bundled 7zz.wasm, no
 * network): the archive is copied into the module's in-memory file system, listed with
 * `l -slt`, and extracted once on first use with `e -so`, which writes every member's
 * bytes back to back in listing order, so the declared sizes cut the stream into members.
 */
import sevenZipModule, { type SevenZipModuleFactory } from "7z-wasm";
import type { Finding } from "../report/finding.js";
import { type ArchiveListing, type ArchiveMember, bad, bomb, ExtractionLimitError } from "./archives.js";
import { scanFinding } from "./rules.js";
import { readAll } from "./sources.js";
import type { ByteSource, Location, ScanLimits } from "./types.js";

// The package is CommonJS typed as an ES module: at run time the default import is the factory itself.
export const SevenZip = sevenZipModule as unknown as SevenZipModuleFactory;

export function is7z(head: Uint8Array): boolean {
  return head[0] === 0x37 && head[1] === 0x7a && head[2] === 0xbc && head[3] === 0xaf && head[4] === 0x27 && head[5] === 0x1c;
}

interface Entry {
  name: string;
  size: number;
  encrypted: boolean;
}

export async function list7z(source: ByteSource, location: Location, limits: ScanLimits): Promise<ArchiveListing> {
  if (source.size > limits.maxExtractedBytes)
    return { members: [], findings: [bomb(location, `the archive is larger than the ${limits.maxExtractedBytes}-byte extraction limit`)] };
  let sink: (byte: number) => void = () => {};
  const sevenZip = await SevenZip({
    stdout: (byte: number) => sink(byte),
    stderr: () => {},
    // End of input: an encrypted archive fails instead of waiting for a password prompt.
    stdin: () => null as unknown as number,
  });
  sevenZip.FS.writeFile("/archive.7z", await readAll(source));
  const run = (args: string[], onByte: (byte: number) => void) => {
    sink = onByte;
    // 7-Zip's exit status is written to process.exitCode by its Emscripten runtime: a corrupt
    // archive would make `aegis scan` exit 2 after printing its report. Ours is restored.
    const exitCode = process.exitCode;
    try {
      sevenZip.callMain([...args, "-p-", "-bsp0", "-bse0", "--", "/archive.7z"]);
    } catch (e) {
      // 7-Zip's own failures surface as bare wasm exception pointers, which say nothing to a user.
      if (!(e instanceof ExtractionLimitError)) throw new ExtractionLimitError("7-Zip stopped: the archive is corrupt or its headers are encrypted");
      throw e;
    } finally {
      process.exitCode = exitCode;
    }
  };

  const text: number[] = [];
  try {
    run(["l", "-slt", "-ba"], (b) => text.push(b));
  } catch (e) {
    return { members: [], findings: [bad(location, "7z", (e as Error).message)] };
  }
  const entries = parseListing(new TextDecoder().decode(new Uint8Array(text)));
  if (entries.length === 0)
    return { members: [], findings: [bad(location, "7z", "7-Zip listed no members: the archive is corrupt or its headers are encrypted")] };

  const findings: Finding[] = [];
  const total = entries.reduce((n, e) => n + e.size, 0);
  if (total > limits.maxExtractedBytes)
    return { members: [], findings: [bomb(location, `its members declare ${total} bytes, more than the ${limits.maxExtractedBytes}-byte extraction limit`)] };
  // 7z compresses members together in solid blocks, so the ratio is judged for the whole archive.
  if (total > 1 << 20 && total / Math.max(1, source.size) > limits.maxCompressionRatio)
    return { members: [], findings: [bomb(location, `compression ratio ${Math.round(total / source.size)}:1 exceeds ${limits.maxCompressionRatio}:1`)] };

  let extracted: Promise<Uint8Array> | undefined;
  const extractAll = async () => {
    const out = new Uint8Array(total);
    let written = 0;
    run(["e", "-so"], (b) => {
      // Sizes were declared in the header; a stream that runs past them is not trusted further.
      if (written >= total) throw new ExtractionLimitError(`the members produce more than their declared ${total} bytes`);
      out[written++] = b;
    });
    if (written < total) throw new ExtractionLimitError(`7-Zip produced ${written} of ${total} bytes: the archive is corrupt or encrypted`);
    return out;
  };

  const members: ArchiveMember[] = [];
  let start = 0;
  for (const entry of entries) {
    const at = start;
    start += entry.size;
    if (entry.encrypted)
      findings.push(
        scanFinding(
          "medium",
          "7Z-ENCRYPTED-MEMBER",
          `Member "${entry.name}" is encrypted, so its content cannot be scanned; loaders given the password may still read it.`,
          { ...location, members: [...(location.members ?? []), entry.name] },
        ),
      );
    members.push({
      name: entry.name,
      size: entry.size,
      // The archive-wide checks above stand in for per-member ratios, which solid blocks do not have.
      compressedSize: entry.size,
      open: async () => {
        extracted ??= extractAll();
        const all = await extracted;
        const bytes = all.subarray(at, at + entry.size);
        return { size: bytes.length, read: async (o, l) => bytes.subarray(o, o + l) };
      },
    });
  }
  return { members, findings };
}

/** `7zz l -slt -ba` prints one "Key = value" block per member, in archive order. */
function parseListing(text: string): Entry[] {
  const entries: Entry[] = [];
  for (const block of text.split(/\n\s*\n/)) {
    const fields = new Map<string, string>();
    for (const line of block.split("\n")) {
      const eq = line.indexOf(" = ");
      if (eq > 0) fields.set(line.slice(0, eq), line.slice(eq + 3));
    }
    const name = fields.get("Path");
    if (name === undefined) continue;
    // Folders carry a D attribute and no bytes in the extracted stream.
    const folder = fields.get("Folder") === "+" || /^D/.test(fields.get("Attributes") ?? "");
    entries.push({ name: folder ? `${name}/` : name, size: folder ? 0 : Number(fields.get("Size") || 0), encrypted: fields.get("Encrypted") === "+" });
  }
  return entries;
}
