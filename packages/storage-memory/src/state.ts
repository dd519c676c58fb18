import { StorageError } from '@phalanx/interface';
import type { LogBounds, LogRecord, SnapshotMeta } from '@phalanx/interface';

/** One staged write. The same list is applied to the working state at once and to the disk at sync. */
export type Op =
  | { readonly kind: 'append'; readonly records: readonly LogRecord[] }
  | { readonly kind: 'truncate'; readonly from: bigint }
  | { readonly kind: 'compact'; readonly to: bigint }
  | { readonly kind: 'hard'; readonly name: string; readonly value: Uint8Array }
  | { readonly kind: 'kv-put'; readonly key: Uint8Array; readonly value: Uint8Array }
  | { readonly kind: 'kv-delete'; readonly key: Uint8Array };

export interface StoredSnapshot {
  readonly meta: SnapshotMeta;
  readonly chunks: readonly Uint8Array[];
}

const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');

/**
 * Everything a storage holds, as plain maps. Used twice: as the durable image on a `MemoryDisk`
 * and as the working view an open storage reads (durable + staged).
 */
export class State {
  log = new Map<bigint, Uint8Array>();
  /** Lowest index that may still be stored (the compaction point). */
  floor = 0n;
  first: bigint | undefined;
  last: bigint | undefined;
  hard = new Map<string, Uint8Array>();
  kv = new Map<string, readonly [Uint8Array, Uint8Array]>();
  snapshot: StoredSnapshot | undefined;
  /** Bytes held, for the disk-capacity model. */
  bytes = 0;

  clone(): State {
    const s = new State();
    s.log = new Map(this.log);
    s.floor = this.floor;
    s.first = this.first;
    s.last = this.last;
    s.hard = new Map(this.hard);
    s.kv = new Map(this.kv);
    s.snapshot = this.snapshot;
    s.bytes = this.bytes;
    return s;
  }

  bounds(): LogBounds | undefined {
    return this.first === undefined || this.last === undefined ? undefined : { first: this.first, last: this.last };
  }

  /** Throws `StorageError` if `records` cannot be appended; changes nothing. */
  checkAppend(records: readonly LogRecord[]): void {
    let expected = this.last === undefined ? undefined : this.last + 1n;
    for (const [i, r] of records.entries()) {
      if (typeof r.index !== 'bigint' || !(r.data instanceof Uint8Array)) {
        throw new StorageError(`append: record ${i} needs a bigint index and Uint8Array data`);
      }
      // The range a durable adapter can key on (u64): the model must not accept more than they do.
      if (r.index < 0n || r.index >= 1n << 64n) throw new StorageError(`append: index ${r.index} is outside 0..2^64-1`);
      if (expected === undefined) {
        if (r.index < this.floor) {
          throw new StorageError(`append: index ${r.index} is below the compaction point ${this.floor}`);
        }
      } else if (r.index !== expected) {
        throw new StorageError(`append: index ${r.index} is not contiguous (expected ${expected})`);
      }
      expected = r.index + 1n;
    }
  }

  apply(op: Op): void {
    switch (op.kind) {
      case 'append':
        for (const r of op.records) {
          this.log.set(r.index, r.data);
          this.bytes += r.data.byteLength + 16;
          if (this.first === undefined) this.first = r.index;
          this.last = r.index;
        }
        return;
      case 'truncate':
        if (this.first === undefined || this.last === undefined || op.from > this.last) return;
        for (let i = op.from > this.first ? op.from : this.first; i <= this.last; i++) this.dropRecord(i);
        if (op.from <= this.first) this.first = this.last = undefined;
        else this.last = op.from - 1n;
        return;
      case 'compact':
        if (op.to <= this.floor) return;
        this.floor = op.to;
        if (this.first === undefined || this.last === undefined) return;
        for (let i = this.first; i < op.to && i <= this.last; i++) this.dropRecord(i);
        if (op.to > this.last) this.first = this.last = undefined;
        else if (op.to > this.first) this.first = op.to;
        return;
      case 'hard': {
        const old = this.hard.get(op.name);
        this.bytes += op.value.byteLength - (old?.byteLength ?? 0);
        this.hard.set(op.name, op.value);
        return;
      }
      case 'kv-put': {
        const k = hex(op.key);
        const old = this.kv.get(k);
        this.bytes += op.key.byteLength + op.value.byteLength - (old ? old[0].byteLength + old[1].byteLength : 0);
        this.kv.set(k, [op.key, op.value]);
        return;
      }
      case 'kv-delete': {
        const k = hex(op.key);
        const old = this.kv.get(k);
        if (old) this.bytes -= old[0].byteLength + old[1].byteLength;
        this.kv.delete(k);
        return;
      }
    }
  }

  private dropRecord(i: bigint): void {
    const d = this.log.get(i);
    if (d) this.bytes -= d.byteLength + 16;
    this.log.delete(i);
  }
}

export { hex };
