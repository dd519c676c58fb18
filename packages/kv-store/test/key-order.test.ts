import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { KeyOrder, runSteps, sortInSteps } from '../src/key-order.js';

/** Few short keys, so that deletes and re-inserts hit keys an earlier call ordered. */
const hexKey = fc.uint8Array({ maxLength: 2 }).map((b) => Buffer.from(b.map((x) => x % 5)).toString('hex'));
/** A step on a map of hex keys: insert (if absent), delete, or take the entries. */
const step = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant('set' as const), key: hexKey }), weight: 6 },
  { arbitrary: fc.record({ op: fc.constant('del' as const), key: hexKey }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant('entries' as const) }), weight: 1 },
);

describe('KeyOrder', () => {
  it('gives the live keys sorted and unique after any mix of inserts, deletes, re-inserts and earlier snapshots', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 200 }), (steps) => {
        const live = new Map<string, number>();
        const order = new KeyOrder();
        let n = 0;
        const check = () => {
          const { keys, values } = runSteps(order.entrySteps(live));
          const want = [...live.keys()].sort();
          expect(keys).toEqual(want);
          expect(values).toEqual(want.map((k) => live.get(k)));
        };
        for (const s of steps) {
          if (s.op === 'entries') check();
          else if (s.op === 'del') live.delete(s.key);
          else if (!live.has(s.key)) {
            live.set(s.key, n++);
            order.inserted(s.key, live);
          }
        }
        check();
      }),
      { numRuns: 500 },
    );
  });

  it('sorts in steps like the native sort, whatever the number of runs (sortInSteps)', () => {
    fc.assert(
      fc.property(fc.array(hexKey, { maxLength: 60 }), fc.integer({ min: 1, max: 7 }), (keys, step) => {
        let steps = 0;
        const it = sortInSteps([...keys], step);
        for (let r = it.next(); ; r = it.next()) {
          if (r.done) {
            expect(r.value).toEqual([...keys].sort());
            break;
          }
          steps++;
        }
        if (keys.length > step) expect(steps).toBeGreaterThanOrEqual(Math.ceil(keys.length / step));
      }),
      { numRuns: 500 },
    );
  });

  it('orders thousands of keys added since the last snapshot (several sorted runs merged)', () => {
    const live = new Map<string, number>();
    const order = new KeyOrder();
    for (let i = 0; i < 20_000; i++) {
      const key = ((i * 7919) % 20_011).toString(16).padStart(4, '0');
      if (!live.has(key)) {
        live.set(key, i);
        order.inserted(key, live);
      }
    }
    expect(runSteps(order.entrySteps(live)).keys).toEqual([...live.keys()].sort());
  });

  it('stops tracking past the store\'s own size, and still orders every key', () => {
    const live = new Map<string, number>();
    const order = new KeyOrder();
    // Churn: 3,000 inserts and deletes on a store that never holds more than 10 keys.
    for (let i = 0; i < 3000; i++) {
      const key = (i * 7919 % 4096).toString(16).padStart(4, '0');
      live.set(key, i);
      order.inserted(key, live);
      if (live.size > 10) live.delete(live.keys().next().value!);
    }
    expect((order as unknown as { added: unknown }).added).toBeUndefined();
    expect(runSteps(order.entrySteps(live)).keys).toEqual([...live.keys()].sort());
    live.set('ffff', 1);
    order.inserted('ffff', live);
    expect(runSteps(order.entrySteps(live)).keys).toEqual([...live.keys()].sort()); // tracking again after a full sort
    expect((order as unknown as { added: string[] }).added).toEqual([]);
  });
});
