/**
 * The state the runtime replicates: the application's `StateMachine` plus, per client, which
 * sequence numbers executed and their recent results. Keeping the client table inside the
 * snapshot makes exactly-once survive restarts and state transfer, and keeps the state digest
 * equal on every replica (the table is a deterministic function of the committed sequence).
 */
import { createHash } from 'node:crypto';
import { decode, encode, headLength, readArray, readBytes, readString, readU64, writeHead } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { DecodeError } from '@phalanx/interface';
import type { ClientRequest, CommittedBatch, StateMachine } from '@phalanx/interface';
import { ReplicaError } from './errors.js';

/** Bytes of the application's snapshot copied per step of `snapshotSteps` (a few ms). */
const COPY_STEP_BYTES = 8 << 20;
/** The longest envelope head: array(3), the version, and a byte string's head (at most 9 bytes). */
const ENVELOPE_HEAD_MAX = 11;

/** Writes `[1, <bytes of appLength>` — the envelope up to the application's bytes — at the start of `out`. */
function writeEnvelopeHead(out: Buffer, appLength: number): void {
  out[0] = 0x83; // array(3)
  out[1] = 0x01;
  writeHead(out, 2, 2, appLength);
}

/** Bytes hashed per step of `digestSteps`. */
const DIGEST_STEP_BYTES = 1 << 20;

interface ClientEntry {
  /** Every seq below `next` executed. */
  next: bigint;
  /** Executed seqs at or above `next` (out-of-order pipelining). */
  above: Set<bigint>;
  /** Recent results by seq, oldest first (insertion = commit order, so eviction is deterministic). */
  results: Map<bigint, CachedResult>;
}

export interface CachedResult {
  readonly height: bigint;
  readonly result: Uint8Array;
}

export interface AppliedRequest {
  readonly request: ClientRequest;
  readonly result: Uint8Array;
  /** Height the request executed at (earlier than the batch's for a duplicate). */
  readonly height: bigint;
  /** True when this (client, seq) had already executed: the cached result is returned, not re-applied. */
  readonly duplicate: boolean;
}

export class ReplicatedState {
  private readonly clients = new Map<string, ClientEntry>();

  constructor(
    readonly app: StateMachine,
    /** Results kept per client for answering retries. */
    private readonly resultsPerClient = 256,
    /** Out-of-order executed seqs tracked per client before older gaps are declared expired. */
    private readonly maxGap = 4096,
  ) {}

  executed(client: string, seq: bigint): boolean {
    const e = this.clients.get(client);
    return !!e && (seq < e.next || e.above.has(seq));
  }

  /**
   * The highest seq of `client` that executed, undefined if none did: a client that restarts under
   * the same id must number its requests above it, or they are answered as retries of old ones.
   */
  highestExecuted(client: string): bigint | undefined {
    const e = this.clients.get(client);
    if (!e) return undefined;
    let high = e.next - 1n;
    for (const s of e.above) if (s > high) high = s;
    return high < 0n ? undefined : high;
  }

  /** The cached result of an executed request, if still kept. */
  result(client: string, seq: bigint): CachedResult | undefined {
    return this.clients.get(client)?.results.get(seq);
  }

  /**
   * Applies a committed batch, skipping (client, seq) pairs that already executed. Throws
   * `ReplicaError` when the application returns another number of results than it got commands.
   */
  apply(batch: CommittedBatch): AppliedRequest[] {
    const fresh: ClientRequest[] = [];
    // Per request: an AppliedRequest (duplicate of an earlier batch), or the index into `fresh`
    // of the request that executes it (itself, or its first copy inside this batch).
    const out: Array<AppliedRequest | number> = [];
    const seen = new Map<string, number>();
    for (const r of batch.requests) {
      const key = `${r.client}\u0000${r.seq}`;
      const first = seen.get(key);
      if (first !== undefined) {
        out.push(-1 - first);
      } else if (this.executed(r.client, r.seq)) {
        const c = this.result(r.client, r.seq);
        out.push({ request: r, result: c?.result ?? new Uint8Array(0), height: c?.height ?? batch.height, duplicate: true });
      } else {
        seen.set(key, fresh.length);
        out.push(fresh.length);
        fresh.push(r);
      }
    }
    const results = fresh.length > 0 ? this.app.apply(fresh, { height: batch.height }) : [];
    if (results.length !== fresh.length) {
      throw new ReplicaError(`StateMachine.apply returned ${results.length} results for ${fresh.length} commands`);
    }
    fresh.forEach((request, k) => this.record(request.client, request.seq, { height: batch.height, result: results[k]! }));
    return out.map((o, i) => {
      if (typeof o !== 'number') return o;
      if (o >= 0) return { request: fresh[o]!, result: results[o]!, height: batch.height, duplicate: false };
      return { request: batch.requests[i]!, result: results[-1 - o]!, height: batch.height, duplicate: true };
    });
  }

  private record(client: string, seq: bigint, result: CachedResult): void {
    let e = this.clients.get(client);
    if (!e) this.clients.set(client, (e = { next: 0n, above: new Set(), results: new Map() }));
    if (seq === e.next) {
      e.next++;
      while (e.above.delete(e.next)) e.next++;
    } else if (seq > e.next) {
      e.above.add(seq);
      if (e.above.size > this.maxGap) {
        // A client that skipped a seq (or starts at 1) would grow `above` forever: past the window,
        // declare every seq below the lowest executed one expired. Deterministic, so the state
        // digest stays equal everywhere; a request that late gets 'expired', never a re-execution.
        let low = seq;
        for (const x of e.above) if (x < low) low = x;
        e.next = low;
        while (e.above.delete(e.next)) e.next++;
      }
    }
    e.results.set(seq, result);
    if (e.results.size > this.resultsPerClient) e.results.delete(e.results.keys().next().value!);
  }

