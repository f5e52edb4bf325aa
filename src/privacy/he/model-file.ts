/**
 * The files `aegis he compile` writes: M.he.json, the server's model (parameters, stages,
 * weights as base64 little-endian float64, the compile report), and M.he.params.json,
 * the public part the client needs to make keys and encode inputs. `paramsId` names a
 * parameter set: keys and ciphertexts carry it, so a mismatch is refused, not decrypted
 * to noise.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { AegisError } from "../../errors.js";
import { writeFileAtomic } from "../../fs.js";
import type { CompiledModel, CompileReport, HePublicParams } from "./compile.js";
import { type AffineStage, type Stage, unrollConv } from "./model.js";
import { checkSecurity } from "./params.js";

export const MODEL_FORMAT = "aegis-he-model/1";
export const PARAMS_FORMAT = "aegis-he-params/1";

export interface HeModel {
  params: HePublicParams;
  stages: Stage[];
  report?: CompileReport;
}

type SerialStage =
  | {
      kind: "affine";
      inputs: number;
      outputs: number;
      bias: string;
      weight?: string;
      conv?: Omit<NonNullable<AffineStage["conv"]>, "kernelWeight"> & { kernelWeight: string };
    }
  | Extract<Stage, { kind: "poly" }>;

const b64 = (v: Float64Array) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString("base64");

function floats(s: string, length: number, what: string): Float64Array {
  const bytes = Buffer.from(s, "base64");
  if (bytes.length !== length * 8) throw new AegisError("BAD_MODEL", `${what} holds ${bytes.length / 8} values, not ${length}`);
  const out = new Float64Array(length);
  Buffer.from(out.buffer).set(bytes);
  if (!out.every(Number.isFinite)) throw new AegisError("BAD_MODEL", `${what} holds NaN or infinite values`);
  return out;
}

export function paramsId(params: HePublicParams): string {
  return createHash("sha256").update(JSON.stringify(params)).digest("hex");
}

export function writeHeModel(path: string, compiled: CompiledModel): void {
  const stages: SerialStage[] = compiled.stages.map((s) => {
    if (s.kind === "poly") return s;
    const { kernelWeight, ...shape } = s.conv ?? { kernelWeight: undefined };
    return {
      kind: "affine",
      inputs: s.inputs,
      outputs: s.outputs,
      bias: b64(s.bias),
      ...(kernelWeight
        ? { conv: { ...(shape as Omit<NonNullable<AffineStage["conv"]>, "kernelWeight">), kernelWeight: b64(kernelWeight) } }
        : { weight: b64(s.weight) }),
    };
  });
  writeFileAtomic(path, `${JSON.stringify({ format: MODEL_FORMAT, params: compiled.params, stages, report: compiled.report })}\n`);
}

export function writeHeParams(path: string, params: HePublicParams): void {
  writeFileAtomic(path, `${JSON.stringify(params, null, 2)}\n`);
}

function readJson(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new AegisError("FILE_NOT_FOUND", `${path} does not exist or cannot be read`, { cause: e });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new AegisError("BAD_MODEL", `${path} is not JSON; give a file written by \`aegis he compile\``, { cause: e });
  }
}

export function readHeModel(path: string): HeModel {
  const json = readJson(path);
  if (json.format !== MODEL_FORMAT)
    throw new AegisError("BAD_MODEL", `${path} is not an encrypted-inference model (format ${MODEL_FORMAT}); write one with \`aegis he compile\``);
  const params = checkParams(json.params, path);
  const stages = (json.stages as SerialStage[]).map((s, i): Stage => {
    const what = `${path}, stage ${i}`;
    if (s.kind === "poly") return s;
    const bias = floats(s.bias, s.outputs, `${what} bias`);
    if (s.conv) {
      const { kernelWeight, ...shape } = s.conv;
      const k = floats(kernelWeight, shape.outChannels * shape.inChannels * shape.kernel[0] * shape.kernel[1], `${what} kernel`);
      return { kind: "affine", inputs: s.inputs, outputs: s.outputs, bias, weight: unrollConv(shape, k), conv: { ...shape, kernelWeight: k } };
    }
    return { kind: "affine", inputs: s.inputs, outputs: s.outputs, bias, weight: floats(s.weight ?? "", s.inputs * s.outputs, `${what} weights`) };
  });
  return { params, stages, report: json.report as CompileReport | undefined };
}

/** The public parameters from M.he.params.json, or from M.he.json (whose weights are then ignored). */
export function readHeParams(path: string): HePublicParams {
  const json = readJson(path);
  if (json.format === MODEL_FORMAT) return checkParams(json.params, path);
  return checkParams(json, path);
}

function checkParams(value: unknown, path: string): HePublicParams {
  const p = value as HePublicParams;
  if (p?.format !== PARAMS_FORMAT || !p.parameters || !p.input || !p.output)
    throw new AegisError("BAD_MODEL", `${path} holds no encrypted-inference parameters (format ${PARAMS_FORMAT}); write them with \`aegis he compile\``);
  checkSecurity(p.parameters);
  return p;
}
