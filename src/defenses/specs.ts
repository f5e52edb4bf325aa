/**
 * The text form of input and output defences that `aegis defend` takes and writes to its
 * sidecar: "squeeze:bits=4,smooth:window=3" is a chain of two preprocessors; a bare
 * "key=value" after a defence adds a parameter to it ("tv:keep=0.5,lambda=0.03"). The
 * sidecar (`<model>.defence.json`) records which preprocessors were baked into the ONNX
 * file and which must wrap it at run time, so `aegis attack`/`audit` can rebuild the
 * deployed model — or, for adaptive attacks, the original model with every preprocessor as
 * a BPDA wrapper (the baked graph's own gradient is masked).
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, resolve } from "node:path";
import { AegisError } from "../errors.js";
import { writeFileAtomic } from "../fs.js";
import { probabilityNoise } from "./postprocessors/gaussian-noise.js";
import { labelsOnly } from "./postprocessors/labels-only.js";
import { reverseSigmoid } from "./postprocessors/reverse-sigmoid.js";
import { rounding } from "./postprocessors/rounding.js";
import { topK } from "./postprocessors/top-k.js";
import { featureSqueezing } from "./preprocessors/feature-squeezing.js";
import { gaussianNoise } from "./preprocessors/gaussian-noise.js";
import { jpegCompression } from "./preprocessors/jpeg-compression.js";
import { spatialSmoothing } from "./preprocessors/spatial-smoothing.js";
import { totalVariation } from "./preprocessors/total-variation.js";
import type { Postprocessor, Preprocessor } from "./types.js";

/** One defence of a spec: its name and numeric parameters. */
export interface DefenceSpec {
  name: string;
  params: Record<string, number>;
}

export interface SpecContext {
  /** Valid input range of the model (default [0, 1]). */
  clipRange?: readonly [number, number];
  /** Seed of the randomised defences (each gets its own, derived from it). */
  seed?: number;
  /** Layout of image samples (default true: [C, H, W]). */
  channelsFirst?: boolean;
}

interface Entry<T> {
  params: readonly string[];
  help: string;
  build(p: Record<string, number>, c: Required<SpecContext>): T;
}

const PREPROCESSORS: Record<string, Entry<Preprocessor>> = {
  squeeze: {
    params: ["bits"],
    help: "feature squeezing to `bits` bits per value (Xu et al. 2018; default 1)",
    build: (p, c) => featureSqueezing({ bitDepth: p.bits, clipRange: c.clipRange }),
  },
  smooth: {
    params: ["window"],
    help: "median filter of window × window pixels (Xu et al. 2018; default 2)",
    build: (p, c) => spatialSmoothing({ windowSize: p.window, channelsFirst: c.channelsFirst }),
  },
  jpeg: {
    params: ["quality"],
    help: "JPEG compression at a quality 1–100 (Das et al. 2017; default 75)",
    build: (p, c) => jpegCompression({ quality: p.quality, clipRange: c.clipRange, channelsFirst: c.channelsFirst }),
  },
  noise: {
    params: ["sigma"],
    help: "Gaussian noise of standard deviation sigma (randomised; default 0.25)",
    build: (p, c) => gaussianNoise({ sigma: p.sigma, clipRange: c.clipRange, seed: c.seed }),
  },
  tv: {
    params: ["keep", "lambda", "iter"],
    help: "total-variation minimisation with random pixel dropout (Guo et al. 2018; randomised)",
    build: (p, c) =>
      totalVariation({ keepProb: p.keep, lambda: p.lambda, maxIter: p.iter, clipRange: c.clipRange, channelsFirst: c.channelsFirst, seed: c.seed }),
  },
};

