import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { isAegisError } from "../../src/errors.js";
import { ACCESS_LEVELS, DATA_SOURCES, DEPLOYMENTS, OUTPUT_KINDS, parseSystem } from "../../src/threat/parse.js";
import { TEMPLATES, templateText } from "../../src/threat/templates.js";
import { COMPONENT_TYPES } from "../../src/threat/types.js";

const schema = JSON.parse(readFileSync(fileURLToPath(new URL("../../schema/system.schema.json", import.meta.url)), "utf8"));
const validate = new Ajv({ allErrors: true }).compile(schema);

test("the schema's enums are the parser's and types.ts's", () => {
  const component = schema.definitions.component.properties;
  assert.deepEqual(component.type.enum, [...COMPONENT_TYPES]);
  assert.deepEqual(component.access.enum, [...ACCESS_LEVELS]);
  assert.deepEqual(component.outputs.enum, [...OUTPUT_KINDS]);
  assert.deepEqual(component.source.enum, [...DATA_SOURCES]);
  assert.deepEqual(schema.properties.system.properties.deployment.enum, [...DEPLOYMENTS]);
});

for (const name of TEMPLATES) {
  test(`template ${name} validates against the schema and parses without warnings`, () => {
    const text = templateText(name);
    assert.ok(validate(parse(text)), `${name}: ${JSON.stringify(validate.errors)}`);
    const system = parseSystem(text, `${name}.yaml`);
    assert.equal(system.warnings, undefined);
    assert.ok(system.components.length >= 8 && system.flows.length >= 7, "a realistic system, not a stub");
    assert.ok(system.components.every((c) => typeof c.line === "number") && system.flows.every((f) => typeof f.line === "number"));
    assert.ok(text.split("\n").filter((l) => l.includes("#")).length >= 15, "commented for a user to edit");
  });
}

test("templates hold what a practitioner expects of each system", () => {
  const t = Object.fromEntries(TEMPLATES.map((n) => [n, parseSystem(templateText(n), n)]));
  const types = (n: string) => new Set(t[n].components.map((c) => c.type));
  const api = t["image-classifier-api"];
  assert.equal(api.system.deployment, "internet-facing");
  assert.ok(api.components.some((c) => c.type === "model" && c.access === "black_box" && c.outputs === "probabilities"));
  for (const type of ["user", "client_app", "api_gateway", "inference_api", "training_pipeline", "training_data", "model_registry", "ci_cd", "monitoring"]) {
    assert.ok(types("image-classifier-api").has(type as never), type);
  }
  const chat = t["llm-chatbot"];
  const llm = chat.components.find((c) => c.type === "llm");
  assert.ok(llm?.system_prompt_has_secrets && llm.tools?.length);
  assert.ok(chat.components.some((c) => c.type === "tool") && chat.components.some((c) => c.type === "data_store" && c.contains_pii));
  const rag = t["rag-assistant"];
  for (const type of ["llm", "rag_retriever", "vector_store", "external_data_source"]) assert.ok(types("rag-assistant").has(type as never), type);
  assert.ok(rag.components.some((c) => c.source === "web") && rag.components.some((c) => c.source === "third_party"));
  const fraud = t["fraud-model"];
  assert.equal(fraud.system.deployment, "internal");
  assert.ok(fraud.components.some((c) => c.type === "feature_store" && c.contains_pii));
  assert.ok(fraud.components.some((c) => c.type === "training_data" && c.source === "first_party"));
  assert.ok(fraud.components.some((c) => c.source === "third_party"));
  const health = t["federated-health"];
  assert.deepEqual(health.system.regulated_data, ["hipaa", "gdpr"]);
  assert.ok(health.components.filter((c) => c.type === "training_data" && c.contains_pii).length >= 3);
  assert.ok(health.controls.includes("federated_secure_aggregation"));
});

test("an unknown template name is a BAD_OPTION listing the five", () => {
  assert.throws(
    () => templateText("chatbot"),
    (e) => isAegisError(e) && e.code === "BAD_OPTION" && TEMPLATES.every((n) => e.message.includes(n)),
  );
  assert.throws(
    () => templateText("../parse"),
    (e) => isAegisError(e) && e.code === "BAD_OPTION",
  );
});
