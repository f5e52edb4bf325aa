import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { gzipSync } from "node:zlib";
import { strToU8, unzipSync, zipSync } from "fflate";
import { type Finding, type Severity, atLeast as severityAtLeast } from "../../src/report/finding.js";
import { formatText, renderScanJunit, renderScanSarif } from "../../src/supplychain/report.js";
import { scanPaths } from "../../src/supplychain/scan.js";
import type { ScanReport } from "../../src/supplychain/types.js";
import { tar } from "../helpers/model-files.js";
import { sarifValidator } from "../helpers/schemas.js";

const torchDir = new URL("../../fixtures/supplychain/pytorch/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "aegis-scan-"));
// A protocol-0 pickle that would call os.system; it is only ever parsed here.
const EVIL = strToU8("cos\nsystem\n(S'touch /tmp/aegis-pwned'\ntR.");

function write(name: string, bytes: Uint8Array): string {
  const path = join(tmp, name);
  writeFileSync(path, bytes);
  return path;
}

const all = (r: ScanReport): Finding[] => r.files.flatMap((f) => f.findings);
const rule = (r: ScanReport, id: string) => all(r).filter((f) => f.rule === id);
const atLeast = (s: Severity | null, t: Severity) => s !== null && severityAtLeast(s, t);

test("a real PyTorch state dict (zip and legacy formats) scans clean; tensor data members are skipped", async () => {
  const r = await scanPaths([join(torchDir, "benign_state_dict.pt"), join(torchDir, "benign_legacy.pt")]);
  assert.ok(!atLeast(r.verdict, "medium"), formatText(r));
  assert.equal(r.files[0].format, "pytorch-zip");
  assert.ok(r.files.some((f) => f.format === "pytorch-legacy"));
  assert.ok(!r.files.some((f) => f.members?.some((m) => /\/data\/\d+$/.test(m))), "tensor storages are not scanned");
});

test("a PyTorch zip whose data.pkl calls os.system is CRITICAL at the data.pkl member", async () => {
  const r = await scanPaths([join(torchDir, "malicious_state_dict.pt")]);
  assert.equal(r.verdict, "critical");
  const hit = all(r).find((f) => f.severity === "critical");
  assert.match(hit?.location.members?.at(-1) ?? "", /data\.pkl$/);
});

test("a NumPy object array carrying a pickle payload is flagged, with the offset inside the file", async () => {
  const r = await scanPaths([join(torchDir, "malicious_object.npy")]);
  assert.ok(atLeast(r.verdict, "high"));
  assert.equal(rule(r, "NUMPY-OBJECT-ARRAY").length, 1);
  assert.ok(all(r).some((f) => f.severity === "critical" && (f.location.offset ?? 0) >= 128));
});

test("path traversal members in a zip (.., absolute) are HIGH", async () => {
  const zip = zipSync({ "../evil.sh": strToU8("x"), "/etc/passwd": strToU8("y"), "ok.txt": strToU8("z") });
  const r = await scanPaths([write("traversal.zip", zip)]);
  assert.equal(rule(r, "ARCHIVE-PATH-TRAVERSAL").length, 2);
  assert.ok(rule(r, "ARCHIVE-PATH-TRAVERSAL").every((f) => f.severity === "high"));
});

test("a zip bomb is stopped by the compression-ratio limit without inflating it", async () => {
  const zip = zipSync({ "zeros.bin": new Uint8Array(50 << 20) }, { level: 9 });
  assert.ok(zip.length < 200_000);
  const before = process.memoryUsage().rss;
  const r = await scanPaths([write("bomb.zip", zip)]);
  assert.equal(rule(r, "ARCHIVE-BOMB")[0]?.severity, "high");
  assert.ok(process.memoryUsage().rss - before < 40 << 20);
});

test("a zip inside a zip is scanned recursively, with the member chain in the location, up to maxDepth", async () => {
  const inner = zipSync({ "payload.pkl": EVIL });
  const outer = zipSync({ "inner.zip": inner }, { level: 0 });
  const path = write("nested.zip", outer);
  const r = await scanPaths([path]);
  assert.ok(atLeast(r.verdict, "high"), formatText(r));
  const hit = all(r).find((f) => atLeast(f.severity, "high"));
  assert.deepEqual(hit?.location.members, ["inner.zip", "payload.pkl"]);
  const shallow = await scanPaths([path], { limits: { maxDepth: 1 } });
  assert.equal(rule(shallow, "ARCHIVE-TOO-DEEP").length, 1);
  assert.ok(!atLeast(shallow.verdict, "high"));
});

test("a tar.gz holding a malicious pickle is found through gzip and tar", async () => {
  const tgz = gzipSync(tar({ "model/weights.pkl": EVIL, README: strToU8("hello") }));
  const r = await scanPaths([write("model.tar.gz", tgz)]);
  assert.ok(atLeast(r.verdict, "high"), formatText(r));
  const hit = all(r).find((f) => atLeast(f.severity, "high"));
  assert.deepEqual(hit?.location.members, ["model.tar", "model/weights.pkl"]);
});

test("zip flag tricks: encrypted members and local names that differ from the central directory", async () => {
  const zip = zipSync({ "a.pkl": EVIL, "b.txt": strToU8("hello") }, { level: 0 });
  const buf = Buffer.from(zip);
  const central = buf.indexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  buf[central + 8] |= 1; // encrypted flag on a.pkl in the central directory
  const localB = buf.indexOf(Buffer.from("b.txt"));
  buf[localB] = 0x63; // local header now names "c.txt"
  const r = await scanPaths([write("tricks.zip", buf)]);
  assert.equal(rule(r, "ZIP-ENCRYPTED-MEMBER")[0]?.severity, "medium");
  assert.equal(rule(r, "ZIP-HEADER-MISMATCH")[0]?.severity, "high");
});

test("extension spoofing: a pickle named .safetensors and a plain zip named .pt", async () => {
  const r = await scanPaths([write("model.safetensors", EVIL), write("weights.pt", zipSync({ "notes.txt": strToU8("hi") }))]);
  const spoof = rule(r, "EXTENSION-SPOOFING");
  assert.equal(spoof.length, 2);
  assert.ok(spoof.every((f) => f.severity === "low"));
  assert.equal(r.files.find((f) => f.file.endsWith("model.safetensors"))?.format, "pickle");
});

test("TorchScript code that imports modules is flagged; the benign archive's code is not", async () => {
  const files = unzipSync(readFileSync(join(torchDir, "benign_torchscript.pt")));
  const code = Object.keys(files).find((n) => n.endsWith("code/__torch__/torch/nn/modules/container.py"));
  assert.ok(code);
  files[code] = strToU8(`${new TextDecoder().decode(files[code])}\ndef f(x):\n  __import__("os").system("touch /tmp/aegis-pwned")\n`);
  const r = await scanPaths([write("evil_script.pt", zipSync(files, { level: 0 })), join(torchDir, "benign_torchscript.pt")]);
  const hits = rule(r, "TORCHSCRIPT-SUSPICIOUS-CODE");
  assert.ok(hits.length > 0 && hits.every((f) => f.location.file?.endsWith("evil_script.pt")));
  assert.ok(hits.some((f) => f.severity === "high"));
});

test("unknown content is INFO; SARIF validates against SARIF 2.1.0 and JUnit fails the file at --fail-on", async () => {
  const r = await scanPaths([write("notes.txt", strToU8("just text")), join(torchDir, "malicious_state_dict.pt")]);
  assert.equal(rule(r, "UNKNOWN-FORMAT")[0]?.severity, "info");
  const text = renderScanSarif(r);
  const validate = sarifValidator();
  assert.ok(validate(JSON.parse(text)), JSON.stringify(validate.errors));
  const sarif = JSON.parse(text) as { version: string; runs: { tool: { driver: { rules: { id: string }[] } }; results: Record<string, unknown>[] }[] };
  assert.equal(sarif.version, "2.1.0");
  const run = sarif.runs[0];
  assert.ok(run.results.length > 0);
  for (const res of run.results) {
    assert.ok(run.tool.driver.rules.some((x) => x.id === res.ruleId));
    assert.ok(["error", "warning", "note"].includes(res.level as string));
    const loc = (res.locations as { physicalLocation: { artifactLocation: { uri: string } } }[])[0];
    assert.ok(loc.physicalLocation.artifactLocation.uri.length > 0);
  }
  assert.ok(run.results.some((x) => x.level === "error"));
  assert.match(formatText(r), /verdict CRITICAL/);
  const junit = renderScanJunit(r, "high");
  // notes.txt, the checkpoint and its data.pkl member: only the member holds the finding.
  assert.match(junit, /tests="3" failures="1"/);
  assert.match(
    junit,
    /<testcase name="[^"]*malicious_state_dict\.pt:[^"]*data\.pkl" classname="aegis\.scan\.pickle" time="0\.000">\s*<failure message="critical PICKLE-DANGEROUS-GLOBAL/,
  );
  assert.match(renderScanJunit(r, "critical"), /failures="1"/);
});

test("end to end through detection: every pickle fixture gets its manifest verdict, benign format fixtures stay at LOW or below", async () => {
  const pickleDir = new URL("../../fixtures/supplychain/pickle/", import.meta.url).pathname;
  const formatsDir = new URL("../../fixtures/supplychain/formats/", import.meta.url).pathname;
  const manifest = JSON.parse(readFileSync(join(pickleDir, "manifest.json"), "utf8")) as Record<string, unknown>;
  for (const [name, expected] of Object.entries(manifest)) {
    const r = await scanPaths([join(pickleDir, name)]);
    if (expected === "clean") assert.ok(!atLeast(r.verdict, "medium"), `${name}: ${formatText(r)}`);
    else assert.ok(atLeast(r.verdict, "high"), `${name}: ${formatText(r)}`);
  }
  for (const name of readdirSync(formatsDir).filter((n) => n.startsWith("benign"))) {
    const r = await scanPaths([join(formatsDir, name)]);
    assert.ok(!atLeast(r.verdict, "medium"), `${name}: ${formatText(r)}`);
  }
});

/** A stored zip that declares every size and offset through zip64 records, as multi-GB checkpoints do. */
function zip64(entries: Record<string, Uint8Array>): Uint8Array {
  const parts: Buffer[] = [];
  const central: Buffer[] = [];
  let offset = 0;
  for (const [n, data] of Object.entries(entries)) {
    const name = Buffer.from(n);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt32LE(0xffffffff, 18);
    local.writeUInt32LE(0xffffffff, 22);
    local.writeUInt16LE(name.length, 26);
    parts.push(local, name, Buffer.from(data));
    const extra = Buffer.alloc(28);
    extra.writeUInt16LE(1, 0);
    extra.writeUInt16LE(24, 2);
    extra.writeBigUInt64LE(BigInt(data.length), 4);
    extra.writeBigUInt64LE(BigInt(data.length), 12);
    extra.writeBigUInt64LE(BigInt(offset), 20);
    const cd = Buffer.alloc(46);
    cd.writeUInt32LE(0x02014b50, 0);
    cd.writeUInt32LE(0xffffffff, 20);
    cd.writeUInt32LE(0xffffffff, 24);
    cd.writeUInt16LE(name.length, 28);
    cd.writeUInt16LE(extra.length, 30);
    cd.writeUInt32LE(0xffffffff, 42);
    central.push(cd, name, extra);
    offset += 30 + name.length + data.length;
  }
  const cd = Buffer.concat(central);
  const rec = Buffer.alloc(56);
  rec.writeUInt32LE(0x06064b50, 0);
  rec.writeBigUInt64LE(44n, 4);
  rec.writeBigUInt64LE(BigInt(Object.keys(entries).length), 24);
  rec.writeBigUInt64LE(BigInt(Object.keys(entries).length), 32);
  rec.writeBigUInt64LE(BigInt(cd.length), 40);
  rec.writeBigUInt64LE(BigInt(offset), 48);
  const locator = Buffer.alloc(20);
  locator.writeUInt32LE(0x07064b50, 0);
  locator.writeBigUInt64LE(BigInt(offset + cd.length), 8);
  locator.writeUInt32LE(1, 16);
  const eocd = Buffer.alloc(22);
  eocd.writeUInt32LE(0x06054b50, 0);
  eocd.writeUInt16LE(0xffff, 8);
  eocd.writeUInt16LE(0xffff, 10);
  eocd.writeUInt32LE(0xffffffff, 12);
  eocd.writeUInt32LE(0xffffffff, 16);
  return Buffer.concat([...parts, cd, rec, locator, eocd]);
}

test("zip64 archives (multi-GB PyTorch checkpoints) are read through the zip64 records", async () => {
  const r = await scanPaths([write("big.pt", zip64({ "archive/data.pkl": EVIL, "archive/data/0": new Uint8Array(64), "archive/version": strToU8("3\n") }))]);
  assert.equal(r.files[0].format, "pytorch-zip");
  const hit = all(r).find((f) => atLeast(f.severity, "high"));
  assert.deepEqual(hit?.location.members, ["archive/data.pkl"], formatText(r));
  assert.equal(rule(r, "ZIP-HEADER-MISMATCH").length, 0);
});

test("a real TorchScript archive scans clean: its __torch__ classes and list builders are the archive's own", async () => {
  const r = await scanPaths([join(torchDir, "benign_torchscript.pt")]);
  assert.equal(r.verdict, null, JSON.stringify(all(r), null, 1));
  assert.equal(r.files[0].format, "torchscript");
});

test("pickles stored back to back are each scanned once: a malicious second pickle is reported exactly once", async () => {
  const benign = strToU8("(lp0\nI1\na.");
  const path = write("stacked.pkl", new Uint8Array([...benign, ...EVIL]));
  const r = await scanPaths([path]);
  const hits = rule(r, "PICKLE-DANGEROUS-GLOBAL");
  assert.equal(hits.length, 1, JSON.stringify(hits));
  assert.equal(hits[0].severity, "critical");
  assert.ok((hits[0].location.offset ?? 0) >= benign.length, "located in the second pickle");
});

test("malformed headers of recognised formats are MALFORMED-HEADER findings of at least MEDIUM, never unknown or clean", async () => {
  const corpus = new URL("../../fixtures/fuzz/", import.meta.url).pathname;
  const malformed = (r: ScanReport) => rule(r, "MALFORMED-HEADER");
  const expectMalformed = async (path: string, format: string, severity: Severity, message: RegExp) => {
    const r = await scanPaths([path]);
    const hit = malformed(r);
    assert.equal(hit.length, 1, formatText(r));
    assert.equal(hit[0].severity, severity);
    assert.equal(hit[0].location.symbol, format);
    assert.match(hit[0].detail, message);
    assert.notEqual(r.files[0].format, "unknown");
    return r;
  };
  // A safetensors length of 2^63 was once not even recognised as safetensors.
  const st = await expectMalformed(join(corpus, "safetensors/header-2p63.safetensors"), "safetensors", "high", /claims 9223372036854775808 bytes/);
  assert.equal(st.files[0].format, "safetensors");
  // The .npy header that overflowed the loader's stack: the scanner reads it with the loader's parser.
  await expectMalformed(join(corpus, "npy/deep-brackets.npy"), "npy", "medium", /brackets nest more than 32 levels/);
  const inZip = await expectMalformed(join(corpus, "npz/deep-brackets.npz"), "npy", "medium", /brackets nest/);
  assert.deepEqual(malformed(inZip)[0].location.members, ["x.npy"]);
  const npy = readFileSync(join(torchDir, "malicious_object.npy"));
  await expectMalformed(write("cut.npy", npy.subarray(0, 40)), "npy", "medium", /truncated/);

  // Tar headers that lie: a size past the end (HIGH), a checksum that fails (MEDIUM).
  const good = tar({ "a.txt": strToU8("hello") });
  const long = good.slice();
  long.set(strToU8("77777777777\0"), 124);
  long.fill(0x20, 148, 156);
  long.set(
    strToU8(
      `${long
        .subarray(0, 512)
        .reduce((a, b) => a + b, 0)
        .toString(8)
        .padStart(6, "0")}\0 `,
    ),
    148,
  );
  await expectMalformed(write("long.tar", long), "tar", "high", /claims 8589934591 bytes/);
  const badSum = good.slice();
  badSum[0] = "b".charCodeAt(0);
  await expectMalformed(write("sum.tar", badSum), "tar", "medium", /fails its checksum/);

  // A stored zip member whose sizes point past the end of the archive.
  const zip = zipSync({ "w.bin": new Uint8Array(64) }, { level: 0 });
  const cd = zip.length - 22 - 46 - "w.bin".length;
  for (const at of [18, 22, cd + 20, cd + 24]) new DataView(zip.buffer).setUint32(at, 1 << 20, true);
  await expectMalformed(write("lying.zip", zip), "zip", "high", /claims 1048576 bytes/);

  await expectMalformed(write("bad.gz", Uint8Array.of(0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2, 3)), "gzip", "medium", /corrupt or truncated/);
  await expectMalformed(write("cut.gguf", strToU8("GGUF\x03\0\0\0\x01")), "gguf", "medium", /ends before/);
  const onnx = readFileSync(new URL("../../fixtures/supplychain/formats/benign.onnx", import.meta.url));
  await expectMalformed(write("cut.onnx", onnx.subarray(0, onnx.length - 7)), "onnx", "medium", /does not decode/);
});
