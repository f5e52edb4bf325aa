/**
 * `aegis fl server`: the federation's coordinator over HTTP/2 with TLS (node:http2;
 * protocol.ts). HTTP/1.1 over TLS is still answered (ALPN offers h2 first), so curl and older
 * clients work; `aegis fl client` speaks h2.
 *
 * - Clients authenticate with a bearer token whose SHA-256 the config lists; anyone else
 *   gets 401, and a client answers only rounds it was sampled for (409 otherwise). With
 *   `tls.clientCa` the server also demands a client certificate from that CA (the TLS
 *   handshake fails without one) whose common name is the client's id (mutual TLS).
 * - A round samples `clientsPerRound` of the clients seen in the last deadline (so clients
 *   can join late), waits for their updates until all have answered or the deadline passes,
 *   then aggregates if at least `minClients` answered; otherwise it is tried again with a
 *   new sample and a new attempt id (updates to an old attempt are refused).
 * - After every round the global parameters and the history are checkpointed atomically;
 *   a restarted server resumes after the last completed round. An interrupted round is
 *   tried again under a new attempt, so no update is counted twice.
 * - With `secureAggregation` in fl.yaml a round runs Bonawitz et al.'s protocol instead
 *   (secure-round.ts, ../secagg/): the server routes keys and encrypted shares, gets masked
 *   inputs and unmasks only their sum; plain updates are refused. Each stage closes when all
 *   expected clients answered or after `deadlineSeconds`; fewer than t retries the round.
 * - With `dp` in fl.yaml the server runs DP-FedAvg (../dp-fedavg-mcmahan2018.ts): a round
 *   samples each configured client with probability q (Poisson sampling, as the accountant
 *   assumes; a sampled client that is offline counts as dropped), clips each update to S,
 *   divides the sum by qN and adds noise from a CSPRNG; each round records ε per client so
 *   far. Under secure aggregation as well, the clients clip before masking and the server
 *   noises the unmasked sum. A round that misses its minimum releases nothing and is resampled.
 */
import { randomBytes, randomInt } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createSecureServer, type Http2SecureServer, type Http2ServerRequest, type Http2ServerResponse } from "node:http2";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { OnnxClassifier } from "../../../engine/index.js";
import { AegisError } from "../../../errors.js";
import { writeFileAtomic } from "../../../fs.js";
import { loadModel } from "../../../onnx/io.js";
import { encodeModel } from "../../../onnx/proto.js";
import { SecureRandom } from "../../dp/index.js";
import { type Aggregator, aggregatorByName, type Contribution } from "../aggregators/index.js";
import { dpFedAvg, dpFedAvgEpsilon } from "../dp-fedavg-mcmahan2018.js";
import { parameterCount, readParameters, writeParameters } from "../parameters.js";
import type { FlServerConfig } from "./config.js";
import { bytesToFloats, floatsToBytes, HEADERS, PATHS, sameDigest, sha256Hex, type Task } from "./protocol.js";
import { SecureRound, type SecureRoundSettings } from "./secure-round.js";

export interface RoundRecord {
  round: number;
  attempt: string;
  /** The clients asked for an update. */
  sampled: string[];
  /** The clients whose updates were aggregated (the others missed the deadline). */
  clients: string[];
  examples: number;
  seconds: number;
  /** Under DP-FedAvg: ε per client spent by the rounds so far, at fl.yaml's δ. */
  epsilon?: number;
}

interface Checkpoint {
  round: number;
  parameters: string;
  history: RoundRecord[];
}

interface OpenRound {
  round: number;
  attempt: string;
  sampled: Set<string>;
  updates: Map<string, Contribution>;
  started: number;
  deadline: number;
  /** Under secure aggregation, the protocol's state (updates stays empty). */
  secure?: SecureRound;
}

export interface FlServerEvents {
  onRound?: (record: RoundRecord) => void;
  onRetry?: (round: number, answered: number) => void;
  log?: (line: string) => void;
}

/** A request over HTTP/2 or, for older clients, HTTP/1.1. */
type Request = Http2ServerRequest | IncomingMessage;
type Response = Http2ServerResponse | ServerResponse;

