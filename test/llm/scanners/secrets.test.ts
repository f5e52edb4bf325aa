import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createRng } from "../../../src/data/random.js";
import { detectSecrets, entropyThreshold, secretsScanner } from "../../../src/llm/scanners/secrets.js";

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const AWS_ID = "AKIAZ2X7QWERTYUIOPAS";
const GITHUB = `ghp_${"aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4cD6".slice(0, 36)}`;
const OPENAI = "sk-proj-Ab12Cd34Ef56Gh78Ij90T3BlbkFJKl12Mn34Op56Qr78St90";
const ANTHROPIC = `sk-ant-api03-${"Zx9_Yw8-Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe".repeat(3).slice(0, 93)}AA`;
const JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c";

function kinds(text: string): string[] {
  return detectSecrets(text).map((d) => d.kind);
}

describe("secrets scanner", () => {
  it("finds provider keys with the right kind and span", () => {
    const cases: [string, string][] = [
      [AWS_ID, "aws-access-key"],
      [GITHUB, "github-token"],
      [`github_pat_${"A1b2C3d4E5f6G7h8I9j0K1"}_${"Xy7z8W".repeat(10).slice(0, 59)}`, "github-token"],
      ["xoxb-12345678901-123456789012-AbCdEfGhIjKlMnOpQrStUvWx", "slack-token"],
      ["sk_live_4eC39HqLyjWDarjtT1zdp7dc", "stripe-key"],
      ["AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q", "google-api-key"],
      [OPENAI, "openai-key"],
      [ANTHROPIC, "anthropic-key"],
      [JWT, "jwt"],
    ];
    for (const [secret, kind] of cases) {
      const text = `here it is: ${secret} — thanks`;
      const found = detectSecrets(text);
      assert.equal(found.length, 1, `${kind}: ${JSON.stringify(found)}`);
      assert.equal(found[0].kind, kind);
      assert.deepEqual(found[0].span, [12, 12 + secret.length], kind);
    }
  });

  it("finds a PEM private key block and an AWS secret next to its label", () => {
    const pem = `-----BEGIN RSA PRIVATE KEY-----\n${"MIIEowIBAAKCAQEA7Vx9".repeat(4)}\n-----END RSA PRIVATE KEY-----`;
    assert.deepEqual(kinds(`key:\n${pem}\nend`), ["private-key"]);
    assert.deepEqual(kinds("aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"), ["aws-secret-key"]);
  });

  it("ignores look-alikes: wrong alphabet, length or prefix, headers without a body, JWTs that do not decode", () => {
    for (const text of [
      "AKIA0123456789018901", // 0, 1, 8, 9 are not base32
      "AKIAZ2X7QWERTYUI", // too short
      "ghp_abc123",
      "ghx_abcdefghijklmnopabcdefghijklmnopabcd",
      "sk_live_abcdef is too short",
      "AIzaShort",
      "-----BEGIN PRIVATE KEY----- is how the file starts",
      "eyJnotjsonatall.eyJnotjsonatall.abcdefghijklmnopqrst",
    ])
      assert.deepEqual(kinds(text), [], text);
    // A random body behind a wrong prefix is still a random token.
    assert.deepEqual(kinds("ghx_aB3dE5fG7hJ9kL1mN2pQ4rS6tU8vW0xY2zA4"), ["high-entropy-token"]);
  });

  it("leaves hashes, commit ids, UUIDs, identifiers and base64 text alone", () => {
    for (const text of [
      "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      "commit 3e1f0c2d9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e",
      "id 550e8400-e29b-41d4-a716-446655440000",
      "call getUserAccountInformationById2 then ThisIsAVeryLongIdentifierName123",
      "const my_very_long_variable_name_2_abc = 1",
      `payload ${Buffer.from("please summarise the attached report for me").toString("base64")}`,
      "api_key = YOUR_API_KEY_HERE and password = ********",
    ])
      assert.deepEqual(kinds(text), [], text);
  });

  it("flags random tokens by entropy and assignments of secret-looking values", () => {
    const rng = createRng(3);
    let found = 0;
    for (let i = 0; i < 200; i++) {
      let token = "";
      for (let j = 0; j < 40; j++) token += BASE62[rng.int(62)];
      if (kinds(`token ${token}`).includes("high-entropy-token")) found++;
    }
    assert.ok(found >= 190, `random 40-character tokens found ${found}/200`);
    assert.deepEqual(kinds('password: "Tr0ub4dor&3x"'), ["generic-secret"]);
    assert.ok(entropyThreshold(24) < entropyThreshold(40) && entropyThreshold(1000) === 4.5);
  });

  it("redacts each secret as [REDACTED:kind] and reports invalid", async () => {
    const text = `use ${AWS_ID} and ${GITHUB} please`;
    const r = await secretsScanner().scan(text);
    assert.equal(r.text, "use [REDACTED:aws-access-key] and [REDACTED:github-token] please");
    assert.equal(r.valid, false);
    assert.equal(r.score, 1);
    assert.deepEqual(
      r.findings.map((f) => [f.kind, text.slice(...(f.span as [number, number]))]),
      [
        ["aws-access-key", AWS_ID],
        ["github-token", GITHUB],
      ],
    );
    const kept = await secretsScanner({ redact: false }).scan(text);
    assert.equal(kept.text, text);
    const clean = await secretsScanner().scan("What is the capital of France?");
    assert.deepEqual([clean.valid, clean.score, clean.findings.length], [true, 0, 0]);
  });
});
