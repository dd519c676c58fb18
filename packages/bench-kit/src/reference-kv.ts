import { measure, type MeasureOptions, type Measurement } from './measure.js';
import type { Ceiling } from './records.js';

/**
 * The reference key-value state machine behind the "unreplicated state machine" ceiling
 * (DESIGN §10): what one process does when it applies commands with no consensus at all. Cluster
 * benchmarks report their throughput against this rate, measured in the same run.
 *
 * It has the shape of `StateMachine` from @phalanx/interface (structurally, so bench-kit stays
 * dependency-free) and the semantics of the reference app: exactly-once per (client, seq).
 *
 * Command payload: `op (1 byte: 1 put, 2 get, 3 delete) | key length (u16 BE) | key | value`.
 * Results: put/delete → `[1]`; get → `[1] ++ value` or `[0]` when absent; a malformed command → `[0xff]`.
 */
export interface KvRequest {
  readonly client: string;
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

export const KV_PUT = 1;
export const KV_GET = 2;
export const KV_DELETE = 3;

const OK = Uint8Array.of(1);
const ABSENT = Uint8Array.of(0);
const MALFORMED = Uint8Array.of(0xff);
const STALE = new Uint8Array(0);

/** Builds a command payload. `key` is UTF-8; `value` only for put. */
export function kvCommand(op: 1 | 2 | 3, key: string, value: Uint8Array = new Uint8Array(0)): Uint8Array {
  const k = Buffer.from(key, 'utf8');
  if (k.length > 0xffff) throw new RangeError('key longer than 65535 bytes');
  const out = new Uint8Array(3 + k.length + (op === KV_PUT ? value.length : 0));
  out[0] = op;
  out[1] = k.length >>> 8;
  out[2] = k.length & 0xff;
  out.set(k, 3);
  if (op === KV_PUT) out.set(value, 3 + k.length);
  return out;
}

/** A put whose whole payload is exactly `commandBytes` long (key `k<index>`, filler value). */
export function kvPutOfSize(index: number, commandBytes = 100): Uint8Array {
  const key = `k${index}`;
  const valueLen = commandBytes - 3 - Buffer.byteLength(key);
  if (valueLen < 0) throw new RangeError(`commandBytes ${commandBytes} too small for key ${key}`);
  return kvCommand(KV_PUT, key, new Uint8Array(valueLen).fill(index & 0xff));
}

export class ReferenceKv {
  private readonly data = new Map<string, Uint8Array>();
  private readonly sessions = new Map<string, { seq: bigint; result: Uint8Array }>();

  get size(): number {
    return this.data.size;
  }

  get(key: string): Uint8Array | undefined {
    return this.data.get(key);
  }

  apply(commands: readonly KvRequest[], _ctx?: { readonly height: bigint }): Uint8Array[] {
    const out: Uint8Array[] = new Array(commands.length);
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!;
      const session = this.sessions.get(c.client);
      if (session && c.seq <= session.seq) {
        // Exactly once: a retried command gets its original answer, an older one nothing.
        out[i] = c.seq === session.seq ? session.result : STALE;
        continue;
      }
      const result = this.execute(c.payload);
      this.sessions.set(c.client, { seq: c.seq, result });
      out[i] = result;
    }
    return out;
  }

  private execute(p: Uint8Array): Uint8Array {
    if (p.length < 3) return MALFORMED;
    const klen = (p[1]! << 8) | p[2]!;
    if (3 + klen > p.length) return MALFORMED;
    const key = Buffer.from(p.buffer, p.byteOffset + 3, klen).toString('utf8');
    switch (p[0]) {
      case KV_PUT:
        this.data.set(key, p.slice(3 + klen));
        return OK;
      case KV_GET: {
        const v = this.data.get(key);
        if (!v) return ABSENT;
        const r = new Uint8Array(1 + v.length);
        r[0] = 1;
        r.set(v, 1);
        return r;
      }
      case KV_DELETE:
        this.data.delete(key);
        return OK;
      default:
        return MALFORMED;
    }
  }

