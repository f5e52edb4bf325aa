/**
 * `npm run bench`: Aegis's engine against PyTorch's CPU autograd on the same machine,
 * thread count and model (the MNIST CNN of the engine issue), measured side by side in
 * one run (bench/engine.ts), then the attacks, scanners, guard, hardening and
 * certification benches, and the CLI's start-up. Prints ratios; PyTorch comes from
 * Debian's python3-torch when installed.
 * one run (bench/engine.ts), then the attacks, scanners, extraction, guard, hardening
 * and certification benches. Prints ratios; PyTorch comes from Debian's python3-torch when
 * installed.
 */
import { benchAttacks } from "./attacks.js";
import { benchEngine } from "./engine.js";

for (const line of await benchEngine()) console.log(line);
for (const line of ["", ...(await (await import("./train-like.js")).benchTrainLike())]) console.log(line);
console.log("");
for (const line of await benchAttacks()) console.log(line);
for (const line of ["", ...(await (await import("./jacobian.js")).benchJacobian())]) console.log(line);
for (const line of ["", ...(await (await import("./scan.js")).benchScan())]) console.log(line);
for (const line of ["", ...(await (await import("./extraction-detection.js")).benchExtractionDetection())]) console.log(line);
for (const line of ["", ...(await (await import("./extraction.js")).benchExtraction())]) console.log(line);
for (const line of ["", ...(await (await import("./extraction-defences.js")).benchExtractionDefences())]) console.log(line);
for (const line of ["", ...(await (await import("./adversarial-detection.js")).benchAdversarialDetection())]) console.log(line);
for (const line of ["", ...(await (await import("./llm.js")).benchLlm())]) console.log(line);
for (const line of ["", ...(await (await import("./llm-injection.js")).benchInjection())]) console.log(line);
for (const line of ["", ...(await (await import("./gateway.js")).benchGateway())]) console.log(line);
for (const line of ["", ...(await (await import("./gateway-limits.js")).benchGatewayLimits())]) console.log(line);
for (const line of ["", ...(await (await import("./harden.js")).benchHarden((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./certify.js")).benchCertify())]) console.log(line);
for (const line of ["", ...(await (await import("./startup.js")).benchStartup())]) console.log(line);
for (const line of ["", ...(await (await import("./dp.js")).benchDp((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./dp-audit.js")).benchDpAudit((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./dp-membership.js")).benchDpMembership((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./he.js")).benchHe())]) console.log(line);
for (const line of ["", ...(await (await import("./poisoning.js")).benchPoisoning())]) console.log(line);
for (const line of ["", ...(await (await import("./inference.js")).benchInference((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./campaigns.js")).benchCampaigns((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./drift.js")).benchDrift())]) console.log(line);
for (const line of ["", ...(await (await import("./drift-online.js")).benchDriftOnline())]) console.log(line);
for (const line of ["", ...(await (await import("./neural-cleanse.js")).benchNeuralCleanse((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./federated.js")).benchFederated((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./secagg.js")).benchSecAgg((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./federated-buckets.js")).benchFederatedBuckets((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./dp-fedavg.js")).benchDpFedAvg((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./federated-hospitals.js")).benchFederatedHospitals((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./watermark.js")).benchWatermark((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./fingerprint.js")).benchFingerprint((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./feature-collision.js")).benchFeatureCollision((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./poisoning-budgets.js")).benchPoisoningBudgets((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./backdoor-held-out.js")).benchBackdoorHeldOut((l) => console.error(l)))]) console.log(line);
for (const line of ["", ...(await (await import("./tabular-poisoning.js")).benchTabularPoisoning((l) => console.error(l)))]) console.log(line);
