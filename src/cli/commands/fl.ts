/**
 * `aegis fl`: federated learning; `simulate` runs a whole federation with attackers in one
 * process; `split` cuts one table into the files of a federation trial.
 */
import { mkdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import { Command } from "commander";
import { type Dataset, requireLabels, saveNpz } from "../../data/index.js";
import { ARCHITECTURES, type Architecture, buildArchitecture } from "../../engine/index.js";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import { loadModel, saveModel } from "../../onnx/io.js";
import {
  AGGREGATORS,
  aggregatorByName,
  DP_FEDAVG_DELTA,
  dpFedAvgNoiseFor,
  FEDERATION_SPLIT_DEFAULTS,
  type FederationSetting,
  FL_ATTACKS,
  type FlAttack,
  FlServer,
  type FlServerConfig,
  LOCAL_DEFAULTS,
  parseAttack,
  prepareSimulation,
  ROUND_REPORT_FILES,
  RoundReport,
  readFlConfig,
  requireDpCompatible,
  runFlClient,
  SECURE_AGGREGATION_DEFAULTS,
  type SecureAggregationReport,
  ServerValidation,
  SIMULATION_DEFAULTS,
  type SimulationDp,
  type SimulationRun,
  secureAggregator,
  settingLine,
  simulationFindings,
  simulationHtml,
  simulationMarkdown,
  simulationTable,
  splitFederation,
  summarise,
  summaryRows,
} from "../../privacy/index.js";
import { severitySummary } from "../../report/finding.js";
import { table } from "../../report/markdown.js";
import { renderSarif } from "../../report/sarif.js";
import { parseFormats, type ReportFormat, writeReports } from "../../report/write.js";
import { sliceRows, tensor } from "../../tensor.js";
import { AEGIS_VERSION } from "../../version.js";
import { info, interruptSignal, loadData, printJson, progressBar } from "../common.js";
import { parseInteger, parseNumber, withData, withFormat, withJson, withOut, withSeed } from "../options.js";

export function flCommand(): Command {
  const cmd = new Command("fl").description(
    "federated learning over HTTPS (server, client) with FedAvg/FedProx and robust aggregation, and a harness that pits the aggregators against malicious clients",
  );
  cmd.addCommand(serverCommand());
  cmd.addCommand(clientCommand());
  cmd.addCommand(simulateCommand());
  cmd.addCommand(splitCommand());
  return cmd;
}

function serverCommand(): Command {
  const cmd = new Command("server")
    .description("coordinate a federation over HTTP/2 with TLS: sample clients, collect their updates by a deadline, aggregate, checkpoint every round")
    .requiredOption("--config <fl.yaml>", "the federation: model, TLS, rounds, sampling, deadline, aggregator, clients' token digests");
  withJson(cmd, "the rounds when the federation is done");
  return cmd.action(async (opts: { config: string; json?: boolean }) => {
    const config = readFlConfig(opts.config);
    const validation = config.validation ? await serverValidation(config.model, config.validation) : undefined;
    let report: RoundReport | undefined;
    const server = await FlServer.create(config, {
      log: info,
      onRound: (r) => {
        const missing = r.sampled.filter((c) => !r.clients.includes(c));
        info(
          `round ${r.round} done: ${r.clients.join(", ")} (${r.examples} examples, ${r.seconds.toFixed(1)} s)${missing.length > 0 ? `; no answer from ${missing.join(", ")}` : ""}${r.epsilon === undefined ? "" : `; ε per client so far ${r.epsilon.toFixed(2)} at δ ${config.dp?.delta}`}`,
        );
        report
          ?.add(r, server.parameters)
          .then(() => {
            const measured = report?.rounds.at(-1)?.validation;
            if (measured) info(`round ${r.round}: validation accuracy ${(measured.accuracy * 100).toFixed(2)}%, loss ${measured.loss.toFixed(4)}`);
          })
          .catch((e: Error) => info(`could not write the round report: ${e.message}`));
      },
      onRetry: (round, answered) => {
        report?.retried(round);
        info(`round ${round}: only ${answered} of the sampled clients answered by the deadline (minimum ${config.minClients}); sampling again`);
      },
    });
    let initial: { accuracy: number; loss: number } | undefined;
    if (validation) {
      // Measured now so that data that does not fit the model stops the server before round 1.
      const start = await validation.evaluate(server.parameters).catch((e: unknown) => {
        if (!(e instanceof AegisError)) throw e;
        throw new AegisError("SHAPE_MISMATCH", `fl.yaml's validation data ${config.validation} does not fit ${config.model}: ${e.message}`);
      });
      if (server.round === 0) initial = start;
      const which = server.round === 0 ? "the initial model" : `the model after round ${server.round}`;
      info(`validation: ${which} scores ${(start.accuracy * 100).toFixed(2)}% on ${validation.data.labels.length} rows`);
    }
    report = RoundReport.open(config.report, federationSetting(config, validation), server.rounds, validation);
    if (initial) report.setInitial(initial);
    mkdirSync(config.report, { recursive: true });
    report.write();
    info(`round report: ${join(config.report, ROUND_REPORT_FILES.html)} (rewritten after every round)`);
    const port = await server.listen();
    info(`listening on https://${config.host}:${port} for ${config.clients.size} clients`);
    const signal = interruptSignal();
    await Promise.race([server.done.then(() => sleep(LINGER_MS)), new Promise((resolve) => signal.addEventListener("abort", resolve))]);
    await server.close();
    await report.flush();
    await validation?.release();
    if (signal.aborted) throw new AegisError("INTERRUPTED", `stopped after round ${server.round}; start the server again to resume from ${config.checkpoint}`);
    if (opts.json) printJson({ rounds: server.rounds, checkpoint: config.checkpoint, report: report.rounds });
  });
}

/** fl.yaml's validation data: labelled rows the server scores the global model on. */
async function serverValidation(model: string, spec: string): Promise<ServerValidation> {
  const data = loadData(spec, {});
  return ServerValidation.create(loadModel(model), { x: data.x, labels: requireLabels(data, "validation") });
}

function federationSetting(config: FlServerConfig, validation: ServerValidation | undefined): FederationSetting {
  return {
    aggregator: config.aggregator,
    byzantine: config.byzantine,
    secureAggregation: config.secureAggregation !== undefined,
    rounds: config.rounds,
    clientsPerRound: config.clientsPerRound,
    minClients: config.minClients,
    deadlineSeconds: config.deadlineSeconds,
    clients: config.clients.size,
    validation: validation && config.validation ? { name: basename(config.validation), rows: validation.data.labels.length } : undefined,
    dp: config.dp && { clip: config.dp.clip, noiseMultiplier: config.dp.noiseMultiplier, delta: config.dp.delta },
  };
}

/** How long a finished server keeps answering "done" so that polling clients learn it. */
const LINGER_MS = 3000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function clientCommand(): Command {
  const cmd = new Command("client")
    .description("join a federation: train each round you are sampled for on local data and send the update; the data never leaves")
    .requiredOption("--server <url>", "the server, https://host:port")
    .requiredOption("--id <id>", "this client's id in the server's fl.yaml")
    .option("--token-file <file>", "file holding this client's token (default: the AEGIS_FL_TOKEN environment variable)")
    .option("--ca <pem>", "CA certificate to trust for the server (e.g. its self-signed certificate)")
    .option("--cert <pem>", "this client's certificate, for a server with mutual TLS (its CN must be --id)")
    .option("--key <pem>", "the private key of --cert")
    .option("--patience <seconds>", "how long to retry an unreachable server", parseNumber("--patience"), 60);
  withData(cmd, "this client's labelled training data", undefined, { split: false });
  withSeed(cmd, "local shuffling");
  return cmd.action(async (opts) => {
    const token = opts.tokenFile ? readFileSync(opts.tokenFile, "utf8").trim() : process.env.AEGIS_FL_TOKEN;
    if (!token)
      throw new AegisError("BAD_OPTION", "give the client's token in AEGIS_FL_TOKEN or --token-file (not on the command line, where other users can read it)");
    if (!/^https:\/\//.test(opts.server)) throw new AegisError("BAD_OPTION", `--server must be an https:// URL, not "${opts.server}"`);
    if (Boolean(opts.cert) !== Boolean(opts.key)) throw new AegisError("BAD_OPTION", "give --cert and --key together");
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey });
    const rounds = await runFlClient({
      server: opts.server,
      id: opts.id,
      token,
      data: { x: data.x, labels: requireLabels(data, "training") },
      ca: opts.ca ? readFileSync(opts.ca) : undefined,
      cert: opts.cert ? readFileSync(opts.cert) : undefined,
      key: opts.key ? readFileSync(opts.key) : undefined,
      patienceMs: opts.patience * 1000,
      seed: opts.seed,
      signal: interruptSignal(),
      onRound: (round, loss) => info(`${opts.id}: round ${round} sent (local loss ${loss.toFixed(4)})`),
      log: info,
    });
    info(`${opts.id}: the federation is done; this client trained rounds ${rounds.join(", ") || "none"}`);
  });
}

