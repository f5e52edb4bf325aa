/** `--target URL` and its mapping options: a deployed model as a black-box Predictor. */
import type { Command } from "commander";
import { HttpPredictor, type JsonValue } from "../engine/http.js";
import { AegisError } from "../errors.js";
import { sliceRows, type Tensor } from "../tensor.js";
import { info } from "./common.js";
import { parseInteger } from "./options.js";

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option("--target <url>", "an HTTP prediction endpoint instead of --model (black box: predictions only)")
    .option("--request-template <json>", 'JSON body with "$instances" where the batch goes', '{"instances": "$instances"}')
    .option("--response-path <path>", "path to the per-sample outputs in the response", "predictions")
    .option("--scores-field <name>", "field of each output object that holds the scores")
    .option("--header <header...>", 'request header(s) "Name: value", e.g. for Authorization')
    .option(
      "--target-classes <n>",
      "number of classes the target answers (default: learned from its first answer; needed for label-only targets)",
      parseInteger("--target-classes", 2),
    )
    .option("--max-queries <n>", "budget of samples sent to the target", parseInteger("--max-queries", 0))
    .option("--concurrency <n>", "requests in flight at once", parseInteger("--concurrency", 1), 4);
}

export interface TargetOptions {
  target: string;
  requestTemplate: string;
  responsePath: string;
  scoresField?: string;
  header?: string[];
  maxQueries?: number;
  concurrency: number;
  targetClasses?: number;
}

export function targetPredictor(opts: TargetOptions, inputShape: readonly number[], batchSize: number): HttpPredictor {
  let template: JsonValue;
  try {
    template = JSON.parse(opts.requestTemplate);
  } catch {
    throw new AegisError("BAD_OPTION", `--request-template is not valid JSON: ${opts.requestTemplate}`);
  }
  const headers: Record<string, string> = {};
  for (const h of opts.header ?? []) {
    const colon = h.indexOf(":");
    if (colon <= 0) throw new AegisError("BAD_OPTION", `--header must look like "Name: value", not "${h}"`);
    headers[h.slice(0, colon).trim()] = h.slice(colon + 1).trim();
  }
  return new HttpPredictor({
    url: opts.target,
    inputShape,
    requestTemplate: template,
    responsePath: opts.responsePath,
    scoresField: opts.scoresField,
    headers,
    batchSize,
    concurrency: opts.concurrency,
    maxQueries: opts.maxQueries,
    numClasses: opts.targetClasses,
  });
}

/** The --target endpoint with its class count known (see learnTargetClasses). */
export async function targetWithClasses(opts: TargetOptions, data: Tensor<"float32">, batchSize: number): Promise<HttpPredictor> {
  const target = targetPredictor(opts, data.shape.slice(1), batchSize);
  await learnTargetClasses(target, data);
  return target;
}

/**
 * Makes the target's class count known before work that needs it up front (an extraction sizes its copy by it):
 * when --target-classes was not given, the first sample of `data` (the user's own data, never the thief's) is sent once.
 */
export async function learnTargetClasses(target: HttpPredictor, data: Tensor<"float32">): Promise<void> {
  if (target.classCountKnown || data.shape[0] === 0) return;
  await target.predict(sliceRows(data, 0, 1));
  info(`${target.numClasses} classes, learned from the target's answer to one sample of the data (pass --target-classes to skip this query)`);
}
