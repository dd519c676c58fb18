import { ConfigError } from '@phalanx/interface';
import type { NodeId } from '@phalanx/interface';
import type { Xoshiro128 } from './rng.js';
import type { AdversaryName } from './adversaries.js';
import { GENERIC_ADVERSARIES } from './adversaries.js';
import type { Adversary, SimCapabilities, SimHooks } from './types.js';

/** Who a fault targets: a replica index, or the replica the cores name as leader at that moment. */
export type Target = number | 'leader';

export interface LatencyRange {
  readonly minMs: number;
  readonly maxMs: number;
  /** Adds an exponential tail with this mean (heavy stragglers); ignored after GST, where Δ holds. */
  readonly tailMs?: number;
}

export type PartitionKind = 'split' | 'isolate' | 'asymmetric';

export interface NetworkOptions {
  /** Latency before GST (uniform in the range, plus reordering spikes). */
  readonly latency: LatencyRange;
  /** Latency from GST on: the bound Δ partial synchrony promises. */
  readonly latencyAfterGst: LatencyRange;
  /** Probability a frame is lost before GST. */
  readonly loss: number;
  /** Probability a frame is delivered twice (before and after GST). */
  readonly duplicate: number;
  /** Probability a frame gets an extra delay of up to 4× maxMs (reordering) before GST. */
  readonly reorder: number;
  /** Rotating partitions before GST: a new random partition every `periodMs`. */
  readonly partitions?: { readonly periodMs: number; readonly kinds: readonly PartitionKind[] };
}

export interface CrashPlan {
  readonly target: Target;
  readonly atMs: number;
  /** Restart this long after the crash; omitted = stays down. */
  readonly restartAfterMs?: number;
  /**
   * Stop cleanly instead, as the runtime's `stop()` does: take no more inputs, let the writes in
   * flight finish (their messages leave), make the deferred ones durable, step `stop` and make
   * the persist of the core's answer durable; then go down.
   */
  readonly clean?: boolean;
}

export interface ByzantinePlan {
  readonly target: Target;
  readonly adversary: AdversaryName | (<M>() => Adversary<M>);
}

/** Everything one simulated run does, apart from the seed. */
export interface Scenario {
  readonly n: number;
  /** Global stabilization time: partitions heal, loss stops, latency drops to `latencyAfterGst`. */
  readonly gstMs: number;
  /** Hard cap on virtual time after GST for all requests to finish (the liveness bound). */
  readonly livenessBoundMs: number;
  /** After every client finished and every live honest replica executed everything, run this much longer. */
  readonly settleMs: number;
  readonly network: NetworkOptions;
  /** Time for a persist to become durable; > 0 means a crash can lose acknowledged-later writes. */
  readonly disk: LatencyRange;
  /** Max fraction each replica's timers run fast or slow. */
  readonly clockDrift: number;
  readonly clients: {
    readonly count: number;
    /** At least this many per client; clients keep going until GST and every planned fault passed. */
    readonly requests: number;
    readonly timeoutMs: number;
    readonly thinkMs: number;
  };
  readonly crashes: readonly CrashPlan[];
  readonly byzantine: readonly ByzantinePlan[];
  readonly checkLiveness: boolean;
  /** Allow more than f faulty replicas (crashed + Byzantine), e.g. to show what breaks beyond f. */
  readonly allowExcessFaults?: boolean;
  /**
   * A replica that crashes and restarts recovers from what it made durable, so it is counted as
   * correct: only Byzantine replicas and crashes without a restart count against f. Liveness is
   * still judged (at the end of the run, long after the last restart).
   */
  readonly restartsAreCorrect?: boolean;
  /**
   * Time from a checkpoint's snapshot to its `applied` input. The runtime applies in the
   * background, so `applied` may reach a core after later Readies, a view change or a restore;
   * unset, it is stepped right after the Ready that committed the batch.
   */
  readonly appliedDelay?: LatencyRange;
}