export class FlServer {
  private global: Float32Array;
  private completed: number;
  private readonly history: RoundRecord[];
  private open: OpenRound | undefined;
  private readonly seen = new Map<string, number>();
  private readonly aggregator: Aggregator;
  /** DP noise and Poisson sampling come from the OS's entropy, never from a seed. */
  private readonly random = SecureRandom.fromEntropy();
  private server: Http2SecureServer | undefined;
  private readonly sockets = new Set<TLSSocket>();
  /** The HTTP version each client last spoke ("2.0" over h2). */
  private readonly protocols = new Map<string, string>();
  private ticker: NodeJS.Timeout | undefined;
  private idleSince = Date.now();
  private finished: (() => void) | undefined;
  readonly done: Promise<void>;

  private constructor(
    private readonly config: FlServerConfig,
    private readonly classifier: OnnxClassifier,
    private readonly modelBytes: Uint8Array,
    start: Checkpoint | undefined,
    private readonly events: FlServerEvents,
  ) {
    const dp = config.dp;
    this.aggregator = dp
      ? dpFedAvg({ ...dp, expectedClients: dp.samplingRate * config.clients.size, dimension: parameterCount(classifier) })
      : aggregatorByName(config.aggregator);
    this.global = start ? loadParameters(join(config.checkpoint, start.parameters), parameterCount(classifier)) : readParameters(classifier);
    this.completed = start?.round ?? 0;
    this.history = start?.history ?? [];
    this.done = new Promise((resolve) => {
      this.finished = resolve;
    });
  }

  /** Loads the model and, when the checkpoint folder has a state, resumes from it. */
  static async create(config: FlServerConfig, events: FlServerEvents = {}): Promise<FlServer> {
    const model = loadModel(config.model);
    const classifier = await OnnxClassifier.create(model, { trainable: true });
    if (classifier.parameters.length === 0) throw new AegisError("BAD_MODEL", `${config.model} has no float parameters to train`);
    const needed = config.minClients;
    if (needed < aggregatorByName(config.aggregator).minClients(config.byzantine)) {
      throw new AegisError(
        "BAD_OPTION",
        `${config.aggregator} needs at least ${aggregatorByName(config.aggregator).minClients(config.byzantine)} clients per round to tolerate byzantine: ${config.byzantine}; raise minClients`,
      );
    }
    mkdirSync(config.checkpoint, { recursive: true });
    const statePath = join(config.checkpoint, "state.json");
    const start = existsSync(statePath) ? (JSON.parse(readFileSync(statePath, "utf8")) as Checkpoint) : undefined;
    if (start) events.log?.(`resuming after round ${start.round} from ${statePath}`);
    return new FlServer(config, classifier, encodeModel(model), start, events);
  }

  get round(): number {
    return this.completed;
  }

  get rounds(): readonly RoundRecord[] {
    return this.history;
  }

  /** The global model's parameters after the last completed round (not a copy). */
  get parameters(): Float32Array {
    return this.global;
  }

  /** The HTTP version `client` last spoke: "2.0" over HTTP/2, "1.1" over HTTP/1.1. */
  protocolOf(client: string): string | undefined {
    return this.protocols.get(client);
  }

  async listen(): Promise<number> {
    const { cert, key, clientCa } = this.config.tls;
    const mutual = clientCa ? { requestCert: true, rejectUnauthorized: true, ca: readFileSync(clientCa) } : {};
    const tls = { cert: readFileSync(cert), key: readFileSync(key), ...mutual };
    this.server = createSecureServer({ ...tls, allowHTTP1: true }, (req: Request, res: Response) => {
      this.handle(req, res).catch((e: unknown) => reply(res, 500, { error: { code: "INTERNAL", message: (e as Error).message } }));
    });
    this.server.on("secureConnection", (socket: TLSSocket) => {
      this.sockets.add(socket);
      socket.once("close", () => this.sockets.delete(socket));
    });
    await new Promise<void>((resolve, reject) => {
      this.server?.once("error", reject);
      this.server?.listen(this.config.port, this.config.host, resolve);
    });
    this.ticker = setInterval(() => this.tick().catch((e: unknown) => this.events.log?.(`round failed: ${(e as Error).message}`)), 100);
    if (this.completed >= this.config.rounds) this.finish();
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    const closed = new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    // HTTP/2 sessions stay open between requests; close() waits for them, so end them here.
    for (const socket of this.sockets) socket.destroy();
    await closed;
    await this.classifier.release();
  }

