/**
 * A client's side of the client protocol: one libp2p node (no listening socket) holding a stream
 * to each replica, reconnecting with backoff. Frames are opaque here; `@phalanx/runtime`'s
 * `Client` puts its request/reply wire format on top.
 *
 * Whenever its stream to a replica opens, and (at most every 5 s) when a dial fails, the client
 * asks a replica for the replicas' signed address records (address-book.ts), and dials a replica
 * at the addresses it announced as well as the configured ones: a client whose configuration is
 * out of date still finds replicas that moved. A record counts only when signed by the replica it
 * names and newer than the one held; the first bad one ends what that replica sent.
 */
import './polyfill.js';
import { createLibp2p } from 'libp2p';
import type { Libp2p } from 'libp2p';
import { nodeOptions } from './node-options.js';
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { PeerRecord } from '@libp2p/peer-record';
import { silentLogger } from '@phalanx/interface';
import type { Logger, NodeId, TransportStats } from '@phalanx/interface';
import { FrameReader } from './framing.js';
import { Counters } from './queues.js';
import { peerIdFromEd25519, privateKeyFromSeed } from './identity.js';
import { DialLinks } from './dial-links.js';
import { MAX_RECORD_BYTES, readRecord } from './address-book.js';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_QUEUE_BYTES, protocolIds } from './transport.js';
import type { FrameHandler, PeerConfig } from './transport.js';

/** Shortest time between two questions prompted by failed dials. */
const ASK_AGAIN_MS = 5_000;
/** Records read from one answer at most (a network larger than the client's list sends more). */
const MAX_RECORDS_PER_ANSWER = 256;

export interface Libp2pClientEndpointOptions {
  readonly self: NodeId;
  /** The client's 32-byte Ed25519 seed (its identity as the replicas' `clients` list knows it). */
  readonly seed: Uint8Array;
  readonly replicas: readonly PeerConfig[];
  readonly network?: string;
  readonly maxFrameBytes?: number;
  readonly queueLimit?: number;
  /** Bytes queued per replica before `queue-full` drops. Default 64 MiB. */
  readonly queueBytes?: number;
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  readonly logger?: Logger;
}

export class Libp2pClientEndpoint {
  readonly self: NodeId;
  private readonly opts: Libp2pClientEndpointOptions;
  private readonly counters: Counters;
  private readonly links: DialLinks;
  private readonly logger: Logger;
  private readonly replicaByPeer = new Map<string, NodeId>();
  /** The sequence number of the newest record taken per replica. */
  private readonly recordSeq = new Map<NodeId, bigint>();
  /** When a failed dial last made the client ask (`performance.now()`). */
  private lastAsk = -Infinity;
  private handlers: FrameHandler[] = [];
  private node: Libp2p | undefined;
  private key: PrivateKey | undefined;
  private running = false;
  private readonly protocol: string;
  private readonly maxFrameBytes: number;

