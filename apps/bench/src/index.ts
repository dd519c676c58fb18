/**
 * @phalanx/bench-app — the runner behind `pnpm bench`. The CLI is `dist/cli.js`; this entry
 * exports the pieces for tests and for anyone who wants to drive a core in-process.
 */
export { runBench, RUNNER_PACKAGE } from './run.js';
export { parseArgs, USAGE, UsageError, type BenchArgs } from './args.js';
export { Progress } from './progress.js';
export { turboCommand } from './packages.js';
export { loadParts, figureKey, type LoadedResults } from './report/aggregate.js';
export { renderMarkdown, type ReportInput, type RunInfo, type StepOutcome } from './report/markdown.js';
export { allCharts, replicaCharts, latencyCharts, type Chart } from './report/charts.js';
export { lineChart, barChart, niceScale, escapeXml } from './report/svg.js';
export { writeReport, runInfo, type ReportFiles } from './report/write.js';
export { runCluster, ClusterSafetyError, type ClusterOptions, type ClusterResult } from './scenarios/cluster.js';
export { runProtocolCluster, clusterRecords, faultsTolerated, FULL_SIZES, QUICK_SIZES } from './scenarios/cluster-scenario.js';
export { PROTOCOLS, loadProtocol, findDefinition, isProtocolDefinition, type ProtocolEntry } from './scenarios/protocols.js';
export { codecScenario } from './scenarios/codec.js';
export { stateMachineScenario, kvStorePut, kvCeiling } from './scenarios/state-machine.js';
export { replicaSigner, replicaVerifier, replicaSeed } from './scenarios/keys.js';
export { seededRng } from './scenarios/rng.js';
export { probeEtcd, probePhalanxTestnet, multiProcessReadiness, peerReadiness } from './scenarios/external.js';
