/** What every command shares besides its options (options.ts): data loading, progress, output, Ctrl-C. */
import { SingleBar } from "cli-progress";
import { type Dataset, loadDataset } from "../data/index.js";
import { AegisError } from "../errors.js";

export function loadData(spec: string, opts: { xKey?: string; yKey?: string; split?: string }): Dataset {
  if (opts.split !== undefined && opts.split !== "train" && opts.split !== "test") {
    throw new AegisError("BAD_OPTION", `--split must be train or test, not "${opts.split}"`);
  }
  return loadDataset(spec, { xKey: opts.xKey, yKey: opts.yKey, split: opts.split as "train" | "test" | undefined });
}

/** A progress bar on stderr, only when stderr is a terminal (logs stay clean in CI). */
export function progressBar(label: string, total: number): { update(done: number, extra?: string, newTotal?: number): void; stop(): void } {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new SingleBar({
    format: `${label} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted} {extra}`,
    stream: process.stderr,
    hideCursor: true,
    clearOnComplete: true,
  });
  bar.start(total, 0, { extra: "" });
  return {
    update: (done, extra = "", newTotal) => {
      // Some attacks count steps rather than samples: follow the total they report.
      if (newTotal !== undefined && newTotal !== bar.getTotal()) bar.setTotal(newTotal);
      bar.update(done, { extra });
    },
    stop: () => bar.stop(),
  };
}

export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * Aborted by Ctrl-C or by SIGTERM (what CI time-outs and `docker stop` send): the command
 * finishes its current step and keeps what finished. A second signal kills at once.
 */
export function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (name: string) => {
    info(`interrupted: finishing the current step (${name} again to kill)`);
    controller.abort();
    process.removeListener("SIGINT", onSigint);
    process.removeListener("SIGTERM", onSigterm);
    // The default action of a second signal ends the process with the usual 128 + n status.
  };
  const onSigint = () => onSignal("Ctrl-C");
  const onSigterm = () => onSignal("SIGTERM");
  process.once("SIGINT", onSigint);
  process.once("SIGTERM", onSigterm);
  return controller.signal;
}