export function defaultScenario(n = 4): Scenario {
  return {
    n,
    gstMs: 0,
    livenessBoundMs: 20_000,
    settleMs: 500,
    network: {
      latency: { minMs: 1, maxMs: 10 },
      latencyAfterGst: { minMs: 1, maxMs: 10 },
      loss: 0,
      duplicate: 0,
      reorder: 0,
    },
    disk: { minMs: 0, maxMs: 0 },
    clockDrift: 0.05,
    clients: { count: 3, requests: 8, timeoutMs: 600, thinkMs: 30 },
    crashes: [],
    byzantine: [],
    checkLiveness: true,
  };
}

export interface ProfileContext {
  readonly n: number;
  readonly f: number;
  readonly rng: Xoshiro128;
  readonly capabilities: SimCapabilities;
  readonly hooks: SimHooks<unknown> | undefined;
}

/** A protocol that cannot replace its leader is only judged on safety, over a shorter run. */
const safetyOnly = { checkLiveness: false, livenessBoundMs: 3_000 } as const;

type Profile = (base: Scenario, ctx: ProfileContext) => Scenario;

const lossy = (s: Scenario): Scenario => ({
  ...s,
  gstMs: 1_500,
  network: { ...s.network, latency: { minMs: 1, maxMs: 40, tailMs: 15 }, loss: 0.15, duplicate: 0.05, reorder: 0.1 },
});

const partitioned = (s: Scenario): Scenario => ({
  ...s,
  gstMs: 2_000,
  network: { ...s.network, latency: { minMs: 1, maxMs: 30 }, partitions: { periodMs: 250, kinds: ['split', 'isolate', 'asymmetric'] } },
});

/** Replicas a fault may hit: the current leader only if the protocol can replace it. */
function victims(ctx: ProfileContext, count: number): Target[] {
  const pool = ctx.capabilities.leaderFailover === false ? [...Array(ctx.n).keys()].slice(1) : [...Array(ctx.n).keys()];
  return ctx.rng.shuffle(pool).slice(0, count);
}

/** `cleanShare`: the share of the stops that are clean (drawn only when above 0, so other profiles' runs stay as they were). */
function crashRestarts(s: Scenario, ctx: ProfileContext, targets: readonly Target[], cleanShare = 0): Scenario {
  const crashes: CrashPlan[] = [];
  for (const target of targets) {
    let t = 100 + ctx.rng.nextInt(300);
    const times = 1 + ctx.rng.nextInt(3);
    for (let i = 0; i < times && t < 1_700; i++) {
      const down = 20 + ctx.rng.nextInt(300);
      const clean = cleanShare > 0 && ctx.rng.nextFloat() < cleanShare;
      crashes.push({ target, atMs: t, restartAfterMs: down, ...(clean ? { clean } : {}) });
      t += down + 50 + ctx.rng.nextInt(400);
    }
  }
  return { ...s, gstMs: Math.max(s.gstMs, 2_000), disk: { minMs: 0, maxMs: 4 }, crashes: [...s.crashes, ...crashes] };
}

function byzantineMix(s: Scenario, ctx: ProfileContext, count: number): Scenario {
  const kinds: AdversaryName[] = [...GENERIC_ADVERSARIES];
  if (ctx.hooks?.future) kinds.push('future');
  if (ctx.hooks?.equivocate) kinds.push('equivocate');
  if (ctx.hooks?.invent) kinds.push('invent');
  const plans: ByzantinePlan[] = victims(ctx, count).map((target) => ({ target, adversary: ctx.rng.pick(kinds) }));
  // A Byzantine replica may keep a leaderless protocol from progressing; only then is liveness void.
  return { ...s, byzantine: [...s.byzantine, ...plans] };
}

