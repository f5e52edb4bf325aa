/** Hostile request bodies to aegis serve and the guard (see harness.ts). */
import { after, before, test } from "node:test";
import { assertTarget } from "./harness.js";
import { httpTargets } from "./targets/http.js";

before(() => Promise.all(httpTargets.map((t) => t.start?.())));
after(() => Promise.all(httpTargets.map((t) => t.stop?.())));

for (const target of httpTargets) {
  test(`${target.name}: ${target.covers} — 200 or a documented 4xx with a clean JSON error`, () => assertTarget(target));
}
