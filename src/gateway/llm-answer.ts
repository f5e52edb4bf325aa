/**
 * What an OpenAI-compatible LLM answers, through the output scanners before the client sees
 * it. Everything the model wrote is scanned: the text of every choice (`n` > 1 gives several),
 * and the arguments of its tool and function calls, which an agent executes and which can
 * carry a secret or a leaked system prompt out as easily as text can.
 *
 * Streams are scanned as they arrive, per choice: the text so far is re-scanned and forwarded
 * minus a hold-back window, so a secret split across chunks is redacted before any of it
 * leaves. Tool calls are held until their arguments are complete (a client cannot run half a
 * call), scanned, and sent as one delta each; a withheld call ends its choice with
 * finish_reason "content_filter".
 */
import { PassThrough } from "node:stream";

/** An output scan: the text to send, or that it must be withheld. */
export type AnswerScan = (text: string) => Promise<{ text: string; withheld: boolean }>;

export type AnswerKind = "chat/completions" | "completions";

/** Characters of a streamed answer held back until more text (or the end) shows whether they must be redacted. */
export const STREAM_HOLDBACK = 64;

interface FunctionCall {
  name?: string;
  arguments?: string;
}
interface ToolCall {
  id?: string;
  type?: string;
  function?: FunctionCall;
}
interface ChatMessage {
  content?: unknown;
  tool_calls?: ToolCall[];
  function_call?: FunctionCall;
}

/**
 * Scans a whole (non-streamed) answer in place and returns the text the model produced, for
 * token counting. A withheld choice keeps only the notice, with finish_reason "content_filter".
 */
export async function scanWholeAnswer(choices: Record<string, unknown>[], kind: AnswerKind, scan: AnswerScan): Promise<string> {
  let produced = "";
  for (const choice of choices) {
    if (kind === "completions") {
      if (typeof choice.text !== "string") continue;
      produced += choice.text;
      const verdict = await scan(choice.text);
      choice.text = verdict.text;
      if (verdict.withheld) choice.finish_reason = "content_filter";
      continue;
    }
    const message = choice.message as ChatMessage | undefined;
    if (!message) continue;
    const withheld: string[] = [];
    if (typeof message.content === "string") {
      produced += message.content;
      const verdict = await scan(message.content);
      message.content = verdict.text;
      if (verdict.withheld) withheld.push(verdict.text);
    }
    for (const call of [...(message.tool_calls ?? []).map((c) => c.function), message.function_call]) {
      if (typeof call?.arguments !== "string") continue;
      produced += call.arguments;
      const verdict = await scan(call.arguments);
      call.arguments = verdict.text;
      if (verdict.withheld) withheld.push(verdict.text);
    }
    if (withheld.length > 0) {
      // Nothing of a withheld answer reaches an agent that could act on it: no text, no calls.
      choice.message = { role: "assistant", content: withheld[0] };
      choice.finish_reason = "content_filter";
    }
  }
  return produced;
}

interface StreamedChoice {
  raw: string;
  emitted: string;
  /** False once withheld: nothing more of this choice is forwarded. */
  open: boolean;
  finish: string | null;
  /** Tool calls by their index in the stream, assembled from their deltas; -1 is the legacy function_call. */
  calls: Map<number, { id?: string; type?: string; name: string; arguments: string }>;
}

interface StreamChunk {
  choices?: {
    index?: number;
    text?: string;
    delta?: { content?: string | null; tool_calls?: ({ index?: number } & ToolCall)[]; function_call?: FunctionCall };
    finish_reason?: string | null;
  }[];
  usage?: { completion_tokens?: number };
  [field: string]: unknown;
}

/**
 * The client's event stream, written as the upstream's arrives. `done` gets the text the model
 * produced and the upstream's usage if it sent one (stream_options.include_usage), once the
 * stream has ended for any reason.
 */
