import fs from 'node:fs';
import path from 'node:path';
import { open } from 'lmdb';
import type { Database, RootDatabase } from 'lmdb';
import { assertSameDataDir, CorruptionError, StorageError, StorageFullError } from '@phalanx/interface';
import type {
  DataDirIdentity,
  KeyValueStore,
  LogBounds,
  LogRecord,
  SnapshotMeta,
  SnapshotStore,
  SnapshotWriter,
  Storage,
} from '@phalanx/interface';
import { indexKey, seal, unseal } from './records.js';

export interface LmdbStorageOptions {
  /** Data directory (created if missing). */
  readonly path: string;
  /** Recorded on first open; a later open with a different identity throws `DataDirMismatchError`. */
  readonly identity?: DataDirIdentity;
  /** How many of the newest log records `open` verifies (default 256). The rest are verified on read. */
  readonly verifyTail?: number;
}

/** Log state after a set of staged operations: the compaction point and the stored range. */
interface Bounds {
  floor: bigint;
  first: bigint | undefined;
  last: bigint | undefined;
}

/** The net effect of the writes staged since the previous flush began. */
interface Layer {
  /** Records at or above this index in the layers below are gone. */
  cutFrom: bigint | undefined;
  records: Map<bigint, Uint8Array>;
  hard: Map<string, Uint8Array>;
  /** KV changes by hex key; `undefined` value = deleted. */
  kv: Map<string, readonly [Uint8Array, Uint8Array | undefined]>;
  /** Log bounds when this layer was sealed for flushing. */
  bounds?: Bounds;
  empty: boolean;
}

const newLayer = (): Layer => ({ cutFrom: undefined, records: new Map(), hard: new Map(), kv: new Map(), empty: true });
const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const KV_PREFIX = 0x6b; // LMDB refuses empty keys, so every KV key gets one leading byte.
const kvKey = (key: Uint8Array): Buffer => {
  const k = Buffer.allocUnsafe(key.byteLength + 1);
  k[0] = KV_PREFIX;
  k.set(key, 1);
  return k;
};
/** Hard-state keys get a prefix byte too, so an empty name is a valid key. */
const hardKey = (name: string): Buffer => Buffer.concat([Buffer.from([0x68]), Buffer.from(name, 'utf8')]);
/** LMDB's (lmdb-js default) key limit, less the prefix. */
export const MAX_KV_KEY_BYTES = 1977;
const META_LOG = Buffer.from('log');
const META_SNAPSHOT = Buffer.from('snapshot');
const META_IDENTITY = Buffer.from('identity');
const META_FORMAT = Buffer.from('format');
/** One past the largest log index a key can hold (u64). */
const MAX_INDEX = 1n << 64n;
/**
 * On-disk format: key layout, `crc32c(key || payload) || payload` values, JSON meta records.
 * Bump it whenever any of these change; `open` refuses a directory of another format.
 */
export const STORAGE_FORMAT = 1;
const FORMAT = STORAGE_FORMAT;

/**
 * lmdb-js rejects a failed async commit with a generic error whose `commitError` promise rejects
 * with the real one (errno and message); wait briefly for it.
 */
async function commitCause(e: unknown): Promise<unknown> {
  const inner = (e as { commitError?: Promise<unknown> } | undefined)?.commitError;
  if (!inner || typeof inner.then !== 'function') return e;
  const timeout = new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 1000).unref());
  const cause = await Promise.race([inner.then(() => undefined, (x: unknown) => x), timeout]);
  return cause ?? e;
}

/** Bytes of free space below which an I/O error on write is blamed on a full disk. */
const LOW_SPACE = 64 * 1024 * 1024;

/**
 * LMDB reports a short write (what a full disk or a file-size limit causes) as EIO. Tell that
 * apart from a failing device by looking: little free space, or the data file at the process's
 * file-size limit (RLIMIT_FSIZE, read from /proc on Linux).
 */
function outOfRoom(file: string): boolean {
  try {
    const st = fs.statfsSync(path.dirname(file));
    if (st.bavail * st.bsize < LOW_SPACE) return true;
  } catch {
    /* fall through */
  }
  try {
    const limits = fs.readFileSync('/proc/self/limits', 'utf8');
    const m = /^Max file size\s+(\S+)/m.exec(limits);
    if (m && m[1] !== 'unlimited') {
      const limit = Number(m[1]);
      if (fs.statSync(file).size + 1024 * 1024 >= limit) return true;
    }
  } catch {
    /* no /proc: cannot tell */
  }
  return false;
}

