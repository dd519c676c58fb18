import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { sortInSteps } from '../src/key-order.js';

/** Few short keys: many repeats. */
const hexKey = fc.uint8Array({ maxLength: 2 }).map((b) => Buffer.from(b.map((x) => x % 5)).toString('hex'));

describe('sortInSteps', () => {
  it('sorts in steps like the native sort, whatever the number of runs', () => {
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
});
