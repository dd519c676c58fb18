/**
 * The libp2p 3 `Transport`: TCP + noise + yamux between validators whose libp2p identity is their
 * Ed25519 validator key. Every validator keeps one outbound stream per peer on the consensus
 * protocol (reconnecting with exponential backoff) and reads the inbound streams peers opened to
 * it. Clients (configured keys, or anyone with `openClientAccess`) may only use the client protocol.
 */
import './polyfill.js';
import { createLibp2p } from 'libp2p';
import type { Libp2p } from 'libp2p';
import { nodeOptions } from './node-options.js';
import type { Connection, PeerId, PrivateKey, Stream } from '@libp2p/interface';
import { peerIdFromPrivateKey } from '@libp2p/peer-id';
import { ConfigError, silentLogger } from '@phalanx/interface';
import type { DropReason, Logger, NodeId, Transport, TransportStats } from '@phalanx/interface';
import { FrameReader } from './framing.js';
import { Counters, InboundQueues, OutQueue, RateLimiter, UNKNOWN } from './queues.js';
import type { OutQueueOptions } from './queues.js';
import { peerIdFromEd25519, privateKeyFromSeed } from './identity.js';
import { DialLinks } from './dial-links.js';
import { AddressBook, MAX_RECORD_ADDRS } from './address-book.js';
import { multiaddr } from '@multiformats/multiaddr';

export const DEFAULT_MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Default bound on the bytes queued per peer, each way. */
export const DEFAULT_QUEUE_BYTES = 64 * 1024 * 1024;

export { UNKNOWN };

export interface PeerConfig {
  readonly id: NodeId;
  /** Ed25519 public key: 32 raw bytes or 33 scheme-tagged bytes (the validator key). */
  readonly publicKey: Uint8Array;
  /** Where to dial it (bootstrap list), without the `/p2p/<id>` suffix (added if missing). */
  readonly addrs?: readonly string[];
}

export interface ClientKeyConfig {
  readonly id: NodeId;
  readonly publicKey: Uint8Array;
}

export interface Libp2pTransportOptions {
  readonly self: NodeId;
  /** This validator's 32-byte Ed25519 secret seed: its signing key is its network identity. */
  readonly seed: Uint8Array;
  /** Multiaddrs to listen on, e.g. `/ip4/127.0.0.1/tcp/7001`. */
  readonly listen: readonly string[];
  /**
   * The validator set (this node included) with each member's bootstrap addresses. A member's
   * addresses may be missing or out of date: validators pass each other signed records of where
   * they listen (peer discovery), so the others are found through the ones that are reachable.
   */
  readonly validators: readonly PeerConfig[];
  /** Addresses this validator announces in its signed record (default: what it listens on, wildcards expanded). */
  readonly announce?: readonly string[];
  /** Clients admitted to the client protocol (and only to it). */
  readonly clients?: readonly ClientKeyConfig[];
  /** Admit any peer to the client protocol; its client id is its PeerId string. Default false. */
  readonly openClientAccess?: boolean;
  /** Namespaces the protocol ids (`/phalanx/<network>/consensus/1`), so two chains never talk. */
  readonly network?: string;
  readonly maxFrameBytes?: number;
  /** Outbound frames queued per peer before `queue-full` drops. Default 10,000. */
  readonly queueLimit?: number;
  /** Outbound bytes queued per peer before `queue-full` drops (what waits for a peer that is down). Default 64 MiB. */
  readonly queueBytes?: number;
  /** Inbound frames queued per peer before `queue-full` drops. Default 10,000. */
  readonly inboundQueueLimit?: number;
  /** Inbound bytes queued per peer before `queue-full` drops. Default 64 MiB. */
  readonly inboundQueueBytes?: number;
  /** Inbound frames per second per peer (token bucket), `rate-limited` past it. Default 50,000/s, burst 20,000. */
  readonly rateLimit?: { readonly framesPerSecond: number; readonly burst: number };
  /** Coalesce the frames of one tick into one write (default true; false for comparison benchmarks). */
  readonly coalesce?: boolean;
  readonly maxBatchBytes?: number;
  readonly reconnect?: { readonly initialMs?: number; readonly maxMs?: number };
  readonly logger?: Logger;
  /** At most one log line per (peer, drop reason) per interval. Default 10 s. */
  readonly dropLogIntervalMs?: number;
}

