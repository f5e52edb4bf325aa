/**
 * `aegis scan`: walks files and folders, detects each file's format from its bytes,
 * opens archives (zip, tar, gzip, 7z) member by member within limits, and hands each
 * piece to its format scanner. Nothing is ever executed or deserialised.
 */
import { lstat, readdir } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { gunzipSync } from "node:zlib";
import { AegisError } from "../errors.js";
import type { Finding } from "../report/finding.js";
import { worstSeverity } from "../report/finding.js";
import { AEGIS_VERSION } from "../version.js";
import { type ArchiveListing, bad, bomb, ExtractionLimitError, listTar, listZip, memberNameFindings } from "./archives.js";
import { is7z, list7z } from "./archives-7z.js";
import { formatScanners } from "./formats/index.js";
import { isInertTorchMember, scanTorchScriptCode, zipKind } from "./formats/pytorch.js";
import { scanFinding } from "./rules.js";
import { bytesSource, openFileSource, readAll } from "./sources.js";
import type { ByteSource, FileReport, Location, ScanLimits, ScanReport } from "./types.js";

export const DEFAULT_LIMITS: ScanLimits = {
  maxExtractedBytes: 1 << 30,
  maxDepth: 4,
  maxMembers: 10_000,
  // Real checkpoints and configs stay far below this; zip bombs reach 1000:1 and more.
  maxCompressionRatio: 200,
  // Reading a model's attributes takes well under a second; HDF5 can loop forever on a crafted file.
  readerTimeoutMs: 20_000,
};

export interface ScanOptions {
  limits?: Partial<ScanLimits>;
  /** Called before each file on disk is scanned (with a `scanner`: as each file's report comes back). */
  onProgress?(file: string, index: number, total: number): void;
  /** Scans the files somewhere else, e.g. a campaign's workers (default: here, one after another). */
  scanner?: FileScanner;
}

/** Scans files elsewhere (campaigns/: `aegis worker` processes) and returns their reports in file order. */
export type FileScanner = (files: readonly string[], limits: ScanLimits, onProgress: (done: number, total: number) => void) => Promise<FileReport[]>;

export async function scanPaths(paths: string[], options: ScanOptions = {}): Promise<ScanReport> {
  const started = performance.now();
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const files: string[] = [];
  for (const p of paths) await collect(p, files);
  if (options.scanner) {
    const scanned = await options.scanner(files, limits, (done, total) => options.onProgress?.(files[done - 1], done, total));
    return reportOf(scanned, started);
  }
  const reports: FileReport[] = [];
  for (const [i, file] of files.entries()) {
    options.onProgress?.(file, i, files.length);
    const source = await openFileSource(file);
    try {
      await new Scanner(limits, reports).unit(source, { file }, basename(file), 0);
    } finally {
      await source.close();
    }
  }
  return reportOf(reports, started);
}

/** Scans bytes held in memory (an upload, a download not yet written, a campaign's blob) as the file `name`. */
export async function scanBytes(bytes: Uint8Array, name: string, options: Pick<ScanOptions, "limits"> = {}): Promise<ScanReport> {
  const started = performance.now();
  const reports: FileReport[] = [];
  await new Scanner({ ...DEFAULT_LIMITS, ...options.limits }, reports).unit(bytesSource(bytes), { file: name }, basename(name), 0);
  return reportOf(reports, started);
}

function reportOf(reports: FileReport[], started: number): ScanReport {
  return {
    aegis: AEGIS_VERSION,
    kind: "scan",
    files: reports,
    verdict: worstSeverity(reports.flatMap((r) => r.findings)),
    seconds: (performance.now() - started) / 1000,
  };
}

async function collect(path: string, out: string[]): Promise<void> {
  const st = await lstat(path).catch((e) => {
    throw new AegisError("FILE_NOT_FOUND", `${path} does not exist: check the path`, { cause: e });
  });
  // Symbolic links are not followed, so a link loop or a link to /dev cannot hang the scan.
  if (st.isFile()) out.push(path);
  else if (st.isDirectory()) for (const entry of (await readdir(path)).sort()) await collect(join(path, entry), out);
}

/** The words a SCAN-ERROR uses for a scanner bug; the fuzz tests look for them. */
export const SCANNER_BUG = "an internal scanner error: please report it with the file";