const POSTPROCESSORS: Record<string, Entry<Postprocessor>> = {
  topk: { params: ["k"], help: "only the k highest probabilities (Shokri et al. 2017; default 3)", build: (p) => topK({ k: p.k }) },
  round: {
    params: ["decimals"],
    help: "probabilities rounded to `decimals` places (Tramèr et al. 2016; default 3)",
    build: (p) => rounding({ decimals: p.decimals }),
  },
  labels: { params: [], help: "the one-hot label only (Tramèr et al. 2016)", build: () => labelsOnly() },
  "reverse-sigmoid": {
    params: ["beta", "gamma"],
    help: "reverse sigmoid perturbation (Lee et al. 2019; beta 1, gamma 0.1)",
    build: (p) => reverseSigmoid({ beta: p.beta, gamma: p.gamma }),
  },
  noise: {
    params: ["sigma"],
    help: "Gaussian noise on probabilities, renormalised (default sigma 0.2)",
    build: (p, c) => probabilityNoise({ sigma: p.sigma, seed: c.seed }),
  },
};

/** One line per defence name, for --help. */
export function defenceSpecHelp(kind: "preprocess" | "postprocess"): string {
  const table: Record<string, Entry<unknown>> = kind === "preprocess" ? PREPROCESSORS : POSTPROCESSORS;
  return Object.entries(table)
    .map(([name, e]) => `${name}${e.params.length ? `:${e.params.map((p) => `${p}=…`).join(",")}` : ""}  ${e.help}`)
    .join("\n");
}

/** Splits "a:x=1,y=2,b:z=3,c" into defences with their parameters. */
export function parseDefenceSpecs(text: string, flag: string): DefenceSpec[] {
  const specs: DefenceSpec[] = [];
  for (const raw of text.split(",")) {
    const token = raw.trim();
    if (token === "") continue;
    const colon = token.indexOf(":");
    const startsDefence = colon >= 0 || !token.includes("=");
    const [name, assignment] = colon >= 0 ? [token.slice(0, colon), token.slice(colon + 1)] : startsDefence ? [token, ""] : ["", token];
    if (startsDefence) specs.push({ name, params: {} });
    const current = specs.at(-1);
    if (!current) throw new AegisError("BAD_OPTION", `${flag} "${text}": "${token}" needs a defence before it, e.g. squeeze:bits=4`);
    if (assignment === "") continue;
    const eq = assignment.indexOf("=");
    const value = Number(assignment.slice(eq + 1));
    if (eq <= 0 || !Number.isFinite(value)) throw new AegisError("BAD_OPTION", `${flag}: "${token}" is not key=number (e.g. bits=4)`);
    current.params[assignment.slice(0, eq)] = value;
  }
  if (specs.length === 0) throw new AegisError("BAD_OPTION", `${flag} is empty; give e.g. squeeze:bits=4,smooth:window=3`);
  return specs;
}

export function formatDefenceSpec(spec: DefenceSpec): string {
  const params = Object.entries(spec.params).map(([k, v]) => `${k}=${v}`);
  return params.length ? `${spec.name}:${params.join(",")}` : spec.name;
}

function build<T>(specs: readonly DefenceSpec[], table: Record<string, Entry<T>>, flag: string, context: SpecContext): T[] {
  return specs.map((spec, i) => {
    const entry = table[spec.name];
    if (!entry) throw new AegisError("BAD_OPTION", `${flag}: unknown defence "${spec.name}"; choose from ${Object.keys(table).join(", ")}`);
    for (const key of Object.keys(spec.params)) {
      if (!entry.params.includes(key)) {
        throw new AegisError(
          "BAD_OPTION",
          `${flag}: ${spec.name} has no parameter "${key}"${entry.params.length ? ` (it takes ${entry.params.join(", ")})` : ""}`,
        );
      }
    }
    const full: Required<SpecContext> = {
      clipRange: context.clipRange ?? [0, 1],
      seed: (context.seed ?? 0) + 7919 * i,
      channelsFirst: context.channelsFirst ?? true,
    };
    return entry.build(spec.params, full);
  });
}

