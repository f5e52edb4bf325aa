/** `aegis harden METHOD`: parses the flags and runs the library's hardening workflow (defenses/harden.ts). */
import { Command } from "commander";
import { HARDEN_METHODS, type HardenMethod, harden } from "../../defenses/index.js";
import { ARCHITECTURES } from "../../engine/architectures.js";
import { info, interruptSignal, printJson, progressBar } from "../common.js";
import { dpOptions, parseInteger, parseNumber, runtimeOptions, withBatchSize, withData, withDp, withJson, withOut, withRuntime, withSeed } from "../options.js";

export function hardenCommand(): Command {
  const cmd = new Command("harden")
    .description(
      "harden a model: PGD adversarial training, TRADES, fast adversarial training, defensive distillation or Gaussian augmentation; --dp trains with DP-SGD too",
    )
    .argument("<method>", HARDEN_METHODS.join(" | "))
    .option("--model <file>", "ONNX model to harden (its weights are the starting point)")
    .option("--arch <arch>", `train a new model of this architecture instead: ${ARCHITECTURES.join(" | ")} (default cnn)`)
    .option("--test-data <spec>", "held-out data for per-epoch robust accuracy (default: mnist's test split when --data is mnist)");
  withData(cmd, "training data (mnist: its 8,000-sample train split)", "mnist", { split: false });
  withOut(cmd, "where to write the hardened ONNX model", undefined, true);
  cmd
    .option("--eps <eps>", "L∞ radius of training and evaluation attacks", parseNumber("--eps"), 0.3)
    .option("--eps-step <step>", "inner attack step (default 0.01; fast-at: 1.25·eps)", parseNumber("--eps-step"))
    .option("--max-iter <n>", "inner attack iterations (default 40, as Madry et al. and Zhang et al. on MNIST)", parseInteger("--max-iter", 1))
    .option("--ratio <r>", "share of each batch replaced by adversarial (or noisy) samples", parseNumber("--ratio"))
    .option("--ramp-epochs <n>", "grow ε linearly over the first n epochs", parseInteger("--ramp-epochs", 0), 0)
    .option("--epochs <n>", "epochs (distillation: for the teacher and again for the student)", parseInteger("--epochs", 1), 10)
    .option("--lr <rate>", "learning rate (default 1e-3 for adam, 0.05 for sgd; fast-at: cyclic peak 5e-3 adam, 0.2 sgd)", parseNumber("--lr"))
    .option("--optimizer <name>", "adam | sgd (momentum 0.9)", "adam")
    .option("--beta <beta>", "TRADES weight of the robustness term", parseNumber("--beta"), 6)
    .option("--temperature <T>", "distillation temperature", parseNumber("--temperature"), 100)
    .option("--sigma <sigma>", "Gaussian augmentation noise", parseNumber("--sigma"), 0.25)
    .option("--eval-samples <n>", "held-out samples for per-epoch clean and robust accuracy", parseInteger("--eval-samples", 1), 500)
    .option("--eval-max-iter <n>", "PGD iterations of the per-epoch evaluation", parseInteger("--eval-max-iter", 1), 40)
    .option("--checkpoint-dir <dir>", "write a checkpoint after every epoch (weights, optimizer, epoch, history)")
    .option("--resume", "continue from the checkpoint in --checkpoint-dir");
  withBatchSize(cmd, 64, "samples per step");
  withSeed(cmd, "initialisation, shuffling and attacks");
  withJson(cmd, "the settings, history and final numbers");
  withRuntime(cmd);
  withDp(cmd);
  return cmd.action(async (method: string, opts) => {
    const result = await harden(
      { ...opts, method: method as HardenMethod, runtime: runtimeOptions(opts), dp: dpOptions(opts) },
      { log: info, progress: progressBar, signal: interruptSignal() },
    );
    if (opts.json) printJson(result);
  });
}