const FORMATS: readonly ReportFormat[] = ["json", "md", "html", "sarif"];

function simulateCommand(): Command {
  const cmd = new Command("simulate").description(
    "run a federation in one process with --malicious K attacking clients; prints test accuracy (and backdoor success) per aggregator × attack",
  );
  withData(cmd, "training data, split across the clients (mnist: its 8,000-sample train split)", "mnist", { split: false });
  cmd
    .option("--test-data <spec>", "held-out data the global model is measured on (default: the built-in set's test split)")
    .option("--samples <n>", "use the first n training samples", parseInteger("--samples", 1))
    .option("--test-samples <n>", "use the first n test samples", parseInteger("--test-samples", 1))
    .option("--arch <arch>", `initial model: ${ARCHITECTURES.join(" | ")}`, "mlp")
    .option("--model <onnx>", "initial global model instead of --arch: any differentiable ONNX classifier")
    .option("--clients <n>", "clients the training data is split across", parseInteger("--clients", 1), SIMULATION_DEFAULTS.clients)
    .option("--malicious <k>", "how many clients attack", parseInteger("--malicious", 0), SIMULATION_DEFAULTS.malicious)
    .option(
      "--attack <list>",
      `comma-separated: ${FL_ATTACKS.filter((a) => a !== "none").join(", ")} (default all when --malicious > 0); attack-free runs come first`,
    )
    .option(
      "--aggregator <list>",
      `comma-separated: ${AGGREGATORS.join(", ")} (fedavg alone under --secure-aggregation without --buckets)`,
      AGGREGATORS.join(","),
    )
    .option("--secure-aggregation", "aggregate with secure aggregation (Bonawitz et al. 2017): the server sees only the sum of the clipped, quantised updates")
    .option(
      "--buckets <B>",
      "under --secure-aggregation, shuffle each round's clients into B buckets, securely sum each, and run the robust --aggregator over the B bucket means (Karimireddy et al. 2022); the server learns B sums instead of one (default aggregator: median)",
      parseInteger("--buckets", 2),
    )
    .option(
      "--secagg-clip <c>",
      "under --secure-aggregation, the per-coordinate clip of each update before quantisation",
      parseNumber("--secagg-clip"),
      SECURE_AGGREGATION_DEFAULTS.clip,
    )
    .option(
      "--secagg-threshold <q>",
      "under --secure-aggregation, t as a share of each round's clients: t clients suffice to unmask the sum, and fewer than t colluding with the server learn nothing beyond it (default: a majority)",
      parseNumber("--secagg-threshold"),
    )
    .option(
      "--secagg-dropout <q>",
      "under --secure-aggregation, the share of each round's clients that drop out after sharing their keys (the protocol recovers the others' sum)",
      parseNumber("--secagg-dropout"),
      SECURE_AGGREGATION_DEFAULTS.dropout,
    )
    .option("--dp", "client-level differential privacy by DP-FedAvg (McMahan et al. 2018): clip each update to --clip, add Gaussian noise at the server")
    .option("--clip <S>", "under --dp, the L2 norm each client's update is clipped to", parseNumber("--clip"))
    .option("--noise-multiplier <z>", "under --dp, z: the noise on the average has σ = z·S/(qN)", parseNumber("--noise-multiplier"))
    .option(
      "--target-epsilon <ε>",
      "under --dp, instead of --noise-multiplier: the smallest z whose ε per client after --rounds is at most this",
      parseNumber("--target-epsilon"),
    )
    .option("--delta <δ>", "under --dp, δ per client", parseNumber("--delta"), DP_FEDAVG_DELTA)
    .option("--rounds <n>", "rounds of training", parseInteger("--rounds", 1), SIMULATION_DEFAULTS.rounds)
    .option(
      "--fraction <q>",
      "share of the clients sampled each round (under --dp, each client is sampled with probability q)",
      parseNumber("--fraction"),
      SIMULATION_DEFAULTS.fraction,
    )
    .option("--alpha <a>", "Dirichlet α of the label split (small = non-IID; Infinity = IID)", parseNumber("--alpha"), SIMULATION_DEFAULTS.alpha)
    .option("--byzantine <f>", "f the robust rules tolerate per round (default: the expected attackers per round)", parseInteger("--byzantine", 0))
    .option("--local-epochs <n>", "local epochs per round", parseInteger("--local-epochs", 1), LOCAL_DEFAULTS.epochs)
    .option("--batch-size <n>", "local batch size", parseInteger("--batch-size", 1), LOCAL_DEFAULTS.batchSize)
    .option("--lr <rate>", "local SGD learning rate", parseNumber("--lr"), LOCAL_DEFAULTS.lr)
    .option("--mu <mu>", "FedProx's proximal weight μ (0 = FedAvg's local training)", parseNumber("--mu"), LOCAL_DEFAULTS.mu)
    .option("--attack-scale <λ>", "λ of sign-flip (default 4) and scaled (default 10)", parseNumber("--attack-scale"))
    .option("--sigma <σ>", "σ of the gaussian attack (default 10, as Flower's FLANDERS baseline)", parseNumber("--sigma"))
    .option("--lie-z <z>", "z of the lie attack (default: Baruch et al.'s, from the round's clients and attackers)", parseNumber("--lie-z"))
    .option("--target <class>", "the backdoor's target class", parseInteger("--target", 0), 0);
  withSeed(cmd, "the split, the attackers, the sampling and the initial model");
  withOut(cmd, "report folder", "aegis-fl");
  withFormat(cmd, FORMATS, ["json", "md", "html"]);
  withJson(cmd, "the table, per-round metrics and findings");
  return cmd.action(async (opts) => {
    const formats = parseFormats(opts.format, FORMATS);
    const attacks = attackList(opts.attack, opts.malicious);
    const restricted = (opts.secureAggregation || opts.dp) && cmd.getOptionValueSource("aggregator") !== "cli";
    const aggregators = String(restricted ? (opts.buckets === undefined ? "fedavg" : "median") : opts.aggregator)
      .split(",")
      .map((s) => s.trim());
    for (const [flag, name] of [
      ["secaggClip", "--secagg-clip"],
      ["secaggDropout", "--secagg-dropout"],
      ["secaggThreshold", "--secagg-threshold"],
      ["buckets", "--buckets"],
    ] as const) {
      if (!opts.secureAggregation && cmd.getOptionValueSource(flag) === "cli")
        throw new AegisError("BAD_OPTION", `${name} applies to secure aggregation: add --secure-aggregation`);
    }
    const dp = dpSettings(cmd, opts);
    if (dp && opts.buckets === undefined) for (const name of aggregators) requireDpCompatible(name);
    if (dp && cmd.getOptionValueSource("secaggClip") === "cli")
      throw new AegisError("BAD_OPTION", "--secagg-clip does not apply under --dp: each client clips its update to the L2 norm --clip S before masking");
    const secagg: SecureAggregationReport[] = [];
    const secureAggregation = opts.secureAggregation
      ? {
          clip: opts.secaggClip,
          dropout: opts.secaggDropout,
          thresholdShare: opts.secaggThreshold,
          seed: opts.seed,
          onAggregation: (r: SecureAggregationReport) => secagg.push(r),
        }
      : undefined;
    for (const name of aggregators) {
      aggregatorByName(name);
      if (secureAggregation && opts.buckets === undefined) secureAggregator(name, secureAggregation);
    }
    if (opts.model && cmd.getOptionValueSource("arch") === "cli") throw new AegisError("BAD_OPTION", "give --arch or --model, not both");
    if (!opts.model && !ARCHITECTURES.includes(opts.arch))
      throw new AegisError("BAD_OPTION", `--arch must be one of ${ARCHITECTURES.join(", ")}, not "${opts.arch}"`);

    const builtIn = opts.data === "mnist" || opts.data === "mnist-full";
    const trainSet = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey, split: "train" });
    const testSpec: string | undefined = opts.testData ?? (builtIn ? opts.data : undefined);
    if (!testSpec) throw new AegisError("BAD_OPTION", "give --test-data: the global model is measured on held-out data");
    const testSet = loadData(testSpec, { xKey: opts.xKey, yKey: opts.yKey, split: "test" });
    const trainX = opts.samples ? sliceRows(trainSet.x, 0, opts.samples) : trainSet.x;
    const trainLabels = requireLabels(trainSet, "training").slice(0, trainX.shape[0]);
    const testX = opts.testSamples ? sliceRows(testSet.x, 0, opts.testSamples) : testSet.x;
    const testLabels = requireLabels(testSet, "evaluation").slice(0, testX.shape[0]);
    const numClasses = Math.max(...trainLabels, ...testLabels) + 1;
    const model = opts.model
      ? loadModel(opts.model)
      : buildArchitecture(opts.arch as Architecture, { inputShape: trainX.shape.slice(1), numClasses, seed: opts.seed });

    const sim = await prepareSimulation(
      model,
      { x: trainX, labels: trainLabels },
      { x: testX, labels: testLabels },
      {
        clients: opts.clients,
        malicious: opts.malicious,
        rounds: opts.rounds,
        fraction: opts.fraction,
        alpha: opts.alpha,
        byzantine: opts.byzantine,
        seed: opts.seed,
        local: { epochs: opts.localEpochs, batchSize: opts.batchSize, lr: opts.lr, mu: opts.mu },
        attackSettings: { scale: opts.attackScale, sigma: opts.sigma, z: opts.lieZ, target: opts.target },
        secureAggregation,
        buckets: opts.buckets,
        dp,
        signal: interruptSignal(),
      },
    );
    const bar = progressBar("fl simulate", aggregators.length * attacks.length * opts.rounds);
    const runs = await simulationTable(sim, aggregators, attacks, (p) =>
      bar.update(p.done, `${p.aggregator} · ${p.attack} · round ${p.round}${p.epsilon === undefined ? "" : ` · ε ${p.epsilon.toFixed(2)}`}`),
    ).finally(() => bar.stop());
    await sim.classifier.release();

    const summary = summarise(sim, runs);
    const findings = simulationFindings(summary);
    const title = "Aegis federated-learning simulation";
    const record = {
      summary,
      runs,
      findings,
      ...(secureAggregation ? { secureAggregation: secaggSummary(secagg) } : {}),
      ...(dp ? { dp: dpSummary(dp, opts.fraction, runs) } : {}),
    };
    if (formats.length > 0) {
      const written = writeReports(
        opts.out,
        formats,
        {
          json: () => `${JSON.stringify(record, null, 2)}\n`,
          md: () => simulationMarkdown(title, summary, findings) + (record.dp ? `\n${dpLine(record.dp)}\n` : ""),
          html: () => simulationHtml(title, summary, runs, findings),
          sarif: () => renderSarif(findings, { name: "aegis-fl", fullName: "Aegis federated-learning simulation", version: AEGIS_VERSION }),
        },
        { base: "fl-simulate" },
      );
      info(`wrote ${Object.values(written).join(", ")}`);
    }
    if (opts.json) return printJson(record);
    const { head, rows } = summaryRows(summary);
    const lines = [settingLine(summary), "", ...table(head, rows, head.map((_, i) => i).slice(1))];
    if (summary.reference !== undefined) {
      for (const [attack, holding] of Object.entries(summary.holding))
        lines.push(`${attack}: ${holding.length > 0 ? `held by ${holding.join(", ")}` : "no aggregator held"}`);
    }
    if (record.secureAggregation) lines.push(secaggLine(record.secureAggregation));
    if (record.dp) lines.push(dpLine(record.dp));
    lines.push(`findings: ${severitySummary(findings)}`);
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}

