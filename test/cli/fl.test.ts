/**
 * `aegis fl simulate` through the real binary on a tiny federation (600 digits, 6 clients,
 * one attacker, 2 rounds): the table on stdout and in the reports, the findings for the rule
 * the attack breaks, and the errors a user can cause.
 */
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { aegis } from "../helpers/cli.js";

const tmp = mkdtempSync(join(tmpdir(), "aegis-fl-"));
const tiny = ["fl", "simulate", "--samples", "600", "--test-samples", "300", "--clients", "6", "--rounds", "2", "--alpha", "10"];

test("fl simulate writes the aggregator × attack table and flags FedAvg under a scaled attack", async () => {
  const out = join(tmp, "reports");
  const r = await aegis([...tiny, "--malicious", "1", "--aggregator", "fedavg,median", "--attack", "scaled", "--attack-scale", "100", "--out", out, "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  assert.deepEqual(record.summary.aggregators, ["fedavg", "median"]);
  assert.deepEqual(record.summary.attacks, ["none", "scaled"]);
  assert.equal(record.runs.length, 4);
  assert.equal(record.runs[0].rounds.length, 2);
  const { accuracy } = record.summary;
  // Two short rounds teach little, but a ×100 update leaves FedAvg at chance (10 classes).
  assert.ok(accuracy.fedavg.none > 0.25, `attack-free FedAvg reached only ${accuracy.fedavg.none}`);
  assert.ok(accuracy.fedavg.scaled < 0.15, `FedAvg kept ${accuracy.fedavg.scaled} under a ×100 update (attack-free ${accuracy.fedavg.none})`);
  const broken = record.findings.find(
    (f: { rule: string; location: { section: string } }) => f.rule === "FL-AGGREGATOR-BROKEN" && f.location.section === "fedavg",
  );
  assert.ok(broken, "no finding for FedAvg");
  assert.equal(broken.capability, "federated");
  for (const file of ["fl-simulate.json", "fl-simulate.md", "fl-simulate.html"]) assert.ok(existsSync(join(out, file)), file);
  assert.match(readFileSync(join(out, "fl-simulate.md"), "utf8"), /\| fedavg \| [\d.]+% \| [\d.]+% \|/);
});

test("fl simulate refuses what cannot run, with exit 2 and a sentence that says why", async () => {
  const noAttackers = await aegis([...tiny, "--attack", "lie"]);
  assert.equal(noAttackers.code, 2);
  assert.match(noAttackers.stderr, /--malicious K/);
  const unknown = await aegis([...tiny, "--malicious", "1", "--aggregator", "fedmedian"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown aggregator "fedmedian"; choose from fedavg, median/);
  const tooFew = await aegis([...tiny, "--malicious", "2", "--aggregator", "bulyan", "--attack", "gaussian"]);
  assert.equal(tooFew.code, 2);
  assert.match(tooFew.stderr, /bulyan needs at least 11 clients per round to tolerate f = 2/);
});

test("fl simulate --secure-aggregation runs FedAvg under Bonawitz et al.'s protocol, survives dropouts, and refuses the robust rules", async () => {
  const r = await aegis([...tiny, "--secure-aggregation", "--secagg-dropout", "0.34", "--format", "json", "--out", join(tmp, "secagg"), "--json"]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  assert.deepEqual(record.summary.aggregators, ["fedavg+secagg"]);
  assert.ok(record.summary.accuracy["fedavg+secagg"].none > 0.25, `FedAvg under secure aggregation reached ${record.summary.accuracy["fedavg+secagg"].none}`);
  const secagg = record.secureAggregation;
  // 6 clients, t = 4, 2 of them (⌊0.34·6⌋) drop each round after sharing their keys.
  assert.equal(secagg.aggregations, 2);
  assert.equal(secagg.threshold, 4);
  assert.equal(secagg.survivors, 4);
  assert.ok(secagg.bytesSentPerClient > 4 * 100_000, `a client sent only ${secagg.bytesSentPerClient} bytes for a masked MLP update`);

  const robust = await aegis([...tiny, "--secure-aggregation", "--aggregator", "fedavg,median"]);
  assert.equal(robust.code, 2);
  assert.match(robust.stderr, /median needs each client's individual update, and secure aggregation shows the server only their sum/);
  const stray = await aegis([...tiny, "--secagg-clip", "0.5"]);
  assert.equal(stray.code, 2);
  assert.match(stray.stderr, /--secagg-clip applies to secure aggregation: add --secure-aggregation/);
  const badThreshold = await aegis([...tiny, "--secure-aggregation", "--secagg-threshold", "1.5"]);
  assert.equal(badThreshold.code, 2);
  assert.match(badThreshold.stderr, /threshold must be a share in \(0, 1\], not 1.5/);
  const tooMany = await aegis([...tiny, "--secure-aggregation", "--secagg-dropout", "0.5"]);
  assert.equal(tooMany.code, 2);
  assert.match(tooMany.stderr, /at least t = 4 clients at every stage, and only 3 sent masked inputs/);
});

test("fl simulate --secure-aggregation --buckets runs the median over secure bucket sums and refuses what cannot work", async () => {
  const r = await aegis([
    ...tiny,
    "--malicious",
    "1",
    "--attack",
    "scaled",
    "--secure-aggregation",
    "--buckets",
    "3",
    "--format",
    "json",
    "--out",
    join(tmp, "buckets"),
    "--json",
  ]);
  assert.equal(r.code, 0, r.stderr);
  const record = JSON.parse(r.stdout);
  assert.deepEqual(record.summary.aggregators, ["median+buckets"]);
  // 2 runs (none, scaled) × 2 rounds × 3 buckets of 2 clients, each its own secure sum.
  assert.equal(record.secureAggregation.aggregations, 12);
  assert.equal(record.secureAggregation.clients, 2);
  for (const [flags, message] of [
    [["--buckets", "3"], /--buckets applies to secure aggregation/],
    [["--secure-aggregation", "--buckets", "4"], /6 clients per round make buckets of 1.*use at most 3 --buckets/],
    [
      ["--secure-aggregation", "--buckets", "3", "--malicious", "2", "--attack", "scaled", "--aggregator", "multi-krum"],
      /multi-krum must tolerate 2 spoiled buckets/,
    ],
    [["--secure-aggregation", "--buckets", "3", "--dp", "--clip", "1", "--noise-multiplier", "1"], /--dp cannot be combined with --buckets/],
  ] as const) {
    const refused = await aegis([...tiny, ...flags]);
    assert.equal(refused.code, 2, flags.join(" "));
    assert.match(refused.stderr, message);
  }
});
