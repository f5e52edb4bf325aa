import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse, stringify } from "yaml";
import { isAegisError } from "../../src/errors.js";
import { closest, editDistance, loadSystem, parseSystem } from "../../src/threat/parse.js";

const validate = new Ajv().compile(JSON.parse(readFileSync(fileURLToPath(new URL("../../schema/system.schema.json", import.meta.url)), "utf8")));

const MINIMAL = `system:
  name: Demo
  deployment: internet-facing
components:
  - id: user
    type: user
    trust_zone: internet
  - id: api
    type: inference_api
    trust_zone: serving
    access: black_box
    outputs: probabilities
flows:
  - from: user
    to: api
    authenticated: true
controls: [rate_limiting, "a WAF in front"]
`;

/** MINIMAL with one line replaced; returns the text and the changed line's number. */
function edit(find: string, replace: string): { text: string; line: number } {
  const lines = MINIMAL.split("\n");
  const k = lines.findIndex((l) => l.includes(find));
  assert.ok(k >= 0, find);
  lines[k] = lines[k].replace(find, replace);
  return { text: lines.join("\n"), line: k + 1 };
}

/** Rejected by the schema and by the parser with a message at `line` holding every part. */
function rejects(text: string, line: number, ...parts: string[]): void {
  assert.equal(validate(parse(text)), false, "the schema rejects it as well");
  parserRejects(text, line, ...parts);
}

/** For rules JSON Schema cannot express (unique ids, flows naming existing ids). */
function parserRejects(text: string, line: number, ...parts: string[]): void {
  assert.throws(
    () => parseSystem(text, "system.yaml"),
    (e) => {
      assert.ok(isAegisError(e) && e.code === "BAD_OPTION", String(e));
      assert.ok(e.message.startsWith(`system.yaml:${line}: `), e.message);
      for (const p of parts) assert.ok(e.message.includes(p), `${e.message}\n  lacks: ${p}`);
      return true;
    },
  );
}

test("a minimal description parses, with lines, and round-trips through YAML", () => {
  const system = parseSystem(MINIMAL, "system.yaml");
  assert.deepEqual(system, {
    system: { name: "Demo", deployment: "internet-facing" },
    components: [
      { id: "user", type: "user", trust_zone: "internet", line: 5 },
      { id: "api", type: "inference_api", trust_zone: "serving", access: "black_box", outputs: "probabilities", line: 8 },
    ],
    flows: [{ from: "user", to: "api", authenticated: true, line: 14 }],
    controls: ["rate_limiting", "a WAF in front"],
  });
  const { line: _c0, ...c0 } = system.components[0];
  const { line: _c1, ...c1 } = system.components[1];
  const { line: _f0, ...f0 } = system.flows[0];
  const written = stringify({ ...system, components: [c0, c1], flows: [f0] });
  assert.ok(validate(parse(written)), JSON.stringify(validate.errors));
  const again = parseSystem(written, "again.yaml");
  assert.deepEqual(
    { ...again, components: again.components.map(({ line: _, ...c }) => c), flows: again.flows.map(({ line: _, ...f }) => f) },
    {
      ...system,
      components: [c0, c1],
      flows: [f0],
    },
  );
});

test("loadSystem reads a file and names a missing one", () => {
  const dir = mkdtempSync(join(tmpdir(), "aegis-threat-"));
  writeFileSync(join(dir, "system.yaml"), MINIMAL);
  assert.equal(loadSystem(join(dir, "system.yaml")).components.length, 2);
  assert.throws(
    () => loadSystem(join(dir, "nope.yaml")),
    (e) => isAegisError(e) && e.code === "FILE_NOT_FOUND",
  );
});

test("an unknown component type names the line, the valid types and the closest", () => {
  const { text, line } = edit("type: inference_api", "type: inferance_api");
  rejects(text, line, 'components[1].type is "inferance_api"', '(did you mean "inference_api"?)', "user, client_app, api_gateway", "monitoring");
  const spaced = edit("type: inference_api", "type: Inference API");
  rejects(spaced.text, spaced.line, '(did you mean "inference_api"?)');
});

test("a duplicate component id names both places", () => {
  const { text, line } = edit("id: api", "id: user");
  parserRejects(text, line, 'components[1].id "user" is already the id of components[0] (system.yaml:5)', "give each component its own id");
});

test("a flow to or from a missing component names the ids that exist", () => {
  const to = edit("to: api", "to: apii");
  parserRejects(to.text, to.line, 'flows[0].to is "apii"', '(did you mean "api"?)', "use one of user, api", "declare it under components");
  const from = edit("from: user", "from: attacker");
  parserRejects(from.text, from.line, 'flows[0].from is "attacker"', "use one of user, api");
});

