/**
 * `aegis serve`: an inference server for ONNX classifiers (KServe/TF-Serving-style JSON,
 * or .npy bodies), with request validation derived from each model. With --pub it first
 * verifies the model's signature and refuses to serve a model that does not match.
 */
import { existsSync } from "node:fs";
import { basename, extname } from "node:path";
import { Command } from "commander";
import { findKey, plaintextName } from "../../encryption/index.js";
import { OnnxClassifier } from "../../engine/classifier.js";
import { AegisError } from "../../errors.js";
import type { ServedModel } from "../../gateway/index.js";
import { createServer } from "../../gateway/index.js";
import { heRoutes, readHeModel, startHeService } from "../../privacy/index.js";
import { signatureOf, verifyModelSignature } from "../../supplychain/index.js";
import { info } from "../common.js";
import { parseClip, parseInteger, runtimeOptions, withRuntime } from "../options.js";

export function serveCommand(): Command {
  const cmd = new Command("serve")
    .description('serve ONNX classifiers over HTTP: POST /v1/models/{name}:predict with {"instances": [...]}')
    .option("--model <file...>", "ONNX model(s) to serve")
    .option("--he <file...>", "encrypted-inference model(s) from `aegis he compile` (M.he.json), served at /v1/he/{name}:infer")
    .option("--he-body-limit <bytes>", "largest encrypted request (keys may be up to 64 MiB)", parseInteger("--he-body-limit", 1), 256 * 2 ** 20)
    .option("--name <name...>", "URL name of each model (default: the file's base name)")
    .option("--host <host>", "address to listen on (0.0.0.0 to accept remote clients)", "127.0.0.1")
    .option("--port <port>", "port (0 picks a free one)", parseInteger("--port", 0), 8080)
    .option("--clip-range <lo,hi>", "valid input range; requests outside it are refused", "0,1")
    .option("--max-instances <n>", "most instances per request", parseInteger("--max-instances", 1), 256)
    .option(
      "--body-limit <bytes>",
      "largest request body (default: room for --max-instances inputs of the largest model as JSON, 1–64 MiB)",
      parseInteger("--body-limit", 1),
    )
    .option("--pub <key>", "refuse to start unless each model verifies against this public key (`aegis keygen`)")
    .option("--sig <file...>", "signature of each model (default: <model>.sig, as `aegis sign` writes)")
    .option("--key-file <file>", "key of models `aegis encrypt` wrote, decrypted in memory only (default: AEGIS_KEY, else the file AEGIS_KEY_FILE names)")
    .option("--log-level <level>", "request log on stderr: fatal | error | warn | info | debug, or off", "info");
  withRuntime(cmd);
  return cmd.action(async (opts) => {
    const files: string[] = opts.model ?? [];
    const heFiles: string[] = opts.he ?? [];
    if (files.length + heFiles.length === 0) throw new AegisError("BAD_OPTION", "give --model (ONNX) or --he (an encrypted-inference model), or both");
    const names: string[] = opts.name ?? files.map((f) => basename(plaintextName(f), extname(plaintextName(f))));
    if (names.length !== files.length) throw new AegisError("BAD_OPTION", `${files.length} models but ${names.length} names; give one --name per --model`);
    if (new Set(names).size !== names.length) throw new AegisError("BAD_OPTION", `two models would share a name (${names.join(", ")}); give each a --name`);
    const clipRange = parseClip("--clip-range", opts.clipRange, false);
    if (opts.pub) await verifyAll(files, opts.sig, opts.pub, opts.keyFile);
    const models: ServedModel[] = [];
    for (const [i, file] of files.entries()) {
      const classifier = await OnnxClassifier.fromFile(file, { ...runtimeOptions(opts), clipRange, keyFile: opts.keyFile });
      models.push({ name: names[i], classifier, maxInstances: opts.maxInstances });
    }
    const bodyLimit: number = opts.bodyLimit ?? defaultBodyLimit(models, opts.maxInstances);
    const app = await createServer({ models, bodyLimit, logLevel: opts.logLevel === "off" ? false : opts.logLevel });
    const heModels = await Promise.all(
      heFiles.map(async (file) => ({ service: await startHeService(basename(file).replace(/(\.he)?\.json$/, ""), readHeModel(file)) })),
    );
    if (heModels.length > 0) await app.register(heRoutes, { models: heModels, requestBodyLimit: opts.heBodyLimit });
    const address = await app.listen({ host: opts.host, port: opts.port });
    for (const m of models) info(`serving ${m.name} at ${address}/v1/models/${m.name}:predict`);
    for (const { service } of heModels)
      info(`serving ${service.name} encrypted at ${address}/v1/he/${service.name}:infer (keys: POST ${address}/v1/he/${service.name}/keys)`);
    await new Promise<void>((resolve) => {
      const stop = () => {
        info("shutting down: finishing requests in flight");
        resolve();
      };
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    await app.close();
    for (const m of models) await m.classifier.release();
  });
}

/** JSON spends at most this many characters on one float32 with its separator ("-0.123456789012345678e-10,"). */
const JSON_CHARS_PER_NUMBER = 24;
const MIB = 2 ** 20;

/** A body limit that takes the --max-instances a client is allowed to send, so the two defaults agree (1 MiB refused 256 MNIST digits). */
function defaultBodyLimit(models: readonly ServedModel[], maxInstances: number): number {
  const largestInput = Math.max(0, ...models.map((m) => m.classifier.inputShape.reduce((n, d) => n * Math.max(d, 1), 1)));
  return Math.min(64 * MIB, Math.max(MIB, largestInput * JSON_CHARS_PER_NUMBER * maxInstances + 64 * 1024));
}

async function verifyAll(files: string[], sigs: string[] | undefined, pub: string, keyFile: string | undefined): Promise<void> {
  if (sigs && sigs.length !== files.length)
    throw new AegisError("BAD_OPTION", `${files.length} models but ${sigs.length} signatures; give one --sig per --model`);
  for (const [i, file] of files.entries()) {
    if (!existsSync(file)) throw new AegisError("FILE_NOT_FOUND", `${file} does not exist`);
    const sig = sigs?.[i] ?? signatureOf(file);
    const result = await verifyModelSignature(file, sig, pub, { key: findKey(keyFile) });
    if (!result.valid) {
      const changed = [...result.added, ...result.removed, ...result.changed];
      throw new AegisError(
        "INTEGRITY_FAILED",
        `refusing to serve ${file}: its signature does not verify (${result.reason}${changed.length ? `: ${changed.join(", ")}` : ""}); re-sign it with \`aegis sign\` or restore the signed files`,
      );
    }
    info(`${file}: signature verified`);
  }
}
