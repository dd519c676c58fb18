/**
 * A replicated key-value store. Every replica applies the same commands in the same order, so
 * states and results are identical; reads go through the log too, which makes them linearizable.
 *
 * Exactly-once: a client numbers its commands. The store remembers, per client, the results of
 * the last `sessionWindow` sequence numbers, so a command retried after a lost reply, or
 * committed twice because it reached two leaders, returns its first result instead of running
 * again. Pipelined clients may commit out of order within the window; older numbers are refused.
 */
import type { ApplyContext, ClientRequest, SnapshotRoom, StateMachine } from '@phalanx/interface';
import { ConfigError, DecodeError } from '@phalanx/interface';
import { bytesEqual, decode, encode, headLength, readArray, readBytes, readMap, readString, readU64, toHex, writeHead } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { canonicalSpans, decodeCommandGeneric, encodeCommand, encodeResult } from './commands.js';
import { EntryCache } from './entry-cache.js';
import type { SnapshotFrame, StoredValue } from './entry-cache.js';
import { runSteps } from './key-order.js';
import type { KvResult } from './commands.js';

const SNAPSHOT_HEAD = Buffer.from([0xa3, 0x61, 0x76, 0x01, 0x64, 0x64, 0x61, 0x74, 0x61]); // {"v": 1, "data": …
const SESSIONS_KEY = Buffer.from([0x68, 0x73, 0x65, 0x73, 0x73, 0x69, 0x6f, 0x6e, 0x73]); // "sessions"
const ARRAY = 4;

/**
 * The snapshot `{v: 1, data: [[key, value] …], sessions}` in canonical CBOR (map keys in encoded
 * byte order: "v", "data", "sessions"), written by the `EntryCache` straight into one buffer: head,
 * entries, then this tail. Building the entries as a value tree for the generic encoder cost ~3×
 * as much. Same bytes as the generic encoder (tested), so digests did not change.
 */
function snapshotFrame(sessions: Uint8Array): SnapshotFrame {
  return (count) => {
    const head = Buffer.allocUnsafe(SNAPSHOT_HEAD.length + headLength(count));
    writeHead(head, SNAPSHOT_HEAD.copy(head, 0), ARRAY, count);
    return { head, tail: Buffer.concat([SESSIONS_KEY, sessions]) };
  };
}

/**
 * The longest value the store holds as a binary string (`StoredValue`: one character, U+0000..U+00FF,
 * per byte, so its length is the byte count); longer values are a `Uint8Array` of their own.
 * A string is one object on the JavaScript heap, where a `Uint8Array` is a view, an ArrayBuffer
 * and a separately allocated backing store: for small values that halved the store's memory and
 * the time a full garbage collection takes (see the README). Large values stay off the heap: as
 * strings they would count against V8's heap limit (~4 GB by default), which a store of large
 * values would reach long before memory runs out.
 */
const STRING_VALUE_MAX = 256;

/** `owned`: `bytes` is already a copy of its own (the codec's), kept as it is when large. */
function stored(bytes: Uint8Array, owned = false): StoredValue {
  if (bytes.length <= STRING_VALUE_MAX) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString('latin1');
  return owned ? bytes : new Uint8Array(bytes);
}

