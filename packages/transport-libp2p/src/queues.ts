/**
 * Per-peer outbound queue with per-tick coalescing and backpressure, per-peer inbound rate limit
 * and drop accounting shared by the validator transport and the client endpoint.
 */
import type { Stream } from '@libp2p/interface';
import type { DropReason, Logger, NodeId, TransportStats } from '@phalanx/interface';
import { encodeFrames } from './framing.js';

/**
 * Resolves on the stream's next 'drain' event (rejects on 'close'). We do not use
 * `stream.onDrain()`: in @libp2p/utils 7.4.1 it keeps returning the promise of the FIRST drain,
 * already resolved, so a writer awaiting it in a loop spins forever in microtasks and starves the
 * event loop (measured here: a 5 MB burst froze the process).
 */
export function waitDrain(stream: Stream): Promise<void> {
  if (!stream.writableNeedsDrain) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const done = (): void => {
      stream.removeEventListener('drain', onDrain);
      stream.removeEventListener('close', onClose);
    };
    const onDrain = (): void => {
      done();
      resolve();
    };
    const onClose = (): void => {
      done();
      reject(new Error('stream closed'));
    };
    stream.addEventListener('drain', onDrain);
    stream.addEventListener('close', onClose);
  });
}

/** The `stats().dropped` key for peers that are neither validators nor configured clients. */
export const UNKNOWN = '<unknown>';

export class Counters {
  framesSent = 0;
  framesReceived = 0;
  bytesSent = 0;
  bytesReceived = 0;
  private readonly dropped: Record<string, Partial<Record<DropReason, number>>> = {};
  private readonly lastLog = new Map<string, { at: number; reported: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly logIntervalMs: number,
  ) {}

  /** Counts a drop and logs it, at most once per interval per (peer, reason) with the count since. */
  drop(peer: string, reason: DropReason, detail?: string): void {
    const m = (this.dropped[peer] ??= {});
    const n = (m[reason] = (m[reason] ?? 0) + 1);
    const key = `${peer}\u0000${reason}`;
    const now = Date.now();
    const last = this.lastLog.get(key);
    if (!last || now - last.at >= this.logIntervalMs) {
      this.logger.warn({ peer, reason, dropped: n - (last?.reported ?? 0), total: n, detail }, 'transport dropped frames');
      this.lastLog.set(key, { at: now, reported: n });
    }
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

export interface OutQueueOptions {
  readonly queueLimit: number;
  /**
   * Bytes queued per peer before `queue-full` drops (one frame is always taken): frames for a peer
   * that is down wait here, and 10,000 frames of megabytes each would exhaust the heap.
   */
  readonly queueBytes: number;
  /** Coalesce every frame queued in one tick into writes of up to `maxBatchBytes`. */
  readonly coalesce: boolean;
  readonly maxBatchBytes: number;
}

/**
 * Frames waiting for one peer. They survive reconnects (a fresh stream picks them up) and are
 * written once per event-loop tick, many per `stream.send`, waiting for 'drain' when the
 * stream's buffer is full.
 */
export class OutQueue {
  private frames: Uint8Array[] = [];
  private head = 0;
  /** Bytes of the frames from `head` on. */
  private bytes = 0;
  private stream: Stream | undefined;
  private pumping = false;
  private scheduled = false;

  constructor(
    private readonly peer: NodeId,
    private readonly opts: OutQueueOptions,
    private readonly counters: Counters,
  ) {}

  get length(): number {
    return this.frames.length - this.head;
  }

  attach(stream: Stream | undefined): void {
    this.stream = stream;
    if (stream) this.schedule();
  }

  push(frame: Uint8Array): void {
    if (this.length >= this.opts.queueLimit || (this.length > 0 && this.bytes + frame.length > this.opts.queueBytes)) {
      this.counters.drop(this.peer, 'queue-full');
      return;
    }
    this.frames.push(frame);
    this.bytes += frame.length;
    this.schedule();
  }

  clear(): void {
    this.frames = [];
    this.head = 0;
    this.bytes = 0;
  }

  private schedule(): void {
    if (this.scheduled || this.pumping || !this.stream) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.pump();
    });
  }

  private nextBatch(): Uint8Array[] {
    if (!this.opts.coalesce) {
      const f = this.frames[this.head++]!;
      this.bytes -= f.length;
      return [f];
    }
    const out: Uint8Array[] = [];
    let bytes = 0;
    while (this.head < this.frames.length) {
      const f = this.frames[this.head]!;
      if (out.length > 0 && bytes + f.length + 4 > this.opts.maxBatchBytes) break;
      out.push(f);
      bytes += f.length + 4;
      this.bytes -= f.length;
      this.head++;
    }
    return out;
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.length > 0) {
        const stream = this.stream;
        if (!stream || stream.writeStatus !== 'writable') return;
        if (stream.writableNeedsDrain) {
          await waitDrain(stream);
          continue;
        }
        const batch = this.nextBatch();
        if (this.head > 1024 && this.head * 2 > this.frames.length) {
          this.frames = this.frames.slice(this.head);
          this.head = 0;
        }
        const buf = encodeFrames(batch);
        let ok: boolean;
        try {
          ok = stream.send(buf);
        } catch {
          // The stream closed under us; the batch is lost like any in-flight packet. The peer link
          // reconnects and later frames go out on the new stream.
          return;
        }
        this.counters.framesSent += batch.length;
        for (const f of batch) this.counters.bytesSent += f.length;
        if (!ok) await waitDrain(stream);
      }
    } catch {
      // onDrain rejects when the stream closes: same as above.
    } finally {
      this.pumping = false;
      if (this.length > 0 && this.stream && this.stream.writeStatus === 'writable') this.schedule();
    }
  }
}

/** Token bucket: `rate` frames per second, bursts up to `burst`. */
export class RateLimiter {
  private tokens: number;
  private last = Date.now();
  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }
  take(): boolean {
    const now = Date.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.rate) / 1000);
    this.last = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

/**
 * Frames received from many peers, delivered round-robin a bounded number per peer per tick so a
 * flooding peer cannot starve the others; each peer's queue is bounded (`queue-full` past it).
 */
export class InboundQueues {
  private readonly queues = new Map<NodeId, Uint8Array[]>();
  /** Bytes queued per peer (bounded by `limitBytes`, one frame always taken). */
  private readonly bytes = new Map<NodeId, number>();
  private scheduled = false;

  constructor(
    private readonly limit: number,
    private readonly limitBytes: number,
    private readonly perTick: number,
    private readonly counters: Counters,
    private readonly deliver: (from: NodeId, frame: Uint8Array) => void,
  ) {}

  push(from: NodeId, frame: Uint8Array): void {
    let q = this.queues.get(from);
    if (!q) this.queues.set(from, (q = []));
    const bytes = this.bytes.get(from) ?? 0;
    if (q.length >= this.limit || (q.length > 0 && bytes + frame.length > this.limitBytes)) {
      this.counters.drop(from, 'queue-full');
      return;
    }
    q.push(frame);
    this.bytes.set(from, bytes + frame.length);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  clear(): void {
    this.queues.clear();
    this.bytes.clear();
  }

  private drain(): void {
    this.scheduled = false;
    let more = false;
    for (const [from, q] of this.queues) {
      const n = Math.min(q.length, this.perTick);
      const batch = q.splice(0, n);
      if (q.length > 0) {
        more = true;
        let left = this.bytes.get(from)!;
        for (const f of batch) left -= f.length;
        this.bytes.set(from, left);
      } else {
        this.queues.delete(from);
        this.bytes.delete(from);
      }
      for (const f of batch) this.deliver(from, f);
    }
    if (more && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }
}
