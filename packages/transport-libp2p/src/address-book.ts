/**
 * Peer discovery from the bootstrap list. Every validator signs a libp2p peer record of the
 * addresses it can be dialled at (`RecordEnvelope` + `PeerRecord`, the format libp2p's identify
 * protocol carries) and hands its own record, and every record it has learned, to each validator
 * whenever its link to that validator opens. A record learned later is passed on to the validators
 * whose links are already open (a second later, gathered into one push): without that, what a
 * replica learns after a link opened would never cross it. So a validator whose bootstrap list
 * names only some of the set, or an old address of a peer that moved, finds the rest through the
 * peers it reaches.
 *
 * A record is believed only when signed by the validator it names: a peer can relay addresses but
 * not forge them. Each validator's highest sequence number wins, checked before the signature (a
 * replay costs no verification) and again, with no await in between, when the record is stored. A
 * validator's record is replaced at most once per `MIN_UPDATE_MS`; a newer one that arrives sooner
 * waits for the end of that window, so one that keeps re-signing cannot make the set push without
 * end. What one stream may cost is bounded: one record per validator, and the first badly signed
 * record ends it (an honest relay only passes on records it verified). Learned addresses never
 * replace the configured ones: the links dial the two in turn (dial-links.ts).
 */
import type { Libp2p } from 'libp2p';
import type { PeerId, PrivateKey, Stream, Connection } from '@libp2p/interface';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { DropReason, Logger, NodeId } from '@phalanx/interface';
import { encodeFrames, FrameReader } from './framing.js';
import { RateLimiter } from './queues.js';
import { addressOf, withoutPeerId } from './dial-links.js';
import type { Counters } from './queues.js';

/** A signed record larger than this is refused unread (a few dozen multiaddrs fit easily). */
export const MAX_RECORD_BYTES = 4096;
/** A record announcing more addresses than this is refused: each is a dial the reader may make. */
export const MAX_RECORD_ADDRS = 16;

export interface AddressBookOptions {
  readonly self: NodeId;
  readonly protocol: string;
  /** Validators by PeerId string (self included). */
  readonly validatorByPeer: ReadonlyMap<string, NodeId>;
  /** The id drops from a non-validator are counted under (a configured client's, or `UNKNOWN`). */
  readonly nameOf: (peer: string) => string;
  /** Whether a non-validator may use the client protocol: it is then sent the records it asks for. */
  readonly isClient: (peer: string) => boolean;
  /** PeerIds of the validators whose outbound link is open now (where new records are pushed). */
  readonly connected: () => ReadonlyArray<readonly [NodeId, PeerId]>;
  /** Called with the addresses of a newer record of `id` (its link dials them). */
  readonly onLearned: (id: NodeId, addrs: readonly Multiaddr[]) => void;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Addresses this validator announces (default: what libp2p listens on, wildcards expanded). */
  readonly announce?: readonly string[];
}

/** Delay that gathers newly learned records into one push to the linked validators. */
const PUSH_DELAY_MS = 1_000;
/** Record streams accepted per validator (and per client name): per second, and burst. */
const STREAM_RATE = { perSecond: 2, burst: 8 };
/** Shortest time between two records of one validator taken. */
const MIN_UPDATE_MS = 10_000;
/** A record stream still open after this long is aborted. */
const STREAM_TIMEOUT_MS = 10_000;

interface Candidate {
  readonly record: Uint8Array;
  readonly seq: bigint;
  readonly addrs: readonly Multiaddr[];
  /** Who relayed it (not sent back there). */
  readonly via: NodeId;
}

interface Known extends Candidate {
  /** When it was taken (`performance.now()`: a clock step cannot stall updates). */
  readonly at: number;
}


/** A peer record decoded and checked in everything but its signature, or why it was refused. */
export type RecordClaim =
  | {
      readonly ok: true;
      readonly named: NodeId;
      readonly envelope: RecordEnvelope;
      readonly seq: bigint;
      /** Without `/p2p/` parts. */
      readonly addrs: readonly Multiaddr[];
    }
  | { readonly ok: false; readonly named?: NodeId; readonly reason: DropReason; readonly why: string };

/**
 * The cheap checks, before the signature: that `frame` decodes, that its signer is one of `byPeer`
 * (PeerId string → id), that the record names its signer, and that it has at most
 * `MAX_RECORD_ADDRS` addresses. Never throws.
 */
