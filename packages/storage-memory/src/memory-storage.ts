import { assertSameDataDir, StorageError, StorageFullError, CorruptionError } from '@phalanx/interface';
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
import { State, hex } from './state.js';
import type { Op, StoredSnapshot } from './state.js';

export interface MemoryDiskOptions {
  /** Bytes the disk holds before a `sync()` fails with `StorageFullError` (default: unlimited). */
  readonly capacity?: number;
}

/**
 * What survives a crash: the synced image of one data directory. Give the same disk to
 * `openMemoryStorage` again after `crash()` to model a restart.
 */
export class MemoryDisk {
  /** @internal */ state = new State();
  /** @internal */ identity: DataDirIdentity | undefined;
  /** @internal */ open: MemoryStorage | undefined;
  capacity: number;
  private fault: 'full' | 'io' | undefined;
  /** Number of completed syncs (each is one modelled fsync). */
  syncs = 0;

  constructor(options: MemoryDiskOptions = {}) {
    this.capacity = options.capacity ?? Number.POSITIVE_INFINITY;
  }

  /** The next `sync()` (or snapshot commit) fails as if the disk were full (`'full'`) or broken (`'io'`). */
  injectFault(kind: 'full' | 'io'): void {
    this.fault = kind;
  }

  /** Crashes the storage currently open on this disk, if any (see `MemoryStorage.crash`). */
  crash(): void {
    this.open?.crash();
  }

  /** Bytes currently held (approximate: payload sizes plus a small per-record overhead). */
  get usedBytes(): number {
    return this.state.bytes;
  }

  /** @internal Throws the pending fault, if any (once). */
  takeFault(nextBytes: number): void {
    const f = this.fault;
    this.fault = undefined;
    if (f === 'io') throw new StorageError('memory disk: injected I/O error');
    if (f === 'full' || nextBytes > this.capacity) {
      throw new StorageFullError(`memory disk: full (${nextBytes} bytes needed, capacity ${this.capacity})`);
    }
  }
}

export interface MemoryStorageOptions {
  /** The disk to write to; a fresh one when omitted. */
  readonly disk?: MemoryDisk;
  /** Checked against (or recorded on) the disk; see `DataDirMismatchError`. */
  readonly identity?: DataDirIdentity;
}

const copy = (b: Uint8Array): Uint8Array => b.slice();

/** Opens a storage on `options.disk` (or a new disk): it sees exactly the disk's synced state. */
export function openMemoryStorage(options: MemoryStorageOptions = {}): MemoryStorage {
  return new MemoryStorage(options.disk ?? new MemoryDisk(), options.identity);
}

/**
 * A fast in-memory `Storage` for tests and the simulator. Staged writes live in a working view;
 * `sync()` applies them to the `MemoryDisk`; `crash()` throws the working view away.
 */
export class MemoryStorage implements Storage {
  readonly disk: MemoryDisk;
  readonly snapshots: SnapshotStore;
  readonly kv: KeyValueStore;
  private work: State;
  private pending: Op[] = [];
  private failed: StorageError | undefined;
  private closed: 'closed' | 'crashed' | undefined;

  constructor(disk: MemoryDisk, identity?: DataDirIdentity) {
    if (identity) {
      const have = disk.identity;
      if (have) assertSameDataDir('memory disk', have, identity);
      disk.identity ??= { validator: identity.validator, protocol: identity.protocol, chainId: identity.chainId };
    }
    if (disk.open) disk.open.crash();
    disk.open = this;
    this.disk = disk;
    this.work = disk.state.clone();
    this.snapshots = this.makeSnapshots();
    this.kv = this.makeKv();
  }

  /** Models a process crash: everything staged since the last completed sync is lost; this handle dies. */
  crash(): void {
    if (this.closed) return;
    this.closed = 'crashed';
    this.pending = [];
    if (this.disk.open === this) this.disk.open = undefined;
  }

  /** Staged writes not yet synced. */
  get pendingWrites(): number {
    return this.pending.length;
  }

  private usable(): void {
    if (this.closed) throw new StorageError(`memory storage is ${this.closed}`);
    if (this.failed) throw new StorageError('storage stopped after a failed sync', { cause: this.failed });
  }

  /** Reads stop at close or crash too: a dead handle must not serve state the disk may have moved past. */
  private readable(): void {
    if (this.closed) throw new StorageError(`memory storage is ${this.closed}`);
  }

  private stage(op: Op): void {
    this.work.apply(op);
    this.pending.push(op);
  }

