/** `aegis keygen`: an Ed25519 or ECDSA P-256 key pair for `aegis sign` / `aegis verify`. */
import { Command } from "commander";
import { AegisError } from "../../errors.js";
import { generateKeys, KEY_TYPES, type KeyType } from "../../supplychain/index.js";
import { info } from "../common.js";
import { outOption } from "../options.js";

export function keygenCommand(): Command {
  return new Command("keygen")
    .description("create a signing key pair: KEY (PKCS#8 PEM, mode 0600) and KEY.pub (SPKI PEM)")
    .addOption(outOption("private key file to write; the public key goes to <key>.pub", undefined, true))
    .option("--type <type>", `key type: ${KEY_TYPES.join(" or ")}`, "ed25519")
    .action((opts: { out: string; type: string }) => {
      if (!(KEY_TYPES as readonly string[]).includes(opts.type)) {
        throw new AegisError("BAD_OPTION", `--type must be ${KEY_TYPES.join(" or ")}, not "${opts.type}"`);
      }
      const { privateKey, publicKey } = generateKeys(opts.type as KeyType, opts.out);
      info(`wrote ${privateKey} (keep it secret) and ${publicKey} (share it with verifiers)`);
    });
}
