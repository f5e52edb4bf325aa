/**
 * A generated, labelled set of PII and secrets for measuring the detectors' precision and
 * recall. Positives are valid values of every kind the detectors know (checksums computed,
 * formats varied); the tricky negatives look like them but are not: card numbers that
 * fail Luhn or match no issuer, IBANs with a wrong check or length, never-issued SSNs and
 * NINO prefixes, DNI/Aadhaar with a wrong check character, version strings and OIDs that
 * look like IPv4, clock times and C++ scopes that look like IPv6, key look-alikes with a
 * wrong prefix, length or alphabet, hashes, commit ids, UUIDs and identifiers. All values
 * are synthetic (documentation ranges such as 555-01xx, 2001:db8::/32, example.com).
 */
import { createRng, type Rng } from "../data/random.js";
import { dniValid, verhoeffValid } from "./scanners/pii.js";
import type { Detection } from "./scanners/spans.js";

export interface LabelledEntity {
  kind: string;
  span: [number, number];
}

export interface PiiCorpusRow {
  text: string;
  /** Entities a detector should find; empty for a tricky negative. */
  entities: LabelledEntity[];
  /** What the row exercises, e.g. "credit-card" or "negative:luhn-fail". */
  family: string;
}

const CARRIERS = [
  "Please update my record with {x} before Friday.",
  "The value {x} appeared in yesterday's log.",
  "Can you check whether {x} is correct?",
  "{x}",
  "Note for the team: {x} — do not share.",
  "I copied this from the form: {x}. What should I do next?",
  'config = {"value": "{x}", "enabled": true}',
  "export SETTING={x}",
  "Reply to <{x}> (see the attachment)",
];

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}
function chars(rng: Rng, alphabet: string, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}
function digits(rng: Rng, n: number): string {
  return chars(rng, "0123456789", n);
}

function luhnCheckDigit(body: string): string {
  for (let d = 0; d < 10; d++) {
    const full = body + d;
    let sum = 0;
    for (let i = 0; i < full.length; i++) {
      let v = full.charCodeAt(full.length - 1 - i) - 48;
      if (i % 2 === 1) v = v * 2 > 9 ? v * 2 - 9 : v * 2;
      sum += v;
    }
    if (sum % 10 === 0) return String(d);
  }
  throw new Error("unreachable");
}

function groupCard(rng: Rng, number: string): string {
  const sep = pick(rng, [" ", "-", ""]);
  if (number.length === 15) return [number.slice(0, 4), number.slice(4, 10), number.slice(10)].join(sep);
  return (number.match(/.{1,4}/g) as string[]).join(sep);
}

function cardNumber(rng: Rng): string {
  const [prefix, length] = pick(rng, [
    ["4", 16],
    ["51", 16],
    ["55", 16],
    ["2221", 16],
    ["34", 15],
    ["37", 15],
    ["6011", 16],
    ["3530", 16],
  ] as const);
  const body = prefix + digits(rng, length - prefix.length - 1);
  return body + luhnCheckDigit(body);
}

const IBAN_COUNTRIES: [string, number, boolean][] = [
  ["DE", 22, false],
  ["FR", 27, false],
  ["GB", 22, true],
  ["ES", 24, false],
  ["IT", 27, true],
  ["NL", 18, true],
  ["BE", 16, false],
  ["CH", 21, false],
];

function mod97(s: string): number {
  let r = 0;
  for (const ch of s) {
    const v = ch >= "A" ? ch.charCodeAt(0) - 55 : ch.charCodeAt(0) - 48;
    r = v > 9 ? (r * 100 + v) % 97 : (r * 10 + v) % 97;
  }
  return r;
}

function iban(rng: Rng): string {
  const [cc, length, letters] = pick(rng, IBAN_COUNTRIES);
  const bban = letters ? chars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 4) + digits(rng, length - 8) : digits(rng, length - 4);
  const check = String(98 - mod97(`${bban}${cc}00`)).padStart(2, "0");
  return cc + check + bban;
}

