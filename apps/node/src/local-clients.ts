/**
 * The node's own HTTP API submits commands as a local client of its replica. This wraps the
 * transport's client plane: requests from the local client enter the replica like any remote
 * client's, and the replica's replies to it are caught here instead of going to the network.
 * It also keeps the commit proofs of recent heights (fed by the replica's `onCommit` hook), which
 * serve `GET /certificates/<height>`.
 */
import { PhalanxError } from '@phalanx/interface';
import { seqFloor } from './seq-reservation.js';
import type { NodeId, Signer } from '@phalanx/interface';
import { Client, ClientNotRunningError } from '@phalanx/runtime';
import type { ClientEndpoint, ClientPlane } from '@phalanx/runtime';

/** The HTTP API has as many commands in flight as it may: the caller should retry later (HTTP 503). */
export class LocalBusyError extends PhalanxError {
  constructor(limit: number) {
    super('LOCAL_BUSY', `${limit} commands already in flight through this node's API; retry later`);
  }
}

export interface LocalClientsOptions {
  /**
   * Commands in flight at once; more are refused with `LocalBusyError` (not queued: a queue would
   * only hide the overload until the HTTP deadline). At most the network's `kv.sessionWindow`:
   * a command committed when this client's newest executed seq is a full window above it is
   * refused by the state machine. Default 1024.
   */
  readonly maxInFlight?: number;
  /** Give up on a command after this long (ms); its seq then no longer holds the window. Default 10 s. */
  readonly timeoutMs?: number;
  /** Resend an unanswered command to the replica after this long (ms), doubling. Default 1000. */
  readonly retryMs?: number;
  /** Commit proofs kept for `GET /certificates/<height>`. Default 1024. */
  readonly keepProofs?: number;
  /**
   * Signs the API's commands for the network `chainId` with the node's own key, which every
   * replica accepts for this node's local client ids (`localClientNode`). Needed where replicas
   * authenticate clients.
   */
  readonly signing?: { readonly signer: Signer; readonly chainId: string };
  /**
   * Where the seqs come from. The id is the same after every restart, so they must be above every
   * seq an earlier run used: `start` gives the first (asked once, at the first command), `cover`
   * resolves once the run's `index`-th seq may be used. The node passes a `SeqReservation` kept in
   * its data directory. Default: the clock in microseconds, nothing kept.
   */
  readonly seqs?: LocalSeqs;
}

export interface LocalSeqs {
  start(): Promise<bigint>;
  cover(index: number): Promise<void>;
}

/**
 * A node's local client id: `local-<node>`, one per node, the same after every restart. One id, so
 * that a node cannot mint client ids: every id is a session in every replica's client table (the
 * replicated state), and a fresh id per start, or per anything a Byzantine node chose, would grow
 * that table on every replica without bound.
 */
const LOCAL_ID = /^local-(.+)$/;

/**
 * The node a local client id belongs to, whose key signs that client's commands; undefined for any
 * other id. A node can only ever speak for its own local clients, never for another node's or a
 * configured client's.
 */
export function localClientNode(id: NodeId): NodeId | undefined {
  return LOCAL_ID.exec(id)?.[1];
}

/**
 * The local client is a `@phalanx/runtime` `Client` whose only replica is this node's own (quorum
 * 1: the node trusts itself), over an endpoint that hands frames straight to the replica. So the
 * HTTP API gets what remote clients get: a command lost on the way (a view change, a crashed
 * primary) is resent until it commits or times out, and the seqs in flight stay within the
 * replica's session window.
 */
export class LocalClients implements ClientPlane {
  /** `local-<node>`: the same after a restart, so seqs continue above the last run's (`seqs`). */
  readonly id: NodeId;
  private handler: ((client: NodeId, frame: Uint8Array) => void) | undefined;
  private replies: ((replica: NodeId, frame: Uint8Array) => void) | undefined;
  private readonly makeClient: (firstSeq: bigint) => Client;
  private readonly seqs: LocalSeqs;
  /** Commands handed to the client so far: the next one's seq is at most `first + submitted`. */
  private submitted = 0;
  private client: Promise<Client> | undefined;
  private abandoned = false;
  private readonly proofs = new Map<bigint, Uint8Array>();
  private readonly maxInFlight: number;
  private readonly keepProofs: number;
  private inFlight = 0;