/** --dp's settings, with z solved from --target-epsilon when asked; undefined without --dp. */
function dpSettings(cmd: Command, opts: Record<string, number | boolean | undefined>): Required<SimulationDp> | undefined {
  const flags = [
    ["clip", "--clip"],
    ["noiseMultiplier", "--noise-multiplier"],
    ["targetEpsilon", "--target-epsilon"],
    ["delta", "--delta"],
  ] as const;
  if (!opts.dp) {
    for (const [key, flag] of flags) if (cmd.getOptionValueSource(key) === "cli") throw new AegisError("BAD_OPTION", `${flag} applies to DP-FedAvg: add --dp`);
    return undefined;
  }
  if (opts.clip === undefined)
    throw new AegisError("BAD_OPTION", "--dp needs --clip S, the L2 norm each client's update is clipped to (e.g. the median update norm without DP)");
  if ((opts.noiseMultiplier === undefined) === (opts.targetEpsilon === undefined))
    throw new AegisError("BAD_OPTION", "--dp needs exactly one of --noise-multiplier z or --target-epsilon ε");
  const delta = opts.delta as number;
  const noiseMultiplier =
    (opts.noiseMultiplier as number | undefined) ??
    dpFedAvgNoiseFor({ targetEpsilon: opts.targetEpsilon as number, delta, samplingRate: opts.fraction as number, rounds: opts.rounds as number });
  return { clip: opts.clip as number, noiseMultiplier, delta };
}

