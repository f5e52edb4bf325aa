/**
 * One secure aggregation run in one process: n clients (ids 1 … n) and a server exchange
 * the four rounds of Bonawitz et al. 2017 by direct calls, with clients dropping out at any
 * stage. It measures what each party sends and receives (payload bytes, messages.ts) and how
 * long each computes, and can record the server's whole view, which the tests search for
 * anything that reveals a single input.
 */
import { performance } from "node:perf_hooks";
import { AegisError } from "../../../errors.js";
import { SecAggClient } from "./client.js";
import { type ProtocolParams, wireBytes } from "./messages.js";
import { SecAggServer } from "./server.js";

/** Clients (ids, 1-based) that vanish before each stage. */
export interface Dropouts {
  /** Never advertise keys. */
  beforeAdvertising?: readonly number[];
  /** Advertise, then never send their shares (they are in U1, not U2). */
  beforeSharing?: readonly number[];
  /** Share their keys, then never send a masked input (U2, not U3): the interesting case. */
  beforeInput?: readonly number[];
  /** Send a masked input, then never answer the unmasking round (U3, not U5). */
  beforeUnmasking?: readonly number[];
}

export interface SecureSumOptions {
  /** t (default: a majority of the clients, ⌊n/2⌋ + 1). */
  threshold?: number;
  session?: string;
  dropouts?: Dropouts;
  /** Keep every byte the server receives, by stage and sender. */
  recordView?: boolean;
}

export interface ServerViewEntry {
  stage: "advertise" | "share" | "input" | "unmask";
  from: number;
  bytes: Uint8Array;
}

export interface SecureSumCost {
  clients: number;
  /** Mean payload bytes a client that finished the protocol sent, and received. */
  bytesSentPerClient: number;
  bytesReceivedPerClient: number;
  /** Mean compute time of a client that finished, in ms. */
  clientMs: number;
  serverMs: number;
}

export interface SecureSumResult {
  /** Σ of the survivors' inputs mod 2^32. */
  sum: Uint32Array;
  /** U3: the ids whose inputs are in the sum. */
  survivors: number[];
  threshold: number;
  cost: SecureSumCost;
  view?: ServerViewEntry[];
}

export function defaultThreshold(clients: number): number {
  return Math.floor(clients / 2) + 1;
}

/** Runs the protocol over `inputs` (client id i + 1 holds inputs[i]). */
export function secureSum(inputs: readonly Uint32Array[], options: SecureSumOptions = {}): SecureSumResult {
  const n = inputs.length;
  if (n < 2)
    throw new AegisError("BAD_OPTION", `secure aggregation needs at least 2 clients, and this round has ${n}: the sum of one client's input is that input`);
  const params: ProtocolParams = {
    threshold: options.threshold ?? defaultThreshold(n),
    length: inputs[0]?.length ?? 0,
    session: options.session ?? "aggregation",
  };
  const drops = options.dropouts ?? {};
  const view: ServerViewEntry[] | undefined = options.recordView ? [] : undefined;
  const sent = new Map<number, number>();
  const received = new Map<number, number>();
  const clientMs = new Map<number, number>();
  const tally = (counter: Map<number, number>, id: number, amount: number) => counter.set(id, (counter.get(id) ?? 0) + amount);
  const timed = <T>(id: number, work: () => T): T => {
    const started = performance.now();
    const result = work();
    tally(clientMs, id, performance.now() - started);
    return result;
  };
  let serverMs = 0;
  const onServer = <T>(work: () => T): T => {
    const started = performance.now();
    const result = work();
    serverMs += performance.now() - started;
    return result;
  };
  const without = (ids: readonly number[], gone: readonly number[] | undefined) => ids.filter((id) => !gone?.includes(id));

  const server = new SecAggServer(params);
  const clients = new Map(inputs.map((_, i) => [i + 1, new SecAggClient(i + 1, params)]));
  const client = (id: number) => clients.get(id) as SecAggClient;

  const advertising = without([...clients.keys()], drops.beforeAdvertising);
  const adverts = advertising.map((id) => timed(id, () => client(id).advertise()));
  for (const a of adverts) {
    tally(sent, a.id, wireBytes.advert(a));
    view?.push({ stage: "advertise", from: a.id, bytes: Buffer.concat([a.cipherPublic, a.maskPublic]) });
  }
  const roster = onServer(() => server.collectAdverts(adverts));
  const rosterBytes = roster.reduce((sum, a) => sum + wireBytes.advert(a), 0);

  const sharing = without(advertising, drops.beforeSharing);
  const outboxes = sharing.map((id) => {
    tally(received, id, rosterBytes);
    const outbox = timed(id, () => client(id).shareKeys(roster));
    for (const s of outbox) {
      tally(sent, id, wireBytes.sealed(s));
      view?.push({ stage: "share", from: id, bytes: s.ciphertext });
    }
    return outbox;
  });
  const inboxes = onServer(() => server.routeShares(outboxes));

  const inputting = without(sharing, drops.beforeInput);
  const masked = inputting.map((id) => {
    const inbox = inboxes.get(id) ?? [];
    tally(
      received,
      id,
      inbox.reduce((sum, s) => sum + wireBytes.sealed(s), 0),
    );
    const message = timed(id, () => client(id).maskInput(inputs[id - 1], inbox));
    tally(sent, id, wireBytes.masked(message));
    view?.push({ stage: "input", from: id, bytes: new Uint8Array(message.masked.buffer, message.masked.byteOffset, message.masked.byteLength) });
    return message;
  });
  const survivors = onServer(() => server.collectMaskedInputs(masked));

  const unmasking = without(survivors, drops.beforeUnmasking);
  const responses = unmasking.map((id) => {
    tally(received, id, wireBytes.ids(survivors));
    const response = timed(id, () => client(id).unmask(survivors));
    tally(sent, id, wireBytes.unmasking(response));
    view?.push({ stage: "unmask", from: id, bytes: Buffer.concat([...response.selfMasks, ...response.maskKeys].map((e) => e.share.y)) });
    return response;
  });
  const sum = onServer(() => server.unmask(responses));

  const mean = (counter: Map<number, number>) => unmasking.reduce((total, id) => total + (counter.get(id) ?? 0), 0) / unmasking.length;
  return {
    sum,
    survivors,
    threshold: params.threshold,
    cost: { clients: n, bytesSentPerClient: mean(sent), bytesReceivedPerClient: mean(received), clientMs: mean(clientMs), serverMs },
    view,
  };
}
