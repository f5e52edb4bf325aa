/**
 * `fl.yaml`, the server's configuration. Paths are relative to the file. Tokens are stored
 * as SHA-256 digests (`printf %s "$TOKEN" | sha256sum`), so the file does not hold secrets.
 *
 * ```yaml
 * model: initial.onnx          # any differentiable ONNX classifier; its weights start round 1
 * listen: { host: 127.0.0.1, port: 8443 }
 * tls: { cert: server.crt, key: server.key, clientCa: clients-ca.pem }   # clientCa: mutual TLS
 * rounds: 10
 * clientsPerRound: 3           # sampled among the clients seen recently
 * minClients: 2                # a round closes with at least this many updates
 * deadlineSeconds: 60          # per round; after it the round closes or is tried again
 * aggregator: fedavg           # or median, trimmed-mean, krum, multi-krum, bulyan, norm-bound
 * byzantine: 0                 # f for the robust rules
 * local: { epochs: 2, batchSize: 32, lr: 0.1, mu: 0 }
 * checkpoint: fl-state         # written after every round; a restarted server resumes from it
 * secureAggregation: { clip: 1, threshold: 0.5 }   # optional: Bonawitz et al. 2017, fedavg only
 * validation: val.npz          # optional: held-out labelled data the server measures each round on
 * report: fl-state             # fl-rounds.{json,html} after every round (default: the checkpoint folder)
 * dp: { clip: 1, noiseMultiplier: 1.1, delta: 1e-5 } # optional: DP-FedAvg; targetEpsilon: ε instead of noiseMultiplier
 * clients:
 *   hospital-1: { tokenSha256: 9f86d0… }
 * ```
 */
import { dirname, resolve } from "node:path";
import { readYamlFile, YamlReader } from "../../../report/yaml.js";
import { AGGREGATORS } from "../aggregators/index.js";
import type { LocalTrainingOptions } from "../client.js";
import { DP_FEDAVG_DELTA, dpFedAvgEpsilon, dpFedAvgNoiseFor } from "../dp-fedavg-mcmahan2018.js";

export interface FlServerConfig {
  model: string;
  host: string;
  port: number;
  /** With `clientCa`, clients must present a certificate from that CA whose CN is their id (mutual TLS). */
  tls: { cert: string; key: string; clientCa?: string };
  rounds: number;
  clientsPerRound: number;
  minClients: number;
  deadlineSeconds: number;
  aggregator: string;
  byzantine: number;
  local: LocalTrainingOptions;
  checkpoint: string;
  /** Client id → SHA-256 of its token (hex). */
  clients: Map<string, string>;
  /** Secure aggregation (Bonawitz et al. 2017): the per-coordinate clip and t as a share of the sampled clients. */
  secureAggregation?: { clip: number; thresholdShare?: number };
  /** Labelled data the server measures the global model on after every round (server-report.ts). */
  validation?: string;
  /** Folder of the round report (fl-rounds.json, fl-rounds.html). */
  report: string;
  /**
   * DP-FedAvg (McMahan et al. 2018): each round samples every configured client with
   * probability q = clientsPerRound / clients, clips updates to L2 norm `clip` (the clients
   * do, under secure aggregation) and noises the average with σ = z·clip/(qN).
   */
  dp?: FlServerDp;
}

export interface FlServerDp {
  clip: number;
  noiseMultiplier: number;
  delta: number;
  /** q, each client's chance of being sampled in a round. */
  samplingRate: number;
}

const KEYS = [
  "model",
  "listen",
  "tls",
  "rounds",
  "clientsPerRound",
  "minClients",
  "deadlineSeconds",
  "aggregator",
  "byzantine",
  "local",
  "checkpoint",
  "clients",
  "secureAggregation",
  "validation",
  "report",
  "dp",
];

