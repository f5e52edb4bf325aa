import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { extractUrls, hostAllowed, urlAllowlistScanner } from "../../../src/llm/scanners/url-allowlist.js";

describe("url-allowlist scanner", () => {
  const scanner = urlAllowlistScanner({ allowed: ["example.com"] });

  it("flags and redacts hosts outside the list, allows subdomains", async () => {
    const text = "Read https://docs.example.com/guide, then http://evil.test/x?y=1. Also //cdn.evil.test/a.js";
    const r = await scanner.scan(text);
    assert.equal(r.valid, false);
    assert.deepEqual(
      r.findings.map((f) => text.slice(...(f.span as [number, number]))),
      ["http://evil.test/x?y=1", "//cdn.evil.test/a.js"],
    );
    assert.equal(r.text, "Read https://docs.example.com/guide, then [REDACTED:url]. Also [REDACTED:url]");
  });

  it("resolves userinfo and look-alike host tricks", () => {
    assert.equal(extractUrls("go to https://example.com@evil.test/")[0].url.hostname, "evil.test");
    assert.ok(!hostAllowed("example.com.evil.test", ["example.com"]));
    assert.ok(!hostAllowed("notexample.com", ["example.com"]));
    assert.ok(hostAllowed("EXAMPLE.com.", ["example.com"]));
  });

  it("passes text with allowed or no URLs and ignores // comments", async () => {
    for (const text of ["See https://example.com/a and www-less text", "x = 1 // a comment in code", "no links here"]) {
      const r = await scanner.scan(text);
      assert.deepEqual([r.valid, r.text], [true, text], text);
    }
  });
});
