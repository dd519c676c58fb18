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
import { yamux } from '@chainsafe/libp2p-yamux';
import { multiaddr } from '@multiformats/multiaddr';
import type { PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { silentLogger } from '@phalanx/interface';
import type { Logger, NodeId, TransportStats } from '@phalanx/interface';
import { FrameReader } from './framing.js';
import { Counters, OutQueue } from './queues.js';
import { peerIdFromEd25519, privateKeyFromSeed } from './identity.js';
import { DEFAULT_MAX_FRAME_BYTES, protocolIds } from './transport.js';
import type { FrameHandler, PeerConfig } from './transport.js';

export interface Libp2pClientEndpointOptions {
  readonly self: NodeId;
  /** The client's 32-byte Ed25519 seed (its identity as the replicas' `clients` list knows it). */
  readonly seed: Uint8Array;
  readonly replicas: readonly PeerConfig[];
  readonly network?: string;
  readonly maxFrameBytes?: number;
  readonly queueLimit?: number;
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  readonly logger?: Logger;
}

interface Link {
  readonly id: NodeId;
  readonly peerId: PeerId;
  readonly out: OutQueue;
  stream?: Stream;
  dialing: boolean;
  backoff: number;
  timer?: NodeJS.Timeout;
}

export class Libp2pClientEndpoint {
  readonly self: NodeId;
  private readonly opts: Libp2pClientEndpointOptions;
  private readonly counters: Counters;
  private readonly links = new Map<NodeId, Link>();
  private readonly peerAddrs = new Map<NodeId, string[]>();
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
    const q = { queueLimit: opts.queueLimit ?? 10_000, coalesce: true, maxBatchBytes: 256 * 1024 };
    opts.replicas.forEach((r, i) => {
      const peerId = peerIdFromEd25519(r.publicKey, `replicas[${i}].publicKey`);
      const key = peerId.toString();
      this.peerAddrs.set(r.id, (r.addrs ?? []).map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${key}`)));
      this.links.set(r.id, { id: r.id, peerId, out: new OutQueue(r.id, q, this.counters), dialing: false, backoff: 0 });
    });
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.key ??= await privateKeyFromSeed(this.opts.seed);
    const replicaPeers = new Set([...this.links.values()].map((l) => l.peerId.toString()));
    const node = await createLibp2p({
      privateKey: this.key,
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
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
    for (const link of this.links.values()) {
      const addrs = this.peerAddrs.get(link.id) ?? [];
      if (addrs.length) await node.peerStore.merge(link.peerId, { multiaddrs: addrs.map((a) => multiaddr(a)) });
      void this.connect(link);
    }
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    for (const l of this.links.values()) {
      if (l.timer) clearTimeout(l.timer);
      l.timer = undefined;
      l.stream = undefined;
      l.out.attach(undefined);
      l.out.clear();
    }
    const node = this.node;
    this.node = undefined;
    await node?.stop();
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (!this.running) return;
    const link = this.links.get(to);
    if (!link) {
      this.counters.drop(to, 'unknown-peer');
      return;
    }
    if (frame.length > this.maxFrameBytes) {
      this.counters.drop(to, 'oversized');
      return;
    }
    link.out.push(frame);
  }

  onFrame(handler: FrameHandler): void {
    this.handlers.push(handler);
  }

  connectedReplicas(): NodeId[] {
    return [...this.links.values()].filter((l) => l.stream && l.stream.writeStatus === 'writable').map((l) => l.id);
  }

  stats(): TransportStats {
    return this.counters.snapshot();
  }

  private scheduleReconnect(link: Link): void {
    if (!this.running || link.timer) return;
    const initial = this.opts.reconnect?.initialMs ?? 50;
    const max = this.opts.reconnect?.maxMs ?? 2_000;
    link.backoff = link.backoff === 0 ? initial : Math.min(max, link.backoff * 2);
    link.timer = setTimeout(() => {
      link.timer = undefined;
      void this.connect(link);
    }, link.backoff * (0.75 + Math.random() * 0.5));
    link.timer.unref?.();
  }

  private async connect(link: Link): Promise<void> {
    const node = this.node;
    if (!this.running || !node || link.dialing || link.stream) return;
    link.dialing = true;
    try {
      const stream = await node.dialProtocol(link.peerId, this.protocol, { signal: AbortSignal.timeout(5_000) });
      if (!this.running || this.node !== node) {
        stream.abort(new Error('endpoint stopped'));
        // Restarted while this dial was in flight: dial again on the new node.
        if (this.running) this.scheduleReconnect(link);
        return;
      }
      link.stream = stream;
      link.backoff = 0;
      const reader = new FrameReader(
        this.maxFrameBytes,
        (frame) => {
          this.counters.framesReceived++;
          this.counters.bytesReceived += frame.length;
          for (const h of this.handlers) h(link.id, frame);
        },
        (reason) => this.counters.drop(link.id, reason),
      );
      stream.addEventListener('message', (evt) => reader.push(evt.data instanceof Uint8Array ? evt.data : evt.data.subarray()));
      stream.addEventListener('close', () => {
        reader.end();
        if (link.stream !== stream) return;
        link.stream = undefined;
        link.out.attach(undefined);
        this.scheduleReconnect(link);
      });
      link.out.attach(stream);
    } catch {
      this.scheduleReconnect(link);
    } finally {
      link.dialing = false;
    }
  }
}
