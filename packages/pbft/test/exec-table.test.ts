import { describe, expect, it } from 'vitest';
import { EXEC_WINDOW, ExecTable } from '../src/exec-table.js';

// PBFT §4.1: replicas discard requests already executed. The table that remembers them is
// replicated state, so it must stay bounded whatever a client sends.
describe('ExecTable', () => {
  it('remembers executed requests in and out of order', () => {
    const t = new ExecTable();
    t.add('c', 0n);
    t.add('c', 2n);
    expect(t.has('c', 0n)).toBe(true);
    expect(t.has('c', 1n)).toBe(false);
    expect(t.has('c', 2n)).toBe(true);
    t.add('c', 1n);
    expect(ExecTable.decode(t.encode()).has('c', 1n)).toBe(true);
  });

  it('stays bounded for a client that never sends its first numbers', () => {
    const t = new ExecTable();
    for (let s = 1n; s <= 3n * EXEC_WINDOW; s++) t.add('skipper', s);
    // Everything below the window counts as executed (discarded if it ever arrives) …
    expect(t.has('skipper', 0n)).toBe(true);
    // … and the encoded table no longer grows with the number of requests.
    const size = t.encode().length;
    for (let s = 3n * EXEC_WINDOW + 1n; s <= 4n * EXEC_WINDOW; s++) t.add('skipper', s);
    expect(t.encode().length).toBeLessThanOrEqual(size + 16);
  });

  it('gives up only gaps older than the window', () => {
    const t = new ExecTable();
    t.add('c', 1n);
    t.add('c', EXEC_WINDOW - 1n); // the window [0, W) still holds: nothing given up
    expect(t.has('c', 0n)).toBe(false);
    t.add('c', EXEC_WINDOW + 1n); // needs next >= 2: gaps 0 is given up, 1 was executed, 2 is not
    expect(t.has('c', 0n)).toBe(true);
    expect(t.has('c', 1n)).toBe(true);
    expect(t.has('c', 2n)).toBe(false);
    expect(t.has('c', EXEC_WINDOW - 1n)).toBe(true);
  });
});
