import type { LogRecord, PersistRequest, RecoveredState } from '@phalanx/interface';

/**
 * What survives a crash of one simulated replica: exactly the `PersistRequest`s whose write
 * completed, applied in order (hard state replaced, suffix truncated, records appended, prefix
 * compacted), plus the latest application snapshot the runtime saved. A request still in flight
 * when the replica crashes never reaches this store.
 */
export class DurableStore {
  hardState: Uint8Array | undefined;
  private readonly log = new Map<bigint, Uint8Array>();
  compactedTo = 0n;
  snapshot: { height: bigint; data: Uint8Array } | undefined;
  writes = 0;

  apply(p: PersistRequest): void {
    this.writes++;
    if (p.hardState !== undefined) this.hardState = p.hardState.slice();
    if (p.truncateFrom !== undefined) {
      for (const i of [...this.log.keys()]) if (i >= p.truncateFrom) this.log.delete(i);
    }
    for (const r of p.append) {
      if (r.index >= this.compactedTo) this.log.set(r.index, r.data.slice());
    }
    if (p.compactTo !== undefined && p.compactTo > this.compactedTo) {
      this.compactedTo = p.compactTo;
      for (const i of [...this.log.keys()]) if (i < p.compactTo) this.log.delete(i);
    }
  }

  records(): LogRecord[] {
    return [...this.log.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([index, data]) => ({ index, data }));
  }

  get size(): number {
    return this.log.size;
  }

  /** The state a restarted replica reads back; the application restarts from `snapshot`. */
  recover(): RecoveredState {
    const base = { log: this.records(), appliedHeight: this.snapshot?.height ?? 0n };
    return {
      ...base,
      ...(this.hardState !== undefined ? { hardState: this.hardState.slice() } : {}),
      ...(this.snapshot !== undefined ? { snapshot: { height: this.snapshot.height, data: this.snapshot.data.slice() } } : {}),
    };
  }
}
