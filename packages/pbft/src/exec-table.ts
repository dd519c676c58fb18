/**
 * Which client requests have executed: per client, every seq below `next` plus the sparse set
 * `above`. Part of the replicated state (it travels with checkpoints), because the core promises
 * never to commit one (client, seq) twice (PBFT §4.1: replicas discard requests already executed).
 */
import { DecodeError } from '@phalanx/interface';
import { decode, encode, readArray, readString, readU64 } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';

/**
 * How far ahead of the lowest unexecuted seq a client may run. A client that skips numbers (lost
 * requests, a restart that renumbers, a hostile client) would otherwise grow `above` for ever;
 * past the window the oldest gap is given up: `next` jumps so that the window holds, and the
 * skipped numbers count as executed (a late copy is discarded, never run). Every replica applies
 * the same adds in the same order, so the jump is deterministic and the table stays replicated.
 */
export const EXEC_WINDOW = 4096n;

interface Entry {
  next: bigint;
  above: Set<bigint>;
}

export class ExecTable {
  private readonly clients = new Map<string, Entry>();

  has(client: string, seq: bigint): boolean {
    const e = this.clients.get(client);
    if (!e) return false;
    return seq < e.next || e.above.has(seq);
  }

  add(client: string, seq: bigint): void {
    let e = this.clients.get(client);
    if (!e) {
      e = { next: 0n, above: new Set() };
      this.clients.set(client, e);
    }
    if (seq < e.next) return;
    if (seq >= e.next + EXEC_WINDOW) {
      e.next = seq - EXEC_WINDOW + 1n;
      for (const s of e.above) if (s < e.next) e.above.delete(s);
      while (e.above.delete(e.next)) e.next++;
    }
    if (seq === e.next) {
      e.next++;
      while (e.above.delete(e.next)) e.next++;
    } else {
      e.above.add(seq);
    }
  }

  /** Canonical bytes: clients sorted by id, sparse seqs sorted. */
  encode(): Uint8Array {
    const ids = [...this.clients.keys()].sort();
    const v: Value[] = ids.map((id) => {
      const e = this.clients.get(id)!;
      return [id, e.next, [...e.above].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))];
    });
    return encode(v);
  }

  static decode(bytes: Uint8Array): ExecTable {
    const t = new ExecTable();
    // Sized by the number of clients, not by the codec's default message bound (see KvStore.restore).
    const rows = readArray(decode(bytes, { maxBytes: bytes.length }), 'clients');
    rows.forEach((r, i) => {
      const a = readArray(r, `clients[${i}]`, 3);
      if (a.length !== 3) throw new DecodeError(`clients[${i}]: expected 3 fields`);
      const id = readString(a[0], `clients[${i}].id`, 256);
      const above = new Set(readArray(a[2], `clients[${i}].above`).map((x, j) => readU64(x, `clients[${i}].above[${j}]`)));
      t.clients.set(id, { next: readU64(a[1], `clients[${i}].next`), above });
    });
    return t;
  }
}
