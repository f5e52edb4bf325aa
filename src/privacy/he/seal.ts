/**
 * Microsoft SEAL (Chen, Laine & Player; v4.1) through node-seal 6, which ships SEAL compiled
 * to WebAssembly: loaded once per process. A CKKS context is only ever built with SEAL's
 * 128-bit security check on (SecurityLevel.tc128), so parameters outside the
 * HomomorphicEncryption.org table are refused here as well as by `securityOf`.
 */
import sealModule from "node-seal";
import type { CKKSEncoder } from "node-seal/implementation/ckks-encoder.js";
import type { Context } from "node-seal/implementation/context.js";
import type { Evaluator } from "node-seal/implementation/evaluator.js";
import type { ParmsIdType } from "node-seal/implementation/parms-id-type.js";
import type { PlainText } from "node-seal/implementation/plain-text.js";
import type { SEALLibrary } from "node-seal/implementation/seal.js";
import { AegisError } from "../../errors.js";
import { checkSecurity, type HeParameters } from "./params.js";

/** node-seal's types describe its ES build; under Node its CommonJS build exports the factory itself. */
const createSeal = sealModule as unknown as () => Promise<SEALLibrary>;

let library: Promise<SEALLibrary> | undefined;

export function loadSeal(): Promise<SEALLibrary> {
  library ??= createSeal();
  return library;
}

export interface CkksContext {
  seal: SEALLibrary;
  context: Context;
  parameters: HeParameters;
  /** Slots per ciphertext: half the polynomial degree. */
  slots: number;
  /** The data primes q0..qL as numbers, index = chain level (level L is the first, freshly encrypted one). */
  primes: number[];
  /** Parameter ids per chain level. */
  parmsIds: ParmsIdType[];
  /** The scale Δ a client encodes at. */
  scale: number;
  encoder: CKKSEncoder;
  evaluator: Evaluator;
  /** Encodes `values` (repeated to fill the slots) at `scale` for ciphertexts at `level`. */
  encodeAt(values: Float64Array, scale: number, level: number): PlainText;
}

export async function ckksContext(parameters: HeParameters): Promise<CkksContext> {
  checkSecurity(parameters);
  const seal = await loadSeal();
  const parms = seal.EncryptionParameters(seal.SchemeType.ckks);
  parms.setPolyModulusDegree(parameters.polyModulusDegree);
  parms.setCoeffModulus(seal.CoeffModulus.Create(parameters.polyModulusDegree, Int32Array.from(parameters.coeffModulusBits)));
  const context = seal.Context(parms, true, seal.SecurityLevel.tc128);
  if (!context.parametersSet())
    throw new AegisError(
      "BAD_OPTION",
      `SEAL refuses the CKKS parameters (degree ${parameters.polyModulusDegree}, primes of ${parameters.coeffModulusBits.join(", ")} bits) at 128-bit security; recompile the model with \`aegis he compile\``,
    );
  const primes = Array.from(context.keyContextData.parms.coeffModulus, (q) => Number(q)).slice(0, -1);
  const parmsIds: ParmsIdType[] = [];
  let data = context.firstContextData;
  for (let level = primes.length - 1; level >= 0; level--) {
    parmsIds[level] = data.parmsId;
    if (level > 0) data = data.nextContextData;
  }
  const encoder = seal.CKKSEncoder(context);
  const evaluator = seal.Evaluator(context);
  const slots = parameters.polyModulusDegree / 2;
  const top = primes.length - 1;
  return {
    seal,
    context,
    parameters,
    slots,
    primes,
    parmsIds,
    scale: 2 ** parameters.scaleBits,
    encoder,
    evaluator,
    encodeAt(values, scale, level) {
      const full = values.length === slots ? values : Float64Array.from({ length: slots }, (_, i) => values[i % values.length]);
      const plain = encoder.encode(full, scale) as PlainText;
      if (level < top) evaluator.plainModSwitchTo(plain, parmsIds[level], plain);
      return plain;
    },
  };
}
