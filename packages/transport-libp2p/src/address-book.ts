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
 * validator's record is replaced at most once per `minUpdateMs`, so one that keeps re-signing cannot
 * make the set push and verify its records without end. Learned addresses never replace the
 * configured ones: the links dial the two in turn (dial-links.ts).
 */
import type { Libp2p } from 'libp2p';
import type { PeerId, PrivateKey, Stream, Connection } from '@libp2p/interface';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { Logger, NodeId } from '@phalanx/interface';
import { encodeFrames, FrameReader } from './framing.js';
import { RateLimiter } from './queues.js';
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
  /** PeerIds of the validators whose outbound link is open now (where new records are pushed). */
  readonly connected: () => ReadonlyArray<readonly [NodeId, PeerId]>;
  /** Called with the addresses of a newer record of `id` (its link dials them). */
  readonly onLearned: (id: NodeId, addrs: readonly string[]) => void;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Addresses this validator announces (default: what libp2p listens on, wildcards expanded). */
  readonly announce?: readonly string[];
  /** Delay that gathers newly learned records into one push to the connected peers. Default 1 s. */
  readonly pushDelayMs?: number;
  /** Record streams accepted per validator: per second, and burst. Default 2/s, burst 8. */
  readonly streamRate?: { readonly perSecond: number; readonly burst: number };
  /** Shortest time between two accepted records of one validator. Default 10 s. */
  readonly minUpdateMs?: number;
  /** A record stream still open after this long is aborted. Default 10 s. */
  readonly streamTimeoutMs?: number;
}

interface Known {
  readonly record: Uint8Array;
  readonly seq: bigint;
  /** Who relayed it (not sent back there). */
  readonly via: NodeId;
  readonly at: number;
}

const withoutPeerId = (ma: Multiaddr): Multiaddr => {
  const s = ma.toString();
  const at = s.indexOf('/p2p/');
  return at < 0 ? ma : multiaddr(s.slice(0, at));
};

export class AddressBook {
  private node: Libp2p | undefined;
  private own: Uint8Array | undefined;
  /** The newest record accepted per validator, as received (what is relayed). */
  private readonly known = new Map<NodeId, Known>();
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
    }, this.o.pushDelayMs ?? 1_000);
    this.pushTimer.unref?.();
  }

  private onStream(stream: Stream, connection: Connection): void {
    const key = connection.remotePeer.toString();
    const from = this.o.validatorByPeer.get(key);
    if (!this.node) {
      stream.abort(new Error('stopping'));
      return;
    }
    if (!from || from === this.o.self) {
      this.o.counters.drop(from ?? this.o.nameOf(key), 'unknown-peer', `peer-record protocol refused for ${key}`);
      stream.abort(new Error('not a validator'));
      return;
    }
    let limiter = this.limiters.get(from);
    if (!limiter) {
      const r = this.o.streamRate ?? { perSecond: 2, burst: 8 };
      this.limiters.set(from, (limiter = new RateLimiter(r.perSecond, r.burst)));
    }
    if (!limiter.take()) {
      this.o.counters.drop(from, 'rate-limited', 'peer-record streams');
      stream.abort(new Error('too many peer-record streams'));
      return;
    }
    // One record per validator, twice over for a relay that races an update.
    const max = 2 * this.o.validatorByPeer.size;
    let count = 0;
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
        void this.consider(from, frame.slice());
      },
      (reason) => {
        if (ended) return;
        this.o.counters.drop(from, reason, 'peer record');
        end(`peer record ${reason}`);
      },
    );
    // A sender that keeps its stream open would hold one of the two inbound stream slots.
    const deadline = setTimeout(() => end('peer-record stream too slow'), this.o.streamTimeoutMs ?? 10_000);
    deadline.unref?.();
    stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
    stream.addEventListener('remoteCloseWrite', () => {
      reader.end();
      void stream.close().catch(() => undefined);
    });
    stream.addEventListener('close', () => clearTimeout(deadline));
  }

  /** Checks a record relayed by `from` and stores it when it is a validator's newest. */
  private async consider(from: NodeId, frame: Uint8Array): Promise<void> {
    if (!this.node) return;
    // Cheap checks before the signature: who signed it, whom it names, its addresses and sequence.
    let envelope: RecordEnvelope;
    let record: PeerRecord;
    let signer: PeerId;
    try {
      envelope = RecordEnvelope.createFromProtobuf(frame);
      signer = peerIdFromPublicKey(envelope.publicKey as Parameters<typeof peerIdFromPublicKey>[0]);
      record = PeerRecord.createFromProtobuf(envelope.payload);
    } catch {
      this.o.counters.drop(from, 'malformed', 'undecodable peer record');
      return;
    }
    const named = this.o.validatorByPeer.get(signer.toString());
    if (named === undefined) {
      this.o.counters.drop(from, 'unknown-peer', `peer record of ${signer.toString()}, not a validator`);
      return;
    }
    if (!record.peerId.equals(signer)) {
      this.o.counters.drop(from, 'malformed', `peer record signed by ${named} for another peer`);
      return;
    }
    if (record.multiaddrs.length > MAX_RECORD_ADDRS) {
      this.o.counters.drop(from, 'malformed', `peer record of ${named} with more than ${MAX_RECORD_ADDRS} addresses`);
      return;
    }
    if (named === this.o.self || !this.wanted(named, record.seqNumber)) return;
    let valid: boolean;
    try {
      valid = await envelope.validate(PeerRecord.DOMAIN);
    } catch {
      valid = false;
    }
    if (!valid) {
      this.o.counters.drop(from, 'malformed', `peer record of ${named} with a bad signature`);
      return;
    }
    // Checked again after the await: a newer record may have been stored meanwhile.
    if (!this.node || !this.wanted(named, record.seqNumber)) return;
    this.known.set(named, { record: frame, seq: record.seqNumber, via: from, at: Date.now() });
    this.fresh.add(named);
    this.o.logger.debug({ peer: named, via: from }, 'learned peer addresses');
    // Any `/p2p/` part is cut off: the link adds its own peer's, so a record cannot point a link
    // at another peer (whose connection would then carry frames meant for this one).
    this.o.onLearned(
      named,
      record.multiaddrs.map((m) => withoutPeerId(m).toString()),
    );
    this.schedulePush();
  }

  /** Whether a record of `named` with sequence number `seq` would replace the one held now. */
  private wanted(named: NodeId, seq: bigint): boolean {
    const held = this.known.get(named);
    return !held || (seq > held.seq && Date.now() - held.at >= (this.o.minUpdateMs ?? 10_000));
  }
}
