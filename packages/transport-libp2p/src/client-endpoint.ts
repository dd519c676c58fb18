/**
 * A client's side of the client protocol: one libp2p node (no listening socket) holding a stream
 * to each replica, reconnecting with backoff. Frames are opaque here; `@phalanx/runtime`'s
 * `Client` puts its request/reply wire format on top.
 */
import './polyfill.js';
import { createLibp2p } from 'libp2p';
import type { Libp2p } from 'libp2p';
import { tcp } from '@libp2p/tcp';
import { noise } from '@chainsafe/libp2p-noise';
import { phalanxYamux } from './muxer.js';
import type { PrivateKey, Stream } from '@libp2p/interface';
import { silentLogger } from '@phalanx/interface';
import type { Logger, NodeId, TransportStats } from '@phalanx/interface';
import { FrameReader } from './framing.js';
import { Counters } from './queues.js';
import { peerIdFromEd25519, privateKeyFromSeed } from './identity.js';
import { DIAL_MS_PER_ADDRESS, DialLinks } from './dial-links.js';
import { DEFAULT_MAX_FRAME_BYTES, DEFAULT_QUEUE_BYTES, protocolIds } from './transport.js';
import type { FrameHandler, PeerConfig } from './transport.js';

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
    const logger = (opts.logger ?? silentLogger).child({ component: 'client-endpoint', client: opts.self });
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
      onStream: (id, stream) => this.readReplies(id, stream),
    });
    opts.replicas.forEach((r, i) => this.links.add(r.id, peerIdFromEd25519(r.publicKey, `replicas[${i}].publicKey`), r.addrs ?? []));
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.key ??= await privateKeyFromSeed(this.opts.seed);
    const replicaPeers = new Set(this.links.peerIds().map((p) => p.toString()));
    const node = await createLibp2p({
      privateKey: this.key,
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [phalanxYamux()],
      // As for replicas (transport.ts): a silent address gives way to the next after 5 s.
      connectionManager: { addressDialTimeout: DIAL_MS_PER_ADDRESS },
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
