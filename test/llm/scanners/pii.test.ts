import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { deanonymizeScanner } from "../../../src/llm/scanners/deanonymize.js";
import { detectPii, dniValid, ibanValid, luhnValid, piiScanner, verhoeffValid } from "../../../src/llm/scanners/pii.js";

function found(text: string): [string, string][] {
  return detectPii(text).map((d) => [d.kind, text.slice(...d.span)]);
}

describe("pii detectors", () => {
  it("validates checksums against published examples", () => {
    assert.ok(luhnValid("4111111111111111") && luhnValid("378282246310005") && !luhnValid("4111111111111112"));
    assert.ok(ibanValid("GB82WEST12345698765432") && ibanValid("DE89 3704 0044 0532 0130 00"));
    assert.ok(!ibanValid("GB82WEST12345698765433") && !ibanValid("GB82WEST1234569876543"), "wrong check digit or length");
    assert.ok(dniValid("1", "2345678", "Z") && !dniValid("1", "2345678", "A") && dniValid("X", "1234567", "L"));
    // Verhoeff's own example: 236 has check digit 3.
    assert.ok(verhoeffValid("2363") && !verhoeffValid("2364"));
  });

  it("finds each kind with its exact span", () => {
    const cases: [string, string][] = [
      ["john.doe+billing@example.co.uk", "email"],
      ["+44 20 7946 0958", "phone"],
      ["(415) 555-0132", "phone"],
      ["415-555-0132", "phone"],
      ["020 7946 0958", "phone"],
      ["01 23 45 67 89", "phone"],
      ["4111 1111 1111 1111", "credit-card"],
      ["3782-822463-10005", "credit-card"],
      ["GB82 WEST 1234 5698 7654 32", "iban"],
      ["DE89370400440532013000", "iban"],
      ["123-45-6789", "us-ssn"],
      ["AB 12 34 56 C", "uk-nino"],
      ["12345678Z", "es-dni"],
      ["2345 6789 0124", "in-aadhaar"],
      ["203.0.113.7", "ipv4"],
      ["2001:db8::8a2e:370:7334", "ipv6"],
    ];
    for (const [value, kind] of cases) assert.deepEqual(found(`Record: ${value}, please.`), [[kind, value]], value);
  });

  it("does not flag look-alikes", () => {
    for (const text of [
      "icon@2x.png and @alice",
      "card 4111 1111 1111 1112 fails Luhn",
      "9111 1111 1111 1111 1 is no network",
      "GB82 WEST 1234 5698 7654 33 has a bad check",
      "SSNs 000-12-3456, 666-12-3456, 912-12-3456 and 123-00-4567 are never issued",
      "NINO GB123456A uses a prefix never allocated",
      "DNI 12345678A has the wrong letter",
      "Aadhaar 2345 6789 0125 has the wrong check digit",
      "upgrade to v1.2.3.4 or version 4.1.2.0; OID 1.3.6.1.4.1; 256.1.2.3; WinPython-64bit-3.4.2.4",
      "at 12:30:45 use std::vector or a::b",
      "call 123-456-7890 (area codes never start with 1)",
      "dates 2024-01-15 and 12/05/2023, ISBN 978-3-16-148410-0",
    ])
      assert.deepEqual(found(text), [], text);
  });
});

describe("pii scanner", () => {
  it("anonymises into the vault and the deanonymize scanner restores the values", async () => {
    const vault = new Map<string, string>();
    const input = "I am alice@example.com, card 4111 1111 1111 1111; write to alice@example.com or bob@example.org";
    const r = await piiScanner().scan(input, { vault });
    assert.equal(r.text, "I am [EMAIL_1], card [CREDIT_CARD_1]; write to [EMAIL_1] or [EMAIL_2]");
    assert.equal(r.valid, false);
    assert.deepEqual(Object.fromEntries(vault), { "[EMAIL_1]": "alice@example.com", "[CREDIT_CARD_1]": "4111 1111 1111 1111", "[EMAIL_2]": "bob@example.org" });
    assert.deepEqual(
      r.findings.map((f) => input.slice(...(f.span as [number, number]))),
      ["alice@example.com", "4111 1111 1111 1111", "alice@example.com", "bob@example.org"],
    );
    // A second turn with the same vault reuses placeholders and numbers new values after them.
    const again = await piiScanner().scan("carol@example.net and bob@example.org", { vault });
    assert.equal(again.text, "[EMAIL_3] and [EMAIL_2]");
    const answer = "I will email [EMAIL_1] and [EMAIL_3] about [CREDIT_CARD_1]; [UNKNOWN_1] stays.";
    const restored = await deanonymizeScanner().scan(answer, { vault });
    assert.equal(restored.text, "I will email alice@example.com and carol@example.net about 4111 1111 1111 1111; [UNKNOWN_1] stays.");
    assert.equal(restored.valid, true);
  });

  it("redacts or only detects in the other modes, and passes clean text", async () => {
    const text = "SSN 123-45-6789";
    assert.equal((await piiScanner({ mode: "redact" }).scan(text)).text, "SSN [REDACTED:us-ssn]");
    const detected = await piiScanner({ mode: "detect" }).scan(text);
    assert.deepEqual([detected.text, detected.valid, detected.score], [text, false, 0.9]);
    assert.equal((await piiScanner({ kinds: ["email"] }).scan(text)).valid, true);
    const clean = await piiScanner().scan("How many legs does a spider have?", { vault: new Map() });
    assert.deepEqual([clean.valid, clean.score, clean.text], [true, 0, "How many legs does a spider have?"]);
  });
});