  private async handle(req: Request, res: Response): Promise<void> {
    const client = this.authenticate(req);
    if (!client) {
      await drain(req);
      return reply(res, 401, {
        error: { code: "UNAUTHORIZED", message: "unknown client: send Authorization: Bearer <token> with a token the server's fl.yaml lists" },
      });
    }
    this.seen.set(client, Date.now());
    this.protocols.set(client, req.httpVersion);
    const path = new URL(req.url ?? "/", "https://server").pathname;
    if (req.method === "GET" && path === PATHS.task) return reply(res, 200, this.task(client));
    if (req.method === "GET" && path === PATHS.model) return replyBytes(res, this.modelBytes, {});
    if (req.method === "GET" && path === PATHS.parameters) return replyBytes(res, floatsToBytes(this.global), { [HEADERS.round]: String(this.completed) });
    if (req.method === "POST" && path === PATHS.update) return this.receive(client, req, res);
    if (path === PATHS.secagg && (req.method === "GET" || req.method === "POST")) return this.secagg(client, req, res);
    await drain(req);
    reply(res, 404, { error: { code: "NOT_FOUND", message: `no ${req.method} ${path}` } });
  }

  private authenticate(req: Request): string | undefined {
    const match = /^Bearer (.+)$/.exec(req.headers.authorization ?? "");
    if (!match) return undefined;
    const digest = sha256Hex(match[1]);
    const claimed = req.headers[HEADERS.client];
    const certified = this.config.tls.clientCa ? (req.socket as TLSSocket).getPeerCertificate().subject?.CN : undefined;
    for (const [id, expected] of this.config.clients) {
      if (!sameDigest(digest, expected)) continue;
      const claimOk = claimed === undefined || claimed === id;
      return claimOk && (!this.config.tls.clientCa || certified === id) ? id : undefined;
    }
    return undefined;
  }

  private task(client: string): Task {
    const base = { local: this.config.local, retryAfterMs: 200 };
    if (this.completed >= this.config.rounds) return { ...base, state: "done", round: this.completed, attempt: "" };
    const open = this.open;
    if (open?.secure) {
      const secagg = open.secure.task(client);
      if (secagg) return { ...base, state: "train", round: open.round, attempt: open.attempt, secagg };
      return { ...base, state: "wait", round: open.round, attempt: open.attempt };
    }
    if (open?.sampled.has(client) && !open.updates.has(client)) return { ...base, state: "train", round: open.round, attempt: open.attempt };
    return { ...base, state: "wait", round: this.completed + 1, attempt: open?.attempt ?? "" };
  }

  private async receive(client: string, req: Request, res: Response): Promise<void> {
    const open = this.open;
    const round = Number(req.headers[HEADERS.round]);
    const attempt = String(req.headers[HEADERS.attempt] ?? "");
    const examples = Number(req.headers[HEADERS.examples]);
    const refuse = (message: string) => drain(req).then(() => reply(res, 409, { error: { code: "CONFLICT", message } }));
    if (!open || open.round !== round || open.attempt !== attempt) return refuse(`round ${round} (attempt ${attempt}) is not open; ask ${PATHS.task} again`);
    if (open.secure) return refuse(`this federation uses secure aggregation: send masked inputs to ${PATHS.secagg} (a client of this Aegis version does)`);
    if (!open.sampled.has(client)) return refuse(`${client} was not sampled for round ${round}`);
    if (open.updates.has(client)) return refuse(`${client} has already sent its update for round ${round}`);
    const size = parameterCount(this.classifier) * 4;
    const body = await readBody(req, size);
    if (body.length !== size)
      return reply(res, 400, { error: { code: "BAD_UPDATE", message: `the update has ${body.length} bytes, the model needs ${size}` } });
    const delta = bytesToFloats(body);
    if (!delta.every(Number.isFinite) || !(Number.isInteger(examples) && examples > 0)) {
      return reply(res, 400, { error: { code: "BAD_UPDATE", message: "the update must be finite and name its examples (a positive integer)" } });
    }
    if (this.open !== open) return refuse(`round ${round} closed while the update arrived`);
    open.updates.set(client, { delta, examples });
    reply(res, 202, { accepted: true, round });
  }