  constructor(
    private readonly node: NodeId,
    private readonly inner?: ClientPlane,
    opts: LocalClientsOptions = {},
  ) {
    this.id = `local-${node}`;
    this.maxInFlight = opts.maxInFlight ?? 1024;
    this.keepProofs = opts.keepProofs ?? 1024;
    const endpoint: ClientEndpoint = {
      self: this.id,
      start: async () => undefined,
      stop: async () => undefined,
      // A microtask later, as from a network: the replica may answer a retry from its reply
      // cache at once, and the client is still in the middle of sending.
      send: (_replica, frame) => queueMicrotask(() => this.handler?.(this.id, frame)),
      onFrame: (handler) => {
        this.replies = handler;
      },
    };
    this.seqs = opts.seqs ?? { start: async () => seqFloor([]), cover: async () => undefined };
    // Made at the first command, not here: the first seq must be read after the replica recovered.
    this.makeClient = (firstSeq) =>
      new Client({
        endpoint,
        replicas: [node],
        quorum: 1,
        maxInFlight: this.maxInFlight,
        timeoutMs: opts.timeoutMs ?? 10_000,
        retryMs: opts.retryMs ?? 1_000,
        followLeader: false,
        firstSeq,
        ...(opts.signing ? { signing: opts.signing } : {}),
      });
  }

  onFrame(handler: (client: NodeId, frame: Uint8Array) => void): void {
    this.handler = handler;
    this.inner?.onFrame(handler);
  }

  send(client: NodeId, frame: Uint8Array): void {
    if (client !== this.id) {
      this.inner?.send(client, frame);
      return;
    }
    this.replies?.(this.node, frame);
  }

  /**
   * Orders `payload` through consensus; resolves with this replica's result. Rejects with
   * `LocalBusyError` when `maxInFlight` commands are already in flight, `ClientTimeoutError` past
   * the deadline, `ClientRejectedError` when the replica refuses the command.
   */
  async submit(payload: Uint8Array): Promise<Uint8Array> {
    if (!this.handler) throw new Error('replica not started');
    if (this.inFlight >= this.maxInFlight) throw new LocalBusyError(this.maxInFlight);
    if (this.abandoned) throw new ClientNotRunningError('client stopped');
    this.inFlight++;
    try {
      if (!this.client) {
        const made = (async () => {
          const c = this.makeClient(await this.seqs.start());
          await c.start();
          return c;
        })();
        this.client = made;
        // A failed start (a write error, an unreadable reservation) is asked again by the next
        // command, not kept: a passing error must not stop the API until a restart.
        made.catch(() => {
          if (this.client === made) this.client = undefined;
        });
      }
      const client = await this.client;
      // The client numbers commands in submit order, so this one's seq is at most first + index:
      // make sure that much is reserved before it can go out.
      await this.seqs.cover(this.submitted++);
      if (this.abandoned) throw new ClientNotRunningError('client stopped');
      return (await client.submit(payload)).result;
    } finally {
      this.inFlight--;
    }
  }

  /** Rejects every command in flight (shutdown); their results, if they ever commit, are dropped. */
  async abandon(): Promise<void> {
    this.abandoned = true;
    // A client that never started has nothing to stop (and its error was its commands').
    const client = await this.client?.catch(() => undefined);
    await client?.stop();
  }

  proof(height: bigint): Uint8Array | undefined {
    return this.proofs.get(height);
  }

  /** Keeps the commit proof of `height` (the replica's `onCommit` hook calls this). */
  keep(height: bigint, proof: Uint8Array): void {
    if (this.proofs.has(height)) return;
    this.proofs.set(height, proof);
    if (this.proofs.size > this.keepProofs) this.proofs.delete(this.proofs.keys().next().value!);
  }
}
