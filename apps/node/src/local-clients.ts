/**
 * The node's own HTTP API submits commands as a local client of its replica. This wraps the
 * transport's client plane: requests from the local client enter the replica like any remote
 * client's, and the replica's replies to it are caught here instead of going to the network.
 * It also keeps the commit proofs of recent heights (fed by the replica's `onCommit` hook), which
 * serve `GET /certificates/<height>`.
 */
import { randomBytes } from 'node:crypto';
import type { NodeId } from '@phalanx/interface';
import { decodeClientFrame, encodeClientFrame } from '@phalanx/runtime';
import type { ClientPlane } from '@phalanx/runtime';

interface Pending {
  resolve(result: Uint8Array): void;
  reject(err: Error): void;
}

export class LocalClients implements ClientPlane {
  /** Unique per process start: sequence numbers restart at 1, sessions must not collide. */
  readonly id: NodeId;
  private handler: ((client: NodeId, frame: Uint8Array) => void) | undefined;
  /** Client sequence numbers start at 0, as `@phalanx/runtime`'s Client numbers them. */
  private seq = -1n;
  private readonly pending = new Map<bigint, Pending>();
  private readonly proofs = new Map<bigint, Uint8Array>();

  constructor(
    node: NodeId,
    private readonly inner?: ClientPlane,
    private readonly keepProofs = 1024,
  ) {
    this.id = `local-${node}-${randomBytes(6).toString('hex')}`;
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
    const f = decodeClientFrame(frame);
    if (f.type === 'request') return;
    if (f.type === 'reject') {
      const p = this.pending.get(f.seq);
      this.pending.delete(f.seq);
      p?.reject(new Error(`${f.code}: ${f.message}`));
      return;
    }
    for (const r of f.results) {
      const p = this.pending.get(r.seq);
      this.pending.delete(r.seq);
      p?.resolve(r.result);
    }
  }

  /** Orders `payload` through consensus; resolves with this replica's result. */
  submit(payload: Uint8Array): Promise<Uint8Array> {
    if (!this.handler) return Promise.reject(new Error('replica not started'));
    const seq = ++this.seq;
    const done = new Promise<Uint8Array>((resolve, reject) => this.pending.set(seq, { resolve, reject }));
    this.handler(this.id, encodeClientFrame({ type: 'request', requests: [{ seq, payload }] }));
    return done;
  }

  /** Forgets a request the caller gave up on (its result, if it ever commits, is dropped). */
  abandon(reason: string): void {
    for (const p of this.pending.values()) p.reject(new Error(reason));
    this.pending.clear();
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
