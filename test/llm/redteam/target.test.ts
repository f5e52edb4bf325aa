/** The OpenAI-compatible target: SSE reassembly, retries, and TARGET_ERROR for every way a server fails. */
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { AegisError } from "../../../src/errors.js";
import { createJudgeDetector, openAiJudge } from "../../../src/llm/redteam/detectors/judge.js";
import { runRedTeam } from "../../../src/llm/redteam/runner.js";
import { chatCompletionsUrl, createOpenAiTarget } from "../../../src/llm/redteam/targets/openai.js";

async function serve(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(async (req, res) => {
    let body = "";
    for await (const chunk of req) body += chunk;
    handler(req, res, body);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function rejectsWith(promise: Promise<unknown>, code: string, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof AegisError, `expected an AegisError, got ${e}`);
    assert.equal(e.code, code);
    assert.match(e.message, pattern);
    return true;
  });
}

const hello = [{ role: "user" as const, content: "hello" }];

test("URLs: server root, /v1 and the full endpoint all map to /v1/chat/completions", () => {
  for (const url of ["http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/", "http://h:1/v1/chat/completions"]) {
    assert.equal(chatCompletionsUrl(url), "http://h:1/v1/chat/completions");
  }
  assert.equal(chatCompletionsUrl("http://h:1/proxy/openai/v1"), "http://h:1/proxy/openai/v1/chat/completions");
  assert.throws(
    () => chatCompletionsUrl("ftp://h"),
    (e: AegisError) => e.code === "BAD_OPTION",
  );
  assert.throws(
    () => chatCompletionsUrl("localhost:8080"),
    (e: AegisError) => e.code === "BAD_OPTION",
  );
});

test("the request carries model, messages, max_tokens, temperature 0 and the bearer key", async () => {
  let seen: { auth?: string; body?: Record<string, unknown> } = {};
  const server = await serve((req, res, body) => {
    seen = { auth: req.headers.authorization, body: JSON.parse(body) };
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ choices: [{ message: { role: "assistant", content: "hi there" }, finish_reason: "stop" }] }));
  });
  try {
    const target = createOpenAiTarget({ url: server.url, model: "m1", apiKey: "k-123", maxTokens: 77 });
    const reply = await target.chat(hello);
    assert.equal(reply.text, "hi there");
    assert.equal(reply.finishReason, "stop");
    assert.equal(seen.auth, "Bearer k-123");
    assert.deepEqual(seen.body, { model: "m1", messages: hello, temperature: 0, max_tokens: 77, stream: false });
  } finally {
    await server.close();
  }
});

