/**
 * `aegis fl client`: polls the server for a task, trains its round on local data from the
 * global parameters, and sends the update, until the server says the federation is done.
 * A server that is unreachable (restarting) is retried for `patienceMs` before giving up.
 * It speaks HTTP/2 over TLS (node:http2): one session carries every request, and a session
 * that fails (the server restarted) is replaced on the next request.
 */
import { type ClientHttp2Session, connect, constants } from "node:http2";
import { OnnxClassifier } from "../../../engine/index.js";
import { AegisError } from "../../../errors.js";
import { decodeModel } from "../../../onnx/proto.js";
import { type ClientData, type ClientUpdate, localUpdate } from "../client.js";
import { encodeClippedUpdate, encodeUpdate } from "../secagg/aggregator.js";
import { SecAggClient } from "../secagg/client.js";
import { fixedPointFor } from "../secagg/quantise.js";
import { bytesToFloats, floatsToBytes, HEADERS, PATHS, type Task } from "./protocol.js";
import { type SecAggTask, wire } from "./secure-round.js";

export interface FlClientOptions {
  server: string;
  /** The client's id in the server's fl.yaml. */
  id: string;
  token: string;
  data: ClientData;
  /** PEM of a CA to trust beyond the system's (a self-signed server certificate). */
  ca?: Buffer;
  /** The client's certificate and key (PEM), for a server that demands mutual TLS. */
  cert?: Buffer;
  key?: Buffer;
  /** How long an unreachable server is retried (default 60 s). */
  patienceMs?: number;
  seed?: number;
  signal?: AbortSignal;
  onRound?: (round: number, loss: number) => void;
  log?: (line: string) => void;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

/** Runs until the server reports the last round done; returns the rounds this client trained. */
export async function runFlClient(options: FlClientOptions): Promise<number[]> {
  const connection = new Connection(options);
  try {
    return await federate(options, (method, path, body, headers = {}) => callWithRetry(options, connection, method, path, body, headers));
  } finally {
    connection.close();
  }
}

async function federate(options: FlClientOptions, call: Call): Promise<number[]> {
  const model = await call("GET", PATHS.model);
  const classifier = await OnnxClassifier.create(decodeModel(model.body), { trainable: true });
  const trained: number[] = [];
  let secure: SecureState | undefined;
  try {
    for (;;) {
      if (options.signal?.aborted) throw new AegisError("INTERRUPTED", "the client was interrupted; the server goes on without it");
      const task = JSON.parse((await call("GET", PATHS.task)).body.toString("utf8")) as Task;
      if (task.state === "done") return trained;
      if (task.state === "wait") {
        await sleep(task.retryAfterMs);
        continue;
      }
      if (task.secagg) {
        const train = async () => {
          const global = bytesToFloats((await call("GET", PATHS.parameters)).body);
          return localUpdate(classifier, global, options.data, { ...task.local, seed: (options.seed ?? 0) + task.round, signal: options.signal });
        };
        const ours = secure?.attempt === task.attempt ? secure : undefined;
        if (!ours && task.secagg.stage !== "advertise") {
          // Restarted after this round's key stage: its keys are gone, so it sits the round out.
          await sleep(task.retryAfterMs);
          continue;
        }
        secure = await secureStep(call, task, task.secagg, ours, train);
        if (task.secagg.stage === "unmask") {
          trained.push(task.round);
          options.onRound?.(task.round, secure.update?.loss ?? Number.NaN);
        }
        continue;
      }
      const global = bytesToFloats((await call("GET", PATHS.parameters)).body);
      const update = await localUpdate(classifier, global, options.data, { ...task.local, seed: (options.seed ?? 0) + task.round, signal: options.signal });
      const sent = await call("POST", PATHS.update, floatsToBytes(update.delta), {
        "content-type": "application/octet-stream",
        [HEADERS.round]: String(task.round),
        [HEADERS.attempt]: task.attempt,
        [HEADERS.examples]: String(update.examples),
      });
      if (sent.status === 202) {
        trained.push(task.round);
        options.onRound?.(task.round, update.loss);
      } else options.log?.(`round ${task.round}: the server refused the update (${sent.status}): ${sent.body.toString("utf8")}`);
    }
  } finally {
    await classifier.release();
  }
}

/** A client's part in one secure round (one attempt): its protocol state and its trained update. */
interface SecureState {
  attempt: string;
  protocol: SecAggClient;
  update?: ClientUpdate;
  unit: number;
}

type Call = (method: "GET" | "POST", path: string, body?: Buffer, headers?: Record<string, string>) => Promise<Answer>;

/** Acts in the task's secure-aggregation stage (secure-round.ts has the messages). */
async function secureStep(
  call: Call,
  task: Task,
  secagg: SecAggTask,
  state: SecureState | undefined,
  train: () => Promise<ClientUpdate>,
): Promise<SecureState> {
  // A new state only at the advertise stage (the caller makes sure), where the update is trained first.
  const current = state ?? { attempt: task.attempt, protocol: new SecAggClient(secagg.id, secagg), unit: 1 };
  const view = async () => JSON.parse((await call("GET", PATHS.secagg)).body.toString("utf8"));
  const post = (message: Record<string, unknown>) =>
    call("POST", PATHS.secagg, Buffer.from(JSON.stringify({ round: task.round, attempt: task.attempt, stage: secagg.stage, ...message })), {
      "content-type": "application/json",
    });
  if (secagg.stage === "advertise") {
    current.update = await train();
    await post({ examples: current.update.examples, ...wire.advert(current.protocol.advertise()) });
  } else if (secagg.stage === "share") {
    const { roster, unit } = await view();
    current.unit = unit;
    const sealed = current.protocol.shareKeys(roster.map(wire.unAdvert));
    await post({ sealed: sealed.map((s) => ({ to: s.to, ciphertext: wire.sealed(s).ciphertext })) });
  } else if (secagg.stage === "input") {
    const { inbox } = await view();
    const fixedPoint = fixedPointFor(secagg.clients, secagg.clip);
    const update = current.update as ClientUpdate;
    const encoded = (secagg.dp ? encodeClippedUpdate(update, fixedPoint) : encodeUpdate(update, current.unit, fixedPoint)).field;
    await post({ masked: wire.words(current.protocol.maskInput(encoded, inbox.map(wire.unSealed)).masked) });
  } else {
    const { survivors } = await view();
    await post(wire.unmasking(current.protocol.unmask(survivors)));
  }
  return current;
}

async function callWithRetry(
  options: FlClientOptions,
  connection: Connection,
  method: "GET" | "POST",
  path: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
): Promise<Answer> {
  const giveUp = Date.now() + (options.patienceMs ?? 60_000);
  for (;;) {
    try {
      const answer = await connection.request(method, path, body, headers);
      if (answer.status === 401)
        throw new AegisError(
          "BAD_OPTION",
          `the server refused ${options.id} (401): check --id and the token (AEGIS_FL_TOKEN or --token-file) against the server's fl.yaml`,
        );
      if (answer.status >= 400 && answer.status !== 409)
        throw new AegisError("TARGET_ERROR", `${method} ${path}: ${answer.status} ${answer.body.toString("utf8")}`);
      return answer;
    } catch (e) {
      if (e instanceof AegisError) throw e;
      const code = (e as NodeJS.ErrnoException).code ?? (e as Error).message;
      const transient = TRANSIENT.has(code);
      if (!transient || Date.now() > giveUp) {
        const hint = transient ? "is the server running?" : "check --server, --ca, and --cert and --key where the server demands mutual TLS";
        throw new AegisError("TARGET_ERROR", `cannot talk to ${options.server} (${code}); ${hint}`, { cause: e });
      }
      options.log?.(`server unreachable (${code}); retrying`);
      await sleep(500);
    }
  }
}

/** Errors of a server that is restarting or went away mid-request: worth another try. */
const TRANSIENT = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ERR_HTTP2_INVALID_SESSION",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_STREAM_ERROR",
]);