  snapshot(): Uint8Array {
    const steps = this.snapshotSteps();
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /**
   * `snapshot()` in steps of a few milliseconds: the application's own steps where it has them
   * (`StateMachine.snapshotSteps`), then, unless the application left room around its bytes, the
   * copy into the envelope 8 MiB a step. Nothing may change the state before the last step. The
   * bytes may share memory with the application's own snapshot (`leavesSnapshotRoom`), which it
   * reads again for its next one: read or copy them, never modify them (as for `snapshot()`).
   */
  *snapshotSteps(): Generator<void, Uint8Array> {
    // The client table first: the state does not change until the last step, and its size is the
    // room asked for after the application's bytes.
    const ids = [...this.clients.keys()].sort();
    const table: Value[] = ids.map((id) => {
      const e = this.clients.get(id)!;
      return [id, e.next, [...e.above].sort((a, b) => (a < b ? -1 : 1)), [...e.results].map(([s, r]) => [s, r.height, r.result])];
    });
    const rest = encode(table);
    let app: Uint8Array;
    const roomy = this.app.leavesSnapshotRoom === true;
    const appSteps = this.app.snapshotSteps?.(roomy ? { before: ENVELOPE_HEAD_MAX, after: rest.length } : undefined);
    if (appSteps) {
      for (;;) {
        const r = appSteps.next();
        if (r.done) {
          app = r.value;
          break;
        }
        yield;
      }
    } else {
      app = this.app.snapshot();
    }
    // `[1, app, table]` in canonical CBOR with the heads written here. The generic encoder gathers
    // a byte string into a buffer list and concatenates it, two copies of the whole state per
    // checkpoint: with 760k keys (~90 MB) that was nearly a fifth of a replica's time. Same bytes
    // as `encode` (tested).
    const headBytes = 2 + headLength(app.length);
    const total = headBytes + app.length + rest.length;
    const room = app.buffer.byteLength - app.byteOffset - app.length;
    if (roomy && appSteps && app.byteOffset >= headBytes && room >= rest.length && app.buffer instanceof ArrayBuffer) {
      // The application left room around its bytes (`SnapshotRoom`): the frame is written there,
      // and the state is neither copied nor given a second state-sized buffer (and its page faults).
      const out = Buffer.from(app.buffer, app.byteOffset - headBytes, total);
      writeEnvelopeHead(out, app.length);
      out.set(rest, headBytes + app.length);
      return new Uint8Array(out.buffer, out.byteOffset, out.length);
    }
    // Not from Node's shared pool: a small snapshot would otherwise be a view into 8 KiB of others' bytes.
    const out = Buffer.allocUnsafeSlow(total);
    writeEnvelopeHead(out, app.length);
    for (let from = 0; from < app.length; from += COPY_STEP_BYTES) {
      if (from > 0) yield;
      out.set(app.subarray(from, from + COPY_STEP_BYTES), headBytes + from);
    }
    out.set(rest, headBytes + app.length);
    return new Uint8Array(out.buffer, out.byteOffset, out.length);
  }

  /** Installs a snapshot from `snapshot()`; throws `DecodeError` for bytes that are not one. */
  restore(bytes: Uint8Array): void {
    const a = readArray(decode(bytes, { maxBytes: Number.MAX_SAFE_INTEGER }), 'snapshot', 3);
    if (a[0] !== 1) throw new DecodeError('snapshot: unknown runtime snapshot version');
    const app = readBytes(a[1], 'snapshot.app');
    const rows = readArray(a[2], 'snapshot.clients');
    const clients = new Map<string, ClientEntry>();
    rows.forEach((row, i) => {
      const r = readArray(row, `clients[${i}]`, 4);
      const id = readString(r[0], `clients[${i}].id`, 1024);
      const above = new Set(readArray(r[2], `clients[${i}].above`).map((x, j) => readU64(x, `clients[${i}].above[${j}]`)));
      const results = new Map<bigint, CachedResult>();
      readArray(r[3], `clients[${i}].results`).forEach((x, j) => {
        const p = readArray(x, `clients[${i}].results[${j}]`, 3);
        results.set(readU64(p[0], 'seq'), { height: readU64(p[1], 'height'), result: readBytes(p[2], 'result') });
      });
      clients.set(id, { next: readU64(r[1], `clients[${i}].next`), above, results });
    });
    this.app.restore(app);
    this.clients.clear();
    for (const [k, v] of clients) this.clients.set(k, v);
  }

  static digest(snapshot: Uint8Array): Uint8Array {
    const steps = ReplicatedState.digestSteps(snapshot);
    for (;;) {
      const r = steps.next();
      if (r.done) return r.value;
    }
  }

  /** `digest` in steps of 1 MiB (~0.3-0.8 s in one go for a million KV keys). */
  static *digestSteps(snapshot: Uint8Array): Generator<void, Uint8Array> {
    const hash = createHash('sha256');
    for (let at = 0; at < snapshot.length; at += DIGEST_STEP_BYTES) {
      if (at > 0) yield;
      hash.update(snapshot.subarray(at, at + DIGEST_STEP_BYTES));
    }
    return new Uint8Array(hash.digest());
  }
}
