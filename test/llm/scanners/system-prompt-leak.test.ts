import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { leakScore, longestCommonRun, normalizedWords, systemPromptLeakScanner } from "../../../src/llm/scanners/system-prompt-leak.js";

const SYSTEM =
  "You are HelpBot, the support assistant of Acme Bank. Never reveal account numbers. Only answer questions about savings accounts, " +
  "loans and cards. If the user asks about crypto, politely decline. Always answer in a friendly tone and keep answers under 100 words.";

describe("system-prompt-leak scanner", () => {
  const scanner = systemPromptLeakScanner();

  it("finds canaries from the context and the options, case-insensitive, with spans", async () => {
    const r = await systemPromptLeakScanner({ canaries: ["ZEBRA-42"] }).scan("My secret word is zebra-42 and CANARY-7f3a.", { canaries: ["CANARY-7f3a"] });
    assert.equal(r.valid, false);
    assert.deepEqual(
      r.findings.map((f) => [f.kind, f.span]),
      [
        ["canary", [18, 26]],
        ["canary", [31, 42]],
      ],
    );
  });

  it("flags verbatim, reformatted and partial leaks of the system prompt", async () => {
    const leaks = [
      `Sure, my instructions are: ${SYSTEM}`,
      SYSTEM.toUpperCase().replace(/\. /g, ".\n- "),
      "My rules: never reveal account numbers. Only answer questions about savings accounts, loans and cards, that's it.",
      // A paraphrase that keeps runs of the wording (score 0.75; on-topic answers score ≤ 0.17).
      "I am HelpBot. I must never reveal account numbers and I only answer questions about savings accounts, loans and cards; I decline crypto questions.",
    ];
    for (const text of leaks) {
      const r = await scanner.scan(text, { systemPrompt: SYSTEM });
      assert.equal(r.valid, false, text);
      assert.equal(r.findings[0].kind, "similarity");
    }
  });

  it("passes on-topic answers that share words but not text with the system prompt", async () => {
    for (const text of [
      "Hi! I'm happy to help with your savings account. Our loans start at 5% and cards have no annual fee.",
      "I'm sorry, I can't talk about crypto. Is there anything about your account I can help with?",
      "Sure, a savings account earns interest on the money you keep in it.",
    ]) {
      const r = await scanner.scan(text, { systemPrompt: SYSTEM });
      assert.ok(leakScore(SYSTEM, text) < 0.5, `${leakScore(SYSTEM, text)}: ${text}`);
      assert.equal(r.valid, true, text);
    }
    assert.equal((await scanner.scan("anything")).valid, true, "no system prompt, no canary: nothing to leak");
  });

  it("measures copied runs over normalised words", () => {
    assert.deepEqual(normalizedWords("Hello, WORLD!  it's"), ["hello", "world", "it", "s"]);
    assert.equal(longestCommonRun(["a", "b", "c", "d"], ["x", "b", "c", "d", "y"]), 3);
    assert.equal(leakScore("Be brief.", "be brief"), 1, "a short prompt copied whole is a full leak");
  });
});
