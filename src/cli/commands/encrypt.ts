/**
 * `aegis encrypt` / `aegis decrypt`: models, data sets and reports encrypted at rest
 * (chunked AES-256-GCM, src/encryption). Commands that load a model or data read the
 * encrypted file directly, in memory, given the key; `decrypt` is for everything else.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Command } from "commander";
import {
  createKeyFile,
  decryptFile,
  ENCRYPTED_SUFFIX,
  encryptedName,
  encryptFile,
  KEY_ENV,
  KEY_FILE_ENV,
  keyId,
  plaintextName,
  requireKey,
} from "../../encryption/index.js";
import { AegisError } from "../../errors.js";
import { info } from "../common.js";
import { outOption } from "../options.js";

const KEY_HELP = `key file (\`aegis encrypt --new-key\` writes one); default: ${KEY_ENV}, else the file ${KEY_FILE_ENV} names`;

function refuseOverwrite(path: string, force: boolean | undefined): void {
  if (!force && existsSync(path)) throw new AegisError("BAD_OPTION", `${path} exists; give --force to replace it, or --out another path`);
}

export function encryptCommand(): Command {
  return new Command("encrypt")
    .description("encrypt a model, data set or report at rest (AES-256-GCM in 64 KiB chunks; name and format authenticated)")
    .argument("<file>", "file to encrypt")
    .option("--key-file <file>", KEY_HELP)
    .option("--new-key", "first write a new random key to --key-file (mode 0600; never overwrites)")
    .option("--name <name>", "plaintext name bound into the file (default: the file's name); the output is <name>.aegis")
    .addOption(outOption("encrypted file (default: <name>.aegis beside the input)"))
    .option("--force", "replace an existing output")
    .action((file: string, opts: { keyFile?: string; newKey?: boolean; name?: string; out?: string; force?: boolean }) => {
      if (opts.newKey && !opts.keyFile) throw new AegisError("BAD_OPTION", "--new-key needs --key-file: the path to write the new key to");
      const name = opts.name ?? basename(file);
      const out = opts.out ?? join(dirname(file), encryptedName(name));
      refuseOverwrite(out, opts.force);
      const key = opts.newKey ? createKeyFile(opts.keyFile as string) : requireKey(opts.keyFile, `encrypting ${file}`);
      if (opts.newKey) info(`wrote a new key to ${opts.keyFile} (mode 0600): keep it secret and backed up; without it the file cannot be read`);
      encryptFile(file, out, key, { name });
      info(`encrypted ${file} → ${out} (key ${keyId(key)})`);
    });
}

export function decryptCommand(): Command {
  return new Command("decrypt")
    .description("decrypt a file `aegis encrypt` wrote; a changed, truncated or renamed file is refused (exit 12) and nothing is written")
    .argument("<file>", `encrypted file (<name>${ENCRYPTED_SUFFIX})`)
    .option("--key-file <file>", KEY_HELP)
    .addOption(outOption(`plaintext file (default: the bound name beside the input; mode 0600)`))
    .option("--force", "replace an existing output")
    .action((file: string, opts: { keyFile?: string; out?: string; force?: boolean }) => {
      if (!opts.out && !file.endsWith(ENCRYPTED_SUFFIX))
        throw new AegisError("BAD_OPTION", `${file} does not end in ${ENCRYPTED_SUFFIX}, so its plaintext name is unknown; give --out`);
      const out = opts.out ?? join(dirname(file), plaintextName(file));
      refuseOverwrite(out, opts.force);
      const key = requireKey(opts.keyFile, `decrypting ${file}`);
      decryptFile(file, out, key);
      info(`decrypted ${file} → ${out}`);
    });
}