export function readRecord(frame: Uint8Array, byPeer: ReadonlyMap<string, NodeId>): RecordClaim {
  let envelope: RecordEnvelope;
  let record: PeerRecord;
  let signer: PeerId;
  try {
    envelope = RecordEnvelope.createFromProtobuf(frame);
    signer = peerIdFromPublicKey(envelope.publicKey as Parameters<typeof peerIdFromPublicKey>[0]);
    record = PeerRecord.createFromProtobuf(envelope.payload);
  } catch {
    return { ok: false, reason: 'malformed', why: 'undecodable peer record' };
  }
  const named = byPeer.get(signer.toString());
  if (named === undefined) return { ok: false, reason: 'unknown-peer', why: `peer record of ${signer.toString()}, not a known peer` };
  if (!record.peerId.equals(signer)) return { ok: false, named, reason: 'malformed', why: `peer record signed by ${named} for another peer` };
  if (record.multiaddrs.length > MAX_RECORD_ADDRS) {
    return { ok: false, named, reason: 'malformed', why: `peer record of ${named} with more than ${MAX_RECORD_ADDRS} addresses` };
  }
  try {
    // Each address as a link will dial it (with the peer id appended), so none can fail there.
    const addrs = record.multiaddrs.map(withoutPeerId);
    for (const a of addrs) addressOf(a, signer);
    return { ok: true, named, envelope, seq: record.seqNumber, addrs };
  } catch {
    return { ok: false, named, reason: 'malformed', why: `peer record of ${named} with an unusable address` };
  }
}

export class AddressBook {
  private node: Libp2p | undefined;
  private own: Uint8Array | undefined;
  /** The newest record accepted per validator, as received (what is relayed). */
  private readonly known = new Map<NodeId, Known>();
  /** A verified newer record that came within `MIN_UPDATE_MS` of the last one taken, and its timer. */
  private readonly pending = new Map<NodeId, { candidate: Candidate; timer: NodeJS.Timeout }>();
  /** The sequence number whose signature is being checked now, per validator (one at a time). */
  private readonly checking = new Map<NodeId, bigint>();
  /** Learned since the last push. */
  private readonly fresh = new Set<NodeId>();
  private pushTimer: NodeJS.Timeout | undefined;
  private readonly limiters = new Map<NodeId, RateLimiter>();

  constructor(private readonly o: AddressBookOptions) {}

  /** Signs this validator's record and starts answering the record protocol on `node`. */
  async start(node: Libp2p, privateKey: PrivateKey): Promise<void> {
    let addrs = this.o.announce?.map((a) => multiaddr(a));
    if (!addrs) {
      // A wildcard listen address expands to every interface, loopback included: a loopback
      // address is only worth announcing when there is nothing else (a single-host network).
      const listening = node.getMultiaddrs();
      const reachable = listening.filter((a) => !/^\/ip(4\/127\.|6\/::1\/)/.test(a.toString()));
      addrs = reachable.length > 0 ? reachable : listening;
    }
    const record = new PeerRecord({
      peerId: node.peerId,
      multiaddrs: addrs.map(withoutPeerId).slice(0, MAX_RECORD_ADDRS),
      // Milliseconds since the epoch: a restarted validator's record supersedes its last one.
      seqNumber: BigInt(Date.now()),
    });
    this.own = (await RecordEnvelope.seal(record, privateKey)).marshal();
    await node.handle(this.o.protocol, (stream, connection) => this.onStream(stream, connection), { maxInboundStreams: 2 });
    this.node = node;
  }

  stop(): void {
    this.node = undefined;
    if (this.pushTimer) clearTimeout(this.pushTimer);
    this.pushTimer = undefined;
    this.fresh.clear();
    this.known.clear();
    for (const p of this.pending.values()) clearTimeout(p.timer);
    this.pending.clear();
    this.checking.clear();
    this.limiters.clear();
  }

  /** Sends `id` every record known (its own excepted): called whenever a link to it opens. */
  tell(id: NodeId, peerId: PeerId): void {
    const records = [this.own!];
    for (const [named, k] of this.known) if (named !== id) records.push(k.record);
    void this.send(id, peerId, records);
  }