/** Errors that mean "no room or no permission": writes must stop, nothing stored is at risk. */
function classify(e: unknown, what: string, file?: string): StorageError {
  if (e instanceof StorageError) return e;
  const err = e as { code?: unknown; message?: unknown };
  const text = `${String(err?.code ?? '')} ${String(err?.message ?? e)}`.trim();
  const noRoom = /ENOSPC|EFBIG|EDQUOT|MAP_FULL|No space left|File too large|EROFS|EACCES|EPERM|Read-only|Permission denied/i.test(text);
  const shortWrite = /\b(EIO|5)\b|Input\/output error/i.test(text) && file !== undefined && outOfRoom(file);
  if (noRoom || shortWrite) {
    return new StorageFullError(`${what}: the disk is full or not writable (${text})`, { cause: e });
  }
  return new StorageError(`${what}: ${text}`, { cause: e });
}

/** Real paths of the data directories open in this process. */
const openDirs = new Set<string>();

/** Opens (creating if needed) the durable storage in `options.path` and verifies what it holds. */
export async function openLmdbStorage(options: LmdbStorageOptions): Promise<LmdbStorage> {
  try {
    fs.mkdirSync(options.path, { recursive: true });
  } catch (e) {
    throw classify(e, `cannot create data directory ${options.path}`);
  }
  // Two handles on one directory would each keep their own log bounds and overwrite each other's
  // meta record, losing acknowledged writes. LMDB would let them; refuse in this process at least.
  let dirKey: string;
  try {
    dirKey = fs.realpathSync(options.path);
  } catch (e) {
    throw classify(e, `cannot resolve data directory ${options.path}`);
  }
  if (openDirs.has(dirKey)) {
    throw new StorageError(`${options.path} is already open in this process: close it first (one Storage per data directory)`);
  }
  let env: RootDatabase;
  try {
    // overlappingSync: false — LMDB fdatasyncs inside every commit (data pages, then the meta page
    // through an O_DSYNC descriptor) before the commit's promise resolves. With the default (true)
    // the promise resolves before the disk has the data (DESIGN §7).
    env = open({ path: options.path, noSubdir: false, overlappingSync: false, noSync: false, compression: false, encoding: 'binary' });
  } catch (e) {
    throw classify(e, `cannot open data directory ${options.path}`);
  }
  openDirs.add(dirKey);
  const storage = new LmdbStorage(options.path, env, () => openDirs.delete(dirKey));
  try {
    await storage.init(options);
  } catch (e) {
    await env.close().catch(() => undefined);
    openDirs.delete(dirKey);
    throw e;
  }
  return storage;
}

/**
 * The durable default `Storage`: one LMDB environment, writes staged in memory and committed by
 * `sync()` in a single LMDB transaction (group commit), every value checksummed with CRC32C.
 */
export class LmdbStorage implements Storage {
  readonly snapshots: SnapshotStore;
  readonly kv: KeyValueStore;
  /** The file every `CorruptionError` names. */
  readonly file: string;
  private readonly logDb: Database<Buffer, Buffer>;
  private readonly hardDb: Database<Buffer, Buffer>;
  private readonly kvDb: Database<Buffer, Buffer>;
  private readonly metaDb: Database<Buffer, Buffer>;
  private readonly snapDb: Database<Buffer, Buffer>;
  private work: Bounds = { floor: 0n, first: undefined, last: undefined };
  private pending = newLayer();
  private flight: Layer | undefined;
  private flushing: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private failed: StorageError | undefined;
  private closed = false;
  private snapGen = 0n;
  private latestSnap: { gen: bigint; meta: SnapshotMeta; chunks: number } | undefined;
  private snapWrites = new Set<Promise<unknown>>();
  /** Completed durable commits (flushes and snapshot installs). */
  commits = 0;

  /** @internal use `openLmdbStorage` */
  constructor(
    readonly path: string,
    private readonly env: RootDatabase,
    private readonly release: () => void = () => undefined,
  ) {
    this.file = `${path}/data.mdb`;
    const opts = { keyEncoding: 'binary', encoding: 'binary', compression: false } as const;
    this.logDb = env.openDB<Buffer, Buffer>({ name: 'log', ...opts });
    this.hardDb = env.openDB<Buffer, Buffer>({ name: 'hard', ...opts });
    this.kvDb = env.openDB<Buffer, Buffer>({ name: 'kv', ...opts });
    this.metaDb = env.openDB<Buffer, Buffer>({ name: 'meta', ...opts });
    this.snapDb = env.openDB<Buffer, Buffer>({ name: 'snap', ...opts });
    this.snapshots = this.makeSnapshots();
    this.kv = this.makeKv();
  }

