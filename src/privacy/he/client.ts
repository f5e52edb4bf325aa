/**
 * The client's side: it makes the keys, keeps the secret one, encodes and encrypts its
 * inputs in the layout the model's parameters name, and decrypts the answers. It never
 * sees the model's weights — only the public parameters `aegis he compile` wrote.
 * Inputs are encrypted with the secret key (SEAL's symmetric encryption), whose
 * ciphertexts serialise with a seed in place of one polynomial: half the upload of
 * public-key encryption, and as secure.
 */
import { createHash } from "node:crypto";
import type { CipherText } from "node-seal/implementation/cipher-text.js";
import type { Decryptor } from "node-seal/implementation/decryptor.js";
import type { Encryptor } from "node-seal/implementation/encryptor.js";
import type { PlainText } from "node-seal/implementation/plain-text.js";
import type { SecretKey } from "node-seal/implementation/secret-key.js";
import { AegisError } from "../../errors.js";
import type { HePublicParams } from "./compile.js";
import { decodeContainer, encodeContainer } from "./container.js";
import { patchIndex } from "./model.js";
import { paramsId } from "./model-file.js";
import { type CkksContext, ckksContext } from "./seal.js";

export interface GeneratedKeys {
  /** The secret-key file: the client keeps it (mode 0600). */
  secretKey: Buffer;
  /** Public, relinearisation and Galois keys: what the server gets. */
  publicKeys: Buffer;
  keyId: string;
}

export async function generateKeys(params: HePublicParams): Promise<GeneratedKeys> {
  const ctx = await ckksContext(params.parameters);
  const { seal, context } = ctx;
  const keygen = seal.KeyGenerator(context);
  const zstd = seal.ComprModeType.zstd;
  const sections = [keygen.createPublicKeySerializable().saveArray(zstd), keygen.createRelinKeysSerializable().saveArray(zstd)];
  if (params.galoisSteps.length > 0) sections.push(keygen.createGaloisKeysSerializable(Int32Array.from(params.galoisSteps)).saveArray(zstd));
  const id = paramsId(params);
  const publicKeys = encodeContainer({ kind: "public-keys", paramsId: id }, sections);
  const keyId = createHash("sha256").update(publicKeys).digest("hex");
  const secret = keygen.secretKey();
  const secretKey = encodeContainer({ kind: "secret-key", paramsId: id, keyId, params }, [secret.saveArray(zstd)]);
  secret.delete();
  keygen.delete();
  return { secretKey, publicKeys, keyId };
}

export class HeClient {
  private constructor(
    readonly params: HePublicParams,
    readonly keyId: string,
    private readonly ctx: CkksContext,
    private readonly secret: SecretKey,
    private readonly encryptor: Encryptor,
    private readonly decryptor: Decryptor,
  ) {}

  /** Opens a secret-key file written by `generateKeys`. */
  static async open(secretKeyFile: Uint8Array, what = "the secret key file"): Promise<HeClient> {
    const { header, sections } = decodeContainer(secretKeyFile, "secret-key", what);
    const params = header.params as HePublicParams;
    if (!params || paramsId(params) !== header.paramsId || typeof header.keyId !== "string")
      throw new AegisError("BAD_DATA", `${what} is damaged: its parameters do not match their id`);
    const ctx = await ckksContext(params.parameters);
    const secret = ctx.seal.SecretKey();
    try {
      secret.loadArray(ctx.context, sections[0]);
    } catch (e) {
      throw new AegisError("BAD_DATA", `the secret key in ${what} does not load (${String((e as Error)?.message ?? e)})`);
    }
    const publicKey = ctx.seal.KeyGenerator(ctx.context, secret).createPublicKey();
    return new HeClient(params, header.keyId, ctx, secret, ctx.seal.Encryptor(ctx.context, publicKey, secret), ctx.seal.Decryptor(ctx.context, secret));
  }

  /** Samples one request holds at most (single packing: one per ciphertext group, any number). */
  get slots(): number {
    return this.ctx.slots;
  }

  /** Encrypts `n` samples (rows of x, each the model's input flattened) into a request container. */
  encrypt(x: Float32Array | Float64Array, n: number): Buffer {
    const features = this.params.inputShape.reduce((a, b) => a * b, 1);
    if (n < 1 || x.length !== n * features)
      throw new AegisError(
        "SHAPE_MISMATCH",
        `the model takes samples of shape [${this.params.inputShape}] (${features} values); got ${x.length / Math.max(n, 1)} values per sample`,
      );
    const sections: Uint8Array[] = [];
    for (const values of this.encode(x, n, features)) sections.push(this.encryptSlots(values));
    return encodeContainer({ kind: "request", paramsId: paramsId(this.params), keyId: this.keyId, samples: n }, sections);
  }

