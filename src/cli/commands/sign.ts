/** `aegis sign`: an OpenSSF model-signing signature (DSSE-signed in-toto manifest) of a model file or folder. */
import { statSync } from "node:fs";
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { defaultSignaturePath, signModel } from "../../supplychain/index.js";
import { info } from "../common.js";
import { outOption } from "../options.js";

export function signCommand(): Command {
  return new Command("sign")
    .description("sign a model file or folder: SHA-256 of every file in an in-toto statement, in a DSSE envelope")
    .argument("<model>", "model file or folder")
    .requiredOption("--key <key>", "private key (PKCS#8 PEM, from `aegis keygen`)")
    .addOption(outOption("signature file (default: model.sig inside a folder, <model>.sig beside a file)"))
    .action(async (model: string, opts: { key: string; out?: string }) => {
      let isDir: boolean;
      try {
        isDir = statSync(model).isDirectory();
      } catch (e) {
        throw new AegisError("FILE_NOT_FOUND", `${model} does not exist; give the model file or folder to sign.`, { cause: e });
      }
      const out = opts.out ?? defaultSignaturePath(model, isDir);
      const bundle = await signModel(model, opts.key, out);
      const files = JSON.parse(Buffer.from(bundle.dsseEnvelope.payload, "base64").toString("utf8")).predicate.resources.length;
      info(`signed ${files} file${files === 1 ? "" : "s"} of ${model} → ${out}`);
    });
}