  /** GET: what the client's secure-aggregation stage needs; POST: its message for the stage. */
  private async secagg(client: string, req: Request, res: Response): Promise<void> {
    const secure = this.open?.secure;
    const open = this.open;
    const conflict = () =>
      reply(res, 409, { error: { code: "CONFLICT", message: `this is not ${client}'s secure-aggregation stage; ask ${PATHS.task} again` } });
    if (req.method === "GET") {
      await drain(req);
      const view = secure?.view(client);
      return view ? reply(res, 200, view) : conflict();
    }
    const text = (await readBody(req, 64 * 2 ** 20)).toString("utf8");
    if (!open || !secure) return conflict();
    try {
      const body = JSON.parse(text) as Record<string, unknown>;
      if (body.round !== open.round || body.attempt !== open.attempt || !secure.post(client, String(body.stage), body)) return conflict();
    } catch (e) {
      return reply(res, 400, { error: { code: "BAD_SECAGG_MESSAGE", message: `the secure-aggregation message is malformed: ${(e as Error).message}` } });
    }
    reply(res, 202, { accepted: true, round: open.round });
  }

  /** Closes a secure round's stage when everyone answered or the deadline passed; a step ends the round. */
  private secureTick(open: OpenRound, secure: SecureRound, now: number): Float32Array | "waiting" | "failed" {
    if (!secure.complete && now < open.deadline) return "waiting";
    try {
      const step = secure.closeStage();
      if (step && secure.counted.length < this.config.minClients) {
        this.events.log?.(`round ${open.round}: only ${secure.counted.length} masked inputs were summed (minimum ${this.config.minClients})`);
        return "failed";
      }
      if (step) return step;
      open.deadline = now + this.config.deadlineSeconds * 1000;
      return "waiting";
    } catch (e) {
      if (!(e instanceof AegisError)) throw e;
      this.events.log?.(`round ${open.round}: secure aggregation stopped at its ${secure.stage} stage: ${e.message}`);
      return "failed";
    }
  }

  private async tick(): Promise<void> {
    const now = Date.now();
    if (this.completed >= this.config.rounds) return;
    const open = this.open;
    if (!open) return this.maybeStart(now);
    if (open.secure) {
      const outcome = this.secureTick(open, open.secure, now);
      if (outcome === "waiting") return;
      this.open = undefined;
      this.idleSince = now;
      if (outcome === "failed") return this.events.onRetry?.(open.round, open.secure.counted.length);
      return this.complete(open, outcome, open.secure.counted, open.secure.countedExamples, now);
    }
    const everyone = open.updates.size === open.sampled.size;
    if (!everyone && now < open.deadline) return;
    this.open = undefined;
    if (open.updates.size < this.config.minClients) {
      this.events.onRetry?.(open.round, open.updates.size);
      this.idleSince = now;
      return;
    }
    const ids = [...open.updates.keys()].sort();
    const contributions = ids.map((id) => open.updates.get(id) as Contribution);
    const step = this.aggregator.aggregate(contributions, { byzantine: this.config.byzantine, normal: () => this.random.normal() });
    this.complete(
      open,
      step,
      ids,
      contributions.reduce((s, c) => s + c.examples, 0),
      now,
    );
  }