export function buildPreprocessors(specs: readonly DefenceSpec[], context: SpecContext = {}): Preprocessor[] {
  return build(specs, PREPROCESSORS, "--preprocess", context);
}

export function buildPostprocessors(specs: readonly DefenceSpec[], context: SpecContext = {}): Postprocessor[] {
  return build(specs, POSTPROCESSORS, "--postprocess", context);
}

/** What `aegis defend` writes next to the defended model. */
export interface DefenceSidecar {
  format: "aegis-defence";
  version: 1;
  /** The defended ONNX file, relative to the sidecar. */
  model: string;
  /** The undefended model it was built from, for adaptive (BPDA) attacks. */
  base: { file: string; sha256: string };
  /** Preprocessors baked into `model`, in order (they run after the run-time ones). */
  baked: string[];
  /** Preprocessors to apply before `model` at run time, in order. */
  runtime: string[];
  postprocess: string[];
  clip: [number, number];
  seed: number;
}

/** The sidecar's path for a defended model path: wrapped.onnx → wrapped.defence.json. */
export function sidecarPath(modelPath: string): string {
  return `${modelPath.replace(/\.onnx$/i, "")}.defence.json`;
}

export function sha256File(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

export function writeSidecar(path: string, sidecar: DefenceSidecar): void {
  writeFileAtomic(path, `${JSON.stringify(sidecar, null, 2)}\n`);
}

/** How to rebuild a defended model from its sidecar. */
export interface OpenedDefence {
  /** The ONNX file to load. */
  modelFile: string;
  preprocessors: Preprocessor[];
  postprocessors: Postprocessor[];
  clipRange: [number, number];
}

/**
 * Reads a sidecar. `adaptive` (default false) returns the base model with every preprocessor
 * as a run-time (BPDA) wrapper — identical predictions, usable gradients; otherwise the
 * defended file with its run-time preprocessors only.
 */
export function openDefence(path: string, options: { adaptive?: boolean } = {}): OpenedDefence {
  if (!existsSync(path)) throw new AegisError("FILE_NOT_FOUND", `defence file ${path} was not found; aegis defend --out M.onnx writes M.defence.json`);
  let sidecar: DefenceSidecar;
  try {
    sidecar = JSON.parse(readFileSync(path, "utf8")) as DefenceSidecar;
  } catch {
    throw new AegisError("BAD_DATA", `${path} is not valid JSON; rewrite it with aegis defend`);
  }
  if (sidecar.format !== "aegis-defence" || sidecar.version !== 1)
    throw new AegisError("BAD_DATA", `${path} is not an aegis defence file (format aegis-defence, version 1)`);
  const dir = dirname(resolve(path));
  const context = { clipRange: sidecar.clip, seed: sidecar.seed };
  const parseAll = (list: string[], flag: string) => list.flatMap((s) => parseDefenceSpecs(s, flag));
  const postprocessors = buildPostprocessors(parseAll(sidecar.postprocess, "postprocess"), context);
  if (options.adaptive) {
    const baseFile = resolve(dir, sidecar.base.file);
    if (!existsSync(baseFile) || sha256File(baseFile) !== sidecar.base.sha256) {
      throw new AegisError(
        "FILE_NOT_FOUND",
        `the undefended model ${sidecar.base.file} (sha256 ${sidecar.base.sha256.slice(0, 12)}…) is needed for an adaptive attack; put it next to ${basename(path)}`,
      );
    }
    const preprocessors = buildPreprocessors(parseAll([...sidecar.runtime, ...sidecar.baked], "preprocess"), context);
    return { modelFile: baseFile, preprocessors, postprocessors, clipRange: sidecar.clip };
  }
  const preprocessors = buildPreprocessors(parseAll(sidecar.runtime, "preprocess"), context);
  return { modelFile: resolve(dir, sidecar.model), preprocessors, postprocessors, clipRange: sidecar.clip };
}
