/** Hostile YAML through every command that reads a config file (see harness.ts). */
import { test } from "node:test";
import { assertTarget } from "./harness.js";
import { yamlTarget } from "./targets/yaml.js";

test(`${yamlTarget.name}: ${yamlTarget.covers} — succeed or fail cleanly, within the time bound`, () => assertTarget(yamlTarget));