  /** @internal Checks identity, reads and verifies the log bounds, its tail, the hard state and the snapshot. */
  async init(options: LmdbStorageOptions): Promise<void> {
    await this.checkFormat();
    const idRaw = this.metaDb.get(META_IDENTITY);
    const id = options.identity;
    if (idRaw) {
      const have = JSON.parse(Buffer.from(unseal(this.file, 'meta identity', META_IDENTITY, idRaw)).toString('utf8')) as DataDirIdentity & { format: number };
      if (have.format !== FORMAT) throw new StorageError(`${this.path}: data directory has storage format ${have.format}, this build reads format ${FORMAT} only`);
      if (id) assertSameDataDir(this.path, have, id);
    } else if (id) {
      const body = Buffer.from(JSON.stringify({ format: FORMAT, validator: id.validator, protocol: id.protocol, chainId: id.chainId }));
      await this.commit(() => this.metaDb.put(META_IDENTITY, seal(META_IDENTITY, body)), 'recording the data directory identity');
    }

    const logRaw = this.metaDb.get(META_LOG);
    if (logRaw) {
      const m = JSON.parse(Buffer.from(unseal(this.file, 'meta log', META_LOG, logRaw)).toString('utf8')) as Record<string, string | null>;
      this.work = { floor: BigInt(m.floor ?? '0'), first: m.first == null ? undefined : BigInt(m.first), last: m.last == null ? undefined : BigInt(m.last) };
    }
    this.verifyLog(options.verifyTail ?? 256);
    for (const { key, value } of this.hardDb.getRange({})) unseal(this.file, `hard ${key.subarray(1).toString('utf8')}`, key, value);

    const snapRaw = this.metaDb.get(META_SNAPSHOT);
    if (snapRaw) {
      const m = JSON.parse(Buffer.from(unseal(this.file, 'meta snapshot', META_SNAPSHOT, snapRaw)).toString('utf8')) as Record<string, string | number>;
      this.latestSnap = { gen: BigInt(m.gen!), chunks: Number(m.chunks), meta: { height: BigInt(m.height!), digest: new Uint8Array(Buffer.from(String(m.digest), 'hex')) } };
    }
    // Drop chunks of snapshots that were never committed (a crash mid-write) or were replaced.
    let maxGen = this.latestSnap?.gen ?? 0n;
    const stale: Buffer[] = [];
    for (const key of this.snapDb.getKeys({})) {
      const gen = key.readBigUInt64BE(0);
      if (gen > maxGen) maxGen = gen;
      if (gen !== this.latestSnap?.gen) stale.push(key);
    }
    this.snapGen = maxGen;
    if (stale.length > 0) await this.commit(() => stale.forEach((k) => this.snapDb.remove(k)), 'removing unfinished snapshots');
  }

  /**
   * Refuses a directory written in another on-disk format before anything in it is interpreted,
   * and records the format in a directory that has none yet (new, or written before the marker
   * existed — those are format 1, recognisable by the identity record or nothing at all).
   */
  private async checkFormat(): Promise<void> {
    const raw = this.metaDb.get(META_FORMAT);
    if (raw !== undefined) {
      // The marker is read before the checksum is checked: a future format may checksum differently.
      const text = raw.byteLength > 4 ? raw.subarray(4).toString('utf8') : '';
      const found = /^\{"format":(\d+)\}$/.exec(text)?.[1];
      if (found === undefined) unseal(this.file, 'meta format', META_FORMAT, raw); // throws CorruptionError
      if (Number(found) !== FORMAT) {
        throw new StorageError(
          `${this.path}: data directory has storage format ${found}, this build of @phalanx/storage-lmdb reads format ${FORMAT} only; ` +
            'open it with the version that wrote it (or migrate it), or use a fresh directory',
        );
      }
      unseal(this.file, 'meta format', META_FORMAT, raw);
      return;
    }
    const body = Buffer.from(JSON.stringify({ format: FORMAT }));
    await this.commit(() => this.metaDb.put(META_FORMAT, seal(META_FORMAT, body)), 'recording the storage format');
  }

