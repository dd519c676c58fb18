/**
 * The store's entries as the last snapshot encoded them, kept from one snapshot to the next: the
 * keys in snapshot order, each `[key, value]` entry's canonical CBOR bytes back to back, and where
 * each entry starts. A snapshot encodes only the entries whose key was inserted, replaced or
 * deleted since the last one and copies the runs of bytes between them, so its JavaScript work
 * grows with what changed, not with the state. Before, every checkpoint visited and encoded every
 * key: 2–4 s of CPU per snapshot at a million keys on every replica, and ~10% of a PBFT replica's
 * time under load at 200k keys.
 *
 * Keys are the store's lower-case hex strings: their UTF-16 order is the bytewise order of the
 * keys they encode (digits before a-f, a prefix before its extensions), so the default string
 * comparison — `Array.prototype.sort` without a comparator, and `<` — is the canonical order.
 */
import { headLength, writeHead } from '@phalanx/codec';
import { ArgumentError } from '@phalanx/interface';
import type { SnapshotRoom } from '@phalanx/interface';
import { STEP_KEYS, sortInSteps } from './key-order.js';

/** A value as the store holds it: a binary string (one character per byte) or bytes of its own. */
export type StoredValue = string | Uint8Array;

/** Each hex digit's value, by character code (keys are `toHex`'s lower-case hex). */
const HEX_VALUE = new Uint8Array(128);
for (let i = 0; i < 16; i++) HEX_VALUE['0123456789abcdef'.charCodeAt(i)] = i;

const BYTES = 2;
/** Cached entries carried over per step: at most this many keys (a tight loop: ~1 ms)… */
export const COPY_STEP_KEYS = 1 << 16;
/** …and at most this many bytes (~6 ms into fresh memory here, where the page faults cost most). */
export const COPY_STEP_BYTES = 2 << 20;
/** Tracking past this many touched keys (and past the store's size) costs more than a rebuild. */
const TRACK_MIN = 1024;

function entrySize(key: string, value: StoredValue): number {
  const kl = key.length / 2;
  return 1 + headLength(kl) + kl + headLength(value.length) + value.length;
}

/** Writes `[key, value]` (key from hex, by table: a call into C++ per key cost ~1 s per million). */
function writeEntry(out: Buffer, at: number, key: string, value: StoredValue): number {
  out[at++] = 0x82;
  at = writeHead(out, at, BYTES, key.length / 2);
  for (let c = 0; c < key.length; c += 2) out[at++] = (HEX_VALUE[key.charCodeAt(c)]! << 4) | HEX_VALUE[key.charCodeAt(c + 1)]!;
  at = writeHead(out, at, BYTES, value.length);
  if (typeof value === 'string') return at + out.write(value, at, 'latin1');
  out.set(value, at);
  return at + value.length;
}

const NO_ROOM: SnapshotRoom = { before: 0, after: 0 };

/**
 * Room asked for around a snapshot: any size (the runtime's client table, after the entries, grows
 * with its clients and their cached results; a cap here halted every replica at the same
 * checkpoint once it outgrew it).
 */
function roomBytes(n: number, name: string): number {
  if (!Number.isSafeInteger(n) || n < 0) throw new ArgumentError(`room.${name}`, `must be a non-negative integer, got ${String(n)}`);
  return n;
}

/** What a snapshot holds around its entries: `head` given their number, and `tail`. */
export type SnapshotFrame = (count: number) => { readonly head: Uint8Array; readonly tail: Uint8Array };

export class EntryCache {
  /** Ascending and unique: the keys of `bytes`, entry i starting at `offsets[i]`. */
  private keys: string[] = [];
  /** Length `keys.length + 1`; the last is `bytes.length`. */
  private offsets = new Float64Array(1);
  private bytes: Uint8Array = new Uint8Array(0);
  /**
   * Keys inserted, replaced or deleted since the last snapshot, in any order and possibly
   * repeated. `undefined`: not tracked, the next snapshot encodes every live key.
   */
  private touched: string[] | undefined = [];

  /** Records that `key`'s entry in `live` was inserted, replaced or deleted. */
  touch(key: string, live: ReadonlyMap<string, unknown>): void {
    const t = this.touched;
    if (!t) return;
    t.push(key);
    // A store that churns a few keys and is rarely snapshotted would otherwise keep every write
    // it ever saw: past the store's own size, a rebuild costs no more than the merge.
    if (t.length > TRACK_MIN && t.length > live.size) this.forget();
  }

  /** Drops what is cached: the next snapshot encodes every live key (and caches them again). */
  forget(): void {
    this.keys = [];
    this.offsets = new Float64Array(1);
    this.bytes = new Uint8Array(0);
    this.touched = undefined;
  }