/** The DP-FedAvg setting and the ε per client after each round (the same for every run). */
function dpSummary(dp: Required<SimulationDp>, samplingRate: number, runs: readonly SimulationRun[]) {
  const epsilonPerRound = (runs[0]?.rounds ?? []).map((r) => r.epsilon ?? Number.NaN);
  return { ...dp, samplingRate, epsilon: epsilonPerRound.at(-1), epsilonPerRound };
}

function dpLine(s: ReturnType<typeof dpSummary>): string {
  const perRound = s.epsilonPerRound.map((e, i) => `${i + 1}: ${e.toFixed(2)}`).join(", ");
  return `DP-FedAvg: S = ${s.clip}, z = ${Number(s.noiseMultiplier.toPrecision(4))}, q = ${s.samplingRate}; ε per client at δ = ${s.delta.toExponential()}: ${s.epsilon?.toFixed(2)} (after round ${perRound})`;
}

function attackList(value: string | undefined, malicious: number): FlAttack[] {
  if (malicious === 0) {
    if (value !== undefined) throw new AegisError("BAD_OPTION", "--attack needs attackers: give --malicious K as well");
    return ["none"];
  }
  const named =
    value === undefined
      ? FL_ATTACKS.filter((a) => a !== "none")
      : String(value)
          .split(",")
          .map((s) => parseAttack(s.trim()));
  return ["none", ...named.filter((a) => a !== "none")];
}