export function scannedStream(
  upstream: AsyncIterable<Buffer>,
  kind: AnswerKind,
  scan: AnswerScan,
  onError: (e: unknown) => void,
  done: (produced: string, usage: StreamChunk["usage"]) => Promise<void>,
): PassThrough {
  const out = new PassThrough();
  const choices = new Map<number, StreamedChoice>();
  let envelope: Record<string, unknown> | undefined;
  let usage: StreamChunk["usage"];

  const send = (index: number, delta: Record<string, unknown>, finish: string | null) => {
    if (!envelope) return;
    const choice = kind === "completions" ? { index, text: (delta.content as string) ?? "", finish_reason: finish } : { index, delta, finish_reason: finish };
    out.write(`data: ${JSON.stringify({ ...envelope, choices: [choice] })}\n\n`);
  };
  const withhold = (index: number, choice: StreamedChoice) => {
    choice.open = false;
    send(index, {}, "content_filter");
  };
  /** Forwards the scanned text of one choice, all of it when final; false when it was withheld. */
  const flush = async (index: number, choice: StreamedChoice, final: boolean): Promise<boolean> => {
    const verdict = await scan(choice.raw);
    if (verdict.withheld) {
      withhold(index, choice);
      return false;
    }
    const ready = final ? verdict.text : verdict.text.slice(0, Math.max(0, verdict.text.length - STREAM_HOLDBACK));
    if (ready.length > choice.emitted.length && ready.startsWith(choice.emitted)) {
      send(index, { content: ready.slice(choice.emitted.length) }, null);
      choice.emitted = ready;
    }
    return true;
  };
  /** The rest of a choice: its text, then its calls, each scanned, then its finish reason. */
  const finish = async (index: number, choice: StreamedChoice) => {
    if (!(await flush(index, choice, true))) return;
    const scanned: { index: number; id?: string; type?: string; function: FunctionCall }[] = [];
    for (const [at, call] of [...choice.calls].sort((a, b) => a[0] - b[0])) {
      const verdict = await scan(call.arguments);
      if (verdict.withheld) return withhold(index, choice);
      scanned.push({ index: at, id: call.id, type: call.type, function: { name: call.name, arguments: verdict.text } });
    }
    for (const { index: at, ...call } of scanned) {
      if (at < 0) send(index, { function_call: call.function }, null);
      else send(index, { tool_calls: [{ index: at, ...call }] }, null);
    }
    choice.open = false;
    send(index, {}, choice.finish ?? "stop");
  };

  const read = (chunk: StreamChunk) => {
    const { choices: deltas, usage: given, ...rest } = chunk;
    envelope ??= rest;
    if (given) usage = given;
    for (const delta of deltas ?? []) {
      const index = delta.index ?? 0;
      let choice = choices.get(index);
      if (!choice) {
        choice = { raw: "", emitted: "", open: true, finish: null, calls: new Map() };
        choices.set(index, choice);
      }
      choice.raw += (kind === "completions" ? delta.text : delta.delta?.content) ?? "";
      for (const call of delta.delta?.tool_calls ?? []) assemble(choice, call.index ?? 0, call.id, call.type, call.function);
      if (delta.delta?.function_call) assemble(choice, -1, undefined, undefined, delta.delta.function_call);
      if (delta.finish_reason) choice.finish = delta.finish_reason;
    }
  };

  const pump = async () => {
    let pending = "";
    try {
      for await (const bytes of upstream) {
        pending += bytes.toString("utf8");
        for (let cut = pending.indexOf("\n\n"); cut >= 0; cut = pending.indexOf("\n\n")) {
          const data = pending
            .slice(0, cut)
            .split("\n")
            .filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trim())
            .join("");
          pending = pending.slice(cut + 2);
          if (data === "" || data === "[DONE]") continue;
          read(JSON.parse(data) as StreamChunk);
          for (const [index, choice] of choices) {
            if (choice.open && choice.raw.length - choice.emitted.length >= 2 * STREAM_HOLDBACK) await flush(index, choice, false);
          }
        }
        if (choices.size > 0 && [...choices.values()].every((c) => !c.open)) break;
      }
      for (const [index, choice] of choices) if (choice.open) await finish(index, choice);
      if (usage && envelope) out.write(`data: ${JSON.stringify({ ...envelope, choices: [], usage })}\n\n`);
    } catch (e) {
      onError(e);
      for (const [index, choice] of choices) if (choice.open) send(index, {}, "error");
    } finally {
      out.end("data: [DONE]\n\n");
      const produced = [...choices.values()].map((c) => c.raw + [...c.calls.values()].map((call) => call.arguments).join("")).join("");
      await done(produced, usage).catch(() => undefined);
    }
  };
  void pump();
  return out;
}

function assemble(choice: StreamedChoice, at: number, id: string | undefined, type: string | undefined, fn: FunctionCall | undefined) {
  let call = choice.calls.get(at);
  if (!call) {
    call = { name: "", arguments: "" };
    choice.calls.set(at, call);
  }
  call.id ??= id;
  call.type ??= type;
  call.name += fn?.name ?? "";
  call.arguments += fn?.arguments ?? "";
}