export function protocolIds(network = 'default'): { consensus: string; client: string; peers: string } {
  return { consensus: `/phalanx/${network}/consensus/1`, client: `/phalanx/${network}/client/1`, peers: `/phalanx/${network}/peers/1` };
}

export type FrameHandler = (from: NodeId, frame: Uint8Array) => void;

interface ClientSession {
  readonly out: OutQueue;
  stream: Stream;
}

function bytesOf(data: Uint8Array | { subarray(): Uint8Array }): Uint8Array {
  return data instanceof Uint8Array ? data : data.subarray();
}

export class Libp2pTransport implements Transport {
  readonly self: NodeId;
  readonly protocols: { consensus: string; client: string; peers: string };
  private readonly opts: Libp2pTransportOptions;
  private readonly maxFrameBytes: number;
  private readonly logger: Logger;
  private readonly counters: Counters;
  private readonly links: DialLinks;
  private readonly book: AddressBook;
  private readonly validatorByPeer = new Map<string, NodeId>();
  private readonly clientByPeer = new Map<string, NodeId>();
  private readonly limiters = new Map<NodeId, RateLimiter>();
  private readonly inbound: InboundQueues;
  private readonly clientInbound: InboundQueues;
  private readonly clientSessions = new Map<NodeId, ClientSession>();
  private handlers: FrameHandler[] = [];
  private clientHandlers: FrameHandler[] = [];
  private node: Libp2p | undefined;
  private privateKey: PrivateKey | undefined;
  private running = false;
  /** The client plane: requests from clients in, replies out on the client's own stream. */
  readonly clients: { send(to: NodeId, frame: Uint8Array): void; onFrame(handler: FrameHandler): void };

  constructor(opts: Libp2pTransportOptions) {
    this.opts = opts;
    this.self = opts.self;
    this.protocols = protocolIds(opts.network);
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
    this.logger = (opts.logger ?? silentLogger).child({ component: 'transport-libp2p', node: opts.self });
    this.counters = new Counters(this.logger, opts.dropLogIntervalMs ?? 10_000);
    if (!opts.validators.some((v) => v.id === opts.self)) {
      throw new ConfigError('validators', `self "${opts.self}" is not in the validator set`);
    }
    opts.announce?.forEach((a, i) => {
      try {
        multiaddr(a);
      } catch (err) {
        throw new ConfigError(`announce[${i}]`, `not a multiaddr: ${(err as Error).message}`);
      }
    });
    if ((opts.announce?.length ?? 0) > MAX_RECORD_ADDRS) {
      throw new ConfigError('announce', `at most ${MAX_RECORD_ADDRS} addresses (peers refuse a record with more)`);
    }
    const queueOpts = {
      queueLimit: opts.queueLimit ?? 10_000,
      queueBytes: opts.queueBytes ?? DEFAULT_QUEUE_BYTES,
      coalesce: opts.coalesce ?? true,
      maxBatchBytes: opts.maxBatchBytes ?? 256 * 1024,
    };
    this.links = new DialLinks({
      protocol: this.protocols.consensus,
      maxFrameBytes: this.maxFrameBytes,
      queue: queueOpts,
      counters: this.counters,
      logger: this.logger,
      initialBackoffMs: opts.reconnect?.initialMs ?? 50,
      maxBackoffMs: opts.reconnect?.maxMs ?? 5_000,
      onStream: (id, stream, peerId) => {
        // We never read this stream (the peer writes to us on its own outbound stream), so make
        // sure unread data cannot pile up if a misbehaving peer writes back.
        stream.addEventListener('message', () => undefined);
        this.book.tell(id, peerId);
      },
    });
    this.book = new AddressBook({
      self: opts.self,
      protocol: this.protocols.peers,
      validatorByPeer: this.validatorByPeer,
      nameOf: (peer) => this.clientByPeer.get(peer) ?? UNKNOWN,
      isClient: (peer) => this.clientNameOf(peer) !== undefined,
      connected: () => this.links.connectedLinks(),
      onLearned: (id, addrs) => this.links.setLearned(id, addrs),
      counters: this.counters,
      logger: this.logger,
      ...(opts.announce ? { announce: opts.announce } : {}),
    });
    opts.validators.forEach((v, i) => {
      const peerId = peerIdFromEd25519(v.publicKey, `validators[${i}].publicKey`);
      const key = peerId.toString();
      if (this.validatorByPeer.has(key)) throw new ConfigError(`validators[${i}]`, 'duplicate public key');
      this.validatorByPeer.set(key, v.id);
      if (v.id !== opts.self) this.links.add(v.id, peerId, v.addrs ?? []);
    });
    (opts.clients ?? []).forEach((c, i) => {
      const key = peerIdFromEd25519(c.publicKey, `clients[${i}].publicKey`).toString();
      if (this.validatorByPeer.has(key)) throw new ConfigError(`clients[${i}]`, 'a client key may not be a validator key');
      this.clientByPeer.set(key, c.id);
    });
    const limit = opts.inboundQueueLimit ?? 10_000;
    const limitBytes = opts.inboundQueueBytes ?? DEFAULT_QUEUE_BYTES;
    this.inbound = new InboundQueues(limit, limitBytes, 512, this.counters, (from, frame) => {
      for (const h of this.handlers) h(from, frame);
    });
    this.clientInbound = new InboundQueues(limit, limitBytes, 512, this.counters, (from, frame) => {
      for (const h of this.clientHandlers) h(from, frame);
    });
    this.clients = {
      send: (to, frame) => this.sendToClient(to, frame),
      onFrame: (handler) => {
        this.clientHandlers.push(handler);
      },
    };
    this.clientQueueOpts = queueOpts;
  }