  /** Canonical: entries sorted by key, then sessions sorted by client; length-prefixed. */
  snapshot(): Uint8Array {
    const parts: Buffer[] = [];
    const u32 = (n: number): Buffer => {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(n);
      return b;
    };
    const bytes = (b: Uint8Array): void => {
      parts.push(u32(b.length), Buffer.from(b));
    };
    const keys = [...this.data.keys()].sort();
    parts.push(u32(keys.length));
    for (const k of keys) {
      bytes(Buffer.from(k, 'utf8'));
      bytes(this.data.get(k)!);
    }
    const clients = [...this.sessions.keys()].sort();
    parts.push(u32(clients.length));
    for (const c of clients) {
      const s = this.sessions.get(c)!;
      bytes(Buffer.from(c, 'utf8'));
      const seq = Buffer.alloc(8);
      seq.writeBigUInt64BE(s.seq);
      parts.push(seq);
      bytes(s.result);
    }
    return new Uint8Array(Buffer.concat(parts));
  }

  restore(snapshot: Uint8Array): void {
    const b = Buffer.from(snapshot.buffer, snapshot.byteOffset, snapshot.byteLength);
    let off = 0;
    const need = (n: number): void => {
      if (off + n > b.length) throw new RangeError(`kv snapshot truncated at byte ${off}`);
    };
    const u32 = (): number => {
      need(4);
      const v = b.readUInt32BE(off);
      off += 4;
      return v;
    };
    const bytes = (): Uint8Array => {
      const n = u32();
      need(n);
      const v = new Uint8Array(b.subarray(off, off + n));
      off += n;
      return v;
    };
    const data = new Map<string, Uint8Array>();
    for (let i = u32(); i > 0; i--) data.set(Buffer.from(bytes()).toString('utf8'), bytes());
    const sessions = new Map<string, { seq: bigint; result: Uint8Array }>();
    for (let i = u32(); i > 0; i--) {
      const c = Buffer.from(bytes()).toString('utf8');
      need(8);
      const seq = b.readBigUInt64BE(off);
      off += 8;
      sessions.set(c, { seq, result: bytes() });
    }
    if (off !== b.length) throw new RangeError(`kv snapshot has ${b.length - off} trailing bytes`);
    this.data.clear();
    this.sessions.clear();
    for (const [k, v] of data) this.data.set(k, v);
    for (const [k, v] of sessions) this.sessions.set(k, v);
  }
}

export interface UnreplicatedKvOptions extends MeasureOptions {
  /** Payload size of each put. Default 100. */
  readonly commandBytes?: number;
  /** Commands per `apply` call (the batch a replica would commit at once). Default 64. */
  readonly applyBatch?: number;
  /** Distinct keys cycled through. Default 10 000. */
  readonly keys?: number;
}

/**
 * Measures puts/s through `ReferenceKv.apply` in this process: the ceiling a replicated cluster
 * of the same state machine is judged against. Commands are pre-built so only `apply` is timed.
 */
export function measureUnreplicatedKv(opts: UnreplicatedKvOptions = {}): Measurement {
  const commandBytes = opts.commandBytes ?? 100;
  const applyBatch = opts.applyBatch ?? 64;
  const keys = opts.keys ?? 10_000;
  const pool = Math.max(1, Math.ceil(keys / applyBatch));
  const batches: KvRequest[][] = [];
  let seq = 0n;
  for (let b = 0; b < pool; b++) {
    const batch: KvRequest[] = [];
    for (let j = 0; j < applyBatch; j++) batch.push({ client: 'bench', seq: 0n, payload: kvPutOfSize((b * applyBatch + j) % keys, commandBytes) });
    batches.push(batch);
  }
  const kv = new ReferenceKv();
  const ctx = { height: 0n };
  return measure(
    (i) => {
      const src = batches[i % pool]!;
      // Fresh sequence numbers so exactly-once bookkeeping is exercised like a real client.
      const cmds = src.map((c) => ({ client: c.client, seq: ++seq, payload: c.payload }));
      return kv.apply(cmds, ctx);
    },
    { ...opts, opsPerCall: applyBatch },
  );
}

/** The ceiling record for `measureUnreplicatedKv`, ready to put on a cluster figure. */
export function unreplicatedKvCeiling(m: Measurement, commandBytes = 100): Ceiling {
  return { name: `unreplicated KV state machine (${commandBytes} B puts, one process)`, value: m.opsPerSec, unit: 'ops/s' };
}