function spaced(rng: Rng, compact: string): string {
  return rng.next() < 0.5 ? compact : (compact.match(/.{1,4}/g) as string[]).join(" ");
}

function ssn(rng: Rng): string {
  let area = 1 + rng.int(899);
  if (area === 666) area = 665;
  return `${String(area).padStart(3, "0")}-${String(1 + rng.int(99)).padStart(2, "0")}-${String(1 + rng.int(9999)).padStart(4, "0")}`;
}

function nino(rng: Rng): string {
  const first = pick(rng, [..."ABCEGHJKLMNOPRSTWXYZ"]);
  const second = pick(rng, [..."ABCEGHJKLMNPRSTWXYZ"]);
  const prefix = ["BG", "GB", "KN", "NK", "NT", "TN", "ZZ"].includes(first + second) ? "AB" : first + second;
  const d = digits(rng, 6);
  const suffix = pick(rng, [..."ABCD"]);
  return rng.next() < 0.5 ? `${prefix}${d}${suffix}` : `${prefix} ${d.slice(0, 2)} ${d.slice(2, 4)} ${d.slice(4)} ${suffix}`;
}

function dni(rng: Rng, valid: boolean): string {
  const nie = rng.next() < 0.3;
  const first = nie ? pick(rng, ["X", "Y", "Z"]) : String(rng.int(10));
  const rest = digits(rng, 7);
  const letters = "TRWAGMYFPDXBNJZSQVHLCKE";
  const good = [...letters].find((l) => dniValid(first, rest, l)) as string;
  const letter = valid ? good : letters[(letters.indexOf(good) + 1 + rng.int(22)) % 23];
  return first + rest + letter;
}

function aadhaar(rng: Rng, valid: boolean): string {
  const body = String(2 + rng.int(8)) + digits(rng, 10);
  const good = [..."0123456789"].find((d) => verhoeffValid(body + d)) as string;
  const check = valid ? good : String((Number(good) + 1 + rng.int(9)) % 10);
  const all = body + check;
  return `${all.slice(0, 4)} ${all.slice(4, 8)} ${all.slice(8)}`;
}

function phone(rng: Rng): string {
  const n4 = `01${digits(rng, 2)}`;
  return pick(rng, [
    `+1 415 555 ${n4}`,
    `+1-212-555-${n4}`,
    `(${pick(rng, ["415", "212", "646", "303"])}) 555-${n4}`,
    `${pick(rng, ["415", "212", "646", "303"])}-555-${n4}`,
    `+44 20 7946 0${digits(rng, 3)}`,
    `020 7946 0${digits(rng, 3)}`,
    `07700 900${digits(rng, 3)}`,
    `+33 1 ${digits(rng, 2)} ${digits(rng, 2)} ${digits(rng, 2)} ${digits(rng, 2)}`,
    `01 ${digits(rng, 2)} ${digits(rng, 2)} ${digits(rng, 2)} ${digits(rng, 2)}`,
    `+4930${digits(rng, 8)}`,
    `+1 (415) 555-${n4}`,
    `415.555.${n4}`,
    `+49 30 ${digits(rng, 8)}`,
  ]);
}

function email(rng: Rng): string {
  const user = pick(rng, ["alice", "bob.smith", "j.doe", "maria_garcia", "chen.wei+billing", "o.brien", "sam99", "Alice.Jones"]);
  const domain = pick(rng, ["example.com", "example.org", "mail.example.co.uk", "corp.example.net", "uni-example.edu", "EXAMPLE.COM"]);
  return `${user}@${domain}`;
}

function ipv4(rng: Rng): string {
  const ip = `${pick(rng, ["192.0.2", "198.51.100", "203.0.113", "10.20.30"])}.${1 + rng.int(254)}`;
  return rng.next() < 0.3 ? `${ip}:${1024 + rng.int(60000)}` : ip;
}