  /** Decrypts a response container: [samples × classes] raw outputs (logits). */
  decrypt(response: Uint8Array): { outputs: Float64Array; samples: number } {
    const { header, sections } = decodeContainer(response, "response", "the response");
    if (header.keyId !== this.keyId)
      throw new AegisError("BAD_DATA", "the response was computed under another key set; decrypt it with the key that encrypted the request");
    const samples = header.samples as number;
    const k = this.params.classes;
    const out = new Float64Array(samples * k);
    const decoded = sections.map((s) => this.decryptSlots(s));
    if (this.params.packing === "single") {
      if (decoded.length !== samples) throw new AegisError("BAD_DATA", `the response holds ${decoded.length} answers for ${samples} samples`);
      for (let s = 0; s < samples; s++) for (let c = 0; c < k; c++) out[s * k + c] = decoded[s][c];
    } else {
      const slots = this.ctx.slots;
      if (decoded.length !== Math.ceil(samples / slots) * k)
        throw new AegisError("BAD_DATA", `the response holds ${decoded.length} ciphertexts, not ${k} per batch`);
      for (let s = 0; s < samples; s++) for (let c = 0; c < k; c++) out[s * k + c] = decoded[Math.floor(s / slots) * k + c][s % slots];
    }
    return { outputs: out, samples };
  }

  release(): void {
    this.encryptor.delete();
    this.decryptor.delete();
    this.secret.delete();
  }

  private encryptSlots(values: Float64Array): Uint8Array {
    const plain = this.ctx.encoder.encode(values, this.ctx.scale) as PlainText;
    const bytes = this.encryptor.encryptSymmetricSerializable(plain).saveArray(this.ctx.seal.ComprModeType.zstd);
    plain.delete();
    return bytes;
  }

  private decryptSlots(bytes: Uint8Array): Float64Array {
    const ct: CipherText = this.ctx.seal.CipherText();
    try {
      ct.loadArray(this.ctx.context, bytes);
    } catch (e) {
      throw new AegisError("BAD_DATA", `a ciphertext in the response does not load (${String((e as Error)?.message ?? e)})`);
    }
    const plain = this.decryptor.decrypt(ct) as PlainText;
    const values = this.ctx.encoder.decode(plain);
    plain.delete();
    ct.delete();
    return values;
  }

  /** The slot vectors to encrypt, in the order the server reads them. */
  private *encode(x: Float32Array | Float64Array, n: number, features: number): Generator<Float64Array> {
    const input = this.params.input;
    const slots = this.ctx.slots;
    if (input.kind === "features") {
      for (let start = 0; start < n; start += slots) {
        const count = Math.min(slots, n - start);
        for (let f = 0; f < features; f++) yield Float64Array.from({ length: count }, (_, s) => x[(start + s) * features + f]);
      }
      return;
    }
    for (let s = 0; s < n; s++) {
      const sample = x.subarray(s * features, (s + 1) * features);
      if (input.kind === "vector") {
        yield Float64Array.from({ length: slots }, (_, i) => (i % input.period < input.length ? sample[i % input.period] : 0));
        continue;
      }
      const { conv, blockSize, blocksPerCiphertext, ciphertexts } = input;
      const windows = conv.outHeight * conv.outWidth;
      const kernel = conv.inChannels * conv.kernel[0] * conv.kernel[1];
      for (let t = 0; t < ciphertexts; t++) {
        const v = new Float64Array(slots);
        for (let j = 0; j < blocksPerCiphertext; j++) {
          const k = t * blocksPerCiphertext + j;
          if (k >= kernel) break;
          for (let w = 0; w < windows; w++) {
            const i = patchIndex(conv, k, w);
            if (i < 0) continue;
            for (let c = 0; c < conv.outChannels; c++) v[j * blockSize + c * windows + w] = sample[i];
          }
        }
        yield v;
      }
    }
  }
}

/**
 * Probabilities from the decrypted outputs, which are logits: the compiler leaves a final
 * Softmax or Sigmoid to the client, and a model without one (the engine's) outputs logits.
 */
export function outputProbabilities(outputs: Float64Array, classes: number): Float64Array {
  if (classes === 1) return outputs.map((v) => 1 / (1 + Math.exp(-v)));
  const out = new Float64Array(outputs.length);
  for (let s = 0; s < outputs.length / classes; s++) {
    const row = outputs.subarray(s * classes, (s + 1) * classes);
    const max = Math.max(...row);
    let sum = 0;
    for (let c = 0; c < classes; c++) sum += out[s * classes + c] = Math.exp(row[c] - max);
    for (let c = 0; c < classes; c++) out[s * classes + c] /= sum;
  }
  return out;
}
