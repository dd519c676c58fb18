import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encode, headLength } from '@phalanx/codec';
import { COPY_STEP_BYTES, EntryCache } from '../src/entry-cache.js';
import type { SnapshotFrame, StoredValue } from '../src/entry-cache.js';
import { runSteps } from '../src/key-order.js';

/** Few short keys, so that writes and deletes hit keys an earlier snapshot cached. */
const hexKey = fc.uint8Array({ maxLength: 2 }).map((b) => Buffer.from(b.map((x) => x % 5)).toString('hex'));
/** Both forms the store keeps, with lengths on both sides of CBOR's 1- and 2-byte heads. */
const value: fc.Arbitrary<StoredValue> = fc.oneof(
  fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.uint8Array({ minLength: 250, maxLength: 300 }),
);
const step = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), key: hexKey, value }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant('del' as const), key: hexKey }), weight: 3 },
  // `room`: space asked for around the bytes, which the test then scribbles over, as a caller may.
  { arbitrary: fc.record({ op: fc.constant('snapshot' as const), room: fc.option(fc.record({ before: fc.nat(12), after: fc.nat(40) }), { nil: undefined }) }), weight: 1 },
  // Runs some steps of a snapshot and drops it: nothing cached may change.
  { arbitrary: fc.record({ op: fc.constant('abandon' as const), steps: fc.integer({ min: 0, max: 3 }) }), weight: 1 },
);

const bytesOf = (v: StoredValue): Uint8Array => (typeof v === 'string' ? Buffer.from(v, 'latin1') : v);

/** Framed as the array of the entries, then two bytes that are not part of it. */
const TAIL = Uint8Array.of(0xde, 0xad);
const frame: SnapshotFrame = (count) => ({ head: encode(new Array(count).fill(null)).subarray(0, headLength(count)), tail: TAIL });

/** The array of the entries as the generic encoder writes it, and the tail. */
function reference(live: ReadonlyMap<string, StoredValue>): Uint8Array {
  const keys = [...live.keys()].sort();
  return Buffer.concat([encode(keys.map((k) => [new Uint8Array(Buffer.from(k, 'hex')), bytesOf(live.get(k)!)])), TAIL]);
}

/** A live map and its cache, written to the way the store writes to them. */
function store() {
  const live = new Map<string, StoredValue>();
  const cache = new EntryCache();
  return {
    live,
    cache,
    set(k: string, v: StoredValue): void {
      live.set(k, v);
      cache.touch(k, live);
    },
    del(k: string): void {
      if (live.delete(k)) cache.touch(k, live);
    },
    snapshot: () => runSteps(cache.snapshotSteps(live, frame)),
  };
}

const expectEntries = (got: Uint8Array, want: Uint8Array): void => {
  expect(Buffer.from(got).equals(Buffer.from(want))).toBe(true);
};