function ipv6(rng: Rng): string {
  const g = () => rng.int(65536).toString(16);
  const ip = rng.next() < 0.5 ? `2001:db8:${g()}:${g()}:${g()}:${g()}:${g()}:${g()}` : `2001:db8::${g()}:${g()}`;
  return rng.next() < 0.3 ? `[${ip}]:443` : ip;
}

function jwt(rng: Rng): string {
  const header = Buffer.from(JSON.stringify({ alg: pick(rng, ["HS256", "RS256"]), typ: "JWT" })).toString("base64url");
  const payload = Buffer.from(JSON.stringify({ sub: digits(rng, 8), name: "Test User", iat: 1700000000 + rng.int(1e6) })).toString("base64url");
  return `${header}.${payload}.${chars(rng, `${BASE62}-_`, 43)}`;
}

function pem(rng: Rng): string {
  const kind = pick(rng, ["RSA PRIVATE KEY", "PRIVATE KEY", "OPENSSH PRIVATE KEY", "EC PRIVATE KEY"]);
  const body = Array.from({ length: 4 }, () => chars(rng, `${BASE62}+/`, 64)).join("\n");
  return `-----BEGIN ${kind}-----\n${body}\n-----END ${kind}-----`;
}

type Generator = (rng: Rng) => string;

const POSITIVES: Record<string, Generator> = {
  email,
  phone,
  "credit-card": (rng) => groupCard(rng, cardNumber(rng)),
  iban: (rng) => spaced(rng, iban(rng)),
  "us-ssn": ssn,
  "uk-nino": nino,
  "es-dni": (rng) => dni(rng, true),
  "in-aadhaar": (rng) => aadhaar(rng, true),
  ipv4,
  ipv6,
  "aws-access-key": (rng) => `${pick(rng, ["AKIA", "ASIA"])}${chars(rng, BASE32, 16)}`,
  "aws-secret-key": (rng) => `aws_secret_access_key = ${chars(rng, `${BASE62}/+`, 39)}${pick(rng, ["a", "Z", "7"])}`,
  "github-token": (rng) =>
    rng.next() < 0.7 ? `${pick(rng, ["ghp_", "gho_", "ghs_"])}${chars(rng, BASE62, 36)}` : `github_pat_${chars(rng, BASE62, 22)}_${chars(rng, BASE62, 59)}`,
  "slack-token": (rng) => `${pick(rng, ["xoxb", "xoxp"])}-${digits(rng, 11)}-${digits(rng, 12)}-${chars(rng, BASE62, 24)}`,
  "stripe-key": (rng) => `${pick(rng, ["sk_live_", "rk_live_"])}${chars(rng, BASE62, 24 + rng.int(76))}`,
  "google-api-key": (rng) => `AIza${chars(rng, `${BASE62}-_`, 35)}`,
  "openai-key": (rng) => `sk-${pick(rng, ["", "proj-"])}${chars(rng, BASE62, 20)}T3BlbkFJ${chars(rng, BASE62, 20)}`,
  "anthropic-key": (rng) => `sk-ant-api03-${chars(rng, `${BASE62}-_`, 93)}AA`,
  "private-key": pem,
  jwt,
  "high-entropy-token": (rng) => `${chars(rng, BASE62, 40)}`,
};

/** Which value in a positive generator's output is the entity (some carry a label such as "aws_secret_access_key = "). */
function entityPart(kind: string, value: string): [number, number] {
  if (kind === "aws-secret-key") return [value.length - 40, value.length];
  if (kind === "ipv6" && value.startsWith("[")) return [1, value.indexOf("]")];
  if (kind === "ipv4" && value.includes(":")) return [0, value.indexOf(":")];
  return [0, value.length];
}

function breakLuhn(n: string): string {
  const last = Number(n.at(-1));
  return n.slice(0, -1) + String((last + 1 + Math.floor(last / 3)) % 10);
}

