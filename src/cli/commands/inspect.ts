import { Command } from "commander";
import { summarizeModel } from "../../engine/inspect.js";
import { loadModel } from "../../onnx/io.js";
import { describeDp, readDpMetadata } from "../../privacy/index.js";
import { printJson } from "../common.js";
import { jsonOption, runtimeOptions, withRuntime } from "../options.js";

export function inspectCommand(): Command {
  const cmd = new Command("inspect")
    .description(
      "show a model's inputs, outputs, opsets, ops, parameters, what its input means for attacks, whether it is differentiable and its DP guarantee if any",
    )
    .argument("<model>", "ONNX model file")
    .addOption(jsonOption("the summary"));
  withRuntime(cmd);
  return cmd.action(async (path: string, opts) => {
    const model = loadModel(path);
    const summary = await summarizeModel(model, runtimeOptions(opts));
    const privacy = readDpMetadata(model);
    if (opts.json) return printJson({ model: path, ...summary, differentialPrivacy: privacy });
    const shape = (s: (number | string | undefined)[] | null) => (s ? `[${s.map((d) => d ?? "?").join(", ")}]` : "(rank unknown)");
    const lines = [
      `model        ${path}`,
      `producer     ${summary.producer || "unknown"} · IR ${summary.irVersion} · ${Object.entries(summary.opsets)
        .map(([d, v]) => `${d} ${v}`)
        .join(", ")}`,
      ...summary.inputs.map((v, i) => `${i === 0 ? "inputs " : "       "}      ${v.name}: ${v.type} ${shape(v.shape)}`),
      ...summary.outputs.map((v, i) => `${i === 0 ? "outputs" : "       "}      ${v.name}: ${v.type} ${shape(v.shape)}`),
      `parameters   ${summary.parameters.toLocaleString("en-US")}`,
      `ops          ${summary.nodes} nodes: ${Object.entries(summary.ops)
        .map(([op, n]) => `${op}×${n}`)
        .join(" ")}`,
      `input kind   ${summary.input.kind}: ${summary.input.note}`,
      `differentiable ${summary.differentiable}${summary.probedShape ? ` (gradient graph built at input shape [${summary.probedShape.join(", ")}])` : ""}`,
      ...summary.nonDifferentiable.map((n) => `  no gradient: ${n.domain ? `${n.domain}.` : ""}${n.opType} "${n.name}": ${n.reason}`),
      ...(summary.gradientError && summary.input.kind !== "unsupported" ? [`  ${summary.gradientError}`] : []),
      ...(privacy ? [`privacy      ${describeDp(privacy)}`] : []),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  });
}