describe('EntryCache', () => {
  it('gives the generic encoder\'s bytes after any mix of inserts, replacements, deletes, snapshots and abandoned ones', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const s = store();
        let last: ArrayBufferLike | undefined;
        for (const x of steps) {
          if (x.op === 'set') s.set(x.key, x.value);
          else if (x.op === 'del') s.del(x.key);
          else if (x.op === 'snapshot') {
            const got = runSteps(s.cache.snapshotSteps(s.live, frame, x.room));
            expectEntries(got, reference(s.live));
            // A buffer of its own every time, with the room asked for, which is the caller's to write.
            expect(got.buffer).not.toBe(last);
            last = got.buffer;
            const before = x.room?.before ?? 0;
            const after = x.room?.after ?? 0;
            expect(got.byteOffset).toBeGreaterThanOrEqual(before);
            expect(got.buffer.byteLength - got.byteOffset - got.length).toBeGreaterThanOrEqual(after);
            new Uint8Array(got.buffer, got.byteOffset - before, before).fill(0x5a);
            new Uint8Array(got.buffer, got.byteOffset + got.length, after).fill(0xa5);
          } else {
            const it = s.cache.snapshotSteps(s.live, frame);
            for (let i = 0; i < x.steps; i++) it.next();
          }
        }
        expectEntries(s.snapshot(), reference(s.live));
      }),
      { numRuns: 500 },
    );
  });

  it('re-encodes only what was touched: an entry changed behind its back keeps its cached bytes', () => {
    const s = store();
    for (let i = 0; i < 5000; i++) s.set(i.toString(16).padStart(4, '0'), `v${i}`);
    s.snapshot();
    s.live.set('0010', 'changed without touch'); // what the store never does: shows the cache is used
    s.set('0011', 'changed');
    s.del('0012');
    s.set('ffff00', 'new');
    const got = s.snapshot();
    const want = new Map(s.live);
    want.set('0010', 'v16');
    expectEntries(got, reference(want));
  });

  it('carries over thousands of cached entries between touched ones, across several steps', () => {
    const s = store();
    const key = (i: number): string => ((i * 7919) % 200_003).toString(16).padStart(6, '0');
    for (let i = 0; i < 150_000; i++) s.set(key(i), `value ${i}`);
    expectEntries(s.snapshot(), reference(s.live));
    for (let i = 0; i < 3000; i++) {
      if (i % 3 === 0) s.del(key(i * 37));
      else if (i % 3 === 1) s.set(key(i * 41), new Uint8Array(300).fill(i));
      else s.set(`${key(i)}00`, 'inserted');
    }
    let steps = 0;
    const it = s.cache.snapshotSteps(s.live, frame);
    let r = it.next();
    for (; !r.done; r = it.next()) steps++;
    expect(steps).toBeGreaterThanOrEqual(2); // 150k carried-over keys are more than one step
    expectEntries(r.value, reference(s.live));
  });

  it('leaves the cache as it was when a computation that really paused is abandoned, wherever it stops', () => {
    const s = store();
    const key = (i: number): string => i.toString(16).padStart(6, '0');
    for (let i = 0; i < 12_000; i++) s.set(key(i * 3), `v${i}`);
    s.snapshot();
    for (let i = 0; i < 9000; i++) s.set(key(i * 2), `w${i}`); // more touched keys than a step takes
    let steps = 0;
    for (const it = s.cache.snapshotSteps(s.live, frame); !it.next().done; ) steps++;
    expect(steps).toBeGreaterThan(3);
    for (let i = 0; i < 9000; i++) s.set(key(i * 2), `x${i}`);
    for (let stop = 1; stop < steps; stop++) {
      const it = s.cache.snapshotSteps(s.live, frame);
      for (let i = 0; i < stop; i++) expect(it.next().done).toBe(false);
    }
    s.set(key(1), 'after');
    expectEntries(s.snapshot(), reference(s.live));
  });

  it('carries a large unchanged state over in steps of bounded bytes and keys', () => {
    const s = store();
    const key = (i: number): string => i.toString(16).padStart(8, '0');
    const v = 'x'.repeat(100);
    for (let i = 0; i < 300_000; i++) s.set(key(i), v);
    s.snapshot();
    s.set('ffffffff', 'one touched key, after ~33 MB of unchanged entries');
    // Counts the bytes copied by TypedArray.prototype.set in each step (run copies, head and tail).
    const proto = Uint8Array.prototype as unknown as { set(src: ArrayLike<number>, offset?: number): void };
    const original = proto.set;
    let copied = 0;
    let most = 0;
    let steps = 0;
    proto.set = function (this: Uint8Array, src: ArrayLike<number>, offset?: number): void {
      copied += src.length;
      original.call(this, src, offset);
    };
    try {
      const it = s.cache.snapshotSteps(s.live, frame);
      for (let r = it.next(); ; r = it.next()) {
        most = Math.max(most, copied);
        copied = 0;
        if (r.done) {
          expectEntries(r.value, reference(s.live));
          break;
        }
        steps++;
      }
    } finally {
      proto.set = original;
    }
    expect(steps).toBeGreaterThanOrEqual(Math.floor((300_000 * 100) / COPY_STEP_BYTES)); // entries of 108 bytes
    expect(most).toBeLessThanOrEqual(COPY_STEP_BYTES + 200);
  });

  it('stops tracking past the store\'s own size, still encodes every entry, and tracks again after', () => {
    const s = store();
    // Churn: 3,000 writes on a store that never holds more than 10 keys.
    for (let i = 0; i < 3000; i++) {
      s.set(((i * 7919) % 4096).toString(16).padStart(4, '0'), `${i}`);
      if (s.live.size > 10) s.del(s.live.keys().next().value!);
    }
    expect((s.cache as unknown as { touched: unknown }).touched).toBeUndefined();
    expectEntries(s.snapshot(), reference(s.live));
    s.set('ffff', '1');
    expect((s.cache as unknown as { touched: string[] }).touched).toEqual(['ffff']);
    expectEntries(s.snapshot(), reference(s.live));
  });

  it('encodes everything again after forget()', () => {
    const s = store();
    s.set('00', 'a');
    s.snapshot();
    s.live.set('00', 'b'); // untracked, as in the test above
    s.cache.forget();
    expectEntries(s.snapshot(), reference(s.live));
  });
});
