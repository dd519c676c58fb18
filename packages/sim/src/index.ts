export { Xoshiro128, createRng } from './rng.js';
export type { SimRng } from './rng.js';
export { createStubKeys, forgerFor, stubPublicKey, STUB_KEY_TAG } from './stub-crypto.js';
export type { KeyProvider } from './stub-crypto.js';
export { KvApp, stateDigest, isDuplicateResult } from './kv-app.js';
export { DurableStore } from './durable.js';
export { EventQueue } from './heap.js';
export { Checkers, batchKey, batchLabel, requestKey } from './checkers.js';
export {
  silent,
  delaying,
  equivocating,
  replaying,
  garbage,
  forging,
  futureMessages,
  twins,
  corrupt,
  ADVERSARIES,
  GENERIC_ADVERSARIES,
} from './adversaries.js';
export type { AdversaryName } from './adversaries.js';
export { PROFILES, buildScenario, assertProfile, defaultScenario } from './scenario.js';
export type { Scenario, NetworkOptions, CrashPlan, ByzantinePlan, Target, LatencyRange, PartitionKind, ProfileContext } from './scenario.js';
export { Simulation, simulate, formatSeed, replayCommand } from './simulator.js';
export type { SimOptions, SimResult, SimStats } from './simulator.js';
export { runSeeds, formatFailure, parseSeed, loadAdapter, realKeys } from './runner.js';
export type { RunSeedsOptions, SeedsReport } from './runner.js';
export type {
  ClusterInfo,
  HookContext,
  SimHooks,
  SimCapabilities,
  SimAdapter,
  Frame,
  AdversaryContext,
  Adversary,
  CheckerName,
  Violation,
} from './types.js';
