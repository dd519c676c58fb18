import { describe, it, expect } from 'vitest';
import { runSeeds, formatFailure } from '@phalanx/sim';
import type { SimAdapter, SeedsReport, Scenario, ClusterInfo, SimHooks, SimCapabilities } from '@phalanx/sim';
import { ConfigError } from '@phalanx/interface';
import type { NodeId, ProtocolDefinition } from '@phalanx/interface';

/** One compliance scenario: a cluster size and a fault profile of `@phalanx/sim`. */
export interface ProtocolScenario {
  readonly name: string;
  readonly n: number;
  readonly faults: string;
  /** Seeds per run of the suite, relative to the default count (n = 7 runs cost more). */
  readonly weight: number;
  readonly scenario?: Partial<Scenario>;
}

/**
 * The scenarios every protocol runs. Names read `n<replicas>f<faults>-<what happens>`. Safety
 * (agreement, validity, total order, durability, state) is checked in every one; liveness
 * after GST wherever the fault profile leaves 2f+1 honest replicas up (see @phalanx/sim).
 */
export const PROTOCOL_SCENARIOS: readonly ProtocolScenario[] = [
  { name: 'n4f1-happy', n: 4, faults: 'none', weight: 1 },
  { name: 'n4f1-crash-follower', n: 4, faults: 'crash', weight: 1 },
  { name: 'n4f1-crash-leader', n: 4, faults: 'crash-leader', weight: 1 },
  { name: 'n4f1-crash-restart', n: 4, faults: 'crash-restart', weight: 1 },
  { name: 'n4f1-lossy-network', n: 4, faults: 'lossy', weight: 1 },
  { name: 'n4f1-partition-heal', n: 4, faults: 'partition', weight: 1 },
  { name: 'n4f1-equivocating-leader', n: 4, faults: 'equivocate', weight: 1 },
  { name: 'n4f1-twins-leader', n: 4, faults: 'twins', weight: 1 },
  { name: 'n4f1-byzantine-mix', n: 4, faults: 'byzantine', weight: 1 },
  { name: 'n4f1-byzantine-restarts', n: 4, faults: 'byzantine-restarts', weight: 1 },
  { name: 'n4f1-chaos', n: 4, faults: 'chaos', weight: 1 },
  { name: 'n7f2-happy', n: 7, faults: 'none', weight: 0.5 },
  { name: 'n7f2-crash-restart', n: 7, faults: 'crash-restart', weight: 0.5 },
  { name: 'n7f2-equivocating-leader', n: 7, faults: 'equivocate', weight: 0.5 },
  { name: 'n7f2-byzantine-mix', n: 7, faults: 'byzantine', weight: 0.5 },
  { name: 'n7f2-chaos', n: 7, faults: 'chaos', weight: 0.5 },
];

export interface ProtocolComplianceOptions<M = unknown, C = unknown> {
  /** When passing a bare `ProtocolDefinition`: the core config (a value, or per cluster/replica). */
  readonly config?: C | ((cluster: ClusterInfo, self: NodeId) => C);
  /** When passing a bare `ProtocolDefinition`: hooks for equivocation, future messages, forgery. */
  readonly hooks?: SimHooks<M>;
  /** When passing a bare `ProtocolDefinition`: what the protocol claims to survive. */
  readonly capabilities?: SimCapabilities;
  /** Seeds per (weight-1) scenario. Default: env PHALANX_SEEDS, else 10. */
  readonly seeds?: number;
  /** First seed. Default: env PHALANX_SEED_BASE (0x…, decimal or "random"), else a fixed value per scenario. */
  readonly seedBase?: bigint;
  /** Run only these scenarios (by name). */
  readonly only?: readonly string[];
  /** Leave these scenarios out (by name), e.g. ones a protocol's fault model excludes; say why in its README. */
  readonly skip?: readonly string[];
  /** Name in the replay line (`pnpm sim --protocol <name>`). Default: the definition's name. */
  readonly protocolName?: string;
  /** Per-test timeout in ms. Default 120 000. */
  readonly timeoutMs?: number;
}

// A bad environment variable is a ConfigError whose path is the variable.
function envSeeds(): number | undefined {
  const v = process.env.PHALANX_SEEDS;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new ConfigError('PHALANX_SEEDS', `must be a positive integer, got "${v}"`);
  return n;
}

