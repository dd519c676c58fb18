/**
 * The application contract. An application implements `StateMachine` and needs no knowledge
 * of consensus: every replica calls `apply` with the same commands in the same order.
 */
import type { NodeId } from './identity.js';

/** A client command. `(client, seq)` identifies it; replicas execute each at most once. */
export interface ClientRequest {
  readonly client: NodeId;
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

/**
 * An upper bound on the bytes `r` takes inside an encoded batch or block (payload, client id as
 * UTF-8 at up to 3 bytes per UTF-16 unit, sequence number and headers). Cores cut batches by it,
 * so a batch's frame stays under what the transport carries whatever the payloads weigh.
 */
export function requestWireBytes(r: ClientRequest): number {
  return r.payload.length + 3 * r.client.length + 24;
}

export interface ApplyContext {
  /** Height (sequence number, block height, log index) of the batch being applied. */
  readonly height: bigint;
}

export interface StateMachine {
  /**
   * Applies `commands` in order and returns one result per command. Must be deterministic:
   * no clocks, randomness or I/O whose outcome could differ between replicas.
   */
  apply(commands: readonly ClientRequest[], ctx: ApplyContext): Uint8Array[];
  /** A canonical encoding of the whole state: equal states give equal bytes. */
  snapshot(): Uint8Array;
  /** Replaces the state with one produced by `snapshot`. Throws on bytes it cannot read. */
  restore(snapshot: Uint8Array): void;
}

/** A decided batch, handed out by a core in `Ready.commit`. */
export interface CommittedBatch {
  readonly height: bigint;
  /** May be empty (e.g. a PBFT null request filling a gap after a view change). */
  readonly requests: readonly ClientRequest[];
  /** Encoded proof that this batch is committed, verifiable offline with the validator set. */
  readonly proof?: Uint8Array;
  /** Asks the runtime to answer with an `applied` input carrying the state digest after this batch. */
  readonly reportState?: boolean;
}