  private async send(id: NodeId, peerId: PeerId, records: Uint8Array[]): Promise<void> {
    const node = this.node;
    if (!node || records.length === 0) return;
    try {
      const stream = await node.dialProtocol(peerId, this.o.protocol, { signal: AbortSignal.timeout(5_000) });
      stream.send(encodeFrames(records));
      await stream.close({ signal: AbortSignal.timeout(5_000) });
    } catch (err) {
      // The link's own reconnect covers a peer that went away; the next link-up tells it again.
      this.o.logger.debug({ peer: id, err: (err as Error).message }, 'peer records not sent');
    }
  }

  private schedulePush(): void {
    if (this.pushTimer || !this.node) return;
    this.pushTimer = setTimeout(() => {
      this.pushTimer = undefined;
      const fresh = [...this.fresh];
      this.fresh.clear();
      for (const [id, peerId] of this.o.connected()) {
        // Not back to the validator it names, nor to the one it came from.
        const records: Uint8Array[] = [];
        for (const f of fresh) {
          const k = this.known.get(f);
          if (k && f !== id && k.via !== id) records.push(k.record);
        }
        void this.send(id, peerId, records);
      }
    }, PUSH_DELAY_MS);
    this.pushTimer.unref?.();
  }

  private onStream(stream: Stream, connection: Connection): void {
    const key = connection.remotePeer.toString();
    const from = this.o.validatorByPeer.get(key);
    if (!this.node) {
      stream.abort(new Error('stopping'));
      return;
    }
    if (!from && this.o.isClient(key)) {
      this.answerClient(stream, this.o.nameOf(key));
      return;
    }
    if (!from || from === this.o.self) {
      this.o.counters.drop(from ?? this.o.nameOf(key), 'unknown-peer', `peer-record protocol refused for ${key}`);
      stream.abort(new Error('not a validator'));
      return;
    }
    if (!this.admit(from)) {
      stream.abort(new Error('too many peer-record streams'));
      return;
    }
    // An honest relay sends at most one record per validator in a stream.
    const max = this.o.validatorByPeer.size;
    let count = 0;
    /** Validators named so far in this stream: an honest relay names each at most once. */
    const named = new Set<NodeId>();
    let queue: Promise<void> = Promise.resolve();
    let ended = false;
    const end = (why: string): void => {
      ended = true;
      stream.abort(new Error(why));
    };
    const reader = new FrameReader(
      MAX_RECORD_BYTES,
      (frame) => {
        // Frames the reader had already split from the chunk that ended the stream.
        if (ended) return;
        if (++count > max) {
          this.o.counters.drop(from, 'malformed', `more than ${max} peer records in one stream`);
          end('too many peer records');
          return;
        }
        // One record at a time, so a badly signed one ends the stream before the next is checked.
        const copy = frame.slice();
        queue = queue.then(() => (ended ? undefined : this.consider(from, copy, named, end))).catch((err: unknown) => {
          // Nothing in a record may take the replica down: count it and go on.
          this.o.counters.drop(from, 'malformed', `peer record: ${(err as Error).message}`);
          end('bad peer record');
        });
      },
      (reason) => {
        if (ended) return;
        this.o.counters.drop(from, reason, 'peer record');
        end(`peer record ${reason}`);
      },
    );
    // A sender that keeps its stream open would hold one of the two inbound stream slots.
    const deadline = setTimeout(() => end('peer-record stream too slow'), STREAM_TIMEOUT_MS);
    deadline.unref?.();
    stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
    stream.addEventListener('remoteCloseWrite', () => {
      reader.end();
      void stream.close().catch(() => undefined);
    });
    stream.addEventListener('close', () => clearTimeout(deadline));
  }

  /**
   * Takes a token from the stream limiter of `who` (a validator's id, or a client's name: clients'
   * limiters are keyed apart, so a client named like a validator has its own).
   */
  private admit(who: string, client = false): boolean {
    const key = client ? `client:${who}` : who;
    let limiter = this.limiters.get(key);
    if (!limiter) {
      this.limiters.set(key, (limiter = new RateLimiter(STREAM_RATE.perSecond, STREAM_RATE.burst)));
    }
    if (limiter.take()) return true;
    this.o.counters.drop(who, 'rate-limited', 'peer-record streams');
    return false;
  }

