import { existsSync } from "node:fs";
import { Command } from "commander";
import { DEFAULT_PREFIX, startWorker } from "../../campaigns/index.js";
import { readKeyFile } from "../../encryption/index.js";
import { AegisError } from "../../errors.js";
import { info } from "../common.js";
import { parseInteger } from "../options.js";

export function workerCommand(): Command {
  return new Command("worker")
    .description(
      "take the jobs of campaigns (audit, infer membership, certify, scan and redteam with --queue) from a Redis queue and run them, until Ctrl-C or SIGTERM",
    )
    .requiredOption("--queue <url>", "the campaigns' Redis, e.g. redis://127.0.0.1:6379")
    .option("--prefix <name>", "key prefix of the campaigns to serve (as given to aegis audit --queue-prefix)", DEFAULT_PREFIX)
    .option("--concurrency <n>", "jobs run at once", parseInteger("--concurrency", 1), 1)
    .option("--threads <n>", "ONNX Runtime intra-op threads per job (0 = one per core)", parseInteger("--threads", 0), 0)
    .option(
      "--stall-seconds <n>",
      "a job whose worker stops renewing its lock for this long (the worker died) goes back to the queue for another",
      parseInteger("--stall-seconds", 1),
      30,
    )
    .option(
      "--metrics-port <n>",
      "serve Prometheus metrics (jobs, job time, failures, queue depth) on this port's /metrics, and the campaigns' page on /",
      parseInteger("--metrics-port", 0),
    )
    .option("--metrics-host <host>", "address the metrics listen on", "127.0.0.1")
    .option("--store <dir>", "the shared directory of campaigns submitted with --queue-store, as mounted on this machine")
    .option("--pub <key.pub>", "run only models whose signature (aegis sign, found beside the model by the submitter) verifies under this public key")
    .option(
      "--key-file <file>",
      "key of models `aegis encrypt` wrote, which campaigns keep encrypted in Redis (default: AEGIS_KEY, else the file AEGIS_KEY_FILE names)",
    )
    .action(async (opts) => {
      if (opts.pub !== undefined && !existsSync(opts.pub))
        throw new AegisError("FILE_NOT_FOUND", `--pub ${opts.pub} does not exist; give the public key aegis keygen wrote`);
      const worker = await startWorker({
        url: opts.queue,
        prefix: opts.prefix,
        concurrency: opts.concurrency,
        threads: opts.threads,
        stallSeconds: opts.stallSeconds,
        metricsPort: opts.metricsPort,
        metricsHost: opts.metricsHost,
        pub: opts.pub,
        store: opts.store,
        key: opts.keyFile === undefined ? undefined : readKeyFile(opts.keyFile),
        log: info,
      });
      // The running jobs finish (or go back to the queue on a second signal) before the process ends.
      await new Promise<void>((resolve) => {
        const stop = (name: string) => {
          info(`${name}: finishing the running jobs (${name} again to kill; the queue then gives them to another worker)`);
          resolve();
        };
        process.once("SIGINT", () => stop("Ctrl-C"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      await worker.close();
    });
}