const EXPECTED: Record<string, string[]> = {
  ".safetensors": ["safetensors"],
  ".gguf": ["gguf"],
  ".onnx": ["onnx"],
  ".npy": ["npy"],
  ".npz": ["npz"],
  ".pt": ["pytorch-zip", "torchscript", "pytorch-legacy", "pytorch-legacy-tar", "pickle"],
  ".pth": ["pytorch-zip", "torchscript", "pytorch-legacy", "pytorch-legacy-tar", "pickle"],
  ".pkl": ["pickle", "pytorch-legacy"],
  ".pickle": ["pickle", "pytorch-legacy"],
  ".joblib": ["pickle"],
  ".zip": ["zip", "npz", "pytorch-zip", "torchscript", "keras"],
  ".keras": ["keras"],
  ".h5": ["hdf5"],
  ".hdf5": ["hdf5"],
  ".tar": ["tar", "pytorch-legacy-tar"],
  ".7z": ["7z"],
  ".gz": ["gzip"],
  ".tgz": ["gzip"],
};

class Scanner {
  constructor(
    private readonly limits: ScanLimits,
    private readonly reports: FileReport[],
  ) {}

  /** Scans one file or member, records its report, and returns its format. */
  async unit(source: ByteSource, location: Location, name: string, depth: number): Promise<string> {
    const report: FileReport = {
      file: location.file,
      ...(location.members ? { members: location.members } : {}),
      format: "unknown",
      bytes: source.size,
      findings: [],
    };
    this.reports.push(report);
    // 4 KiB covers every signature, HDF5's after a user block of up to 2 KiB included.
    const head = await source.read(0, 4096);
    const findings = report.findings;
    if (head[0] === 0x50 && head[1] === 0x4b && head[2] === 0x03 && head[3] === 0x04) report.format = await this.zip(source, head, location, depth, findings);
    else if (head[0] === 0x1f && head[1] === 0x8b) report.format = await this.gzip(source, location, name, depth, findings);
    else if (is7z(head)) report.format = await this.sevenZip(source, location, depth, findings);
    else if (new TextDecoder("latin1").decode(head.subarray(257, 262)) === "ustar") report.format = await this.tar(source, location, depth, findings);
    else {
      const scanner = formatScanners.find((s) => s.detect(head, source.size));
      if (scanner) {
        report.format = scanner.format;
        findings.push(...(await this.guarded(location, () => scanner.scan(source, this.context(location, depth)))));
      } else findings.push(scanFinding("info", "UNKNOWN-FORMAT", "This is not a known model format; it was not analysed further.", location));
    }
    const ext = extname(name).toLowerCase();
    const expected = EXPECTED[ext];
    if (expected && !expected.includes(report.format))
      findings.push(
        scanFinding(
          "low",
          "EXTENSION-SPOOFING",
          `The name ends in ${ext} but the content is ${report.format}: extension spoofing can route a file past tools that trust the name.`,
          { ...location, symbol: report.format },
        ),
      );
    return report.format;
  }

  private context(location: Location, depth: number) {
    return {
      location,
      limits: this.limits,
      scanNested: async (name: string, bytes: Uint8Array) => {
        // Nested content reports into the caller's findings, not a report of its own.
        const inner: FileReport[] = [];
        await new Scanner(this.limits, inner).unit(bytesSource(bytes), { ...location, members: [...(location.members ?? []), name] }, name, depth + 1);
        return inner.flatMap((r) => r.findings);
      },
    };
  }

  /**
   * A format scanner that throws has met content it does not understand: the file is
   * reported as unverified instead of ending the whole scan. Errors of our own carry a
   * sentence for the user; anything else is a scanner bug, reported without its internals.
   */
  private async guarded(location: Location, run: () => Promise<Finding[]>): Promise<Finding[]> {
    try {
      return await run();
    } catch (e) {
      const why = e instanceof AegisError || e instanceof ExtractionLimitError ? e.message : SCANNER_BUG;
      return [scanFinding("medium", "SCAN-ERROR", `The scanner could not read this content (${why}); treat it as unverified.`, location)];
    }
  }

  private tooDeep(location: Location, depth: number, findings: Finding[]): boolean {
    if (depth < this.limits.maxDepth) return false;
    findings.push(
      scanFinding(
        "medium",
        "ARCHIVE-TOO-DEEP",
        `Archives are nested more than ${this.limits.maxDepth} levels deep; the inner ones were not scanned.`,
        location,
      ),
    );
    return true;
  }

