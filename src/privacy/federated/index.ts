/**
 * Federated learning: clients train from the global parameters on their own data and send
 * updates (client.ts, FedAvg and FedProx); the server combines them with FedAvg or a robust
 * rule (aggregators/); the harness (simulate.ts) runs a whole federation with attackers
 * (malicious.ts) on a label-Dirichlet split (partition.ts) in one process; secagg/ hides
 * each update from the server (Bonawitz et al. 2017's secure aggregation) under FedAvg;
 * dp-fedavg-mcmahan2018.ts adds client-level differential privacy (DP-FedAvg). Over the
 * network (network/), the server writes its round report (server-report.ts); split.ts
 * cuts one table into a federation's client, training and test files.
 */
export * from "./aggregators/index.js";
export { type ClientData, type ClientUpdate, LOCAL_DEFAULTS, type LocalTrainingOptions, localUpdate } from "./client.js";
export {
  type ClientLevelPrivacy,
  DP_FEDAVG_DELTA,
  type DpFedAvgOptions,
  dpFedAvg,
  dpFedAvgEpsilon,
  dpFedAvgNoiseFor,
  requireDpCompatible,
} from "./dp-fedavg-mcmahan2018.js";
export {
  type AttackSettings,
  FL_ATTACKS,
  type FlAttack,
  gaussianUpdate,
  lieZ,
  littleIsEnough,
  parseAttack,
  poisonClientData,
  scaled,
  signFlip,
  stampTrigger,
} from "./malicious.js";
export { type FlClientOptions, runFlClient } from "./network/client.js";
export { type FlServerConfig, readFlConfig } from "./network/config.js";
export { PATHS as FL_PATHS, sha256Hex, type Task as FlTask } from "./network/protocol.js";
export { FlServer, type FlServerEvents, type RoundRecord } from "./network/server.js";
export { parameterCount, readParameters, writeParameters } from "./parameters.js";
export { dirichletSplit, sampleDirichlet, sampleGamma } from "./partition.js";
export {
  BACKDOOR_PLANTED,
  HOLD_MARGIN,
  type SimulationSummary,
  settingLine,
  simulationFindings,
  simulationHtml,
  simulationMarkdown,
  summarise,
  summaryRows,
} from "./report.js";
export {
  type Dropouts as SecAggDropouts,
  defaultThreshold as secAggDefaultThreshold,
  dequantise,
  type FixedPoint,
  fixedPointFor,
  quantise,
  SECURE_AGGREGATION_DEFAULTS,
  SecAggClient,
  SecAggServer,
  type SecureAggregationOptions,
  type SecureAggregationReport,
  type SecureDpSettings,
  type SecureSumCost,
  type SecureSumResult,
  type ServerViewEntry,
  secureAggregator,
  secureDpFedAvg,
  secureFedAvg,
  secureSum,
} from "./secagg/index.js";
export {
  type FederationSetting,
  ROUND_REPORT_FILES,
  type RoundEntry,
  type RoundLog,
  RoundReport,
  roundFindings,
  roundsHtml,
  ServerValidation,
  VALIDATION_DROP,
} from "./server-report.js";
export {
  prepareSimulation,
  type RoundMetrics,
  runSimulation,
  SIMULATION_DEFAULTS,
  type Simulation,
  type SimulationDp,
  type SimulationOptions,
  type SimulationRun,
  simulationAggregator,
  simulationEpsilon,
  simulationTable,
  type TableProgress,
} from "./simulate.js";
export { FEDERATION_SPLIT_DEFAULTS, type FederationSplit, type FederationSplitOptions, splitFederation } from "./split.js";
