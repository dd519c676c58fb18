/**
 * Outbound links: one stream per remote peer on one protocol, dialled on start and redialled with
 * exponential backoff (with jitter) whenever it closes; frames to a peer wait in its `OutQueue`.
 * The validator transport (to the other validators) and the client endpoint (to the replicas)
 * both keep their outbound side this way.
 */
import type { Libp2p } from 'libp2p';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { PeerId, Stream } from '@libp2p/interface';
import type { Logger, NodeId } from '@phalanx/interface';
import { OutQueue } from './queues.js';
import type { Counters, OutQueueOptions } from './queues.js';

interface Link {
  readonly id: NodeId;
  readonly peerId: PeerId;
  readonly addrs: readonly string[];
  readonly out: OutQueue;
  stream?: Stream;
  dialing: boolean;
  backoff: number;
  timer?: NodeJS.Timeout;
}

export interface DialLinksOptions {
  readonly protocol: string;
  readonly maxFrameBytes: number;
  readonly queue: OutQueueOptions;
  readonly counters: Counters;
  readonly logger: Logger;
  readonly initialBackoffMs: number;
  readonly maxBackoffMs: number;
  /** Each newly opened stream, before frames are written to it (e.g. to read replies from it). */
  readonly onStream: (id: NodeId, stream: Stream, peerId: PeerId) => void;
}

export class DialLinks {
  private readonly links = new Map<NodeId, Link>();
  private node: Libp2p | undefined;

  constructor(private readonly o: DialLinksOptions) {}

  /** Registers a peer; `addrs` are bootstrap multiaddrs (`/p2p/<id>` is added when missing). */
  add(id: NodeId, peerId: PeerId, addrs: readonly string[]): void {
    const key = peerId.toString();
    this.links.set(id, {
      id,
      peerId,
      addrs: addrs.map((a) => (a.includes('/p2p/') ? a : `${a}/p2p/${key}`)),
      out: new OutQueue(id, this.o.queue, this.o.counters),
      dialing: false,
      backoff: 0,
    });
  }

  ids(): IterableIterator<NodeId> {
    return this.links.keys();
  }

  peerIds(): PeerId[] {
    return [...this.links.values()].map((l) => l.peerId);
  }

  /** Dials every peer through `node` (their addresses go into its peer store first). */
  async start(node: Libp2p): Promise<void> {
    this.node = node;
    for (const link of this.links.values()) {
      if (link.addrs.length > 0) await node.peerStore.merge(link.peerId, { multiaddrs: link.addrs.map((a) => multiaddr(a)) });
      link.backoff = 0;
      void this.connect(link);
    }
  }

  /** Forgets streams, timers and queued frames; the caller stops the node. */
  stop(): void {
    this.node = undefined;
    for (const link of this.links.values()) {
      if (link.timer) clearTimeout(link.timer);
      link.timer = undefined;
      link.stream = undefined;
      link.out.attach(undefined);
      link.out.clear();
    }
  }

  /** Queues a frame for a peer; unknown peers and oversized frames are dropped and counted. */
  send(to: NodeId, frame: Uint8Array): void {
    if (!this.node) return;
    const link = this.links.get(to);
    if (!link) {
      this.o.counters.drop(to, 'unknown-peer');
      return;
    }
    if (frame.length > this.o.maxFrameBytes) {
      this.o.counters.drop(to, 'oversized', `${frame.length} bytes`);
      return;
    }
    link.out.push(frame);
  }

  /** Peers whose stream is open for writing. */
  connected(): NodeId[] {
    return this.connectedLinks().map(([id]) => id);
  }

  /** Peers whose stream is open for writing, with their PeerIds. */
  connectedLinks(): Array<[NodeId, PeerId]> {
    const out: Array<[NodeId, PeerId]> = [];
    for (const l of this.links.values()) if (l.stream && l.stream.writeStatus === 'writable') out.push([l.id, l.peerId]);
    return out;
  }

  /** The configured (bootstrap) addresses of a peer. */
  bootstrap(id: NodeId): Multiaddr[] {
    return this.links.get(id)?.addrs.map((a) => multiaddr(a)) ?? [];
  }

  /**
   * Dials a peer now, backoff reset: its addresses just changed (a newer signed record), so the
   * wait before the next attempt would only delay a dial that may now succeed.
   */
  redial(id: NodeId): void {
    const link = this.links.get(id);
    if (!link || !this.node || link.stream || link.dialing) return;
    if (link.timer) clearTimeout(link.timer);
    link.timer = undefined;
    link.backoff = 0;
    void this.connect(link);
  }

  private scheduleReconnect(link: Link): void {
    if (!this.node || link.timer) return;
    link.backoff = link.backoff === 0 ? this.o.initialBackoffMs : Math.min(this.o.maxBackoffMs, link.backoff * 2);
    // Jitter keeps a restarted cluster from dialling in lockstep.
    const delay = link.backoff * (0.75 + Math.random() * 0.5);
    link.timer = setTimeout(() => {
      link.timer = undefined;
      void this.connect(link);
    }, delay);
    link.timer.unref?.();
  }

  private async connect(link: Link): Promise<void> {
    const node = this.node;
    if (!node || link.dialing || link.stream) return;
    link.dialing = true;
    try {
      const stream = await node.dialProtocol(link.peerId, this.o.protocol, { signal: AbortSignal.timeout(5_000) });
      if (this.node !== node) {
        stream.abort(new Error('stopped'));
        // Restarted while this dial was in flight: dial again on the new node.
        if (this.node) this.scheduleReconnect(link);
        return;
      }
      link.stream = stream;
      link.backoff = 0;
      this.o.onStream(link.id, stream, link.peerId);
      stream.addEventListener('close', () => {
        if (link.stream !== stream) return;
        link.stream = undefined;
        link.out.attach(undefined);
        this.scheduleReconnect(link);
      });
      link.out.attach(stream);
      this.o.logger.debug({ peer: link.id }, 'connected');
    } catch (err) {
      this.o.logger.debug({ peer: link.id, err: (err as Error).message }, 'dial failed');
      this.scheduleReconnect(link);
    } finally {
      link.dialing = false;
    }
  }
}