export function readFlConfig(file: string): FlServerConfig {
  const source = readYamlFile(file);
  const r = new YamlReader(source);
  const root = r.map([], source.value, KEYS);
  const base = dirname(resolve(file));
  const path = (key: string, value: unknown) => resolve(base, r.string([key], value));
  const listen = r.map(["listen"], root.listen ?? {}, ["host", "port"]);
  const tls = r.map(["tls"], root.tls, ["cert", "key", "clientCa"]);
  const local = r.map(["local"], root.local ?? {}, ["epochs", "batchSize", "lr", "mu"]);
  const clients = new Map<string, string>();
  for (const [id, entry] of Object.entries(r.map(["clients"], root.clients))) {
    const digest = r.string(["clients", id, "tokenSha256"], r.map(["clients", id], entry, ["tokenSha256"]).tokenSha256);
    if (!/^[0-9a-f]{64}$/i.test(digest)) r.fail(["clients", id, "tokenSha256"], "must be 64 hex digits: the SHA-256 of the client's token");
    clients.set(id, digest.toLowerCase());
  }
  if (clients.size === 0) r.fail(["clients"], "must name at least one client");
  const clientsPerRound = r.number(["clientsPerRound"], root.clientsPerRound ?? clients.size, { min: 1, max: clients.size, integer: true });
  const optional = (key: string, value: unknown, range: { min?: number; integer?: boolean }) =>
    value === undefined ? undefined : r.number(["local", key], value, range);
  const aggregator = r.string(["aggregator"], root.aggregator ?? "fedavg", AGGREGATORS);
  let secureAggregation: FlServerConfig["secureAggregation"];
  if (root.secureAggregation !== undefined) {
    const secure = r.map(["secureAggregation"], root.secureAggregation ?? {}, ["clip", "threshold"]);
    if (clientsPerRound < 2) r.fail(["clientsPerRound"], "must be at least 2 under secureAggregation: the sum of one client's update is that update");
    if (aggregator !== "fedavg")
      r.fail(
        ["aggregator"],
        `must be fedavg under secureAggregation: ${aggregator} needs each client's update, and secure aggregation shows the server only their sum`,
      );
    secureAggregation = {
      clip: secure.clip === undefined ? 1 : r.number(["secureAggregation", "clip"], secure.clip, { min: Number.MIN_VALUE }),
      thresholdShare:
        secure.threshold === undefined ? undefined : r.number(["secureAggregation", "threshold"], secure.threshold, { min: Number.MIN_VALUE, max: 1 }),
    };
  }
  const checkpoint = path("checkpoint", root.checkpoint ?? "fl-state");
  const rounds = r.number(["rounds"], root.rounds ?? 10, { min: 1, integer: true });
  let dp: FlServerDp | undefined;
  if (root.dp !== undefined) {
    const d = r.map(["dp"], root.dp, ["clip", "noiseMultiplier", "targetEpsilon", "delta"]);
    if (aggregator !== "fedavg")
      r.fail(["aggregator"], `must be fedavg under dp: DP-FedAvg's noise is calibrated to a clipped sum, which ${aggregator} does not compute`);
    if (root.secureAggregation !== undefined && (root.secureAggregation as Record<string, unknown> | null)?.clip !== undefined)
      r.fail(["secureAggregation", "clip"], "does not apply with dp: each client clips its update to the L2 norm dp.clip before masking");
    if ((d.noiseMultiplier === undefined) === (d.targetEpsilon === undefined)) r.fail(["dp"], "needs exactly one of noiseMultiplier or targetEpsilon");
    const delta = d.delta === undefined ? DP_FEDAVG_DELTA : r.number(["dp", "delta"], d.delta, { min: Number.MIN_VALUE, max: 0.5 });
    const samplingRate = clientsPerRound / clients.size;
    const noiseMultiplier =
      d.noiseMultiplier === undefined
        ? dpFedAvgNoiseFor({ targetEpsilon: r.number(["dp", "targetEpsilon"], d.targetEpsilon, { min: Number.MIN_VALUE }), delta, samplingRate, rounds })
        : r.number(["dp", "noiseMultiplier"], d.noiseMultiplier, { min: 0 });
    dp = { clip: r.number(["dp", "clip"], d.clip, { min: Number.MIN_VALUE }), noiseMultiplier, delta, samplingRate };
    dpFedAvgEpsilon({ ...dp, rounds });
    if (secureAggregation) secureAggregation.clip = dp.clip;
  }
  return {
    model: path("model", root.model),
    host: listen.host === undefined ? "127.0.0.1" : r.string(["listen", "host"], listen.host),
    port: listen.port === undefined ? 8443 : r.number(["listen", "port"], listen.port, { min: 0, max: 65535, integer: true }),
    tls: {
      cert: resolve(base, r.string(["tls", "cert"], tls.cert)),
      key: resolve(base, r.string(["tls", "key"], tls.key)),
      clientCa: tls.clientCa === undefined ? undefined : resolve(base, r.string(["tls", "clientCa"], tls.clientCa)),
    },
    rounds,
    clientsPerRound,
    minClients: r.number(["minClients"], root.minClients ?? clientsPerRound, { min: 1, max: clientsPerRound, integer: true }),
    deadlineSeconds: r.number(["deadlineSeconds"], root.deadlineSeconds ?? 60, { min: 0.1 }),
    aggregator,
    byzantine: r.number(["byzantine"], root.byzantine ?? 0, { min: 0, integer: true }),
    local: {
      epochs: optional("epochs", local.epochs, { min: 1, integer: true }),
      batchSize: optional("batchSize", local.batchSize, { min: 1, integer: true }),
      lr: optional("lr", local.lr, { min: 0 }),
      mu: optional("mu", local.mu, { min: 0 }),
    },
    checkpoint,
    clients,
    secureAggregation,
    validation: root.validation === undefined ? undefined : path("validation", root.validation),
    report: root.report === undefined ? checkpoint : path("report", root.report),
    dp,
  };
}
