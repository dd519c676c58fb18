/**
 * An in-process network: a `MemoryHub` connects any number of `MemoryTransport`s (validators) and
 * `MemoryClientEndpoint`s (clients). Delivery is asynchronous — frames queued in one tick are
 * delivered together on the next macrotask (setImmediate), like a real network coalescing writes —
 * and per destination the order of frames is preserved. Tests inject faults through the hub:
 * partitions, blocked links, random drops (with a caller-supplied random source) and a filter.
 */
import { ConfigError } from '@phalanx/interface';
import type { DropReason, NodeId, Transport, TransportStats } from '@phalanx/interface';

export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
export const DEFAULT_QUEUE_LIMIT = 10_000;

export type FrameHandler = (from: NodeId, frame: Uint8Array) => void;

/** Return false to drop a frame on the link `from → to` (fault injection). */
export type LinkFilter = (from: NodeId, to: NodeId, frame: Uint8Array) => boolean;

export interface MemoryHubOptions {
  /** Largest frame accepted; bigger frames are dropped at the sender and counted as `oversized`. */
  readonly maxFrameBytes?: number;
  /** Frames waiting per (sender, destination) before new ones are dropped as `queue-full`. */
  readonly queueLimit?: number;
  /** Random source in [0,1) for `setDropRate`; pass a seeded one for reproducible tests. */
  readonly random?: () => number;
}

export interface MemoryTransportOptions {
  /**
   * The validators this transport talks to. Frames from anyone else are refused and counted
   * (`unknown-peer`), like the libp2p transport's connection gater. Default: every transport the
   * hub knows at send time.
   */
  readonly peers?: readonly NodeId[];
}

interface Endpoint {
  readonly self: NodeId;
  running: boolean;
  deliver(from: NodeId, frame: Uint8Array, plane: 'consensus' | 'client'): void;
}

class Counters {
  framesSent = 0;
  framesReceived = 0;
  bytesSent = 0;
  bytesReceived = 0;
  readonly dropped: Record<string, Partial<Record<DropReason, number>>> = {};
  drop(peer: NodeId, reason: DropReason): void {
    const m = (this.dropped[peer] ??= {});
    m[reason] = (m[reason] ?? 0) + 1;
  }
  snapshot(): TransportStats {
    const dropped: Record<string, Partial<Record<DropReason, number>>> = {};
    for (const [k, v] of Object.entries(this.dropped)) dropped[k] = { ...v };
    return {
      framesSent: this.framesSent,
      framesReceived: this.framesReceived,
      bytesSent: this.bytesSent,
      bytesReceived: this.bytesReceived,
      dropped,
    };
  }
}

interface Pending {
  readonly from: Endpoint & { counters: Counters };
  readonly to: NodeId;
  readonly frame: Uint8Array;
  readonly plane: 'consensus' | 'client';
}

export class MemoryHub {
  readonly maxFrameBytes: number;
  readonly queueLimit: number;
  private readonly random: () => number;
  private readonly validators = new Map<NodeId, MemoryTransport>();
  private readonly clients = new Map<NodeId, MemoryClientEndpoint>();
  private readonly blocked = new Set<string>();
  private groups: Map<NodeId, number> | undefined;
  private dropRate = 0;
  private filter: LinkFilter | undefined;
  private queue: Pending[] = [];
  /** Frames queued per link "from\u0000to", for the queue limit. */
  private readonly inFlight = new Map<string, number>();
  private scheduled = false;

  constructor(opts: MemoryHubOptions = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.queueLimit = opts.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    this.random = opts.random ?? Math.random;
  }

  /** Creates (and registers) the transport of validator `id`; an id already on the hub is a `ConfigError` (path `id`). */
  transport(id: NodeId, opts: MemoryTransportOptions = {}): MemoryTransport {
    this.assertNewId(id);
    const t = new MemoryTransport(this, id, opts);
    this.validators.set(id, t);
    return t;
  }