const NEGATIVES: Record<string, Generator> = {
  "luhn-fail": (rng) => groupCard(rng, breakLuhn(cardNumber(rng))),
  "no-card-network": (rng) => {
    const body = pick(rng, ["1", "9", "8"]) + digits(rng, 14);
    return body + luhnCheckDigit(body);
  },
  "iban-bad-check": (rng) => {
    const good = iban(rng);
    // Check values run from 02 to 98 and exactly one is right for a given account number.
    const check = 2 + ((Number(good.slice(2, 4)) - 2 + 1 + rng.int(95)) % 97);
    return spaced(rng, good.slice(0, 2) + String(check).padStart(2, "0") + good.slice(4));
  },
  "iban-bad-length": (rng) => iban(rng).slice(0, -1),
  "ssn-never-issued": (rng) => `${pick(rng, ["000", "666", `9${digits(rng, 2)}`])}-${digits(rng, 2)}-${digits(rng, 3)}${1 + rng.int(9)}`,
  "ssn-zero-group": (rng) => `${100 + rng.int(500)}-00-${1000 + rng.int(8999)}`,
  "nino-bad-prefix": (rng) => `${pick(rng, ["GB", "BG", "NK", "TN", "ZZ"])}${digits(rng, 6)}${pick(rng, [..."ABCD"])}`,
  "dni-bad-letter": (rng) => dni(rng, false),
  "aadhaar-bad-check": (rng) => aadhaar(rng, false),
  "version-string": (rng) => `${pick(rng, ["version ", "v", "Version ", "release "])}${rng.int(10)}.${rng.int(20)}.${rng.int(20)}.${rng.int(200)}`,
  "dotted-numbers": (rng) =>
    pick(rng, [`1.3.6.1.4.1.${digits(rng, 4)}`, `${rng.int(9)}.${rng.int(9)}.${rng.int(9)}.${rng.int(9)}.${rng.int(9)}`, `${256 + rng.int(700)}.1.2.3`]),
  "clock-time": (rng) => `${String(rng.int(24)).padStart(2, "0")}:${String(rng.int(60)).padStart(2, "0")}:${String(rng.int(60)).padStart(2, "0")}`,
  "cpp-scope": (rng) => pick(rng, ["std::vector<int>", "Foo::bar()", "a::b", "ns::detail::impl"]),
  "nanp-invalid-area": (rng) => `${pick(rng, ["123", "011", "199"])}-${200 + rng.int(700)}-${digits(rng, 4)}`,
  date: (rng) => pick(rng, [`2024-0${1 + rng.int(9)}-1${rng.int(9)}`, `1${rng.int(2)}/0${1 + rng.int(9)}/2023`]),
  isbn: (rng) => `ISBN 978-${rng.int(10)}-${digits(rng, 2)}-${digits(rng, 6)}-${rng.int(10)}`,
  "retina-asset": (rng) => `${pick(rng, ["icon", "logo", "banner"])}@${pick(rng, ["2x", "3x"])}.${pick(rng, ["png", "jpg"])}`,
  "handle-not-email": (rng) => `@${pick(rng, ["alice", "devteam", "support"])} please review`,
  "aws-wrong-alphabet": (rng) => `AKIA${chars(rng, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0189", 15)}${pick(rng, ["0", "1", "8", "9"])}`,
  "aws-wrong-length": (rng) => `AKIA${chars(rng, BASE32, 12)}`,
  "github-wrong-length": (rng) => `ghp_${chars(rng, "abcdefghij", 20)}`,
  "github-wrong-prefix": (rng) => `ghx_${chars(rng, "abcdefghijklmnop", 36)}`,
  "slack-wrong-prefix": (rng) => `xoxq-${digits(rng, 6)}`,
  "stripe-too-short": (rng) => `sk_live_${chars(rng, "abcdef", 10)}`,
  "google-too-short": (rng) => `AIza${chars(rng, "abcdefgh", 20)}`,
  "openai-too-short": (rng) => `sk-${chars(rng, "abcdefgh", 12)}`,
  "jwt-not-json": (rng) => `eyJ${chars(rng, "abcdefghij", 12)}.eyJ${chars(rng, "abcdefghij", 12)}.${chars(rng, "abcdefghij", 20)}`,
  "pem-header-only": () => "The file should start with -----BEGIN PRIVATE KEY----- and end with the matching END line.",
  "hex-hash": (rng) => `${pick(rng, ["sha256 ", "md5 ", "commit ", ""])}${chars(rng, "0123456789abcdef", pick(rng, [32, 40, 64]))}`,
  uuid: (rng) =>
    `${chars(rng, "0123456789abcdef", 8)}-${chars(rng, "0123456789abcdef", 4)}-4${chars(rng, "0123456789abcdef", 3)}-a${chars(rng, "0123456789abcdef", 3)}-${chars(rng, "0123456789abcdef", 12)}`,
  identifier: (rng) =>
    pick(rng, ["getUserAccountInformationById2", "ThisIsAVeryLongIdentifierName123", "my_very_long_variable_name_2_abc", "com.example.app.MainActivity2"]),
  "placeholder-key": (rng) => pick(rng, ["api_key = YOUR_API_KEY_HERE", "token: <your-token>", "password = ********", "secret=$SECRET_VALUE"]),
};

