/**
 * @phalanx/bench-kit — what a package's benchmark script needs: time a function, collect
 * latencies, and write each figure beside the ceiling it is judged against as a result part that
 * `pnpm bench` (apps/bench) aggregates into one report.
 */
export { measure, measureAsync, type MeasureOptions, type Measurement } from './measure.js';
export { latencyRecorder, type LatencyRecorder, type LatencySummary } from './latency.js';
export { percentile, percentileSorted, sampleStats, sortedCopy, type SampleStats } from './stats.js';
export { quick, sized, findRepoRoot, outDir, QUICK_ENV, OUT_ENV } from './env.js';
export { armBudget, BUDGET_ENV, BUDGET_EXIT_CODE } from './budget.js';
export {
  writeRecords,
  createRecorder,
  latencyRecords,
  validateRecord,
  parseRecords,
  inferBetter,
  formatNumber,
  formatRecordLine,
  paramsLabel,
  partFileName,
  ratioToCeiling,
  BenchRecordError,
  LATENCY_STATS,
  type BenchRecord,
  type Ceiling,
  type ParamValue,
  type ParsedRecords,
  type Recorder,
  type WriteOptions,
} from './records.js';
export {
  ReferenceKv,
  kvCommand,
  kvPutOfSize,
  measureUnreplicatedKv,
  unreplicatedKvCeiling,
  KV_PUT,
  KV_GET,
  KV_DELETE,
  type KvRequest,
  type UnreplicatedKvOptions,
} from './reference-kv.js';
