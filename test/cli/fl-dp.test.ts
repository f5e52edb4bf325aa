/**
 * `aegis fl simulate --dp` through the real binary on a tiny federation: ε per client in the
 * JSON record and on stdout, --target-epsilon solved to a z that spends at most the target,
 * and the combinations it refuses with exit 2.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { dpFedAvgEpsilon } from "../../src/privacy/index.js";
import { aegis } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-fl-dp-"));
const tiny = ["fl", "simulate", "--samples", "600", "--test-samples", "300", "--clients", "6", "--rounds", "2", "--alpha", "10"];

test("fl simulate --dp reports ε per client after every round, and --target-epsilon solves for z", async () => {
  const out = join(tmp, "dp");
  const r = await aegis([...tiny, "--dp", "--clip", "2", "--target-epsilon", "40", "--fraction", "0.5", "--format", "md", "--out", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  assert.deepEqual(record.summary.aggregators, ["dp-fedavg"]);
  const { dp } = record;
  assert.equal(dp.clip, 2);
  assert.equal(dp.delta, 1e-5);
  assert.equal(dp.samplingRate, 0.5);
  assert.ok(dp.epsilon <= 40 && dp.epsilon > 39, `ε ${dp.epsilon} for a target of 40`);
  const expected = [1, 2].map((rounds) => dpFedAvgEpsilon({ samplingRate: 0.5, noiseMultiplier: dp.noiseMultiplier, rounds, delta: 1e-5 }).epsilon);
  assert.deepEqual(dp.epsilonPerRound, expected);
  assert.deepEqual(
    record.runs[0].rounds.map((round: { epsilon: number }) => round.epsilon),
    expected,
  );
  assert.match(readFileSync(join(out, "fl-simulate.md"), "utf8"), /DP-FedAvg: S = 2, z = [\d.]+, q = 0\.5; ε per client at δ = 1e-5: [\d.]+/);
});

test("fl simulate --dp --secure-aggregation: the clients clip before masking, and ε per client is the same accountant's", async () => {
  const r = await aegis([...tiny, "--dp", "--clip", "2", "--noise-multiplier", "0.5", "--secure-aggregation", "--out", join(tmp, "secure"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  assert.deepEqual(record.summary.aggregators, ["dp-fedavg+secagg"]);
  const expected = [1, 2].map((rounds) => dpFedAvgEpsilon({ samplingRate: 1, noiseMultiplier: 0.5, rounds, delta: 1e-5 }).epsilon);
  assert.deepEqual(record.dp.epsilonPerRound, expected);
});

test("fl simulate --dp refuses what makes no sense, with exit 2 and the reason", async () => {
  const cases: [string[], RegExp][] = [
    [["--clip", "1"], /--clip applies to DP-FedAvg: add --dp/],
    [["--dp", "--noise-multiplier", "1"], /--dp needs --clip S/],
    [["--dp", "--clip", "1"], /exactly one of --noise-multiplier z or --target-epsilon/],
    [["--dp", "--clip", "1", "--noise-multiplier", "1", "--target-epsilon", "3"], /exactly one of/],
    [["--dp", "--clip", "1", "--noise-multiplier", "1", "--aggregator", "fedavg,krum"], /krum has no such sensitivity bound/],
    [["--dp", "--clip", "1", "--noise-multiplier", "1", "--secure-aggregation", "--secagg-clip", "2"], /--secagg-clip does not apply under --dp/],
    [["--dp", "--clip", "0", "--noise-multiplier", "1"], /clip S must be a positive number/],
    [["--dp", "--clip", "1", "--noise-multiplier", "1", "--delta", "1"], /δ must be in \(0, 1\)/],
  ];
  for (const [flags, reason] of cases) {
    const r = await aegis([...tiny, ...flags]);
    assert.equal(r.code, 2, `${flags.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, reason, flags.join(" "));
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