/** The named fault profiles `--faults` accepts. */
export const PROFILES: Readonly<Record<string, Profile>> = {
  none: (s) => s,
  lossy,
  /** `applied` inputs arrive 5-300 ms late, as when a large state's checkpoint is taken in the background. */
  'late-applied': (s) => ({ ...s, appliedDelay: { minMs: 5, maxMs: 300 } }),
  partition: partitioned,
  crash: (s, ctx) => ({
    ...s,
    crashes: [...s.crashes, ...victims(ctx, ctx.f).map((target) => ({ target, atMs: 100 + ctx.rng.nextInt(1_400) }))],
  }),
  'crash-leader': (s, ctx) =>
    ctx.capabilities.leaderFailover === false
      ? { ...s, crashes: [...s.crashes, { target: 'leader', atMs: 300 + ctx.rng.nextInt(500) }], ...safetyOnly }
      : { ...s, crashes: [...s.crashes, { target: 'leader', atMs: 300 + ctx.rng.nextInt(500) }] },
  'crash-restart': (s, ctx) => crashRestarts(s, ctx, victims(ctx, ctx.f)),
  /** Like crash-restart, but half the stops are clean (`CrashPlan.clean`), mixed with crashes. */
  'stop-restart': (s, ctx) => crashRestarts(s, ctx, victims(ctx, ctx.f), 0.5),
  equivocate: (s, ctx) => ({
    ...s,
    byzantine: [{ target: 'leader', adversary: 'equivocate' }],
    ...(ctx.capabilities.leaderFailover === false ? safetyOnly : {}),
  }),
  twins: (s, ctx) => ({
    ...s,
    byzantine: [{ target: 'leader', adversary: 'twins' }],
    ...(ctx.capabilities.leaderFailover === false ? safetyOnly : {}),
  }),
  invent: (s, ctx) => ({
    ...s,
    byzantine: [{ target: 'leader', adversary: 'invent' }],
    ...(ctx.capabilities.leaderFailover === false ? safetyOnly : {}),
  }),
  byzantine: (s, ctx) => byzantineMix(s, ctx, ctx.f),
  /**
   * f Byzantine replicas, and f of the honest ones crash and restart (losing unsynced writes). A
   * replica that recovers from what it made durable is correct (`restartsAreCorrect`), so this is
   * within the model although more than f replicas are down or faulty while one is down. Composed
   * with a crash that does not restart it is refused whenever that makes more than f faulty
   * (`crash-leader` always; `crash` unless it hits a Byzantine replica): before, it was let
   * through and reported liveness failures beyond the model. Liveness is still judged,
   * at the end of the run (`livenessBoundMs` after GST, long after the last restart). It found a
   * stall neither fault shows alone (PBFT seeds 0x72 and 0x148f: honest replicas waiting in
   * different views).
   */
  'byzantine-restarts': (s, ctx) => {
    const out = byzantineMix(s, ctx, ctx.f);
    const taken = new Set(out.byzantine.map((p) => p.target));
    const honest = victims(ctx, ctx.n).filter((t) => !taken.has(t)).slice(0, ctx.f);
    return { ...crashRestarts(out, ctx, honest), restartsAreCorrect: true };
  },
  chaos: (s, ctx) => {
    const b = ctx.rng.nextInt(ctx.f + 1);
    let out = byzantineMix(partitioned(lossy(s)), ctx, b);
    const taken = new Set(out.byzantine.map((p) => p.target));
    const free = victims(ctx, ctx.n).filter((t) => !taken.has(t)).slice(0, ctx.f - b);
    out = crashRestarts(out, ctx, free);
    return { ...out, gstMs: 2_000 };
  },
};

export type ProfileName = keyof typeof PROFILES;

/**
 * Checks a profile name; `a+b` composes profiles left to right (e.g. `lossy+crash-restart`). An
 * unknown one is a `ConfigError` with path `faults`.
 */
export function assertProfile(profile: string): void {
  for (const part of profile.split('+')) {
    if (!PROFILES[part]) throw new ConfigError('faults', `unknown fault profile "${part}" (known: ${Object.keys(PROFILES).join(', ')}; compose with +)`);
  }
}

/** Builds the scenario for `profile`, drawing its random choices from the run's generator. */
export function buildScenario(profile: string, ctx: ProfileContext, overrides: Partial<Scenario> = {}): Scenario {
  assertProfile(profile);
  let s: Scenario = { ...defaultScenario(ctx.n), ...overrides };
  for (const part of profile.split('+')) s = PROFILES[part]!(s, ctx);
  return { ...s, ...overrides };
}

export function describeTarget(t: Target, ids: readonly NodeId[]): string {
  return t === 'leader' ? 'leader' : (ids[t] ?? `#${t}`);
}