  constructor(opts: Libp2pClientEndpointOptions) {
    this.opts = opts;
    this.self = opts.self;
    this.protocol = protocolIds(opts.network).client;
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    const logger = (this.logger = (opts.logger ?? silentLogger).child({ component: 'client-endpoint', client: opts.self }));
    this.counters = new Counters(logger, 10_000);
    this.links = new DialLinks({
      protocol: this.protocol,
      maxFrameBytes: this.maxFrameBytes,
      queue: { queueLimit: opts.queueLimit ?? 10_000, queueBytes: opts.queueBytes ?? DEFAULT_QUEUE_BYTES, coalesce: true, maxBatchBytes: 256 * 1024 },
      counters: this.counters,
      logger,
      initialBackoffMs: opts.reconnect?.initialMs ?? 50,
      maxBackoffMs: opts.reconnect?.maxMs ?? 2_000,
      // Replies come back on the stream we opened: read them from each new stream.
      onStream: (id, stream, peerId) => {
        this.readReplies(id, stream);
        this.ask(id, peerId);
      },
      // A replica that cannot be reached may have moved since the last answer: ask again, of a
      // replica that can be, at most once per ASK_AGAIN_MS.
      onDialFailed: () => this.askAgain(),
    });
    opts.replicas.forEach((r, i) => {
      const peerId = peerIdFromEd25519(r.publicKey, `replicas[${i}].publicKey`);
      this.replicaByPeer.set(peerId.toString(), r.id);
      this.links.add(r.id, peerId, r.addrs ?? []);
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.key ??= await privateKeyFromSeed(this.opts.seed);
    const replicaPeers = new Set(this.links.peerIds().map((p) => p.toString()));
    const node = await createLibp2p({
      privateKey: this.key,
      addresses: { listen: [] },
      ...nodeOptions(),
      connectionGater: {
        denyDialMultiaddr: () => false,
        denyDialPeer: (p) => !replicaPeers.has(p.toString()),
        denyInboundConnection: () => true,
        denyOutboundEncryptedConnection: (p) => !replicaPeers.has(p.toString()),
      },
      start: false,
    });
    await node.start();
    this.node = node;
    this.running = true;
    this.links.start(node);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.links.stop();
    this.recordSeq.clear();
    const node = this.node;
    this.node = undefined;
    await node?.stop();
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (this.running) this.links.send(to, frame);
  }

  onFrame(handler: FrameHandler): void {
    this.handlers.push(handler);
  }

  connectedReplicas(): NodeId[] {
    return this.links.connected();
  }

  stats(): TransportStats {
    return this.counters.snapshot();
  }

  /** `askAddresses`, whose failure is logged: nothing a replica sends may take the client down. */
  private ask(id: NodeId, peerId: PeerId): void {
    this.askAddresses(id, peerId).catch((err: unknown) => this.logger.warn({ replica: id, err: (err as Error).message }, 'peer records not taken'));
  }

  private askAgain(): void {
    const now = performance.now();
    if (now - this.lastAsk < ASK_AGAIN_MS) return;
    const linked = this.links.connectedLinks();
    if (linked.length === 0) return;
    this.lastAsk = now;
    const [id, peerId] = linked[Math.floor(Math.random() * linked.length)]!;
    this.ask(id, peerId);
  }

  /** Reads the replicas' address records from replica `id` and takes the newer ones. */
  private async askAddresses(id: NodeId, peerId: PeerId): Promise<void> {
    const node = this.node;
    if (!node) return;
    const frames: Uint8Array[] = [];
    try {
      // Negotiated up front: the client writes nothing on this stream.
      const stream = await node.dialProtocol(peerId, protocolIds(this.opts.network).peers, { signal: AbortSignal.timeout(5_000), negotiateFully: true });
      // Refused at once (a replica from before discovery, or past its limit): nothing will come.
      if (stream.status !== 'open') return;
      await new Promise<void>((resolve) => {
        const deadline = setTimeout(() => {
          stream.abort(new Error('peer records too slow'));
          done();
        }, 10_000);
        deadline.unref?.();
        const reader = new FrameReader(
          MAX_RECORD_BYTES,
          (f) => {
            if (frames.length < MAX_RECORDS_PER_ANSWER) frames.push(f.slice());
            else stream.abort(new Error('too many peer records'));
          },
          (reason) => {
            this.counters.drop(id, reason, 'peer record');
            stream.abort(new Error(`peer record ${reason}`));
          },
        );
        stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
        // Everything is in once the replica has finished its side.
        const done = (): void => {
          clearTimeout(deadline);
          resolve();
        };
        stream.addEventListener('remoteCloseWrite', () => {
          reader.end();
          done();
          stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => stream.abort(new Error('peer-record stream not closed')));
        });
        stream.addEventListener('close', done);
        // Nothing to say: finish our side at once (the replica does not read it).
        stream.close({ signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      });
    } catch (err) {
      // A replica from before discovery does not speak the protocol: its configured addresses stay.
      this.logger.debug({ replica: id, err: (err as Error).message }, 'no peer records');
      return;
    }
    for (const frame of frames) {
      const claim = readRecord(frame, this.replicaByPeer);
      if (!claim.ok) {
        // A replica this client was not configured with is no lie; anything else is.
        if (claim.reason === 'unknown-peer') continue;
        this.counters.drop(id, claim.reason, claim.why);
        return;
      }
      if (claim.seq <= (this.recordSeq.get(claim.named) ?? -1n)) continue;
      const valid = await claim.envelope.validate(PeerRecord.DOMAIN).catch(() => false);
      if (!valid) {
        this.counters.drop(id, 'malformed', `peer record of ${claim.named} with a bad signature`);
        return;
      }
      if (this.node !== node || claim.seq <= (this.recordSeq.get(claim.named) ?? -1n)) continue;
      this.recordSeq.set(claim.named, claim.seq);
      this.links.setLearned(claim.named, claim.addrs);
    }
  }

  private readReplies(id: NodeId, stream: Stream): void {
    const reader = new FrameReader(
      this.maxFrameBytes,
      (frame) => {
        this.counters.framesReceived++;
        this.counters.bytesReceived += frame.length;
        for (const h of this.handlers) h(id, frame);
      },
      (reason) => this.counters.drop(id, reason),
    );
    stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
    stream.addEventListener('close', () => reader.end());
  }
}
