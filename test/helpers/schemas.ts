import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { Ajv, type ValidateFunction } from "ajv";

const require = createRequire(import.meta.url);

const load = (name: string) => JSON.parse(readFileSync(new URL(`../../schema/${name}`, import.meta.url), "utf8"));

/** A validator for one of the published report schemas (schema/NAME), with the finding schema they share. */
export function schemaValidator(name: string): ValidateFunction {
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });
  ajv.addSchema(load("finding.schema.json"));
  const schema = load(name);
  // The finding schema itself is already added: compiling it again would clash on its $id.
  return ajv.getSchema(schema.$id) ?? ajv.compile(schema);
}

/**
 * The official SARIF 2.1.0 JSON schema (the OASIS rtm.5 schema that code-scanning UIs
 * validate uploads against, shipped in @microsoft/jest-sarif), a draft-04 schema.
 */
export function sarifValidator(): ValidateFunction {
  const schema = JSON.parse(readFileSync(require.resolve("@microsoft/jest-sarif/lib/schemas/sarif-2.1.0-rtm.5.json"), "utf8"));
  // ajv-draft-04 is CommonJS; require gives its class without ESM interop guesswork.
  const Draft04: typeof Ajv = require("ajv-draft-04");
  // The schema's language-tag pattern has a stray "]", legal only outside Unicode mode.
  const ajv = new Draft04({ allErrors: true, strict: false, unicodeRegExp: false });
  // URIs and dates are checked too: a code-scanning UI rejects a log whose artifact URI does not parse.
  const addFormats: (ajv: Ajv) => Ajv = require("ajv-formats");
  addFormats(ajv);
  return ajv.compile(schema);
}