  append(records: readonly LogRecord[]): void {
    this.usable();
    if (records.length === 0) return;
    this.work.checkAppend(records);
    this.stage({ kind: 'append', records: records.map((r) => ({ index: r.index, data: copy(r.data) })) });
  }

  truncateFrom(from: bigint): void {
    this.usable();
    this.stage({ kind: 'truncate', from });
  }

  compactTo(to: bigint): void {
    this.usable();
    this.stage({ kind: 'compact', to });
  }

  putHardState(name: string, value: Uint8Array): void {
    this.usable();
    this.stage({ kind: 'hard', name, value: copy(value) });
  }

  async sync(): Promise<void> {
    this.usable();
    const ops = this.pending;
    try {
      this.disk.takeFault(this.work.bytes);
    } catch (e) {
      this.failed = e as StorageError;
      throw e;
    }
    this.pending = [];
    for (const op of ops) this.disk.state.apply(op);
    this.disk.syncs++;
  }

  async readLog(from: bigint, toExclusive: bigint): Promise<LogRecord[]> {
    this.readable();
    const b = this.work.bounds();
    if (!b) return [];
    const out: LogRecord[] = [];
    const end = toExclusive <= b.last + 1n ? toExclusive : b.last + 1n;
    for (let i = from > b.first ? from : b.first; i < end; i++) {
      const data = this.work.log.get(i);
      if (!data) throw new CorruptionError('memory', `log ${i}`, 'missing inside the log bounds');
      out.push({ index: i, data: copy(data) });
    }
    return out;
  }

  logBounds(): LogBounds | undefined {
    return this.work.bounds();
  }

  async getHardState(name: string): Promise<Uint8Array | undefined> {
    this.readable();
    const v = this.work.hard.get(name);
    return v && copy(v);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = 'closed';
    if (this.disk.open === this) this.disk.open = undefined;
  }

  private makeSnapshots(): SnapshotStore {
    return {
      begin: async (meta: SnapshotMeta): Promise<SnapshotWriter> => {
        this.usable();
        const chunks: Uint8Array[] = [];
        let done = false;
        const open = (): void => {
          if (done) throw new StorageError('snapshot writer already committed or aborted');
          this.usable();
        };
        const m: SnapshotMeta = { height: meta.height, digest: copy(meta.digest) };
        return {
          write: async (chunk) => {
            open();
            chunks.push(copy(chunk));
          },
          commit: async () => {
            open();
            done = true;
            const size = chunks.reduce((n, c) => n + c.byteLength, 0) - snapshotBytes(this.disk.state.snapshot);
            try {
              this.disk.takeFault(this.disk.state.bytes + size);
            } catch (e) {
              this.failed = e as StorageError;
              throw e;
            }
            const snap: StoredSnapshot = { meta: m, chunks };
            this.disk.state.bytes += size;
            this.work.bytes += size;
            this.disk.state.snapshot = snap;
            this.work.snapshot = snap;
            this.disk.syncs++;
          },
          abort: async () => {
            done = true;
          },
        };
      },
      latest: async () => {
        this.readable();
        const s = this.work.snapshot;
        return s && { height: s.meta.height, digest: copy(s.meta.digest) };
      },
      read: () => {
        const s = this.work.snapshot;
        const readable = (): void => this.readable();
        return (async function* () {
          readable();
          if (!s) return;
          for (const c of s.chunks) yield copy(c);
        })();
      },
    };
  }

  private makeKv(): KeyValueStore {
    return {
      get: async (key) => {
        this.readable();
        const e = this.work.kv.get(hex(key));
        return e && copy(e[1]);
      },
      put: (key, value) => {
        this.usable();
        this.stage({ kind: 'kv-put', key: copy(key), value: copy(value) });
      },
      delete: (key) => {
        this.usable();
        this.stage({ kind: 'kv-delete', key: copy(key) });
      },
      range: (start, end) => {
        const closed = this.closed;
        const entries = [...this.work.kv.values()]
          .filter(([k]) => Buffer.compare(k, start) >= 0 && Buffer.compare(k, end) < 0)
          .sort((a, b) => Buffer.compare(a[0], b[0]));
        return (async function* () {
          if (closed) throw new StorageError(`memory storage is ${closed}`);
          for (const [k, v] of entries) yield [copy(k), copy(v)] as const;
        })();
      },
    };
  }
}

function snapshotBytes(s: StoredSnapshot | undefined): number {
  return s ? s.chunks.reduce((n, c) => n + c.byteLength, 0) : 0;
}