  private verifyLog(tail: number): void {
    const { first, last } = this.work;
    const count = this.logDb.getKeysCount({});
    if (first === undefined || last === undefined) {
      if (count !== 0) throw new CorruptionError(this.file, 'meta log', `the log is recorded empty but holds ${count} records`);
      return;
    }
    const expected = last - first + 1n;
    if (BigInt(count) !== expected) {
      throw new CorruptionError(this.file, 'meta log', `log ${first}..${last} should hold ${expected} records, holds ${count}`);
    }
    const firstKey = [...this.logDb.getKeys({ limit: 1 })][0];
    if (!firstKey || firstKey.readBigUInt64BE(0) !== first) {
      throw new CorruptionError(this.file, `log ${first}`, 'the first record is missing');
    }
    let expect = last;
    for (const { key, value } of this.logDb.getRange({ reverse: true, limit: tail })) {
      const index = key.readBigUInt64BE(0);
      if (index !== expect) throw new CorruptionError(this.file, `log ${expect}`, 'missing from the log tail');
      unseal(this.file, `log ${index}`, key, value);
      expect--;
    }
  }

  /**
   * Runs `body` in one LMDB write transaction and returns once it is on disk.
   *
   * The commit runs on the calling thread (`transactionSync`), not on lmdb-js's write thread: a
   * commit plus fdatasync takes ~0.3 ms here, but handing it to the write thread and being woken
   * again cost 1–5 ms per sync in replicas sharing two cores with their peers (measured: LMDB
   * syncs averaged 4.3 ms in a 4-process testnet, 1.7 ms inline; standalone 0.48 ms vs 0.27 ms),
   * and every sync sits on the commit path. Staged writes stay in memory until this call, so the
   * event loop is held only for the commit itself.
   */
  private async commit(body: () => void, what: string): Promise<void> {
    try {
      this.env.transactionSync(body);
      this.commits++;
    } catch (e) {
      throw classify(await commitCause(e), `${this.path}: ${what}`, this.file);
    }
  }

  private usable(): void {
    if (this.closed) throw new StorageError(`${this.path}: storage is closed`);
    if (this.failed) throw new StorageError(`${this.path}: storage stopped after a failed write`, { cause: this.failed });
  }

  append(records: readonly LogRecord[]): void {
    this.usable();
    if (records.length === 0) return;
    let expected = this.work.last === undefined ? undefined : this.work.last + 1n;
    for (const [i, r] of records.entries()) {
      if (typeof r.index !== 'bigint' || !(r.data instanceof Uint8Array)) {
        throw new StorageError(`append: record ${i} needs a bigint index and Uint8Array data`);
      }
      if (r.index < 0n || r.index >= 1n << 64n) throw new StorageError(`append: index ${r.index} is outside 0..2^64-1`);
      if (expected === undefined) {
        if (r.index < this.work.floor) throw new StorageError(`append: index ${r.index} is below the compaction point ${this.work.floor}`);
      } else if (r.index !== expected) {
        throw new StorageError(`append: index ${r.index} is not contiguous (expected ${expected})`);
      }
      expected = r.index + 1n;
    }
    const layer = this.pending;
    for (const r of records) layer.records.set(r.index, r.data.slice());
    layer.empty = false;
    this.work.first ??= records[0]!.index;
    this.work.last = records[records.length - 1]!.index;
  }

  truncateFrom(from: bigint): void {
    this.usable();
    const { first, last } = this.work;
    if (first === undefined || last === undefined || from > last) return;
    const layer = this.pending;
    for (const i of layer.records.keys()) if (i >= from) layer.records.delete(i);
    if (layer.cutFrom === undefined || from < layer.cutFrom) layer.cutFrom = from;
    layer.empty = false;
    if (from <= first) this.work.first = this.work.last = undefined;
    else this.work.last = from - 1n;
  }

  compactTo(to: bigint): void {
    this.usable();
    if (to <= this.work.floor) return;
    const layer = this.pending;
    for (const i of layer.records.keys()) if (i < to) layer.records.delete(i);
    layer.empty = false;
    this.work.floor = to;
    const { first, last } = this.work;
    if (first === undefined || last === undefined) return;
    if (to > last) this.work.first = this.work.last = undefined;
    else if (to > first) this.work.first = to;
  }