  private async zip(source: ByteSource, head: Uint8Array, location: Location, depth: number, findings: Finding[]): Promise<string> {
    // A zip-based format (.keras) gets its own checks, and its members are still scanned
    // one by one: a pickle hidden next to config.json must not pass.
    const scanner = formatScanners.find((s) => s.detect(head, source.size));
    if (scanner) findings.push(...(await this.guarded(location, () => scanner.scan(source, this.context(location, depth)))));
    const listing = await listZip(source, location);
    const kind = zipKind(listing.members.map((m) => m.name));
    await this.members(listing, location, depth, findings, kind);
    return scanner?.format ?? kind;
  }

  private async tar(source: ByteSource, location: Location, depth: number, findings: Finding[]): Promise<string> {
    const listing = await listTar(source, location, this.limits.maxMembers);
    const legacy = listing.members.some((m) => m.name === "pickle") && listing.members.some((m) => m.name === "storages");
    await this.members(listing, location, depth, findings, "tar");
    return legacy ? "pytorch-legacy-tar" : "tar";
  }

  private async sevenZip(source: ByteSource, location: Location, depth: number, findings: Finding[]): Promise<string> {
    await this.members(await list7z(source, location, this.limits), location, depth, findings, "7z");
    return "7z";
  }

  private async gzip(source: ByteSource, location: Location, name: string, depth: number, findings: Finding[]): Promise<string> {
    if (this.tooDeep(location, depth, findings)) return "gzip";
    const cap = Math.min(this.limits.maxExtractedBytes, Math.max(1 << 20, source.size * this.limits.maxCompressionRatio));
    if (source.size > this.limits.maxExtractedBytes) {
      findings.push(bomb(location, `the compressed file is larger than the ${this.limits.maxExtractedBytes}-byte extraction limit`));
      return "gzip";
    }
    let inner: Uint8Array;
    try {
      inner = gunzipSync(await readAll(source), { maxOutputLength: cap });
    } catch (e) {
      findings.push(
        e instanceof RangeError
          ? bomb(location, `it decompresses to more than ${cap} bytes`)
          : bad(location, "gzip", "the compressed data is corrupt or truncated, so it could not be scanned"),
      );
      return "gzip";
    }
    const innerName = name.replace(/\.t?gz$/i, (m) => (m.toLowerCase() === ".tgz" ? ".tar" : "")) || "(gunzipped)";
    await this.unit(bytesSource(inner), { ...location, members: [...(location.members ?? []), innerName] }, innerName, depth + 1);
    return "gzip";
  }

  private async members(listing: ArchiveListing, location: Location, depth: number, findings: Finding[], kind: string): Promise<void> {
    findings.push(
      ...memberNameFindings(
        listing.members.map((m) => m.name),
        location,
        this.limits.maxMembers,
      ),
    );
    if (this.tooDeep(location, depth, findings)) return;
    const torch = kind === "pytorch-zip" || kind === "torchscript";
    let budget = this.limits.maxExtractedBytes;
    for (const member of listing.members.slice(0, this.limits.maxMembers)) {
      if (member.name.endsWith("/") || (torch && isInertTorchMember(member.name))) continue;
      const at: Location = { ...location, members: [...(location.members ?? []), member.name] };
      const deflated = member.compressedSize !== member.size;
      if (deflated && member.size > 1 << 20 && member.size / Math.max(1, member.compressedSize) > this.limits.maxCompressionRatio) {
        findings.push(
          bomb(at, `compression ratio ${Math.round(member.size / Math.max(1, member.compressedSize))}:1 exceeds ${this.limits.maxCompressionRatio}:1`),
        );
        continue;
      }
      let source: ByteSource;
      try {
        // Inflation is capped by both the remaining budget and the ratio, so a member that lies about its size stops early.
        source = await member.open(Math.min(budget, member.compressedSize * this.limits.maxCompressionRatio + 1024));
      } catch (e) {
        if (!(e instanceof ExtractionLimitError)) throw e;
        findings.push(e.message.includes("inflates beyond") ? bomb(at, e.message) : bad(at, kind === "7z" || kind === "tar" ? kind : "zip", e.message));
        continue;
      }
      if (deflated) budget -= source.size;
      if (torch && /(^|\/)code\/.*\.py$/.test(member.name)) {
        this.reports.push({
          file: at.file,
          members: at.members,
          format: "torchscript-code",
          bytes: source.size,
          findings: await scanTorchScriptCode(source, at),
        });
        continue;
      }
      await this.unit(source, at, basename(member.name), depth + 1);
    }
    // Header mismatches are found while opening members, so these come last.
    findings.push(...listing.findings);
  }
}
