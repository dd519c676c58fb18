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
 * A record is believed only when signed by the validator it names: a peer can relay addresses
 * but not forge them. Replays of older records lose to newer ones (libp2p's peer store keeps the
 * highest sequence number), and the configured bootstrap addresses are kept beside the learned
 * ones, so a replayed stale record cannot cut a replica off from an address that works.
 */
import type { Libp2p } from 'libp2p';
import type { PeerId, PrivateKey, Stream, Connection } from '@libp2p/interface';
import { peerIdFromPublicKey } from '@libp2p/peer-id';
import { PeerRecord, RecordEnvelope } from '@libp2p/peer-record';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { Logger, NodeId } from '@phalanx/interface';
import { encodeFrames, FrameReader } from './framing.js';
import { RateLimiter, UNKNOWN } from './queues.js';
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
  /** The configured (bootstrap) addresses of a validator, kept beside what it announces. */
  readonly bootstrap: (id: NodeId) => readonly Multiaddr[];
  /** PeerIds of the validators whose outbound link is open now (where new records are pushed). */
  readonly connected: () => ReadonlyArray<readonly [NodeId, PeerId]>;
  /** Called after a newer record of `id` was stored: its link should dial again now. */
  readonly onLearned: (id: NodeId) => void;
  readonly counters: Counters;
  readonly logger: Logger;
  /** Addresses this validator announces (default: what libp2p listens on, wildcards expanded). */
  readonly announce?: readonly string[];
  /** Delay that gathers newly learned records into one push to the connected peers. Default 1 s. */
  readonly pushDelayMs?: number;
  /** Record streams accepted per validator: per second, and burst. Default 2/s, burst 8. */
  readonly streamRate?: { readonly perSecond: number; readonly burst: number };
}

const withoutPeerId = (ma: Multiaddr): Multiaddr => {
  const s = ma.toString();
  const at = s.indexOf('/p2p/');
  return at < 0 ? ma : multiaddr(s.slice(0, at));
};

export class AddressBook {
  private node: Libp2p | undefined;
  private own: Uint8Array | undefined;
  /** The newest record accepted per validator, as received (what is relayed), and who sent it. */
  private readonly known = new Map<NodeId, { readonly record: Uint8Array; readonly via: NodeId }>();
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
      this.o.counters.drop(from ?? UNKNOWN, 'unknown-peer', `peer-record protocol refused for ${key}`);
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
    const reader = new FrameReader(
      MAX_RECORD_BYTES,
      (frame) => {
        if (++count > max) {
          if (count === max + 1) {
            this.o.counters.drop(from, 'malformed', `more than ${max} peer records in one stream`);
            stream.abort(new Error('too many peer records'));
          }
          return;
        }
        void this.consider(from, frame.slice());
      },
      (reason) => this.o.counters.drop(from, reason, 'peer record'),
    );
    stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
    stream.addEventListener('remoteCloseWrite', () => {
      reader.end();
      void stream.close().catch(() => undefined);
    });
  }

  /** Checks a record relayed by `from` and stores it when it is a validator's newest. */
  private async consider(from: NodeId, frame: Uint8Array): Promise<void> {
    const node = this.node;
    if (!node) return;
    // Cheap checks before the signature: who it names, and how many addresses.
    let signer: PeerId;
    let named: NodeId | undefined;
    try {
      const envelope = RecordEnvelope.createFromProtobuf(frame);
      signer = peerIdFromPublicKey(envelope.publicKey as Parameters<typeof peerIdFromPublicKey>[0]);
      named = this.o.validatorByPeer.get(signer.toString());
      if (named !== undefined && PeerRecord.createFromProtobuf(envelope.payload).multiaddrs.length > MAX_RECORD_ADDRS) {
        this.o.counters.drop(from, 'malformed', `peer record of ${named} with more than ${MAX_RECORD_ADDRS} addresses`);
        return;
      }
    } catch {
      this.o.counters.drop(from, 'malformed', 'undecodable peer record');
      return;
    }
    if (named === undefined) {
      this.o.counters.drop(from, 'unknown-peer', `peer record of ${signer.toString()}, not a validator`);
      return;
    }
    if (named === this.o.self) return; // our own, relayed back
    let newer: boolean;
    try {
      // Verifies the signature, the signer against the record's peer id, and the sequence number.
      newer = await node.peerStore.consumePeerRecord(frame, { expectedPeer: signer });
    } catch {
      this.o.counters.drop(from, 'malformed', `peer record of ${named} with a bad signature`);
      return;
    }
    if (!newer || this.node !== node) return;
    // consumePeerRecord replaced the stored addresses with the record's: keep the configured ones.
    const bootstrap = this.o.bootstrap(named);
    if (bootstrap.length > 0) await node.peerStore.merge(signer, { multiaddrs: [...bootstrap] });
    this.known.set(named, { record: frame, via: from });
    this.fresh.add(named);
    this.o.logger.debug({ peer: named, via: from }, 'learned peer addresses');
    this.o.onLearned(named);
    this.schedulePush();
  }
}