  /**
   * The snapshot `frame(count).head ‖ entries of live in ascending key order ‖ frame(count).tail`,
   * and from now on what the next call starts from. A new buffer every time, which the cache reads
   * again for the next snapshot and never writes after returning it: the caller must not modify
   * it. In steps of about `STEP_KEYS` touched keys, or `COPY_STEP_KEYS` carried-over keys or
   * `COPY_STEP_BYTES` bytes, whichever comes first (see `StateMachine.snapshotSteps`); `live`
   * must not change meanwhile. Nothing cached changes before the last step (but for sorting the
   * touched keys in place): a computation left unfinished leaves the cache as it was. `room`: free
   * bytes left before and after the snapshot in its buffer, for the caller (never read here).
   */
  *snapshotSteps(live: ReadonlyMap<string, StoredValue>, frame: SnapshotFrame, room: SnapshotRoom = NO_ROOM): Generator<void, Uint8Array> {
    const tracked = this.touched;
    const old = tracked ? this.keys : [];
    const oldOffsets = tracked ? this.offsets : new Float64Array(1);
    const oldBytes = tracked ? this.bytes : new Uint8Array(0);
    const sorted = yield* sortInSteps(tracked ?? [...live.keys()]);

    // Pass 1: where each touched key falls among the cached ones (binary search from the last
    // position: both lists ascend), its value now, and the size of the result.
    const keys: string[] = [];
    const at: number[] = [];
    const values: (StoredValue | undefined)[] = [];
    let size = oldBytes.length;
    let count = old.length;
    let lo = 0;
    for (let i = 0; i < sorted.length; i++) {
      if (i % STEP_KEYS === STEP_KEYS - 1) yield; // repeats count too: a hot key may be most of them
      const k = sorted[i]!;
      if (i > 0 && k === sorted[i - 1]) continue;
      let hi = old.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if (old[mid]! < k) lo = mid + 1;
        else hi = mid;
      }
      if (lo < old.length && old[lo] === k) {
        size -= oldOffsets[lo + 1]! - oldOffsets[lo]!;
        count--;
      }
      const v = live.get(k);
      if (v !== undefined) {
        size += entrySize(k, v);
        count++;
      }
      keys.push(k);
      at.push(lo);
      values.push(v);
    }

    // Pass 2: the runs of cached entries between touched keys copied as bytes, touched ones
    // encoded from their live values (or dropped). One buffer for the whole snapshot: fresh memory
    // costs more than the copy into it on these machines (~2.8 ms per MB of page faults, against
    // ~0.07 for a copy into memory already touched). Not zeroed: every byte of the snapshot is written
    // (checked); the room around it is the caller's, left as allocated.
    const { head, tail } = frame(count);
    const before = roomBytes(room.before, 'before');
    const total = head.length + size + tail.length;
    const out = Buffer.allocUnsafeSlow(before + total + roomBytes(room.after, 'after'));
    out.set(head, before);
    const base = before + head.length;
    const newKeys = new Array<string>(count);
    const offsets = new Float64Array(count + 1);
    let w = base;
    let n = 0;
    let from = 0;
    let carriedKeys = 0;
    let carriedBytes = 0;
    for (let u = 0; u <= keys.length; u++) {
      const to = u < keys.length ? at[u]! : old.length;
      // The run of cached entries before this touched key, in pieces that fill what is left of
      // this step's key and byte budgets; a step ends when either is spent.
      while (from < to) {
        const byteRoom = COPY_STEP_BYTES - carriedBytes;
        let end = Math.min(to, from + COPY_STEP_KEYS - carriedKeys);
        if (oldOffsets[end]! - oldOffsets[from]! > byteRoom) {
          // The last entry that still fits (one at least in a fresh step: an entry may exceed the budget alone).
          let lo = carriedBytes === 0 ? from + 1 : from;
          let hi = end;
          while (lo < hi) {
            const mid = (lo + hi + 1) >>> 1;
            if (oldOffsets[mid]! - oldOffsets[from]! <= byteRoom) lo = mid;
            else hi = mid - 1;
          }
          end = lo;
        }
        const bytes = oldOffsets[end]! - oldOffsets[from]!;
        out.set(oldBytes.subarray(oldOffsets[from], oldOffsets[end]), w);
        const shift = w - base - oldOffsets[from]!;
        for (let j = from; j < end; j++) {
          newKeys[n] = old[j]!;
          offsets[n++] = oldOffsets[j]! + shift;
        }
        w += bytes;
        carriedKeys += end - from;
        carriedBytes += bytes;
        from = end;
        if (from < to || carriedKeys >= COPY_STEP_KEYS || carriedBytes >= COPY_STEP_BYTES) {
          carriedKeys = 0;
          carriedBytes = 0;
          yield;
        }
      }
      if (u === keys.length) break;
      const k = keys[u]!;
      // A cached key: its entry is stale. Its string is the one the map holds (a replacing put's
      // key is an equal string of its own), so the cache keeps no second copy of it.
      const cached = to < old.length && old[to] === k ? old[to] : undefined;
      if (cached !== undefined) from = to + 1;
      const v = values[u];
      if (v !== undefined) {
        newKeys[n] = cached ?? k;
        offsets[n++] = w - base;
        w = writeEntry(out, w, k, v);
      }
      if (u % STEP_KEYS === STEP_KEYS - 1) yield;
    }
    offsets[n] = w - base;
    if (n !== count || w - base !== size) throw new Error(`kv-store snapshot: wrote ${n} entries in ${w - base} bytes, expected ${count} in ${size}`);
    out.set(tail, w);
    this.keys = newKeys;
    this.offsets = offsets;
    this.bytes = new Uint8Array(out.buffer, out.byteOffset + base, size);
    this.touched = [];
    return new Uint8Array(out.buffer, out.byteOffset + before, total);
  }
}