function envSeedBase(): bigint | undefined {
  const v = process.env.PHALANX_SEED_BASE;
  if (v === undefined || v === '') return undefined;
  if (v === 'random') return BigInt(Math.floor(Math.random() * 2 ** 48));
  let base: bigint;
  try {
    base = BigInt(v);
  } catch {
    // BigInt's own SyntaxError ("Cannot convert zz to a BigInt") named neither the variable nor what it takes.
    throw new ConfigError('PHALANX_SEED_BASE', `must be 0x… hex, decimal or "random", got "${v}"`);
  }
  return BigInt.asUintN(64, base);
}

/** A fixed, distinct seed base per scenario name (FNV-1a), so CI is reproducible but scenarios differ. */
function nameSeed(name: string): bigint {
  let h = 0xcbf29ce484222325n;
  for (let i = 0; i < name.length; i++) h = BigInt.asUintN(64, (h ^ BigInt(name.charCodeAt(i))) * 0x100000001b3n);
  return h >> 16n;
}

/**
 * Runs one scenario over `seeds` seeds and returns the report (no vitest needed): the building
 * block of the suite, and what a mutation test calls to prove a broken protocol is caught.
 */
export function checkProtocolScenario<M, C>(
  adapter: SimAdapter<M, C>,
  scenario: ProtocolScenario,
  seeds: number,
  options: Pick<ProtocolComplianceOptions, 'seedBase' | 'protocolName'> = {},
): SeedsReport {
  return runSeeds(adapter, {
    faults: scenario.faults,
    n: scenario.n,
    seeds,
    seedBase: options.seedBase ?? envSeedBase() ?? nameSeed(scenario.name),
    protocolName: options.protocolName ?? adapter.definition.name,
    ...(scenario.scenario ? { scenario: scenario.scenario } : {}),
  });
}

function isAdapter<M, C>(t: SimAdapter<M, C> | ProtocolDefinition<M, C>): t is SimAdapter<M, C> {
  return 'definition' in t;
}

/** A bare definition becomes an adapter from `options.config`/`hooks`/`capabilities`. */
export function protocolAdapter<M, C>(target: SimAdapter<M, C> | ProtocolDefinition<M, C>, options: ProtocolComplianceOptions<M, C> = {}): SimAdapter<M, C> {
  if (isAdapter(target)) return target;
  const { config } = options;
  return {
    definition: target,
    config: (cluster, self) =>
      typeof config === 'function' ? (config as (c: ClusterInfo, s: NodeId) => C)(cluster, self) : (config as C),
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.capabilities ? { capabilities: options.capabilities } : {}),
  };
}

/**
 * The protocol compliance suite: registers one vitest test per scenario, each running the
 * protocol in `@phalanx/sim` over many seeds. A failure's message starts with the one command
 * that replays it, followed by the violations and the last events of the run.
 *
 * ```ts
 * import { runProtocolCompliance } from '@phalanx/compliance';
 * import { simulation, pbft } from '../src/index.js';
 * runProtocolCompliance(simulation, { protocolName: 'pbft' });          // the package's SimAdapter
 * runProtocolCompliance(pbft, { config: (c) => ({ chainId: c.chainId }) }); // or a bare definition
 * ```
 * Seeds: `options.seeds` per scenario, else env PHALANX_SEEDS, else 10 (n = 7 scenarios run half).
 * PHALANX_SEED_BASE=random explores new seeds; the replay line of a failure names the seed.
 */
export function runProtocolCompliance<M, C>(
  target: SimAdapter<M, C> | ProtocolDefinition<M, C>,
  options: ProtocolComplianceOptions<M, C> = {},
): void {
  const adapter = protocolAdapter(target, options);
  const perScenario = options.seeds ?? envSeeds() ?? 10;
  const name = options.protocolName ?? adapter.definition.name;
  const scenarios = PROTOCOL_SCENARIOS.filter(
    (s) => (!options.only || options.only.includes(s.name)) && !(options.skip ?? []).includes(s.name),
  );
  describe(`protocol compliance: ${name}`, () => {
    for (const s of scenarios) {
      const seeds = Math.max(1, Math.round(perScenario * s.weight));
      it(
        `${s.name} (${seeds} seeds)`,
        () => {
          const rep = checkProtocolScenario(adapter, s, seeds, { ...options, protocolName: name });
          if (rep.failures.length > 0) expect.fail(formatFailure(rep.failures[0]!));
          expect(rep.runs).toBe(seeds);
        },
        options.timeoutMs ?? 120_000,
      );
    }
  });
}