  putHardState(name: string, value: Uint8Array): void {
    this.usable();
    if (Buffer.byteLength(name, 'utf8') > MAX_KV_KEY_BYTES) throw new StorageError(`putHardState: name longer than ${MAX_KV_KEY_BYTES} bytes`);
    this.pending.hard.set(name, value.slice());
    this.pending.empty = false;
  }

  /**
   * Group commit: if no flush is running, one starts now with everything staged. If one is running,
   * this call (and every other call until it finishes) shares the next flush, which starts as soon
   * as the running one is durable. So N concurrent callers cost at most two commits.
   */
  sync(): Promise<void> {
    try {
      this.usable();
    } catch (e) {
      return Promise.reject(e);
    }
    if (!this.flushing) return this.startFlush();
    this.queued ??= this.flushing.then(
      () => {
        this.queued = undefined;
        return this.startFlush();
      },
      (e: unknown) => {
        this.queued = undefined;
        throw new StorageError(`${this.path}: storage stopped after a failed write`, { cause: e });
      },
    );
    return this.queued;
  }

  private startFlush(): Promise<void> {
    if (this.failed) return Promise.reject(new StorageError(`${this.path}: storage stopped after a failed write`, { cause: this.failed }));
    const layer = this.pending;
    if (layer.empty) return Promise.resolve();
    layer.bounds = { ...this.work };
    this.pending = newLayer();
    this.flight = layer;
    const run = this.commit(() => this.writeLayer(layer), 'sync').then(
      () => {
        this.flight = undefined;
        this.flushing = undefined;
      },
      (e: unknown) => {
        this.failed = e as StorageError;
        this.flushing = undefined;
        throw e;
      },
    );
    this.flushing = run;
    return run;
  }

  /** Inside the write transaction: make the stored log and records equal to the layer's end state. */
  private writeLayer(layer: Layer): void {
    const b = layer.bounds!;
    // Cut and compaction points may lie outside the u64 keys (truncateFrom(-1), compactTo(2^64)):
    // clamp them, or encoding the key throws inside the commit and the storage stops for good.
    if (layer.cutFrom !== undefined) {
      const start = indexKey(layer.cutFrom < 0n ? 0n : layer.cutFrom);
      for (const key of [...this.logDb.getKeys({ start })]) this.logDb.remove(key);
    }
    const below = b.floor >= MAX_INDEX ? this.logDb.getKeys({}) : this.logDb.getKeys({ end: indexKey(b.floor) });
    for (const key of [...below]) this.logDb.remove(key);
    for (const [i, data] of layer.records) {
      const key = indexKey(i);
      this.logDb.put(key, seal(key, data));
    }
    const logMeta = JSON.stringify({ floor: String(b.floor), first: b.first === undefined ? null : String(b.first), last: b.last === undefined ? null : String(b.last) });
    this.metaDb.put(META_LOG, seal(META_LOG, Buffer.from(logMeta)));
    for (const [name, value] of layer.hard) {
      const key = hardKey(name);
      this.hardDb.put(key, seal(key, value));
    }
    for (const [key, value] of layer.kv.values()) {
      const k = kvKey(key);
      if (value === undefined) this.kvDb.remove(k);
      else this.kvDb.put(k, seal(k, value));
    }
  }

  async readLog(from: bigint, toExclusive: bigint): Promise<LogRecord[]> {
    if (this.closed) throw new StorageError(`${this.path}: storage is closed`);
    const { first, last } = this.work;
    if (first === undefined || last === undefined) return [];
    const start = from > first ? from : first;
    const end = toExclusive <= last + 1n ? toExclusive : last + 1n;
    if (start >= end) return [];
    const out: LogRecord[] = [];
    // The newest staged layers override the database; find where the database part ends.
    let dbEnd = end;
    for (const layer of [this.flight, this.pending]) if (layer?.cutFrom !== undefined && layer.cutFrom < dbEnd) dbEnd = layer.cutFrom;
    const overlay = (i: bigint): Uint8Array | undefined => this.pending.records.get(i) ?? this.flight?.records.get(i);
    let next = start;
    if (start < dbEnd) {
      // dbEnd can be 2^64 (reading through the top index), which no key encodes: leave the range open.
      const range = dbEnd >= MAX_INDEX ? { start: indexKey(start), snapshot: true } : { start: indexKey(start), end: indexKey(dbEnd), snapshot: true };
      for (const { key, value } of this.logDb.getRange(range)) {
        const index = key.readBigUInt64BE(0);
        while (next < index) {
          const staged = overlay(next);
          if (!staged) break;
          out.push({ index: next, data: staged.slice() });
          next++;
        }
        if (index !== next) throw new CorruptionError(this.file, `log ${next}`, 'missing inside the log bounds');
        const staged = overlay(index);
        out.push({ index, data: staged ? staged.slice() : unseal(this.file, `log ${index}`, key, value) });
        next++;
      }
    }
    for (; next < end; next++) {
      const staged = overlay(next);
      if (!staged) throw new CorruptionError(this.file, `log ${next}`, 'missing inside the log bounds');
      out.push({ index: next, data: staged.slice() });
    }
    return out;
  }

