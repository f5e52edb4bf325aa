/**
 * `aegis fl client`: polls the server for a task, trains its round on local data from the
 * global parameters, and sends the update, until the server says the federation is done.
 * A server that is unreachable (restarting) is retried for `patienceMs` before giving up.
 */
import { request } from "node:https";
import { OnnxClassifier } from "../../../engine/index.js";
import { AegisError } from "../../../errors.js";
import { decodeModel } from "../../../onnx/proto.js";
import { type ClientData, type ClientUpdate, localUpdate } from "../client.js";
import { encodeUpdate } from "../secagg/aggregator.js";
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
  const call = (method: "GET" | "POST", path: string, body?: Buffer, headers: Record<string, string> = {}) =>
    callWithRetry(options, method, path, body, headers);
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
    const encoded = encodeUpdate(current.update as ClientUpdate, current.unit, fixedPointFor(secagg.clients, secagg.clip)).field;
    await post({ masked: wire.words(current.protocol.maskInput(encoded, inbox.map(wire.unSealed)).masked) });
  } else {
    const { survivors } = await view();
    await post(wire.unmasking(current.protocol.unmask(survivors)));
  }
  return current;
}

async function callWithRetry(
  options: FlClientOptions,
  method: "GET" | "POST",
  path: string,
  body: Buffer | undefined,
  headers: Record<string, string>,
): Promise<Answer> {
  const giveUp = Date.now() + (options.patienceMs ?? 60_000);
  for (;;) {
    try {
      const answer = await call(options, method, path, body, headers);
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
      const transient = code === "ECONNREFUSED" || code === "ECONNRESET" || code === "EPIPE" || code === "ETIMEDOUT";
      if (!transient || Date.now() > giveUp) {
        const hint = transient ? "is the server running?" : "check --server, --ca, and --cert and --key where the server demands mutual TLS";
        throw new AegisError("TARGET_ERROR", `cannot talk to ${options.server} (${code}); ${hint}`, { cause: e });
      }
      options.log?.(`server unreachable (${code}); retrying`);
      await sleep(500);
    }
  }
}

function call(options: FlClientOptions, method: string, path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, options.server),
      {
        method,
        ca: options.ca,
        cert: options.cert,
        key: options.key,
        headers: { authorization: `Bearer ${options.token}`, [HEADERS.client]: options.id, ...headers },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