  private readonly clientQueueOpts: OutQueueOptions;

  /** The multiaddrs this node listens on (with `/p2p/<id>`), once started. */
  listenAddrs(): string[] {
    return this.node?.getMultiaddrs().map((m) => m.toString()) ?? [];
  }

  /** This node's libp2p PeerId string (derived from the seed), once started. */
  peerId(): string | undefined {
    return this.privateKey ? peerIdFromPrivateKey(this.privateKey).toString() : undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.privateKey ??= await privateKeyFromSeed(this.opts.seed);
    const isValidator = (p: PeerId): boolean => this.validatorByPeer.has(p.toString());
    const isAdmitted = (p: PeerId): boolean =>
      isValidator(p) || this.clientByPeer.has(p.toString()) || this.opts.openClientAccess === true;
    // Strangers are counted under one key: a per-PeerId entry would let anyone grow our tables.
    const refuse = (p: PeerId): boolean => {
      this.counters.drop(UNKNOWN, 'unknown-peer', `connection from ${p.toString()} refused by the gater`);
      return true;
    };
    const node = await createLibp2p({
      privateKey: this.privateKey,
      addresses: { listen: [...this.opts.listen] },
      ...nodeOptions(),
      connectionGater: {
        // Loopback and private addresses are where validators live in tests and private networks.
        denyDialMultiaddr: () => false,
        denyDialPeer: (p) => !isValidator(p),
        denyInboundEncryptedConnection: (p) => (isAdmitted(p) ? false : refuse(p)),
        denyOutboundEncryptedConnection: (p) => (isValidator(p) ? false : refuse(p)),
      },
      start: false,
    });
    await node.handle(this.protocols.consensus, (stream, connection) => this.onConsensusStream(stream, connection), {
      maxInboundStreams: 4,
    });
    await node.handle(this.protocols.client, (stream, connection) => this.onClientStream(stream, connection), {
      maxInboundStreams: 8,
    });
    await node.start();
    try {
      await this.book.start(node, this.privateKey);
    } catch (err) {
      await node.stop();
      throw err;
    }
    this.node = node;
    this.running = true;
    this.links.start(node);
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.links.stop();
    this.book.stop();
    for (const s of this.clientSessions.values()) s.out.attach(undefined);
    this.clientSessions.clear();
    this.inbound.clear();
    this.clientInbound.clear();
    const node = this.node;
    this.node = undefined;
    await node?.stop();
  }

