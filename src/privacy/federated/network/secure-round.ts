/**
 * One round of `aegis fl server` under secure aggregation (Bonawitz et al. 2017; the
 * protocol is ../secagg/): the sampled clients get protocol ids 1 … n, and the round walks
 * the protocol's stages — advertise keys (with the client's example count, which fixes
 * FedAvg's weight unit), share keys, send the masked input, unmask — each closing when every
 * expected client has posted or the round's deadline passes. The server's HTTP handler only
 * routes (under DP-FedAvg the clients clip to L2 norm S, and the server noises the unmasked
 * sum before it becomes the step): `task` says whether a client has to act, `view` is what it fetches for the stage,
 * `post` takes its message. JSON with base64 carries keys, ciphertexts and shares, the masked
 * input travels as base64 of its little-endian words.
 */
import { AegisError } from "../../../errors.js";
import { noisyAverage } from "../dp-fedavg-mcmahan2018.js";
import { decodeMean, decodeSum, type SecureDpSettings } from "../secagg/aggregator.js";
import type { KeyAdvert, MaskedInput, SealedShares, UnmaskingShares } from "../secagg/messages.js";
import { fixedPointFor } from "../secagg/quantise.js";
import { SecAggServer } from "../secagg/server.js";
import { defaultThreshold } from "../secagg/session.js";

export const SECAGG_STAGES = ["advertise", "share", "input", "unmask"] as const;
export type SecAggStage = (typeof SECAGG_STAGES)[number];

/** What a sampled client is told in its task. */
export interface SecAggTask {
  stage: SecAggStage;
  id: number;
  /** n, the sampled clients (fixes the fixed-point scale). */
  clients: number;
  threshold: number;
  /** Words of the encoded update (parameters + FedAvg's weight). */
  length: number;
  session: string;
  clip: number;
  /** Under DP-FedAvg: clip the update to L2 norm `clip` and give it weight 1 (encodeClippedUpdate). */
  dp?: boolean;
}

export interface SecureRoundSettings {
  clip: number;
  /** t as a share of the sampled clients (default: a majority). */
  thresholdShare?: number;
  /** DP-FedAvg: the clients clip to L2 norm `clip`, the server noises the unmasked sum with these and `normal`. */
  dp?: { settings: SecureDpSettings; normal: () => number };
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
const unb64 = (text: unknown, what: string): Uint8Array => {
  if (typeof text !== "string") throw new AegisError("INTEGRITY_FAILED", `${what} must be base64 text`);
  return new Uint8Array(Buffer.from(text, "base64"));
};

export const wire = {
  advert: (a: KeyAdvert) => ({ id: a.id, cipherPublic: b64(a.cipherPublic), maskPublic: b64(a.maskPublic) }),
  unAdvert: (o: { id: number; cipherPublic: unknown; maskPublic: unknown }): KeyAdvert => ({
    id: o.id,
    cipherPublic: unb64(o.cipherPublic, "cipherPublic"),
    maskPublic: unb64(o.maskPublic, "maskPublic"),
  }),
  sealed: (s: SealedShares) => ({ from: s.from, to: s.to, ciphertext: b64(s.ciphertext) }),
  unSealed: (o: { from: number; to: number; ciphertext: unknown }): SealedShares => ({ from: o.from, to: o.to, ciphertext: unb64(o.ciphertext, "ciphertext") }),
  words: (w: Uint32Array) => b64(new Uint8Array(w.buffer, w.byteOffset, w.byteLength)),
  unWords: (text: unknown): Uint32Array => {
    const bytes = unb64(text, "masked");
    if (bytes.length % 4 !== 0) throw new AegisError("INTEGRITY_FAILED", "a masked input must be whole 32-bit words");
    return new Uint32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  },
  unmasking: (u: UnmaskingShares) => ({
    selfMasks: u.selfMasks.map((e) => ({ of: e.of, y: b64(e.share.y) })),
    maskKeys: u.maskKeys.map((e) => ({ of: e.of, y: b64(e.share.y) })),
  }),
};

type Posted = { examples: number; advert: KeyAdvert } | SealedShares[] | MaskedInput | UnmaskingShares;

export class SecureRound {
  readonly ids: Map<string, number>;
  stage: SecAggStage = "advertise";
  private readonly server: SecAggServer;
  private readonly task0: Omit<SecAggTask, "stage" | "id">;
  private expected: Set<number>;
  private posted = new Map<number, Posted>();
  private roster: KeyAdvert[] = [];
  private unit = 1;
  private inboxes = new Map<number, SealedShares[]>();
  private survivors: number[] = [];
  private examples = new Map<number, number>();
  private readonly dp: SecureRoundSettings["dp"];