  logBounds(): LogBounds | undefined {
    const { first, last } = this.work;
    return first === undefined || last === undefined ? undefined : { first, last };
  }

  async getHardState(name: string): Promise<Uint8Array | undefined> {
    if (this.closed) throw new StorageError(`${this.path}: storage is closed`);
    const staged = this.pending.hard.get(name) ?? this.flight?.hard.get(name);
    if (staged) return staged.slice();
    const key = hardKey(name);
    const raw = this.hardDb.get(key);
    return raw === undefined ? undefined : unseal(this.file, `hard ${name}`, key, raw);
  }

  /** Waits for a running flush, then closes. Staged writes that were never synced are dropped. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.flushing?.catch(() => undefined);
    await this.queued?.catch(() => undefined);
    await Promise.allSettled([...this.snapWrites]);
    try {
      await this.env.close();
    } finally {
      this.release();
    }
  }

  /** Most snapshot bytes committed in one transaction (~1-5 ms of the event loop each). */
  private static readonly SNAPSHOT_TXN_BYTES = 1 << 20;

  private makeSnapshots(): SnapshotStore {
    const SNAPSHOT_TXN_BYTES = LmdbStorage.SNAPSHOT_TXN_BYTES;
    const chunkKey = (gen: bigint, i: number): Buffer => {
      const k = Buffer.allocUnsafe(16);
      k.writeBigUInt64BE(gen, 0);
      k.writeBigUInt64BE(BigInt(i), 8);
      return k;
    };
    return {
      begin: async (meta: SnapshotMeta): Promise<SnapshotWriter> => {
        this.usable();
        const gen = ++this.snapGen;
        let chunks = 0;
        let done = false;
        const m: SnapshotMeta = { height: meta.height, digest: meta.digest.slice() };
        const check = (): void => {
          if (done) throw new StorageError('snapshot writer already committed or aborted');
          this.usable();
        };
        const track = <T>(p: Promise<T>): Promise<T> => {
          this.snapWrites.add(p);
          return p.finally(() => this.snapWrites.delete(p));
        };
        return {
          write: async (chunk) => {
            check();
            // In transactions of at most SNAPSHOT_TXN_BYTES on this thread, the event loop let run
            // between them. Not as plain puts on lmdb-js's write thread: a write failing there
            // mid-transaction (a full disk while LMDB spills dirty pages) crashed the whole process
            // now and then (double free, SIGSEGV: the real-process full-disk test, ~1 run in 4-6),
            // where a failed transaction on this thread throws and the replica halts.
            for (let at = 0; at < chunk.byteLength; at += SNAPSHOT_TXN_BYTES) {
              if (at > 0) {
                await new Promise((r) => setImmediate(r));
                check();
              }
              const key = chunkKey(gen, chunks++);
              const piece = chunk.subarray(at, at + SNAPSHOT_TXN_BYTES);
              try {
                await track(this.commit(() => void this.snapDb.put(key, seal(key, piece)), 'writing snapshot chunk'));
              } catch (e) {
                this.failed = e as StorageError;
                throw e;
              }
            }
          },
          commit: async () => {
            check();
            done = true;
            const body = Buffer.from(JSON.stringify({ gen: String(gen), chunks, height: String(m.height), digest: hex(m.digest) }));
            const old = this.latestSnap;
            try {
              await track(
                this.commit(() => {
                  this.metaDb.put(META_SNAPSHOT, seal(META_SNAPSHOT, body));
                  if (old) for (const k of [...this.snapDb.getKeys({ start: chunkKey(old.gen, 0), end: chunkKey(old.gen + 1n, 0) })]) this.snapDb.remove(k);
                }, 'installing a snapshot'),
              );
            } catch (e) {
              this.failed = e as StorageError;
              throw e;
            }
            this.latestSnap = { gen, meta: m, chunks };
          },
          abort: async () => {
            if (done) return;
            done = true;
            if (chunks === 0 || this.closed) return;
            await track(this.commit(() => {
              for (const k of [...this.snapDb.getKeys({ start: chunkKey(gen, 0), end: chunkKey(gen + 1n, 0) })]) this.snapDb.remove(k);
            }, 'discarding a snapshot')).catch(() => undefined);
          },
        };
      },
      latest: async () => {
        if (this.closed) throw new StorageError(`${this.path}: storage is closed`);
        const s = this.latestSnap;
        return s && { height: s.meta.height, digest: s.meta.digest.slice() };
      },
      read: () => {
        const latest = (): typeof this.latestSnap => {
          if (this.closed) throw new StorageError(`${this.path}: storage is closed`);
          return this.latestSnap;
        };
        const db = this.snapDb;
        const file = this.file;
        return (async function* () {
          // Taken at the first `next()`, in the same turn as the range below opens its read transaction.
          const s = latest();
          if (!s) return;
          // `snapshot: true` pins one read transaction, so a snapshot installed meanwhile cannot
          // pull chunks from under this reader.
          let i = 0;
          for (const { key, value } of db.getRange({ start: chunkKey(s.gen, 0), end: chunkKey(s.gen + 1n, 0), snapshot: true })) {
            const at = Number(key.readBigUInt64BE(8));
            if (at !== i) throw new CorruptionError(file, `snapshot ${s.gen} chunk ${i}`, 'missing');
            yield unseal(file, `snapshot ${s.gen} chunk ${i}`, key, value);
            i++;
          }
          if (i !== s.chunks) throw new CorruptionError(file, `snapshot ${s.gen} chunk ${i}`, `missing (expected ${s.chunks} chunks)`);
        })();
      },
    };
  }