/** What secure aggregation cost over the simulation's secure sums (one a round, or one a bucket), per client and sum. */
function secaggSummary(reports: readonly SecureAggregationReport[]) {
  const mean = (f: (r: SecureAggregationReport) => number) => reports.reduce((sum, r) => sum + f(r), 0) / Math.max(1, reports.length);
  return {
    aggregations: reports.length,
    threshold: reports[0]?.threshold,
    clients: reports[0]?.cost.clients,
    survivors: mean((r) => r.survivors),
    bytesSentPerClient: mean((r) => r.cost.bytesSentPerClient),
    bytesReceivedPerClient: mean((r) => r.cost.bytesReceivedPerClient),
    clientMs: mean((r) => r.cost.clientMs),
    serverMs: mean((r) => r.cost.serverMs),
    clippedCoordinates: reports.reduce((sum, r) => sum + r.clipped, 0),
    quantisationError: Math.max(0, ...reports.map((r) => r.quantisationError)),
  };
}

function secaggLine(s: ReturnType<typeof secaggSummary>): string {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  return (
    `secure aggregation: ${s.aggregations} secure sums, t = ${s.threshold} of ${s.clients}, ${s.survivors.toFixed(1)} summed in each; per client and sum ${kb(s.bytesSentPerClient)} sent, ${kb(s.bytesReceivedPerClient)} received, ` +
    `${s.clientMs.toFixed(0)} ms; server ${s.serverMs.toFixed(0)} ms per sum; ${s.clippedCoordinates} coordinates clipped; quantisation error ≤ ${s.quantisationError.toExponential(1)} per coordinate of the weighted sum`
  );
}

