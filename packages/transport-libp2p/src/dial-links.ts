/**
 * Outbound links: one stream per remote peer on one protocol, dialled on start and redialled with
 * exponential backoff (with jitter) whenever it closes; frames to a peer wait in its `OutQueue`.
 * The validator transport (to the other validators) and the client endpoint (to the replicas)
 * both keep their outbound side this way.
 *
 * Every dial names its addresses: the configured ones, or those the peer announced in a signed
 * record (`setLearned`), taking turns when there are both (a reconnect starts with the kind that
 * worked last). Nothing is left to libp2p's peer store, which forgets addresses an hour after it
 * first saw them (after which a dropped link could not be redialled), and which would try learned
 * and configured addresses in one sequence, where silent learned addresses could use up every
 * attempt's time. Each attempt may take `DIAL_MS_PER_ADDRESS` per address it names (libp2p's
 * `addressDialTimeout` is the same), so the last of them is reached too.
 */
import type { Libp2p } from 'libp2p';
import { multiaddr } from '@multiformats/multiaddr';
import type { Multiaddr } from '@multiformats/multiaddr';
import type { PeerId, Stream } from '@libp2p/interface';
import { ConfigError } from '@phalanx/interface';
import type { Logger, NodeId } from '@phalanx/interface';
import { OutQueue } from './queues.js';
import type { Counters, OutQueueOptions } from './queues.js';

interface Link {
  readonly id: NodeId;
  readonly peerId: PeerId;
  /** Configured addresses, each ending in this peer's `/p2p/<id>`. */
  readonly addrs: readonly Multiaddr[];
  /** Addresses from the peer's newest signed record, likewise. */
  learned: Multiaddr[];
  /** Which kind the next attempt dials when there are both. */
  next: 'configured' | 'learned';
  readonly out: OutQueue;
  stream?: Stream;
  dialing: boolean;
  backoff: number;
  timer?: NodeJS.Timeout;
}

/**
 * What libp2p gives each address of a dial (its `addressDialTimeout`, set by the transport and the
 * client endpoint), and what a dial attempt gets per address it names: room for TCP, noise and
 * yamux to a peer whose event loop is busy.
 */
export const DIAL_MS_PER_ADDRESS = 5_000;

/**
 * `addr` for dialling `peer`: any `/p2p/` parts dropped, then `peer`'s appended, so no address
 * (configured, or announced by anyone) can point a link at another peer.
 */
export function addressOf(addr: Multiaddr, peer: PeerId): Multiaddr {
  return multiaddr(`${withoutPeerId(addr).toString()}/p2p/${peer.toString()}`);
}

/** `ma` without its `/p2p/<id>` parts (by component: `/dns4/p2p/…` names a host, not a peer). */
export function withoutPeerId(ma: Multiaddr): Multiaddr {
  return multiaddr(ma.getComponents().filter((c) => c.name !== 'p2p'));
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
  /** Each failed dial (e.g. to ask a reachable peer where this one went). */
  readonly onDialFailed?: (id: NodeId) => void;
}

export class DialLinks {
  private readonly links = new Map<NodeId, Link>();
  private node: Libp2p | undefined;

  constructor(private readonly o: DialLinksOptions) {}

  /**
   * Registers a peer; `addrs` are bootstrap multiaddrs (`/p2p/<id>` optional). Throws `ConfigError`
   * for an address that is not a multiaddr, or that names another peer.
   */
  add(id: NodeId, peerId: PeerId, addrs: readonly string[]): void {
    const parsed = addrs.map((a, i) => {
      let ma: Multiaddr;
      try {
        ma = multiaddr(a);
      } catch (err) {
        throw new ConfigError(`${id}.addrs[${i}]`, `not a multiaddr (${a}): ${(err as Error).message}`);
      }
      const named = ma.getComponents().find((c) => c.name === 'p2p' && c.value !== peerId.toString());
      if (named) throw new ConfigError(`${id}.addrs[${i}]`, `names peer ${named.value ?? '?'}, but ${id}'s key is peer ${peerId.toString()}`);
      return addressOf(ma, peerId);
    });
    this.links.set(id, {
      id,
      peerId,
      addrs: parsed,
      learned: [],
      next: 'configured',
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
  setLearned(id: NodeId, addrs: readonly Multiaddr[]): void {
    const link = this.links.get(id);
    if (!link) return;
    const learned = addrs.map((a) => addressOf(a, link.peerId));
    if (learned.length === link.learned.length && learned.every((a, i) => a.equals(link.learned[i]!))) return;
    link.learned = learned;
    link.next = 'learned';
    if (!this.node || link.stream || link.dialing) return;
    if (link.timer) clearTimeout(link.timer);
    link.timer = undefined;
    link.backoff = 0;
    void this.connect(link);
  }

  /** What the next dial of `link` names: configured and learned addresses take turns. */
  private dialTarget(link: Link): { kind: 'configured' | 'learned'; addrs: readonly Multiaddr[] } {
    const kind = link.learned.length === 0 ? 'configured' : link.addrs.length === 0 ? 'learned' : link.next;
    return { kind, addrs: kind === 'learned' ? link.learned : link.addrs };
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
    const target = this.dialTarget(link);
    try {
      // A connection the peer opened to us is reused whichever addresses are named; with no
      // address at all the dial is by PeerId, which only finds such a connection.
      const ms = DIAL_MS_PER_ADDRESS * Math.max(1, target.addrs.length) + 1_000;
      const stream = await node.dialProtocol(target.addrs.length > 0 ? [...target.addrs] : link.peerId, this.o.protocol, {
        signal: AbortSignal.timeout(ms),
      });
      if (this.node !== node) {
        stream.abort(new Error('stopped'));
        // Restarted while this dial was in flight: dial again on the new node.
        if (this.node) this.scheduleReconnect(link);
        return;
      }
      link.stream = stream;
      link.backoff = 0;
      link.next = target.kind; // a reconnect starts with what worked
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
      this.o.logger.debug({ peer: link.id, err: (err as Error).message, addresses: target.kind }, 'dial failed');
      // The other kind's turn, unless new addresses were learned meanwhile (setLearned chose).
      if (link.next === target.kind) link.next = target.kind === 'learned' ? 'configured' : 'learned';
      this.scheduleReconnect(link);
      this.o.onDialFailed?.(link.id);
    } finally {
      link.dialing = false;
    }
  }
}