/** One HTTP/2 session to the server, opened on first use and again after it fails. */
class Connection {
  private session: ClientHttp2Session | undefined;
  /** Why the current session failed, which its streams report less precisely (a cancelled stream). */
  private failure: Error | undefined;

  constructor(private readonly options: FlClientOptions) {}

  request(method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Answer> {
    const session = this.open();
    return new Promise((resolve, reject) => {
      const stream = session.request({
        [constants.HTTP2_HEADER_METHOD]: method,
        [constants.HTTP2_HEADER_PATH]: path,
        authorization: `Bearer ${this.options.token}`,
        [HEADERS.client]: this.options.id,
        ...headers,
      });
      const chunks: Buffer[] = [];
      let answer: Omit<Answer, "body"> | undefined;
      stream.on("response", (h) => {
        answer = { status: Number(h[constants.HTTP2_HEADER_STATUS]), headers: h };
      });
      stream.on("data", (c: Buffer) => chunks.push(c));
      // The session's own error (ECONNREFUSED, a TLS alert) comes just after the stream ends or is cancelled.
      const fail = (e: Error) => setImmediate(() => reject(this.failure ?? e));
      stream.on("end", () =>
        answer ? resolve({ ...answer, body: Buffer.concat(chunks) }) : fail(new Error("the server closed the stream without answering")),
      );
      stream.on("close", () => {
        if (!answer) fail(new Error("the server closed the stream without answering"));
      });
      stream.on("error", fail);
      stream.end(body);
    });
  }

  close(): void {
    this.session?.close();
    this.session = undefined;
  }

  private open(): ClientHttp2Session {
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const { ca, cert, key } = this.options;
    const session = connect(this.options.server, { ca, cert, key, ALPNProtocols: ["h2"] });
    this.failure = undefined;
    session.on("error", (e: Error) => {
      if (this.session === session) this.failure = e;
    });
    session.on("close", () => {
      if (this.session === session) this.session = undefined;
    });
    this.session = session;
    return session;
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