  /**
   * A client asks where the replicas are: it gets this replica's own record and every one learned,
   * and nothing it sends is read. Clients share their limiter by name (open-access ones all share
   * `UNKNOWN`'s), so they cannot grow the table.
   */
  private answerClient(stream: Stream, client: string): void {
    if (!this.admit(client, true)) {
      stream.abort(new Error('too many peer-record streams'));
      return;
    }
    // The client has nothing to say, and may not keep the stream.
    const deadline = setTimeout(() => stream.abort(new Error('peer-record stream too slow')), STREAM_TIMEOUT_MS);
    deadline.unref?.();
    stream.addEventListener('close', () => clearTimeout(deadline));
    stream.addEventListener('message', () => stream.abort(new Error('a client wrote on the peer-record protocol')));
    const records = [this.own!];
    for (const k of this.known.values()) records.push(k.record);
    stream.send(encodeFrames(records));
    stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('peer-record stream not closed')));
  }

  /**
   * Checks a record relayed by `from` (whose stream has named `seen` so far; `end` ends it) and
   * takes it when it is the validator's newest.
   */
  private async consider(from: NodeId, frame: Uint8Array, seen: Set<NodeId>, end: (why: string) => void): Promise<void> {
    if (!this.node) return;
    const claim = readRecord(frame, this.o.validatorByPeer);
    if (claim.named !== undefined) {
      if (seen.has(claim.named)) {
        this.o.counters.drop(from, 'malformed', `two peer records of ${claim.named} in one stream`);
        end('repeated peer record');
        return;
      }
      seen.add(claim.named);
    }
    if (!claim.ok) {
      this.o.counters.drop(from, claim.reason, claim.why);
      return;
    }
    const { named, seq, envelope } = claim;
    if (named === this.o.self || !this.worthChecking(named, seq)) return;
    this.checking.set(named, seq);
    let valid: boolean;
    try {
      valid = await envelope.validate(PeerRecord.DOMAIN);
    } catch {
      valid = false;
    } finally {
      this.checking.delete(named);
    }
    if (!valid) {
      // Honest relays pass on only what they verified: the rest of this stream is not worth reading.
      this.o.counters.drop(from, 'malformed', `peer record of ${named} with a bad signature`);
      end('badly signed peer record');
      return;
    }
    // Checked again after the await: a newer record may have been taken meanwhile.
    if (!this.node || !this.newer(named, seq)) return;
    const candidate: Candidate = { record: frame, seq, addrs: claim.addrs, via: from };
    const held = this.known.get(named);
    const wait = held ? held.at + MIN_UPDATE_MS - performance.now() : 0;
    if (wait <= 0) {
      this.take(named, candidate);
      return;
    }
    const prev = this.pending.get(named);
    if (prev) clearTimeout(prev.timer);
    const timer = setTimeout(() => {
      if (this.pending.get(named)?.timer !== timer) return;
      this.pending.delete(named);
      try {
        if (this.node && this.newer(named, candidate.seq)) this.take(named, candidate);
      } catch (err) {
        this.o.logger.warn({ peer: named, err: (err as Error).message }, 'held-back peer record not taken');
      }
    }, wait);
    timer.unref?.();
    this.pending.set(named, { candidate, timer });
  }

  private take(named: NodeId, c: Candidate): void {
    const p = this.pending.get(named);
    if (p && p.candidate.seq <= c.seq) {
      clearTimeout(p.timer);
      this.pending.delete(named);
    }
    this.known.set(named, { ...c, at: performance.now() });
    this.fresh.add(named);
    this.o.logger.debug({ peer: named, via: c.via }, 'learned peer addresses');
    this.o.onLearned(named, c.addrs);
    this.schedulePush();
  }

  /** Whether `seq` is above the records of `named` taken and waiting. */
  private newer(named: NodeId, seq: bigint): boolean {
    return seq > (this.known.get(named)?.seq ?? -1n) && seq > (this.pending.get(named)?.candidate.seq ?? -1n);
  }

  /**
   * Whether a record of `named` is worth a signature check: newer than the one taken, and none of
   * its records waiting or in a check now. So each validator's records cost at most about two
   * checks per `MIN_UPDATE_MS` (one taken, one waiting), besides badly signed ones, which end their
   * stream. A newer record skipped here comes again with the next link-up.
   */
  private worthChecking(named: NodeId, seq: bigint): boolean {
    return this.newer(named, seq) && !this.pending.has(named) && !this.checking.has(named);
  }
}
