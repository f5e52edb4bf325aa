/** `--target URL` and its mapping options: a deployed model as a black-box Predictor. */
import type { Command } from "commander";
import { HttpPredictor, type JsonValue } from "../engine/http.js";
import { AegisError } from "../errors.js";

export function addTargetOptions(cmd: Command): Command {
  return cmd
    .option("--target <url>", "an HTTP prediction endpoint instead of --model (black box: predictions only)")
    .option("--request-template <json>", 'JSON body with "$instances" where the batch goes', '{"instances": "$instances"}')
    .option("--response-path <path>", "path to the per-sample outputs in the response", "predictions")
    .option("--scores-field <name>", "field of each output object that holds the scores")
    .option("--header <header...>", 'request header(s) "Name: value", e.g. for Authorization')
    .option("--max-queries <n>", "budget of samples sent to the target")
    .option("--concurrency <n>", "requests in flight at once", "4");
}

export interface TargetOptions {
  target: string;
  requestTemplate: string;
  responsePath: string;
  scoresField?: string;
  header?: string[];
  maxQueries?: string;
  concurrency: string;
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
    concurrency: Number(opts.concurrency),
    maxQueries: opts.maxQueries === undefined ? undefined : Number(opts.maxQueries),
  });
}