  send(to: NodeId, frame: Uint8Array): void {
    if (this.running) this.links.send(to, frame);
  }

  broadcast(frame: Uint8Array): void {
    for (const id of this.links.ids()) this.send(id, frame);
  }

  onFrame(handler: FrameHandler): void {
    this.handlers.push(handler);
  }

  connectedPeers(): readonly NodeId[] {
    return this.links.connected();
  }

  stats(): TransportStats {
    return this.counters.snapshot();
  }

  private rateOk(peer: NodeId): boolean {
    let lim = this.limiters.get(peer);
    if (!lim) {
      const rl = this.opts.rateLimit ?? { framesPerSecond: 50_000, burst: 20_000 };
      this.limiters.set(peer, (lim = new RateLimiter(rl.framesPerSecond, rl.burst)));
    }
    return lim.take();
  }

  private attachReader(stream: Stream, from: NodeId, deliver: (from: NodeId, f: Uint8Array) => void): void {
    const reader = new FrameReader(
      this.maxFrameBytes,
      (frame) => {
        if (!this.rateOk(from)) {
          this.counters.drop(from, 'rate-limited');
          return;
        }
        this.counters.framesReceived++;
        this.counters.bytesReceived += frame.length;
        deliver(from, frame);
      },
      (reason: DropReason) => this.counters.drop(from, reason),
    );
    stream.addEventListener('message', (evt) => reader.push(bytesOf(evt.data)));
    // The peer finishing its side mid-frame leaves a truncated frame: count it, then finish ours.
    stream.addEventListener('remoteCloseWrite', () => {
      reader.end();
      if (stream.direction === 'inbound') void stream.close().catch(() => undefined);
    });
    stream.addEventListener('close', () => reader.end());
  }

  private onConsensusStream(stream: Stream, connection: Connection): void {
    const from = this.validatorByPeer.get(connection.remotePeer.toString());
    if (!this.running || !from || from === this.self) {
      // A client (admitted for the client protocol only) or anyone else.
      const key = connection.remotePeer.toString();
      this.counters.drop(this.clientByPeer.get(key) ?? UNKNOWN, 'unknown-peer', `consensus protocol refused for ${key}`);
      stream.abort(new Error('not a validator'));
      return;
    }
    this.attachReader(stream, from, (f, frame) => this.inbound.push(f, frame));
  }

  /**
   * The name a peer is served under on the client protocol: its configured client id, or (open
   * access) its peer id when it is not a validator; undefined for a peer that is not admitted.
   */
  private clientNameOf(peer: string): string | undefined {
    return this.clientByPeer.get(peer) ?? (this.opts.openClientAccess === true && !this.validatorByPeer.has(peer) ? peer : undefined);
  }

  private onClientStream(stream: Stream, connection: Connection): void {
    const key = connection.remotePeer.toString();
    const client = this.clientNameOf(key);
    if (!this.running || !client) {
      this.counters.drop(this.validatorByPeer.get(key) ?? UNKNOWN, 'unknown-peer', `client protocol refused for ${key}`);
      stream.abort(new Error('not a client'));
      return;
    }
    // The newest stream from a client carries its replies.
    const prev = this.clientSessions.get(client);
    const out = prev?.out ?? new OutQueue(client, this.clientQueueOpts, this.counters);
    const session: ClientSession = { out, stream };
    this.clientSessions.set(client, session);
    out.attach(stream);
    stream.addEventListener('close', () => {
      if (this.clientSessions.get(client) === session) {
        this.clientSessions.delete(client);
        if (!this.clientByPeer.has(key)) this.limiters.delete(client); // open access: forget strangers
        out.attach(undefined);
        out.clear();
      }
    });
    this.attachReader(stream, client, (f, frame) => this.clientInbound.push(f, frame));
  }

  private sendToClient(to: NodeId, frame: Uint8Array): void {
    if (!this.running) return;
    const s = this.clientSessions.get(to);
    if (!s) {
      this.counters.drop(to, 'unknown-peer', 'no open client session');
      return;
    }
    if (frame.length > this.maxFrameBytes) {
      this.counters.drop(to, 'oversized');
      return;
    }
    s.out.push(frame);
  }
}