  /** Creates the endpoint of client `id`, which talks to validators on the client plane only. Ids are unique as for `transport`. */
  client(id: NodeId): MemoryClientEndpoint {
    this.assertNewId(id);
    const c = new MemoryClientEndpoint(this, id);
    this.clients.set(id, c);
    return c;
  }

  // Ids come from the network's configuration (validators and clients share one space), so a
  // repeated one is a ConfigError.
  private assertNewId(id: NodeId): void {
    if (this.validators.has(id) || this.clients.has(id)) throw new ConfigError('id', `duplicate endpoint id ${id}`);
  }

  validatorIds(): NodeId[] {
    return [...this.validators.keys()];
  }

  /** Splits the validators into groups that cannot reach each other; ids not listed are isolated. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.groups = new Map();
    groups.forEach((g, i) => g.forEach((id) => this.groups!.set(id, i)));
  }

  /** Removes every partition, blocked link, drop rate and filter. */
  heal(): void {
    this.groups = undefined;
    this.blocked.clear();
    this.dropRate = 0;
    this.filter = undefined;
  }

  /** Drops frames on the directed link `from → to` until `unblock` or `heal`. */
  block(from: NodeId, to: NodeId): void {
    this.blocked.add(`${from}\u0000${to}`);
  }

  unblock(from: NodeId, to: NodeId): void {
    this.blocked.delete(`${from}\u0000${to}`);
  }

  /** Drops each frame independently with probability `p` (uses the hub's random source); `ConfigError` (path `p`) outside [0, 1]. */
  setDropRate(p: number): void {
    if (!(p >= 0 && p <= 1)) throw new ConfigError('p', 'drop rate must be in [0, 1]');
    this.dropRate = p;
  }

  setFilter(filter: LinkFilter | undefined): void {
    this.filter = filter;
  }

  /** @internal */
  enqueue(from: Endpoint & { counters: Counters }, to: NodeId, frame: Uint8Array, plane: 'consensus' | 'client'): void {
    if (frame.length > this.maxFrameBytes) {
      from.counters.drop(to, 'oversized');
      return;
    }
    const key = `${from.self}\u0000${to}`;
    const n = this.inFlight.get(key) ?? 0;
    if (n >= this.queueLimit) {
      from.counters.drop(to, 'queue-full');
      return;
    }
    this.inFlight.set(key, n + 1);
    from.counters.framesSent++;
    from.counters.bytesSent += frame.length;
    this.queue.push({ from, to, frame, plane });
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private linkUp(from: NodeId, to: NodeId, frame: Uint8Array): boolean {
    if (this.blocked.has(`${from}\u0000${to}`)) return false;
    if (this.groups) {
      const a = this.groups.get(from);
      const b = this.groups.get(to);
      // Clients are outside the partition map: they only lose links when blocked explicitly.
      const aClient = this.clients.has(from);
      const bClient = this.clients.has(to);
      if (!aClient && !bClient && (a === undefined || a !== b)) return false;
    }
    if (this.dropRate > 0 && this.random() < this.dropRate) return false;
    if (this.filter && !this.filter(from, to, frame)) return false;
    return true;
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    this.queue = [];
    for (const p of batch) {
      const key = `${p.from.self}\u0000${p.to}`;
      const n = (this.inFlight.get(key) ?? 1) - 1;
      if (n === 0) this.inFlight.delete(key);
      else this.inFlight.set(key, n);
      if (!p.from.running) continue; // the sender stopped before the frame left
      const dest: Endpoint | undefined = this.validators.get(p.to) ?? this.clients.get(p.to);
      if (!dest || !dest.running) continue; // a stopped peer loses what was in flight, like a closed socket
      if (!this.linkUp(p.from.self, p.to, p.frame)) continue;
      dest.deliver(p.from.self, p.frame, p.plane);
    }
  }

  /** @internal */
  isValidator(id: NodeId): boolean {
    return this.validators.has(id);
  }

  /** @internal */
  isClient(id: NodeId): boolean {
    return this.clients.has(id);
  }

  /** @internal */
  isRunning(id: NodeId): boolean {
    return (this.validators.get(id) ?? this.clients.get(id))?.running ?? false;
  }
}

export class MemoryTransport implements Transport, Endpoint {
  running = false;
  /** @internal */
  readonly counters = new Counters();
  private readonly peers: ReadonlySet<NodeId> | undefined;
  private handlers: FrameHandler[] = [];
  private clientHandlers: FrameHandler[] = [];
  /** The client plane of this replica: requests in from clients, replies out to them. */
  readonly clients: { send(to: NodeId, frame: Uint8Array): void; onFrame(handler: FrameHandler): void };