  private complete(open: OpenRound, step: Float32Array, clients: string[], examples: number, now: number): void {
    this.global = Float32Array.from(this.global, (w, i) => w + step[i]);
    const record: RoundRecord = {
      round: open.round,
      attempt: open.attempt,
      sampled: [...open.sampled].sort(),
      clients,
      examples,
      seconds: (now - open.started) / 1000,
    };
    const dp = this.config.dp;
    if (dp) record.epsilon = dpFedAvgEpsilon({ ...dp, rounds: open.round }).epsilon;
    this.history.push(record);
    this.completed = open.round;
    this.checkpoint();
    this.idleSince = now;
    this.events.onRound?.(record);
    if (this.completed >= this.config.rounds) this.finish();
  }

  private maybeStart(now: number): void {
    const deadlineMs = this.config.deadlineSeconds * 1000;
    const available = [...this.seen].filter(([, at]) => now - at <= Math.max(deadlineMs, 5000)).map(([id]) => id);
    const waitedLongEnough = now - this.idleSince >= deadlineMs;
    if (available.length < this.config.clientsPerRound && !(waitedLongEnough && available.length >= this.config.minClients)) return;
    const { dp, secureAggregation: secure } = this.config;
    const sampled = dp
      ? [...this.config.clients.keys()].filter(() => this.random.uniform() < dp.samplingRate).sort()
      : sample(available, this.config.clientsPerRound);
    // Too small a Poisson sample releases nothing: draw again at the next tick.
    if (dp && (sampled.length < this.config.minClients || (secure && sampled.length < 2))) return;
    const round = this.completed + 1;
    const attempt = randomBytes(8).toString("hex");
    this.open = {
      round,
      attempt,
      sampled: new Set(sampled),
      updates: new Map(),
      started: now,
      deadline: now + deadlineMs,
      secure: secure ? new SecureRound(sampled, parameterCount(this.classifier), `round ${round} attempt ${attempt}`, this.secureSettings(secure)) : undefined,
    };
    this.events.log?.(`round ${this.open.round}: sampled ${sampled.join(", ")}`);
  }

  private secureSettings(secure: NonNullable<FlServerConfig["secureAggregation"]>): SecureRoundSettings {
    const dp = this.config.dp;
    if (!dp) return secure;
    const settings = { ...dp, expectedClients: dp.samplingRate * this.config.clients.size };
    return { ...secure, clip: dp.clip, dp: { settings, normal: () => this.random.normal() } };
  }

  /** Parameters first, then the state that names them: a crash in between leaves the previous state whole. */
  private checkpoint(): void {
    const parameters = `parameters-${this.completed}.bin`;
    writeFileAtomic(join(this.config.checkpoint, parameters), floatsToBytes(this.global));
    const state: Checkpoint = { round: this.completed, parameters, history: this.history };
    writeFileAtomic(join(this.config.checkpoint, "state.json"), `${JSON.stringify(state, null, 2)}\n`);
    if (this.completed >= this.config.rounds) {
      writeParameters(this.classifier, this.global);
      writeFileAtomic(join(this.config.checkpoint, "global.onnx"), encodeModel(this.classifier.exportModel()));
    }
  }

  private finish(): void {
    this.events.log?.(`all ${this.config.rounds} rounds done; the model is ${join(this.config.checkpoint, "global.onnx")}`);
    this.finished?.();
  }
}

function loadParameters(path: string, expected: number): Float32Array {
  const values = bytesToFloats(readFileSync(path));
  if (values.length !== expected)
    throw new AegisError("BAD_DATA", `${path} holds ${values.length} parameters but the model has ${expected}; the checkpoint is from another model`);
  return values;
}

function sample(ids: readonly string[], m: number): string[] {
  const pool = [...ids];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, m).sort();
}

function reply(res: Response, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

function replyBytes(res: Response, bytes: Uint8Array, headers: Record<string, string>): void {
  res.writeHead(200, { "content-type": "application/octet-stream", "content-length": bytes.length, ...headers });
  res.end(bytes);
}

async function readBody(req: Request, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of req) {
    length += (chunk as Buffer).length;
    if (length <= limit + 1) chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function drain(req: Request): Promise<void> {
  for await (const _ of req);
}