/** The bytes of a stored value, in a plain `Uint8Array` of their own (not a view of Node's pool). */
function bytesOf(v: StoredValue): Uint8Array {
  if (typeof v !== 'string') return new Uint8Array(v);
  const out = Buffer.allocUnsafeSlow(v.length);
  out.write(v, 0, 'latin1');
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

/** The bytes of a stored value for the codec to copy at once: may be a view of Node's pool. */
function bytesView(v: StoredValue): Uint8Array {
  if (typeof v !== 'string') return v;
  const b = Buffer.from(v, 'latin1');
  return new Uint8Array(b.buffer, b.byteOffset, b.length);
}

/** Longest client id a session is kept for (what the protocols accept, and what restore reads). */
export const MAX_CLIENT_ID = 256;
const LONE_SURROGATE = /\p{Surrogate}/u;

interface Session {
  /** Highest sequence number applied for this client. */
  top: bigint;
  /** Results by sequence number, for the last `window` numbers. */
  results: Map<bigint, Uint8Array>;
}

/**
 * Drops every result at or below `floor`, whatever order it was stored in. What a session holds
 * must depend on which results it holds, never on their insertion order: a replica restored from a
 * snapshot (results sorted by seq) has another order than one that committed them (pipelined
 * results commit out of order), and pruning "from the oldest insertion up to the first one still
 * in the window" left them with different sessions, so different snapshots and checkpoint digests.
 *
 * Nothing at or below `oldFloor` is held after a prune (older numbers are refused first, and
 * `restore` drops any a snapshot holds), so only the numbers the floor passed over can go: one
 * delete each when that is fewer than the session holds, else one pass over the session. Both are
 * O(results held) at worst; a pass from the front of a `Map` on every command is not, because V8
 * steps over the slots of deleted entries until the table is rebuilt, which made each command cost
 * O(window).
 */
function prune(results: Map<bigint, Uint8Array>, oldFloor: bigint, floor: bigint): void {
  if (floor - oldFloor < BigInt(results.size)) {
    for (let seq = oldFloor + 1n; seq <= floor; seq++) results.delete(seq);
  } else {
    for (const seq of results.keys()) if (seq <= floor) results.delete(seq);
  }
}

export interface KvStoreOptions {
  /** How many recent results per client are kept for retries (default 1024). */
  readonly sessionWindow?: number;
  /**
   * Most keys the store holds (default 10,000,000, at most `MAX_KEYS`): a put of a new key beyond
   * it fails with `store full` (overwrites and deletes still work). Part of the replicated rules:
   * every replica must use the same value.
   */
  readonly maxKeys?: number;
}

/**
 * The most keys any store may be configured for. V8's `Map` holds at most 2^24 entries and throws
 * past that; without a cap below it, a client writing that many keys made `apply` throw on every
 * replica at the same height, which halts them all.
 */
export const MAX_KEYS = 16_000_000;
/** `maxKeys` when none is given. */
export const DEFAULT_MAX_KEYS = 10_000_000;
/** How the error of a put refused by `maxKeys` begins (see `isStoreFull`). */
const STORE_FULL = 'store full';

/**
 * Whether a result is the refusal of a new key past `maxKeys`: not the caller's fault and not
 * retryable until keys are deleted (the HTTP API answers it with 507). The error text is part of
 * the replicated result, so every replica's answer says the same.
 */
export function isStoreFull(result: KvResult): boolean {
  return !result.ok && result.error.startsWith(`${STORE_FULL}:`);
}

export class KvStore implements StateMachine {
  /** Values as `stored` keeps them (small ones as binary strings). */
  private readonly data = new Map<string, StoredValue>();
  private readonly sessions = new Map<string, Session>();
  /** `data`'s entries as the last snapshot encoded them, and the keys touched since. */
  private entries = new EntryCache();
  private readonly window: bigint;
  private readonly maxKeys: number;

  constructor(options: KvStoreOptions = {}) {
    const window = options.sessionWindow ?? 1024;
    // A window of 0 would prune a result the moment it is stored, so a retry of the latest
    // command would run a second time: exactly-once needs at least one remembered result.
    if (!Number.isSafeInteger(window) || window < 1) {
      throw new ConfigError('sessionWindow', `must be a positive integer, got ${String(window)}`);
    }
    this.window = BigInt(window);
    const maxKeys = options.maxKeys ?? DEFAULT_MAX_KEYS;
    if (!Number.isSafeInteger(maxKeys) || maxKeys < 1 || maxKeys > MAX_KEYS) {
      throw new ConfigError('maxKeys', `must be an integer from 1 to ${MAX_KEYS}, got ${String(maxKeys)}`);
    }
    this.maxKeys = maxKeys;
  }

  apply(commands: readonly ClientRequest[], _ctx: ApplyContext): Uint8Array[] {
    return commands.map((c) => this.applyOne(c));
  }

  private applyOne(req: ClientRequest): Uint8Array {
    // Whatever a session holds must survive snapshot → restore: a client id or sequence number the
    // snapshot cannot carry would make snapshot() throw, or every restore of it fail, on all replicas.
    if (typeof req.client !== 'string' || req.client.length > MAX_CLIENT_ID || LONE_SURROGATE.test(req.client)) {
      return encodeResult({ ok: false, error: `client id must be a well-formed string of at most ${MAX_CLIENT_ID} characters` });
    }
    if (typeof req.seq !== 'bigint' || req.seq < 0n || req.seq >= 1n << 64n) {
      return encodeResult({ ok: false, error: 'sequence number must be an unsigned 64-bit integer' });
    }
    let session = this.sessions.get(req.client);
    if (!session) {
      session = { top: 0n, results: new Map() };
      this.sessions.set(req.client, session);
    }
    // The window first: a result below it is never kept (see `prune`), and if one were, answering
    // from it on one replica and refusing on another would split the replicas' answers.
    if (req.seq <= session.top - this.window) {
      return encodeResult({ ok: false, error: `sequence number ${req.seq} is older than this client's session window` });
    }
    const cached = session.results.get(req.seq);
    if (cached) return cached; // a retry or a duplicate commit: same answer, no second effect
    const result = encodeResult(this.execute(req.payload));
    session.results.set(req.seq, result);
    if (req.seq > session.top) {
      const oldFloor = session.top - this.window;
      session.top = req.seq;
      prune(session.results, oldFloor, session.top - this.window);
    }
    return result;
  }

  private execute(payload: Uint8Array): KvResult {
    // Key and value are taken straight from the command's bytes in canonical form (`decodeCommand`'s
    // fast path, without its copies). Anything else goes to the generic decoder: what it accepts is
    // written in canonical form and read the same way (it accepts no other form today).
    let bytes = payload;
    let spans = canonicalSpans(payload);
    if (!spans) {
      try {
        bytes = encodeCommand(decodeCommandGeneric(payload));
      } catch (err) {
        // A malformed command is committed like any other (consensus orders bytes); it just fails.
        return { ok: false, error: err instanceof DecodeError ? err.message : 'malformed command' };
      }
      spans = canonicalSpans(bytes);
      if (!spans) return { ok: false, error: 'malformed command' };
    }
    const { op } = spans;
    const k = toHex(bytes.subarray(spans.key[0], spans.key[1]));
    const value = spans.value ? stored(bytes.subarray(spans.value[0], spans.value[1])) : undefined;
    switch (op) {
      case 'put': {
        const before = this.data.size;
        this.data.set(k, value!);
        // A new key (the map grew) past the cap is taken back: refused the same way on every replica.
        if (this.data.size > before && before >= this.maxKeys) {
          this.data.delete(k);
          return { ok: false, error: `${STORE_FULL}: it holds ${this.maxKeys} keys, the most it may (delete some first)` };
        }
        this.entries.touch(k, this.data);
        return { ok: true };
      }
      case 'get': {
        const held = this.data.get(k);
        return held === undefined ? { ok: true } : { ok: true, value: bytesView(held) };
      }
      case 'del':
        if (this.data.delete(k)) this.entries.touch(k, this.data);
        return { ok: true };
    }
  }

  /** Local read of the last applied state (not linearizable: use a `get` command for that). */
  read(key: Uint8Array): Uint8Array | undefined {
    const held = this.data.get(toHex(key));
    return held === undefined ? undefined : bytesOf(held);
  }

  get size(): number {
    return this.data.size;
  }

  /** `snapshotSteps(room)` leaves the room asked for: each snapshot has a buffer of its own. */
  readonly leavesSnapshotRoom = true;

  /** Canonical: entries and sessions sorted, so equal states give equal bytes on every replica. A copy of its own. */
  snapshot(): Uint8Array {
    return new Uint8Array(runSteps(this.snapshotSteps()));
  }

  /**
   * `snapshot()` in steps (see `StateMachine.snapshotSteps`), a few thousand keys each. The bytes
   * are shared with the store, which reads them again for its next snapshot: read them, copy them,
   * never modify them. With `room`, they sit in a buffer with that much free space around them for
   * the caller's own frame (see `StateMachine.snapshotSteps`).
   */
  *snapshotSteps(room?: SnapshotRoom): Generator<void, Uint8Array> {
    const sessions: Value = [...this.sessions.entries()]
      .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
      .map(([client, s]): Value => [
        client,
        s.top,
        [...s.results.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)).map(([seq, r]): Value => [seq, r]),
      ]);
    return yield* this.entries.snapshotSteps(this.data, snapshotFrame(encode(sessions)), room);
  }

  restore(snapshot: Uint8Array): void {
    // No size limit beyond the bytes given: a state grows without bound, and a snapshot reaches
    // here only from this replica's own storage or certified by a checkpoint (the codec's 16 MiB
    // default made every replica whose state outgrew it halt on restart or state transfer).
    const m = readMap(decode(snapshot, { maxDepth: 6, maxBytes: snapshot.length }), 'snapshot', ['v', 'data', 'sessions']);
    if (m.v !== 1) throw new DecodeError(`snapshot: unsupported version ${String(m.v)}`);
    const data = new Map<string, StoredValue>();
    readArray(m.data, 'snapshot.data').forEach((e, i) => {
      const [k, v] = readArray(e, `snapshot.data[${i}]`, 2);
      data.set(toHex(readBytes(k, `snapshot.data[${i}].key`)), stored(readBytes(v, `snapshot.data[${i}].value`), true));
    });
    const sessions = new Map<string, Session>();
    readArray(m.sessions, 'snapshot.sessions').forEach((e, i) => {
      const [client, top, results] = readArray(e, `snapshot.sessions[${i}]`, 3);
      const map = new Map<bigint, Uint8Array>();
      readArray(results, `snapshot.sessions[${i}].results`).forEach((r, j) => {
        const [seq, res] = readArray(r, `snapshot.sessions[${i}].results[${j}]`, 2);
        map.set(readU64(seq, 'seq'), readBytes(res, 'result'));
      });
      sessions.set(readString(client, `snapshot.sessions[${i}].client`, MAX_CLIENT_ID), { top: readU64(top, 'top'), results: map });
    });
    // A snapshot in any other byte form (unsorted or repeated keys, clients or sequence numbers)
    // would decode to a state whose own snapshot, and so its digest, differs from the one that was
    // certified: refuse it rather than let this replica's checkpoints diverge from the others'.
    const check = new KvStore({ sessionWindow: Number(this.window), maxKeys: this.maxKeys });
    for (const [k, v] of data) check.data.set(k, v);
    check.entries.forget(); // its own sort and encoding of the keys, not the snapshot's order and bytes, which are what is checked
    for (const [k, v] of sessions) check.sessions.set(k, v);
    if (!bytesEqual(runSteps(check.snapshotSteps()), snapshot)) {
      throw new DecodeError('snapshot: not canonical (entries must be sorted and unique)');
    }
    // Results below the window go: snapshots written before pruning ignored insertion order (or
    // under a larger `sessionWindow`) may hold some, and `prune` only ever removes the numbers the
    // floor passes, so they would stay on this replica and be gone on one that committed the same
    // commands (different snapshots, so different checkpoint digests).
    for (const s of sessions.values()) prune(s.results, -1n, s.top - this.window);
    // Replace only after the whole snapshot parsed: a bad snapshot leaves the state untouched.
    this.data.clear();
    for (const [k, v] of data) this.data.set(k, v);
    this.entries = check.entries; // encoded by the check's snapshot: exactly these entries
    this.sessions.clear();
    for (const [k, v] of sessions) this.sessions.set(k, v);
  }
}
