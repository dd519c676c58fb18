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

/** `requestWireBytes` summed over a batch. */
export function batchWireBytes(batch: readonly ClientRequest[]): number {
  let n = 0;
  for (const r of batch) n += requestWireBytes(r);
  return n;
}

/**
 * Splits `items` in order into runs of at most `maxCount` items and `maxBytes` of `size`; an item
 * larger than `maxBytes` goes alone. Lazy: taking the first run reads one item past it at most.
 */
export function* chunkBySize<T>(items: Iterable<T>, size: (t: T) => number, maxCount: number, maxBytes: number): Generator<T[]> {
  let part: T[] = [];
  let bytes = 0;
  for (const t of items) {
    const b = size(t);
    if (part.length > 0 && (part.length >= maxCount || bytes + b > maxBytes)) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(t);
    bytes += b;
  }
  if (part.length > 0) yield part;
}

/** Client requests in batches of at most `maxCount` requests and `maxBytes` wire bytes (see `chunkBySize`). */
export function requestBatches(requests: Iterable<ClientRequest>, maxCount: number, maxBytes: number): Generator<ClientRequest[]> {
  return chunkBySize(requests, requestWireBytes, maxCount, maxBytes);
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
