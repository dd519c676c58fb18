/**
 * How a protocol package makes itself simulatable by `@phalanx/sim`. The contract lives here, not
 * in the simulator, so protocol packages implement it without depending on the simulator.
 */
import type { NodeId, ValidatorSet } from './identity.js';
import type { Signer } from './crypto.js';
import type { Rng } from './rng.js';
import type { ProtocolDefinition } from './core.js';
import type { ClientRequest, RequestAuthenticator } from './application.js';

/** The cluster a simulated run builds; handed to the adapter so it can write its core config. */
export interface SimulationCluster {
  readonly n: number;
  /** Byzantine faults the cluster is sized for: floor((n − 1) / 3). */
  readonly f: number;
  readonly ids: readonly NodeId[];
  readonly validators: ValidatorSet;
  readonly chainId: string;
  /**
   * Set when the simulated clients sign their requests: adapters hand it to their cores (the
   * `clientAuth` of PBFT and HotStuff), so that a Byzantine leader cannot order invented requests.
   */
  readonly clientAuth?: RequestAuthenticator;
}

/** Context handed to protocol-specific hooks. `memo` lives for one run, so hooks can stay consistent. */
export interface SimulationHookContext {
  readonly rng: Rng;
  /** The signer to (re)sign with: the adversary's own, or a forger holding the wrong key. */
  readonly signer: Signer;
  readonly self: NodeId;
  readonly chainId: string;
  readonly memo: Map<string, unknown>;
}

/**
 * Message surgery only the protocol package can do (it knows the fields and what is signed).
 * Every hook is optional: an adversary whose hook is missing falls back to a generic behaviour
 * or, for equivocation, is reported as not applicable.
 */
export interface SimulationHooks<M> {
  /**
   * A well-formed message conflicting with `msg` (same kind and position, different content),
   * signed with `ctx.signer`, or undefined when `msg` cannot conflict (e.g. a status ping).
   * Must be a deterministic function of `msg` and `ctx.memo` so every peer in the second group
   * sees the SAME conflicting message (use `memo` to map a proposal digest to its twin, so votes
   * follow the conflicting proposal).
   */
  equivocate?(msg: M, ctx: SimulationHookContext): M | undefined;
  /** `msg` moved `bump` views/heights into the future, re-signed; undefined when not applicable. */
  future?(msg: M, bump: bigint, ctx: SimulationHookContext): M | undefined;
  /** `msg` re-signed with `ctx.signer` (the forging adversary passes a signer with the wrong key). */
  resign?(msg: M, ctx: SimulationHookContext): M | undefined;
  /**
   * `msg`, a proposal, with `request` (which no client sent) added and signed by `ctx.signer`
   * as the proposer's own; undefined when `msg` proposes nothing. Lets a Byzantine leader order
   * invented commands, which only client signatures can stop.
   */
  invent?(msg: M, request: ClientRequest, ctx: SimulationHookContext): M | undefined;
}

/** What the protocol can be expected to survive; the fault profiles read it. */
export interface SimulationCapabilities {
  /** Replaces a crashed or Byzantine leader (view change). Default true. */
  readonly leaderFailover?: boolean;
  /** Lets a replica that fell behind (or restarted) catch up. Default true. */
  readonly catchUp?: boolean;
  /**
   * Commits the same (client, seq) again at a later height when a client retries
   * (the application dedupes). Default false: the validity checker then flags it.
   */
  readonly duplicateCommits?: boolean;
  /**
   * Checks client signatures with `SimulationCluster.clientAuth` (passing it to the core). Then
   * the simulator's clients sign, and a committed request no client sent is a validity violation
   * even with Byzantine replicas. Default false.
   */
  readonly clientAuth?: boolean;
}

/**
 * How a protocol package makes itself simulatable. Export it as `simulation` from the package
 * entry (`export const simulation: ProtocolSimulation<MyMsg, MyConfig> = …`); `pnpm sim --protocol <name>`
 * imports `@phalanx/<name>` and reads that export.
 */
export interface ProtocolSimulation<M, C = unknown> {
  readonly definition: ProtocolDefinition<M, C>;
  /** The config each replica's core gets (same for all, or per node). */
  config(cluster: SimulationCluster, self: NodeId): C;
  readonly hooks?: SimulationHooks<M>;
  readonly capabilities?: SimulationCapabilities;
  /** One short line per message for traces (default: a truncated JSON rendering). */
  describe?(msg: M): string;
  /** Overrides of scenario timing (e.g. a slower view-change timeout needs a longer liveness bound). */
  readonly timing?: { readonly livenessBoundMs?: number; readonly clientTimeoutMs?: number };
}