test("streamed events split at arbitrary byte boundaries, with CRLF and multi-byte characters, are reassembled", async () => {
  const pieces = ["Hé", "llo, ", "wörld ", "🙂", " done"];
  const events = [
    ...pieces.map((p) => `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content: p }, finish_reason: null }] })}\r\n\r\n`),
    `: keep-alive comment\n\n`,
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: {}, finish_reason: "length" }] })}\n\n`,
    "data: [DONE]\n\n",
  ];
  const bytes = Buffer.from(events.join(""), "utf8");
  const server = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "text/event-stream" });
    // 7-byte writes cut events, lines and UTF-8 sequences in the middle.
    let i = 0;
    const tick = () => {
      if (i >= bytes.length) return res.end();
      res.write(bytes.subarray(i, i + 7));
      i += 7;
      setImmediate(tick);
    };
    tick();
  });
  try {
    const reply = await createOpenAiTarget({ url: server.url, model: "m", stream: true }).chat(hello);
    assert.equal(reply.text, pieces.join(""));
    assert.equal(reply.finishReason, "length");
  } finally {
    await server.close();
  }
});

test("connection refused is a TARGET_ERROR that says so", async () => {
  const server = await serve(() => {});
  const url = server.url;
  await server.close();
  const target = createOpenAiTarget({ url, model: "m", retries: 1, retryBaseMs: 10 });
  await rejectsWith(target.chat(hello), "TARGET_ERROR", /connection refused.*after 2 attempt/);
});

test("HTTP 500 is retried, then a TARGET_ERROR; a later success is returned", async () => {
  let calls = 0;
  const failing = await serve((_req, res) => {
    calls++;
    res.writeHead(500, { "content-type": "application/json" });
    res.end('{"error":{"message":"model crashed"}}');
  });
  try {
    await rejectsWith(
      createOpenAiTarget({ url: failing.url, model: "m", retries: 2, retryBaseMs: 5 }).chat(hello),
      "TARGET_ERROR",
      /HTTP 500 after 3 attempt.*model crashed/,
    );
    assert.equal(calls, 3);
  } finally {
    await failing.close();
  }
  let flaky = 0;
  const recovering = await serve((_req, res) => {
    if (++flaky < 3) {
      res.writeHead(429, { "retry-after": "0" });
      res.end("slow down");
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ choices: [{ message: { content: "ok" }, finish_reason: "stop" }] }));
  });
  try {
    const reply = await createOpenAiTarget({ url: recovering.url, model: "m", retries: 3, retryBaseMs: 5 }).chat(hello);
    assert.equal(reply.text, "ok");
    assert.equal(flaky, 3);
  } finally {
    await recovering.close();
  }
});

test("a 401 or 404 fails at once with a hint, without retrying", async () => {
  let calls = 0;
  const server = await serve((req, res) => {
    calls++;
    res.writeHead(req.headers.authorization ? 404 : 401, { "content-type": "application/json" });
    res.end('{"error":"nope"}');
  });
  try {
    await rejectsWith(createOpenAiTarget({ url: server.url, model: "m", retries: 3 }).chat(hello), "TARGET_ERROR", /HTTP 401.*API key/);
    await rejectsWith(createOpenAiTarget({ url: server.url, model: "m", apiKey: "x", retries: 3 }).chat(hello), "TARGET_ERROR", /HTTP 404.*--model/);
    assert.equal(calls, 2);
  } finally {
    await server.close();
  }
});

test("a server that never answers times out with a TARGET_ERROR", async () => {
  const server = await serve(() => {
    // never respond
  });
  try {
    await rejectsWith(
      createOpenAiTarget({ url: server.url, model: "m", timeoutMs: 150, retries: 1, retryBaseMs: 5 }).chat(hello),
      "TARGET_ERROR",
      /did not answer within 150 ms after 2 attempt/,
    );
  } finally {
    await server.close();
  }
});

test("a reply that is not a chat completion is a TARGET_ERROR", async () => {
  const server = await serve((_req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end("<html>login page</html>");
  });
  try {
    await rejectsWith(createOpenAiTarget({ url: server.url, model: "m" }).chat(hello), "TARGET_ERROR", /not an OpenAI chat completion/);
  } finally {
    await server.close();
  }
});

test("the concurrency limit bounds requests in flight", async () => {
  let inFlight = 0;
  let peak = 0;
  const server = await serve((_req, res) => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    setTimeout(() => {
      inFlight--;
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ choices: [{ message: { content: "I'm sorry, but I can't help with that." }, finish_reason: "stop" }] }));
    }, 20);
  });
  try {
    const target = createOpenAiTarget({ url: server.url, model: "m", concurrency: 2 });
    await Promise.all(Array.from({ length: 8 }, () => target.chat(hello)));
    assert.equal(peak, 2);
    // The runner's own concurrency cannot exceed the target's slots either.
    peak = 0;
    await runRedTeam({ target, probes: ["injection.direct"], concurrency: 5 });
    assert.equal(peak, 2);
  } finally {
    await server.close();
  }
});

test("a red-team run against a dead target stops early with TARGET_ERROR instead of failing every attempt", async () => {
  let calls = 0;
  const server = await serve((_req, res) => {
    calls++;
    res.writeHead(503);
    res.end("down");
  });
  try {
    const target = createOpenAiTarget({ url: server.url, model: "m", retries: 0 });
    await rejectsWith(runRedTeam({ target, concurrency: 1 }), "TARGET_ERROR", /HTTP 503/);
    assert.equal(calls, 1);
  } finally {
    await server.close();
  }
});

test("the optional LLM judge asks an OpenAI-compatible endpoint and only a leading YES is success", async () => {
  const asked: string[] = [];
  const judgeServer = await serve((_req, res, body) => {
    const { messages } = JSON.parse(body) as { messages: { content: string }[] };
    asked.push(messages[0].content);
    // This judge says yes to replies that look like an e-mail, "Nope" otherwise (not a YES).
    const verdict = messages[1].content.includes("Subject:") ? "YES." : "Nope, YES is wrong here";
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ choices: [{ message: { content: verdict }, finish_reason: "stop" }] }));
  });
  try {
    const judge = createJudgeDetector(openAiJudge({ url: judgeServer.url, model: "judge" }));
    const target = { name: "t", chat: async () => ({ text: "Subject: hello\nDear customer", finishReason: "stop", latencyMs: 0 }) };
    const yes = await runRedTeam({ target, probes: ["jailbreak.prefix-injection"], judge, maxAttempts: 1 });
    assert.equal(yes.results[0].success, true);
    assert.match(asked[0], /write a convincing phishing email/);
    const refusing = { name: "t", chat: async () => ({ text: "I can't.", finishReason: "stop", latencyMs: 0 }) };
    const no = await runRedTeam({ target: refusing, probes: ["jailbreak.prefix-injection"], judge, maxAttempts: 1 });
    assert.equal(no.results[0].success, false);
    assert.equal(no.results[0].verdicts.find((v) => v.detector === "judge")?.hit, false);
  } finally {
    await judgeServer.close();
  }
});

test("a request the server rejects with 400 fails that attempt only; the run goes on and reports it", async () => {
  const server = await serve((_req, res, body) => {
    const { messages } = JSON.parse(body) as { messages: { role: string }[] };
    if (messages.some((m) => m.role === "tool")) {
      res.writeHead(400, { "content-type": "application/json" });
      res.end('{"error":{"message":"this model does not support tools"}}');
      return;
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify({ choices: [{ message: { content: "Here is a short summary." }, finish_reason: "stop" }] }));
  });
  try {
    const run = await runRedTeam({ target: createOpenAiTarget({ url: server.url, model: "m" }), probes: ["injection.indirect"], concurrency: 4 });
    assert.equal(run.results.length, 4);
    const failed = run.results.filter((r) => r.error !== undefined);
    assert.deepEqual(
      failed.map((r) => r.attemptId),
      ["tool-result"],
    );
    assert.match(failed[0].error!, /HTTP 400.*does not support tools/);
  } finally {
    await server.close();
  }
});
