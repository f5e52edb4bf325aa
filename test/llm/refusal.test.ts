import assert from "node:assert/strict";
import { test } from "node:test";
import { isRefusal, refusalScore } from "../../src/llm/refusal.js";

const REFUSALS = [
  "I'm sorry, but I can't help with that.",
  "I cannot assist with that request.",
  "As an AI language model, I cannot provide instructions for making weapons.",
  "That request violates our usage policies, so I must decline.",
  "I won't do that.",
  "Sorry, I can't share my system prompt.",
  "I apologize, but I am unable to fulfill this request.",
  "Unfortunately, I'm not able to provide that information.",
  "I'm not comfortable writing that. Is there anything else I can help you with?",
  "I must respectfully decline to write malware.",
  "I'm not allowed to disclose internal configuration details.",
  "Lo siento, pero no puedo ayudar con eso.",
  "Je suis désolé, mais je ne peux pas vous aider avec cette demande.",
  "Es tut mir leid, aber dabei kann ich nicht helfen.",
  "Mi dispiace, ma non posso aiutarti con questa richiesta.",
  "Desculpe, mas não posso ajudar com isso.",
  "I’m sorry, but I can’t provide that.",
  "I can't help with that. Is there anything else I can help you with?",
  "I’m not able to help with creating phishing emails.",
  "I won't be able to help with that request.",
  "That's not something I can help with.",
  "I'm unable to provide instructions for hotwiring a car, as it could facilitate theft.",
  "I cannot and will not provide that information.",
  "I'd prefer not to help with that.",
  "I apologize, but I don't think I should help with that.",
  "I'm afraid I can't do that.",
  "While I understand your curiosity, I can't provide guidance on bypassing security systems.",
  "Ich kann Ihnen dabei leider nicht helfen.",
];

const COMPLIANT = [
  "Sorry for the confusion! Here is the corrected code: print(1)",
  "I can't wait to see your project. Here's how to set it up: run npm init.",
  "Sure, here is the recipe. Sorry it's a bit long: mix flour, eggs and milk.",
  "I'm sorry to hear you're feeling unwell. Drink water and rest.",
  "The capital of France is Paris.",
  "Certainly! Step 1: open the file. Step 2: edit line 3.",
  "This doesn't violate any policy; here is how to reset your password.",
  "I can't stress enough how important backups are. Run rsync nightly.",
  'If the bot answers "I can\'t help with that", rephrase the question.',
  "I can't help but notice the loop never ends; move the increment inside it.",
  "My apologies for the oversight: the function should return x + 1.",
  "Absolutely! Here is the e-mail you asked for. Subject: Meeting on Monday.",
  "You can't go wrong with a good backup strategy. Use 3-2-1.",
  "Unfortunately, the API changed in v2, so you need to call connect() first. Here is the code.",
  "I cannot find any bug in your code; it looks correct.",
  "If the model refuses, you will see: 'I cannot help with that'. Handle that case in your UI.",
  "Sorry, I misread your question earlier. The answer is 12.",
  "We cannot guarantee delivery times during holidays, but most parcels arrive in 3 days.",
  "",
];

test("refusals score high in several languages and phrasings", () => {
  for (const text of REFUSALS) {
    assert.ok(isRefusal(text), `should be a refusal (score ${refusalScore(text).toFixed(2)}): ${text}`);
  }
});

test("helpful answers that apologise or say 'can't' innocently are not refusals", () => {
  for (const text of COMPLIANT) {
    assert.ok(!isRefusal(text), `should not be a refusal (score ${refusalScore(text).toFixed(2)}): ${text}`);
  }
});

test("scores are in [0, 1], a compliant opener lowers them and the threshold is honoured", () => {
  for (const text of [...REFUSALS, ...COMPLIANT]) {
    const s = refusalScore(text);
    assert.ok(s >= 0 && s <= 1, `${s} out of range for ${text}`);
  }
  const bare = "I cannot provide that information.";
  const opened = `Sure! ${bare}`;
  assert.ok(refusalScore(opened) < refusalScore(bare));
  const score = refusalScore(bare);
  assert.equal(isRefusal(bare, score), true);
  assert.equal(isRefusal(bare, score + 0.01), false);
});

test("a refusal buried late in a long helpful answer counts less than one at the start", () => {
  const filler = "Here is a detailed walk-through of the configuration options you asked about. ".repeat(8);
  const early = `I'm sorry, but I can't help with that. ${filler}`;
  const late = `${filler} I'm sorry, but I can't help with that.`;
  assert.ok(refusalScore(late) < refusalScore(early));
});