function splitCommand(): Command {
  const cmd = new Command("split").description(
    "cut one labelled table into a federation trial: a non-IID .npz per client (label-Dirichlet), a held-out test.npz, their union train.npz for centralised training, and an untrained initial.onnx",
  );
  withData(cmd, "the labelled table (e.g. data/breast-cancer/wdbc.csv)", undefined, { split: false });
  cmd
    .option("--clients <n>", "how many clients", parseInteger("--clients", 1), FEDERATION_SPLIT_DEFAULTS.clients)
    .option("--alpha <a>", "Dirichlet α of the label split (small = non-IID; Infinity = IID)", parseNumber("--alpha"), FEDERATION_SPLIT_DEFAULTS.alpha)
    .option(
      "--test-share <q>",
      "share of each class held out as test.npz (the server's validation data)",
      parseNumber("--test-share"),
      FEDERATION_SPLIT_DEFAULTS.testShare,
    )
    .option("--standardise", "z-score every feature with the training rows' mean and standard deviation (recorded in split.json)")
    .option("--prefix <name>", "client files are <prefix>-1.npz, <prefix>-2.npz, …", "hospital")
    .option("--arch <arch>", `initial.onnx's architecture: ${ARCHITECTURES.join(" | ")}`, "linear");
  withSeed(cmd, "the split and the initial model");
  withOut(cmd, "folder for the files", "federation");
  withJson(cmd, "what each file holds");
  return cmd.action(async (opts) => {
    if (!ARCHITECTURES.includes(opts.arch)) throw new AegisError("BAD_OPTION", `--arch must be one of ${ARCHITECTURES.join(", ")}, not "${opts.arch}"`);
    const data = loadData(opts.data, { xKey: opts.xKey, yKey: opts.yKey });
    const labels = requireLabels(data, "splitting");
    const split = splitFederation(
      { x: data.x, labels },
      { clients: opts.clients, alpha: opts.alpha, testShare: opts.testShare, standardise: Boolean(opts.standardise), seed: opts.seed },
    );
    const numClasses = Math.max(...labels) + 1;
    mkdirSync(opts.out, { recursive: true });
    const files: { file: string; rows: number; perClass: number[] }[] = [];
    const save = (name: string, part: { x: Dataset["x"]; labels: readonly number[] }) => {
      const file = join(opts.out, `${name}.npz`);
      saveNpz(file, { x: part.x, y: tensor("int64", [part.labels.length], BigInt64Array.from(part.labels, BigInt)) });
      files.push({ file, rows: part.labels.length, perClass: Array.from({ length: numClasses }, (_, c) => part.labels.filter((l) => l === c).length) });
    };
    for (const [k, part] of split.clients.entries()) save(`${opts.prefix}-${k + 1}`, part);
    save("train", split.train);
    save("test", split.test);
    const initial = join(opts.out, "initial.onnx");
    saveModel(initial, buildArchitecture(opts.arch as Architecture, { inputShape: data.x.shape.slice(1), numClasses, seed: opts.seed }));
    const record = {
      data: data.name,
      clients: opts.clients,
      alpha: opts.alpha,
      testShare: opts.testShare,
      seed: opts.seed,
      files,
      initial,
      scaling: split.scaling,
    };
    writeFileAtomic(join(opts.out, "split.json"), `${JSON.stringify(record, null, 2)}\n`);
    if (opts.json) return printJson(record);
    const head = ["file", "rows", ...Array.from({ length: numClasses }, (_, c) => `class ${c}`)];
    const rows = files.map((f) => [f.file, String(f.rows), ...f.perClass.map(String)]);
    process.stdout.write(`${table(head, rows, head.map((_, i) => i).slice(1)).join("\n")}\n`);
    info(`wrote ${files.length} data files, ${initial} (${opts.arch}, untrained) and ${join(opts.out, "split.json")}`);
  });
}
