/**
 * `aegis verify`: checks a model signature and names every file added, removed or changed.
 * Exit 0 when valid, 12 when the signature or any file does not match (bad key or
 * signature files are typed errors with their own codes).
 */
import { existsSync } from "node:fs";
import { Command } from "commander";
import { findKey } from "../../encryption/index.js";
import { AegisError } from "../../errors.js";
import { signatureOf, verifyModelSignature } from "../../supplychain/index.js";
import { printJson } from "../common.js";
import { jsonOption } from "../options.js";

/** Documented exit code for a signature or model that does not verify. */
export const VERIFY_FAILED_EXIT = 12;

export function verifyCommand(): Command {
  return new Command("verify")
    .description("verify a model's signature and integrity (exit 0 valid, 12 invalid or modified)")
    .argument("<model>", "model file or folder")
    .requiredOption("--pub <key>", "public key (SPKI PEM, the .pub from `aegis keygen`)")
    .option("--sig <sig>", "signature file (default: model.sig inside a folder, <model>.sig beside a file; for M.aegis without one, M's)")
    .option(
      "--key-file <file>",
      "key of a model signed before `aegis encrypt` (default: AEGIS_KEY, else the file AEGIS_KEY_FILE names): verified on its plaintext, in memory",
    )
    .addOption(jsonOption("the verdict"))
    .action(async (model: string, opts: { pub: string; sig?: string; keyFile?: string; json?: boolean }) => {
      if (!existsSync(model)) throw new AegisError("FILE_NOT_FOUND", `${model} does not exist; give the model file or folder to verify.`);
      const result = await verifyModelSignature(model, opts.sig ?? signatureOf(model), opts.pub, { key: findKey(opts.keyFile) });
      if (opts.json) printJson({ model, ...result });
      else {
        const lines = [result.valid ? `OK: ${model} matches its signature` : `INVALID: ${result.reason}`];
        for (const f of result.added) lines.push(`  added    ${f}`);
        for (const f of result.removed) lines.push(`  removed  ${f}`);
        for (const f of result.changed) lines.push(`  changed  ${f}`);
        process.stdout.write(`${lines.join("\n")}\n`);
      }
      if (!result.valid) process.exitCode = VERIFY_FAILED_EXIT;
    });
}