test("bad enum values list the allowed ones", () => {
  const cases: [string, string, string][] = [
    ["deployment: internet-facing", "deployment: public", "use one of internet-facing, internal"],
    ["access: black_box", "access: blackbox", '(did you mean "black_box"?); use one of white_box, grey_box, black_box'],
    ["outputs: probabilities", "outputs: scores", "use one of labels, top_k, probabilities, logits"],
  ];
  for (const [find, replace, fix] of cases) {
    const { text, line } = edit(find, replace);
    rejects(text, line, fix);
  }
  const source = MINIMAL.replace("    trust_zone: internet\n", "    trust_zone: internet\n    source: internet\n");
  assert.throws(
    () => parseSystem(source, "s.yaml"),
    /^AegisError: s\.yaml:8: components\[0\]\.source is "internet"; use one of first_party, third_party, user_generated, web$/,
  );
});

test("wrong types name the key and what it must be", () => {
  const bool = edit("authenticated: true", "authenticated: yes please");
  rejects(bool.text, bool.line, "flows[0].authenticated must be true or false");
  const list = edit('controls: [rate_limiting, "a WAF in front"]', "controls: rate_limiting");
  rejects(list.text, list.line, "controls must be a list");
  const components = MINIMAL.replace(/components:[\s\S]*?flows:/, "components: api\nflows:");
  rejects(components, 4, "components must be a list");
});

test("missing required keys say what to add", () => {
  const cases: [string, string][] = [
    ["  name: Demo", "system.name is missing; add `name:"],
    ["  deployment: internet-facing", "system.deployment is missing; add `deployment: internet-facing | internal`"],
    ["  - id: user", "components[0].id is missing"],
    ["    type: user", "components[0].type is missing; add `type:`, one of user"],
    ["    trust_zone: serving", "components[1].trust_zone is missing; add `trust_zone:"],
    ["    to: api", "flows[0].to is missing; add `to: <component id>`, one of user, api"],
  ];
  for (const [drop, message] of cases) {
    const lines = MINIMAL.split("\n");
    const k = lines.indexOf(drop);
    assert.ok(k >= 0, drop);
    // "- id: user" carries the list item: keep the dash on the next key.
    const text =
      drop === "  - id: user"
        ? [...lines.slice(0, k), "  - type: user", ...lines.slice(k + 2)].join("\n")
        : [...lines.slice(0, k), ...lines.slice(k + 1)].join("\n");
    assert.equal(validate(parse(text)), false, drop);
    assert.throws(
      () => parseSystem(text, "system.yaml"),
      (e) => isAegisError(e) && /^system\.yaml:\d+: /.test(e.message) && e.message.includes(message),
      message,
    );
  }
  assert.throws(() => parseSystem("", "system.yaml"), /system\.yaml: the document is empty; .*aegis threat init/);
  assert.throws(() => parseSystem("system: {name: x, deployment: internal}\n", "system.yaml"), /components is missing; list the system's components/);
});

test("an unknown key is an error with the closest known key", () => {
  const { text, line } = edit("trust_zone: serving", "trustzone: serving");
  rejects(text, line, 'components[1].trustzone is not a known key (did you mean "trust_zone"?)');
  const short = MINIMAL.replace("  deployment: internet-facing\n", "  deployment: internet-facing\n  regulated: [gdpr]\n");
  rejects(short, 4, 'system.regulated is not a known key (did you mean "regulated_data"?); use name, owner');
});

test("near misses of known controls and misplaced type-specific keys are warnings, free text is not", () => {
  const text = MINIMAL.replace('controls: [rate_limiting, "a WAF in front"]', 'controls: [rate_limitng, "Rate limiting", "a WAF in front"]').replace(
    "    trust_zone: internet\n",
    "    trust_zone: internet\n    outputs: labels\n",
  );
  const system = parseSystem(text, "system.yaml");
  assert.deepEqual(system.controls, ["rate_limitng", "Rate limiting", "a WAF in front"]);
  assert.equal(system.warnings?.length, 3, JSON.stringify(system.warnings));
  assert.match(
    system.warnings[0],
    /^system\.yaml:8: components\[0\]\.outputs describes model, third_party_model, inference_api components and is ignored on a user/,
  );
  assert.match(system.warnings[1], /^system\.yaml:18: controls\[0\] "rate_limitng" is not a known control id .* write "rate_limiting"/);
  assert.match(system.warnings[2], /controls\[1\] "Rate limiting"/);
  assert.equal(parseSystem(MINIMAL, "system.yaml").warnings, undefined);
});

test("edit distance counts a swap of neighbours as one edit", () => {
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("modle", "model"), 1);
  assert.equal(closest("databse", ["data_store", "database"], 2), "database");
  assert.equal(closest("something else", ["rate_limiting"], 2), undefined);
});