  constructor(
    private readonly hub: MemoryHub,
    readonly self: NodeId,
    opts: MemoryTransportOptions,
  ) {
    this.peers = opts.peers ? new Set(opts.peers) : undefined;
    this.clients = {
      send: (to, frame) => {
        if (!this.running) return;
        if (!this.hub.isClient(to)) {
          this.counters.drop(to, 'unknown-peer');
          return;
        }
        this.hub.enqueue(this, to, frame, 'client');
      },
      onFrame: (handler) => {
        this.clientHandlers.push(handler);
      },
    };
  }

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  private isPeer(id: NodeId): boolean {
    return id !== this.self && (this.peers ? this.peers.has(id) : this.hub.isValidator(id));
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (!this.running) return;
    if (!this.isPeer(to)) {
      this.counters.drop(to, 'unknown-peer');
      return;
    }
    this.hub.enqueue(this, to, frame, 'consensus');
  }

  broadcast(frame: Uint8Array): void {
    const ids = this.peers ? [...this.peers] : this.hub.validatorIds();
    for (const id of ids) if (id !== this.self) this.send(id, frame);
  }

  onFrame(handler: FrameHandler): void {
    this.handlers.push(handler);
  }

  connectedPeers(): readonly NodeId[] {
    if (!this.running) return [];
    const ids = this.peers ? [...this.peers] : this.hub.validatorIds();
    return ids.filter((id) => id !== this.self && this.hub.isRunning(id));
  }

  stats(): TransportStats {
    return this.counters.snapshot();
  }

  /** @internal */
  deliver(from: NodeId, frame: Uint8Array, plane: 'consensus' | 'client'): void {
    if (plane === 'client') {
      if (!this.hub.isClient(from)) {
        this.counters.drop(from, 'unknown-peer');
        return;
      }
      this.counters.framesReceived++;
      this.counters.bytesReceived += frame.length;
      for (const h of this.clientHandlers) h(from, frame);
      return;
    }
    if (!this.isPeer(from)) {
      // Clients and outsiders may not speak the consensus protocol (the libp2p gater's rule).
      this.counters.drop(from, 'unknown-peer');
      return;
    }
    this.counters.framesReceived++;
    this.counters.bytesReceived += frame.length;
    for (const h of this.handlers) h(from, frame);
  }
}

/** A client's side of the client plane: sends requests to validators, receives their replies. */
export class MemoryClientEndpoint implements Endpoint {
  running = false;
  /** @internal */
  readonly counters = new Counters();
  private handlers: FrameHandler[] = [];

  constructor(
    private readonly hub: MemoryHub,
    readonly self: NodeId,
  ) {}

  async start(): Promise<void> {
    this.running = true;
  }

  async stop(): Promise<void> {
    this.running = false;
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (!this.running) return;
    if (!this.hub.isValidator(to)) {
      this.counters.drop(to, 'unknown-peer');
      return;
    }
    this.hub.enqueue(this, to, frame, 'client');
  }

  onFrame(handler: FrameHandler): void {
    this.handlers.push(handler);
  }

  stats(): TransportStats {
    return this.counters.snapshot();
  }

  /** @internal */
  deliver(from: NodeId, frame: Uint8Array, plane: 'consensus' | 'client'): void {
    if (plane !== 'client' || !this.hub.isValidator(from)) {
      this.counters.drop(from, 'unknown-peer');
      return;
    }
    this.counters.framesReceived++;
    this.counters.bytesReceived += frame.length;
    for (const h of this.handlers) h(from, frame);
  }
}
