/** `aegis bom`: a CycloneDX 1.6 ML-BOM of a model file or folder. */
import { Command } from "commander";
import { writeFileAtomic } from "../../fs.js";
import { buildBom } from "../../supplychain/index.js";
import { info } from "../common.js";
import { outOption } from "../options.js";

export function bomCommand(): Command {
  return new Command("bom")
    .description("write a CycloneDX 1.6 ML-BOM (JSON) of a model file or folder")
    .argument("<model>", "model file or folder")
    .addOption(outOption("write the BOM here instead of stdout"))
    .option("--scan", "scan every file (as `aegis scan`) and record its verdict")
    .action(async (model: string, opts: { out?: string; scan?: boolean }) => {
      const bom = await buildBom(model, { scan: opts.scan });
      const text = `${JSON.stringify(bom, null, 2)}\n`;
      if (!opts.out) return void process.stdout.write(text);
      writeFileAtomic(opts.out, text);
      info(`wrote ${opts.out}: ${bom.components.length} components`);
    });
}
