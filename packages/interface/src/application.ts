/**
 * The application contract. An application implements `StateMachine` and needs no knowledge
 * of consensus: every replica calls `apply` with the same commands in the same order.
 */
import type { NodeId } from './identity.js';
import type { VerifyItem } from './crypto.js';

/** A client command. `(client, seq)` identifies it; replicas execute each at most once. */
export interface ClientRequest {
  readonly client: NodeId;
  readonly seq: bigint;
  readonly payload: Uint8Array;
  /**
   * The client's signature over this command, where clients are authenticated (see
   * `RequestAuthenticator`). Not part of the command's identity: consensus digests cover only
   * `client`, `seq` and `payload`, and applications never need to read it.
   */
  readonly auth?: RequestAuth;
}

/**
 * One client signature over a group of its commands. A client signs the digests of up to a few
 * hundred commands at once, so a replica pays one signature check per group, not per command;
 * every command of the group points at the same group object.
 */
export interface SignedRequestGroup {
  readonly client: NodeId;
  /** Digest of each command of the group (`requestDigest`), in signed order. */
  readonly digests: readonly Uint8Array[];
  /** Scheme-tagged signature by the client's key over the group (see `@phalanx/client-auth`). */
  readonly signature: Uint8Array;
}

/** Where a command sits in the group its client signed. */
export interface RequestAuth {
  readonly group: SignedRequestGroup;
  readonly index: number;
}

/**
 * Decides whether a command really comes from its client. Without it a Byzantine leader could
 * order commands no client sent: channel authentication only tells a replica who relayed a
 * command, not who wrote it. Synchronous (cores call it), so implementations cache what they
 * verified.
 */
export interface RequestAuthenticator {
  /** Undefined when `r` carries a valid signature of `r.client`; otherwise why not. */
  check(r: ClientRequest): string | undefined;
  /**
   * Whether this replica's directory has a key for `client`. A refusal for an unknown client may
   * only mean the directories differ (a client added on some replicas first): cores then refuse
   * the command without blaming the peer that sent it. Absent: every refusal is the sender's.
   */
  knows?(client: NodeId): boolean;
  /**
   * The one signature check `check` makes for `group` (its client's key, the signed message, the
   * signature), so a runtime can run it on its worker pool first and `check` finds it in the
   * verified cache the two share. Undefined when `check` would refuse the group without verifying
   * (unknown client, malformed group). Absent: groups are verified inline.
   */
  verifyItem?(group: SignedRequestGroup): VerifyItem | undefined;
}

/**
 * Whether `auth` refuses `r` only because its client is missing from this replica's directory (see
 * `knows`): cores refuse such a command without blaming the peer that sent it, since directories
 * may differ for a while (a client added on some replicas first), and blame never decays.
 */
export function unknownClient(auth: RequestAuthenticator | undefined, r: ClientRequest): boolean {
  return auth?.knows !== undefined && typeof r?.client === 'string' && !auth.knows(r.client);
}

/**
 * An upper bound on the bytes `r` takes inside an encoded batch or block (payload, client id as
 * UTF-8 at up to 3 bytes per UTF-16 unit, sequence number and headers), counting the signed group
 * it belongs to in full. Cores cut batches by these bounds, so a batch's frame stays under what the
 * transport carries whatever the payloads weigh.
 */
export function requestWireBytes(r: ClientRequest): number {
  return ownWireBytes(r) + (r.auth ? groupWireBytes(r.auth.group) : 0);
}

/** The bytes of `r` itself, without its group (a group is encoded once per batch). */
function ownWireBytes(r: ClientRequest): number {
  return r.payload.length + 3 * r.client.length + 24 + (r.auth ? 8 : 0);
}

/** The bytes a signed group takes in a batch: every digest, the signature, the client id, headers. */
export function groupWireBytes(g: SignedRequestGroup): number {
  return 32 * g.digests.length + g.signature.length + 3 * g.client.length + 24;
}