  private makeKv(): KeyValueStore {
    const staged = (h: string): readonly [Uint8Array, Uint8Array | undefined] | undefined => this.pending.kv.get(h) ?? this.flight?.kv.get(h);
    const stage = (key: Uint8Array, value: Uint8Array | undefined): void => {
      this.usable();
      if (key.byteLength > MAX_KV_KEY_BYTES) throw new StorageError(`kv: key of ${key.byteLength} bytes exceeds ${MAX_KV_KEY_BYTES}`);
      this.pending.kv.set(hex(key), [key.slice(), value?.slice()]);
      this.pending.empty = false;
    };
    return {
      get: async (key) => {
        if (this.closed) throw new StorageError(`${this.path}: storage is closed`);
        const s = staged(hex(key));
        if (s) return s[1]?.slice();
        const k = kvKey(key);
        const raw = this.kvDb.get(k);
        return raw === undefined ? undefined : unseal(this.file, `kv ${hex(key)}`, k, raw);
      },
      put: (key, value) => stage(key, value),
      delete: (key) => stage(key, undefined),
      range: (start, end) => {
        const file = this.file;
        if (this.closed) {
          const closed = new StorageError(`${this.path}: storage is closed`);
          return (async function* () {
            yield* [] as (readonly [Uint8Array, Uint8Array])[];
            throw closed;
          })();
        }
        const merged = new Map<string, readonly [Uint8Array, Uint8Array | undefined]>();
        const inRange = (k: Uint8Array): boolean => Buffer.compare(k, start) >= 0 && Buffer.compare(k, end) < 0;
        for (const { key, value } of this.kvDb.getRange({ start: kvKey(start), end: kvKey(end), snapshot: true })) {
          const user = key.subarray(1);
          merged.set(hex(user), [new Uint8Array(user), unseal(file, `kv ${hex(user)}`, key, value)]);
        }
        for (const layer of [this.flight, this.pending]) {
          if (!layer) continue;
          for (const [h, e] of layer.kv) if (inRange(e[0])) merged.set(h, e);
        }
        const entries = [...merged.values()]
          .filter((e): e is readonly [Uint8Array, Uint8Array] => e[1] !== undefined)
          .sort((a, b) => Buffer.compare(a[0], b[0]));
        return (async function* () {
          for (const [k, v] of entries) yield [k.slice(), v.slice()] as const;
        })();
      },
    };
  }
}
