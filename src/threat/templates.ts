/**
 * The starting system.yaml files `aegis threat init --template` writes: commented, realistic
 * descriptions of common AI systems for a user to edit rather than a blank page. They live
 * as YAML files beside this module so the comments stay readable and editable.
 */
import { readFileSync } from "node:fs";
import { AegisError } from "../errors.js";

export const TEMPLATES = ["image-classifier-api", "llm-chatbot", "rag-assistant", "fraud-model", "federated-health"] as const;
export type TemplateName = (typeof TEMPLATES)[number];

export function templateText(name: string): string {
  if (!(TEMPLATES as readonly string[]).includes(name)) {
    throw new AegisError("BAD_OPTION", `There is no threat-model template "${name}"; use one of ${TEMPLATES.join(", ")}.`);
  }
  return readFileSync(new URL(`./templates/${name}.yaml`, import.meta.url), "utf8");
}