  constructor(sampled: readonly string[], parameters: number, session: string, settings: SecureRoundSettings) {
    const n = sampled.length;
    this.ids = new Map(sampled.map((name, i) => [name, i + 1]));
    const threshold = settings.thresholdShare === undefined ? defaultThreshold(n) : Math.max(1, Math.ceil(settings.thresholdShare * n));
    this.task0 = { clients: n, threshold, length: parameters + 1, session, clip: settings.clip, ...(settings.dp ? { dp: true } : {}) };
    this.dp = settings.dp;
    this.server = new SecAggServer({ threshold, length: parameters + 1, session });
    this.expected = new Set(this.ids.values());
  }

  /** The secure-aggregation part of `client`'s task, when it has to act in this stage. */
  task(client: string): SecAggTask | undefined {
    const id = this.ids.get(client);
    if (id === undefined || !this.expected.has(id) || this.posted.has(id)) return undefined;
    return { ...this.task0, stage: this.stage, id };
  }

  /** What `client` fetches for the current stage; undefined when it takes no part in it. */
  view(client: string): object | undefined {
    const id = this.ids.get(client);
    if (id === undefined || !this.expected.has(id)) return undefined;
    if (this.stage === "share") return { roster: this.roster.map(wire.advert), unit: this.unit };
    if (this.stage === "input") return { inbox: (this.inboxes.get(id) ?? []).map(wire.sealed) };
    if (this.stage === "unmask") return { survivors: this.survivors };
    return {};
  }

  /** Takes `client`'s message for `stage`; false when it is not the client's to send now. */
  post(client: string, stage: string, body: Record<string, unknown>): boolean {
    const id = this.ids.get(client);
    if (id === undefined || stage !== this.stage || !this.expected.has(id) || this.posted.has(id)) return false;
    if (stage === "advertise") {
      const examples = Number(body.examples);
      if (!(Number.isInteger(examples) && examples > 0)) throw new AegisError("BAD_DATA", "examples must be a positive integer");
      this.posted.set(id, { examples, advert: wire.unAdvert({ ...(body as { cipherPublic: unknown; maskPublic: unknown }), id }) });
    } else if (stage === "share") {
      const sealed = (body.sealed as { to: number; ciphertext: unknown }[]).map((s) => wire.unSealed({ ...s, from: id }));
      this.posted.set(id, sealed);
    } else if (stage === "input") {
      const masked = wire.unWords(body.masked);
      if (masked.length !== this.task0.length)
        throw new AegisError("SHAPE_MISMATCH", `the masked input has ${masked.length} words and this round expects ${this.task0.length}`);
      this.posted.set(id, { id, masked });
    } else {
      const entries = (list: unknown) => (list as { of: number; y: unknown }[]).map((e) => ({ of: e.of, share: { x: id, y: unb64(e.y, "share") } }));
      this.posted.set(id, { id, selfMasks: entries(body.selfMasks), maskKeys: entries(body.maskKeys) });
    }
    return true;
  }

  /** Whether every expected client has posted in this stage. */
  get complete(): boolean {
    return this.posted.size === this.expected.size;
  }

  /** Closes the stage with what was posted; returns FedAvg's (or DP-FedAvg's) step after unmasking. Throws (fewer than t) when the round cannot go on. */
  closeStage(): Float32Array | undefined {
    const posted = [...this.posted.values()];
    this.posted = new Map();
    if (this.stage === "advertise") {
      const adverts = posted as { examples: number; advert: KeyAdvert }[];
      this.roster = this.server.collectAdverts(adverts.map((a) => a.advert));
      for (const a of adverts) this.examples.set(a.advert.id, a.examples);
      this.unit = Math.max(1, ...adverts.map((a) => a.examples));
      return this.next(
        "share",
        this.roster.map((a) => a.id),
      );
    }
    if (this.stage === "share") {
      this.inboxes = this.server.routeShares(posted as SealedShares[][]);
      return this.next("input", [...this.inboxes.keys()]);
    }
    if (this.stage === "input") {
      this.survivors = this.server.collectMaskedInputs(posted as MaskedInput[]);
      return this.next("unmask", this.survivors);
    }
    const sum = this.server.unmask(posted as UnmaskingShares[]);
    const fixedPoint = fixedPointFor(this.task0.clients, this.task0.clip);
    return this.dp ? noisyAverage(decodeSum(sum, fixedPoint).sum, this.dp.settings, this.dp.normal) : decodeMean(sum, fixedPoint);
  }

  /** The clients whose updates the sum holds (after unmasking). */
  get counted(): string[] {
    return [...this.ids].filter(([, id]) => this.survivors.includes(id)).map(([name]) => name);
  }

  /** Their examples, as they announced them. */
  get countedExamples(): number {
    return this.survivors.reduce((sum, id) => sum + (this.examples.get(id) ?? 0), 0);
  }

  private next(stage: SecAggStage, expected: readonly number[]): undefined {
    this.stage = stage;
    this.expected = new Set(expected);
    return undefined;
  }
}