/**
 * The labelled set: `perKind` rows of each positive kind and of each negative family, in
 * varied carrier sentences, reproducible from the seed.
 */
export function generatePiiCorpus(options: { seed?: number; perKind?: number } = {}): PiiCorpusRow[] {
  const rng = createRng(options.seed ?? 7);
  const perKind = options.perKind ?? 40;
  const rows: PiiCorpusRow[] = [];
  const place = (value: string) => {
    const carrier = pick(rng, CARRIERS);
    const at = carrier.indexOf("{x}");
    return { text: carrier.replace("{x}", value), at };
  };
  for (const [kind, gen] of Object.entries(POSITIVES)) {
    for (let i = 0; i < perKind; i++) {
      const value = gen(rng);
      const { text, at } = place(value);
      const [s, e] = entityPart(kind, value);
      rows.push({ text, entities: [{ kind, span: [at + s, at + e] }], family: kind });
    }
  }
  for (const [family, gen] of Object.entries(NEGATIVES)) {
    for (let i = 0; i < perKind; i++) rows.push({ text: place(gen(rng)).text, entities: [], family: `negative:${family}` });
  }
  return rows;
}

export interface DetectionMetrics {
  tp: number;
  fp: number;
  fn: number;
  precision: number;
  recall: number;
  f1: number;
  /** Families (kinds or negative families) with errors, and how many. */
  errors: Record<string, number>;
}

const overlaps = (a: [number, number], b: [number, number]) => a[0] < b[1] && b[0] < a[1];

/** Entity-level precision and recall: a detection is right when it overlaps an entity of the same kind. */
export function scoreDetections(rows: readonly PiiCorpusRow[], detect: (text: string) => readonly Detection[]): DetectionMetrics {
  let tp = 0;
  let fp = 0;
  let fn = 0;
  const errors: Record<string, number> = {};
  const miss = (family: string) => {
    errors[family] = (errors[family] ?? 0) + 1;
  };
  for (const row of rows) {
    const found = detect(row.text);
    for (const d of found) {
      if (row.entities.some((e) => e.kind === d.kind && overlaps(e.span, d.span))) tp++;
      else {
        fp++;
        miss(row.family);
      }
    }
    for (const e of row.entities) {
      if (!found.some((d) => d.kind === e.kind && overlaps(e.span, d.span))) {
        fn++;
        miss(row.family);
      }
    }
  }
  const precision = tp + fp === 0 ? 1 : tp / (tp + fp);
  const recall = tp + fn === 0 ? 1 : tp / (tp + fn);
  const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
  return { tp, fp, fn, precision, recall, f1, errors };
}
