/**
 * `aegis encrypt` / `aegis decrypt`: models, data sets and reports encrypted at rest
 * (chunked AES-256-GCM, src/encryption). Commands that load a model or data read the
 * encrypted file directly, in memory, given the key; `decrypt` is for everything else.
 */
import { existsSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { Command } from "commander";
import {
  checkOutputName,
  createIdentityFile,
  createKeyFile,
  decryptFile,
  ENCRYPTED_SUFFIX,
  encryptedName,
  encryptFile,
  type Identity,
  idOf,
  KEY_ENV,
  KEY_FILE_ENV,
  parseRecipient,
  plaintextName,
  type Recipient,
  requireKey,
} from "../../encryption/index.js";
import { AegisError } from "../../errors.js";
import { info } from "../common.js";
import { outOption } from "../options.js";

const KEY_HELP = `key or identity file (\`aegis encrypt --new-key\` or \`--new-identity\` writes one); default: ${KEY_ENV}, else the file ${KEY_FILE_ENV} names`;

function refuseOverwrite(path: string, force: boolean | undefined): void {
  if (!force && existsSync(path)) throw new AegisError("BAD_OPTION", `${path} exists; give --force to replace it, or --out another path`);
}

/** What a key file holds, as someone to encrypt for: a shared key as it is, an identity as its public recipient. */
const recipientOf = (key: Identity): Recipient => (key.kind === "key" ? key : { kind: "x25519", publicKey: key.publicKey });

interface EncryptOptions {
  keyFile?: string;
  newKey?: boolean;
  recipient?: string[];
  newIdentity?: string;
  name?: string;
  out?: string;
  force?: boolean;
}

/** Everyone the file is encrypted for: --key-file (or --new-key), each --recipient, --new-identity; AEGIS_KEY / AEGIS_KEY_FILE when none is given. */
function recipientsOf(file: string, opts: EncryptOptions): Recipient[] {
  if (opts.newKey && !opts.keyFile) throw new AegisError("BAD_OPTION", "--new-key needs --key-file: the path to write the new key to");
  const recipients = (opts.recipient ?? []).map(parseRecipient);
  if (opts.newIdentity) {
    recipients.push(createIdentityFile(opts.newIdentity));
    info(`wrote a new identity to ${opts.newIdentity} (mode 0600; keep it secret) and its recipient to ${opts.newIdentity}.pub (share it)`);
  }
  if (opts.newKey) {
    recipients.push(createKeyFile(opts.keyFile as string));
    info(`wrote a new key to ${opts.keyFile} (mode 0600): keep it secret and backed up; without it the file cannot be read`);
  } else if (opts.keyFile || recipients.length === 0) recipients.push(recipientOf(requireKey(opts.keyFile, `encrypting ${file}`)));
  return recipients;
}

export function encryptCommand(): Command {
  return new Command("encrypt")
    .description("encrypt a model, data set or report at rest (AES-256-GCM in 64 KiB chunks; name and format authenticated)")
    .argument("<file>", "file to encrypt")
    .option("--key-file <file>", KEY_HELP)
    .option("--new-key", "first write a new random key to --key-file (mode 0600; never overwrites)")
    .option("--recipient <recipient...>", "also encrypt for these X25519 recipients (aegis-recipient-1:… or a .pub file): each decrypts with its own identity")
    .option("--new-identity <file>", "first write a new X25519 identity to <file> (mode 0600) and its recipient to <file>.pub, and encrypt for it")
    .option("--name <name>", "plaintext name bound into the file (default: the file's name); the output is <name>.aegis")
    .addOption(outOption("encrypted file (default: <name>.aegis beside the input)"))
    .option("--force", "replace an existing output")
    .action((file: string, opts: EncryptOptions) => {
      const name = opts.name ?? basename(file);
      const out = opts.out ?? join(dirname(file), encryptedName(name));
      checkOutputName(out, name);
      refuseOverwrite(out, opts.force);
      const recipients = recipientsOf(file, opts);
      encryptFile(file, out, recipients, { name });
      info(`encrypted ${file} → ${out} for ${recipients.map((r) => `${r.kind} ${idOf(r)}`).join(", ")}`);
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
