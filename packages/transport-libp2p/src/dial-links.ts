/**
 * Outbound links: one stream per remote peer on one protocol, dialled on start and redialled with
 * exponential backoff (with jitter) whenever it closes; frames to a peer wait in its `OutQueue`.
 * The validator transport (to the other validators) and the client endpoint (to the replicas)
 * both keep their outbound side this way.
 *
 * Every dial names its addresses: the configured ones, or those the peer announced in a signed
 * record (`setLearned`), on alternate attempts when there are both. Nothing is left to libp2p's
 * peer store, which forgets addresses an hour after it first saw them (after which a dropped link
 * could not be redialled), and which would try learned and configured addresses in one sequence,
 * where a few silent learned addresses could use up every attempt's time.
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
  /** Addresses from the peer's newest signed record (`/p2p/<id>` added). */
  learned: string[];
  /** Dial attempts so far: odd ones use the learned addresses when there are both kinds. */
  attempts: number;
  readonly out: OutQueue;
  stream?: Stream;
  dialing: boolean;
  backoff: number;
  timer?: NodeJS.Timeout;
}

const withPeer = (addr: string, peer: string): string => (addr.includes('/p2p/') ? addr : `${addr}/p2p/${peer}`);

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
      addrs: addrs.map((a) => withPeer(a, key)),
      learned: [],
      attempts: 0,
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

  /** Dials every peer through `node`. */
  start(node: Libp2p): void {
    this.node = node;
    for (const link of this.links.values()) {
      link.backoff = 0;
      link.attempts = 0;
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
      link.learned = [];
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

  /**
   * Sets the addresses a peer announced. When they changed and the link is down, it is dialled
   * now at the new ones, backoff reset: the wait would only delay a dial that may now succeed.
   */
  setLearned(id: NodeId, addrs: readonly string[]): void {
    const link = this.links.get(id);
    if (!link) return;
    const key = link.peerId.toString();
    const learned = addrs.map((a) => withPeer(a, key));
    if (learned.length === link.learned.length && learned.every((a, i) => a === link.learned[i])) return;
    link.learned = learned;
    if (!this.node || link.stream || link.dialing) return;
    if (link.timer) clearTimeout(link.timer);
    link.timer = undefined;
    link.backoff = 0;
    link.attempts = 1; // the next attempt uses the learned addresses
    void this.connect(link);
  }

  /** What the next dial of `link` tries: configured and learned addresses take turns. */
  private dialTarget(link: Link): PeerId | Multiaddr[] {
    const useLearned = link.learned.length > 0 && (link.addrs.length === 0 || link.attempts % 2 === 1);
    const addrs = useLearned ? link.learned : link.addrs;
    link.attempts++;
    // No address at all: by PeerId, which reuses a connection the peer opened to us.
    return addrs.length > 0 ? addrs.map((a) => multiaddr(a)) : link.peerId;
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
      // A connection the peer opened to us is reused whichever addresses are named.
      const stream = await node.dialProtocol(this.dialTarget(link), this.o.protocol, { signal: AbortSignal.timeout(5_000) });
      if (this.node !== node) {
        stream.abort(new Error('stopped'));
        // Restarted while this dial was in flight: dial again on the new node.
        if (this.node) this.scheduleReconnect(link);
        return;
      }
      link.stream = stream;
      link.backoff = 0;
      link.attempts = 0;
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
