/**
 * Storage contracts, shaped by what the protocols persist: an append-only log of opaque records,
 * small atomic hard-state records, snapshots, and a key-value space for the application.
 *
 * Writes are staged and become durable together at the next `sync()` (group commit): many
 * appends, one fsync. Nothing is acknowledged to a peer before the `sync()` covering it resolved.
 *
 * Reads see staged writes (read-your-writes). After a crash, reopening shows everything covered by
 * the last `sync()` that resolved and, of what was staged later, at most a prefix in call order: a
 * group commit may carry writes staged after the `sync()` call that started it (as if the crash came
 * a little later), never a later write without the earlier ones. Writes staged in one synchronous
 * run of calls (no await between them) are never split by a crash: a core's persist request (log
 * truncation, appends, hard state, compaction) survives whole or not at all — HotStuff rewrites its
 * whole log after a state transfer and relies on it. Staging calls apply in call order, so
 * `truncateFrom(5)` then `append([5, 6])` replaces a suffix (Raft §5.3).
 */

/**
 * Who a data directory belongs to. Stored when a directory is first opened; opening it later
 * with a different identity fails with `DataDirMismatchError` instead of mixing two replicas' logs.
 */
export interface DataDirIdentity {
  readonly validator: string;
  readonly protocol: string;
  readonly chainId: string;
}

export interface LogRecord {
  readonly index: bigint;
  readonly data: Uint8Array;
}

export interface LogBounds {
  /** Lowest index still stored (after compaction). */
  readonly first: bigint;
  /** Highest index stored. */
  readonly last: bigint;
}

export interface SnapshotMeta {
  /** Height the snapshot's state corresponds to. */
  readonly height: bigint;
  /** Digest of the state (what a checkpoint certificate signs). */
  readonly digest: Uint8Array;
}

export interface SnapshotWriter {
  /**
   * Appends the next chunk; chunks are kept out of sight until `commit`. Writes may be issued
   * without waiting for the previous one to settle: chunks keep the order of the calls.
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Atomically installs the snapshot as the latest one (durable when this resolves). */
  commit(): Promise<void>;
  /** Discards the partial snapshot. */
  abort(): Promise<void>;
}

export interface SnapshotStore {
  begin(meta: SnapshotMeta): Promise<SnapshotWriter>;
  latest(): Promise<SnapshotMeta | undefined>;
  /** Streams the latest snapshot's bytes in chunks; throws `CorruptionError` if they do not match. */
  read(): AsyncIterable<Uint8Array>;
}

export interface KeyValueStore {
  get(key: Uint8Array): Promise<Uint8Array | undefined>;
  /** Staged like every write: durable at the next `Storage.sync()`. */
  put(key: Uint8Array, value: Uint8Array): void;
  delete(key: Uint8Array): void;
  /** Entries with `start <= key < end` in key order. */
  range(start: Uint8Array, end: Uint8Array): AsyncIterable<readonly [Uint8Array, Uint8Array]>;
}

export interface Storage {
  /**
   * Stages records; indices must be contiguous with the current last index (+1), and with each
   * other. Into an empty log the first index may be anything at or above the compaction point.
   * Throws `StorageError` (nothing staged) when they are not.
   */
  append(records: readonly LogRecord[]): void;
  /** Stages removal of every record with `index >= from`. */
  truncateFrom(from: bigint): void;
  /** Stages removal of every record with `index < to`; later appends must start at `to` or above. */
  compactTo(to: bigint): void;
  /** Stages an atomic replacement of the named hard-state record. */
  putHardState(name: string, value: Uint8Array): void;
  /**
   * Makes every staged write durable with one sync. Concurrent callers share the sync. Resolves only
   * once everything staged before the call is durable: a caller arriving while a sync runs that
   * did not take its writes waits for the next one (the runtime relies on this before it stores a
   * checkpoint's snapshot).
   * Rejects with `StorageFullError` / `StorageError` and then refuses further writes.
   */
  sync(): Promise<void>;

  /** The stored records with `from <= index < toExclusive`, in order (clipped to `logBounds()`). */
  readLog(from: bigint, toExclusive: bigint): Promise<LogRecord[]>;
  /** `undefined` when the log is empty. */
  logBounds(): LogBounds | undefined;
  getHardState(name: string): Promise<Uint8Array | undefined>;

  readonly snapshots: SnapshotStore;
  readonly kv: KeyValueStore;
  /** Waits for a running sync, then releases the storage. Does not sync: staged writes are dropped. */
  close(): Promise<void>;
}
