import type { MessageCodec, NodeId, ProtocolDefinition, Signer, ValidatorSet } from '@phalanx/interface';
import type { SimRng } from './rng.js';

/** The cluster a simulated run builds; handed to the adapter so it can write its core config. */
export interface ClusterInfo {
  readonly n: number;
  /** Byzantine faults the cluster is sized for: floor((n − 1) / 3). */
  readonly f: number;
  readonly ids: readonly NodeId[];
  readonly validators: ValidatorSet;
  readonly chainId: string;
}

/** Context handed to protocol-specific hooks. `memo` lives for one run, so hooks can stay consistent. */
export interface HookContext {
  readonly rng: SimRng;
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
export interface SimHooks<M> {
  /**
   * A well-formed message conflicting with `msg` (same kind and position, different content),
   * signed with `ctx.signer`, or undefined when `msg` cannot conflict (e.g. a status ping).
   * Must be a deterministic function of `msg` and `ctx.memo` so every peer in the second group
   * sees the SAME conflicting message (use `memo` to map a proposal digest to its twin, so votes
   * follow the conflicting proposal).
   */
  equivocate?(msg: M, ctx: HookContext): M | undefined;
  /** `msg` moved `bump` views/heights into the future, re-signed; undefined when not applicable. */
  future?(msg: M, bump: bigint, ctx: HookContext): M | undefined;
  /** `msg` re-signed with `ctx.signer` (the forging adversary passes a signer with the wrong key). */
  resign?(msg: M, ctx: HookContext): M | undefined;
}

/** What the protocol can be expected to survive; the fault profiles read it. */
export interface SimCapabilities {
  /** Replaces a crashed or Byzantine leader (view change). Default true. */
  readonly leaderFailover?: boolean;
  /** Lets a replica that fell behind (or restarted) catch up. Default true. */
  readonly catchUp?: boolean;
  /**
   * Commits the same (client, seq) again at a later height when a client retries
   * (the application dedupes). Default false: the validity checker then flags it.
   */
  readonly duplicateCommits?: boolean;
}

/**
 * How a protocol package makes itself simulatable. Export it as `simulation` from the package
 * entry (`export const simulation: SimAdapter<MyMsg, MyConfig> = …`); `pnpm sim --protocol <name>`
 * imports `@phalanx/<name>` and reads that export.
 */
export interface SimAdapter<M, C = unknown> {
  readonly definition: ProtocolDefinition<M, C>;
  /** The config each replica's core gets (same for all, or per node). */
  config(cluster: ClusterInfo, self: NodeId): C;
  readonly hooks?: SimHooks<M>;
  readonly capabilities?: SimCapabilities;
  /** One short line per message for traces (default: a truncated JSON rendering). */
  describe?(msg: M): string;
  /** Overrides of scenario timing (e.g. a slower view-change timeout needs a longer liveness bound). */
  readonly timing?: { readonly livenessBoundMs?: number; readonly clientTimeoutMs?: number };
}

/** One frame an adversary decided to put on the wire. */
export interface Frame {
  readonly to: NodeId;
  readonly bytes: Uint8Array;
  /** Extra delay on top of the network's. */
  readonly delayMs?: number;
}

export interface AdversaryContext<M> {
  readonly self: NodeId;
  /** Every other replica. */
  readonly peers: readonly NodeId[];
  readonly rng: SimRng;
  readonly now: number;
  readonly codec: MessageCodec<M>;
  readonly signer: Signer;
  readonly hooks: SimHooks<M> | undefined;
  readonly hookContext: HookContext;
  /** Which twin produced the output (0 unless the adversary asked for several instances). */
  readonly instance: number;
}

/**
 * A Byzantine behaviour wrapping one replica. The replica's honest core still runs; the adversary
 * rewrites what leaves it (per recipient: a broadcast is expanded first, so it can tell different
 * peers different things) and may filter what reaches it.
 */
export interface Adversary<M> {
  readonly name: string;
  /** Instances of the core sharing this identity and key (2 for Twins). Default 1. */
  readonly instances?: number;
  outbound(msg: M, to: NodeId, bytes: Uint8Array, ctx: AdversaryContext<M>): readonly Frame[];
  /** Return false to drop an inbound frame before the core sees it. */
  inbound?(from: NodeId, bytes: Uint8Array, ctx: AdversaryContext<M>): boolean;
  /** Which instances a client request reaches (Twins split them). Default: all. */
  routeRequest?(ctx: AdversaryContext<M>): readonly number[];
}

export type CheckerName =
  | 'agreement'
  | 'validity'
  | 'total-order'
  | 'durability'
  | 'liveness'
  | 'state'
  | 'robustness';

export interface Violation {
  readonly checker: CheckerName;
  readonly time: number;
  readonly message: string;
}
