import type { MessageCodec, NodeId, Signer } from '@phalanx/interface';
import type { SimRng } from './rng.js';

import type { SimulationCapabilities, SimulationCluster, SimulationHookContext, SimulationHooks, ProtocolSimulation } from '@phalanx/interface';

/** The cluster a simulated run builds (the contract in @phalanx/interface). */
export type ClusterInfo = SimulationCluster;

/** Context handed to protocol-specific hooks; the simulator's generator is a `SimRng`. */
export interface HookContext extends SimulationHookContext {
  readonly rng: SimRng;
}

export type SimHooks<M> = SimulationHooks<M>;
export type SimCapabilities = SimulationCapabilities;
/** What a protocol package exports as `simulation` (see `ProtocolSimulation` in @phalanx/interface). */
export type SimAdapter<M, C = unknown> = ProtocolSimulation<M, C>;

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