/**
 * Counts a batch's wire bytes as it grows: each request's own bytes, plus its signed group the
 * first time a request of that group joins (a group is encoded once per batch).
 */
export class BatchBytes {
  private readonly groups = new Set<SignedRequestGroup>();
  total = 0;
  /** What adding `r` would add to `total`. */
  cost(r: ClientRequest): number {
    const g = r.auth?.group;
    return ownWireBytes(r) + (g && !this.groups.has(g) ? groupWireBytes(g) : 0);
  }
  add(r: ClientRequest): number {
    const c = this.cost(r);
    if (r.auth) this.groups.add(r.auth.group);
    this.total += c;
    return c;
  }
}

/** The wire bytes of a batch: its requests' own bytes and each signed group once. */
export function batchWireBytes(batch: readonly ClientRequest[]): number {
  const b = new BatchBytes();
  for (const r of batch) b.add(r);
  return b.total;
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

/**
 * Client requests in batches of at most `maxCount` requests and `maxBytes` wire bytes as
 * `batchWireBytes` counts them (a request larger than `maxBytes` goes alone). Lazy, like `chunkBySize`.
 */
export function* requestBatches(requests: Iterable<ClientRequest>, maxCount: number, maxBytes: number): Generator<ClientRequest[]> {
  let part: ClientRequest[] = [];
  let bytes = new BatchBytes();
  for (const r of requests) {
    if (part.length > 0 && (part.length >= maxCount || bytes.total + bytes.cost(r) > maxBytes)) {
      yield part;
      part = [];
      bytes = new BatchBytes();
    }
    part.push(r);
    bytes.add(r);
  }
  if (part.length > 0) yield part;
}

export interface ApplyContext {
  /** Height (sequence number, block height, log index) of the batch being applied. */
  readonly height: bigint;
}

/** Space a caller of `StateMachine.snapshotSteps` asks to have free around the snapshot's bytes. */
export interface SnapshotRoom {
  readonly before: number;
  readonly after: number;
}

export interface StateMachine {
  /**
   * Applies `commands` in order and returns one result per command. Must be deterministic:
   * no clocks, randomness or I/O whose outcome could differ between replicas.
   */
  apply(commands: readonly ClientRequest[], ctx: ApplyContext): Uint8Array[];
  /** A canonical encoding of the whole state: equal states give equal bytes. */
  snapshot(): Uint8Array;
  /**
   * Optional: `snapshot()` in steps, for a state too large to encode in one go without stalling
   * its replica (a million KV keys take seconds, and a replica that answers nothing for seconds is
   * taken for a failed one). Each `next()` should do a bounded share of the work, ideally a few
   * milliseconds; the last returns the bytes `snapshot()` would. The runtime lets other work run
   * between steps but changes nothing until the last one: no `apply` or `restore` (it may call
   * `snapshot()`). The bytes may be the machine's own, kept to build its next snapshot from
   * (`@phalanx/kv-store` does): a caller reads or copies them and never modifies them, and the
   * machine never writes them again once returned (a caller may copy them in slices).
   *
   * `room` asks for writable space around the bytes in their `ArrayBuffer`: at least `before` bytes
   * before `byteOffset` and `after` bytes after the end. A caller that wraps the snapshot in a frame
   * of its own (the runtime's `[version, app, clients]`) writes the frame there instead of copying
   * the whole state into a new buffer, which for a large state is a state-sized allocation and its
   * page faults at every checkpoint. Only a machine that sets `leavesSnapshotRoom` gives it; the
   * caller still checks the space is there, and copies when it is not.
   */
  snapshotSteps?(room?: SnapshotRoom): Iterator<void, Uint8Array>;
  /**
   * Optional: true when `snapshotSteps(room)` leaves the room asked for around its bytes, in a
   * buffer of the snapshot's own, and never reads or writes those bytes: they belong to the caller.
   * Without it a caller never writes outside the bytes returned (they may be a view into memory
   * the machine uses).
   */
  readonly leavesSnapshotRoom?: boolean;
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
