/**
 * `--defence FILE [--non-adaptive] [--eot N]`: a model wrapped by `aegis defend`, opened
 * through its defences for `aegis attack` and `aegis audit`. Adaptive by default, as
 * Athalye, Carlini & Wagner 2018 ("Obfuscated Gradients Give a False Sense of Security")
 * require of a defence evaluation: the undefended model with every preprocessor applied at
 * run time and differentiated by BPDA, averaged over --eot draws through randomised ones
 * (EOT). --non-adaptive attacks the deployed graph's own gradients instead — the number a
 * gradient-masking defence inflates, kept for showing that gap.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { Command } from "commander";
import type { DefenceRecord } from "../audit/index.js";
import { type DefenceSidecar, type DefendedClassifier, defend, openDefence } from "../defenses/index.js";
import { OnnxClassifier } from "../engine/classifier.js";
import { parseInteger, runtimeOptions } from "./options.js";

/** Draws per gradient through randomised preprocessors unless --eot says otherwise (Athalye et al. 2018 average over many; 10 keeps the cost within an order of magnitude). Deterministic defences use one whatever is asked. */
export const DEFAULT_EOT = 10;

export function addDefenceOptions(cmd: Command): Command {
  return cmd
    .option(
      "--defence <file>",
      "a model wrapped by `aegis defend` (its .defence.json), attacked adaptively: BPDA through its preprocessors, EOT over --eot draws",
    )
    .option("--non-adaptive", "with --defence: attack the deployed model's own gradients instead, which a masking defence defeats")
    .option("--eot <n>", "with --defence: draws averaged per gradient through randomised preprocessors", parseInteger("--eot", 1), DEFAULT_EOT);
}

export interface DefenceOptions {
  defence: string;
  nonAdaptive?: boolean;
  eot: number;
  batchSize: number;
  threads?: number;
  device?: string;
}

export interface DefenceTarget {
  /** Predictions as deployed; gradients as `record.adaptive` says. */
  model: DefendedClassifier & { release(): Promise<void> };
  record: DefenceRecord;
  /** The ONNX file whose gradients the attacks follow: the undefended base (adaptive) or the deployed file. */
  attackedFile: string;
  /** The defended ONNX file `aegis defend` wrote, as deployed. */
  deployedFile: string;
}

/** The model of an `aegis defend` sidecar with its run-time defences, attackable through them. */
export async function openDefenceTarget(opts: DefenceOptions): Promise<DefenceTarget> {
  const adaptive = !opts.nonAdaptive;
  // openDefence checks the sidecar (and, adaptively, the base model's hash) before it is read again here.
  const opened = openDefence(opts.defence, { adaptive });
  const sidecar = JSON.parse(readFileSync(opts.defence, "utf8")) as DefenceSidecar;
  const base = await OnnxClassifier.fromFile(opened.modelFile, { ...runtimeOptions(opts), batchSize: opts.batchSize, clipRange: opened.clipRange });
  const wrapped = defend(base, { preprocessors: opened.preprocessors, postprocessors: opened.postprocessors, eot: opts.eot });
  return {
    model: Object.assign(wrapped, { release: () => base.release() }),
    record: {
      file: opts.defence,
      // Run-time preprocessors run before the baked ones (see DefenceSidecar).
      preprocessors: [...sidecar.runtime, ...sidecar.baked],
      postprocessors: [...sidecar.postprocess],
      adaptive,
      eot: wrapped.eot,
    },
    attackedFile: opened.modelFile,
    deployedFile: resolve(dirname(resolve(opts.defence)), sidecar.model),
  };
}
