import { describe, expect, it } from 'vitest';
import { batchWireBytes, chunkBySize, requestBatches, requestWireBytes, unknownClient } from '../src/index.js';
import type { ClientRequest } from '../src/index.js';

const req = (bytes: number, client = 'c0'): ClientRequest => ({ client, seq: 1n, payload: new Uint8Array(bytes) });

describe('request sizes and chunking', () => {
  it('bounds a request\'s wire bytes from above, client id at up to 3 bytes per unit', () => {
    expect(requestWireBytes(req(100))).toBe(100 + 6 + 24);
    expect(requestWireBytes(req(0, 'é'.repeat(10)))).toBeGreaterThanOrEqual(new TextEncoder().encode('é'.repeat(10)).length);
    expect(batchWireBytes([req(10), req(20)])).toBe(requestWireBytes(req(10)) + requestWireBytes(req(20)));
  });

  it('cuts by count and by bytes, in order; an item over the byte bound goes alone', () => {
    const sizes = (xs: number[], count: number, bytes: number) => [...chunkBySize(xs, (x) => x, count, bytes)];
    expect(sizes([3, 3, 3, 3, 3], 10, 7)).toEqual([[3, 3], [3, 3], [3]]);
    expect(sizes([1, 1, 1, 1, 1], 2, 100)).toEqual([[1, 1], [1, 1], [1]]);
    expect(sizes([50, 1, 50], 10, 10)).toEqual([[50], [1], [50]]);
    expect(sizes([], 10, 10)).toEqual([]);
  });

  it('is lazy: the first batch reads at most one request past it', () => {
    let read = 0;
    function* counted(): Generator<ClientRequest> {
      for (let i = 0; i < 1000; i++) {
        read++;
        yield req(100);
      }
    }
    const first = requestBatches(counted(), 4, 1 << 20).next().value;
    expect(first).toHaveLength(4);
    expect(read).toBe(5);
  });
});

describe('unknownClient', () => {
  it('is true only when the authenticator says it has no key for the client', () => {
    const r = { client: 'c1', seq: 0n, payload: new Uint8Array(0) };
    const auth = (known: string[]) => ({ check: () => 'bad', knows: (c: string) => known.includes(c) });
    expect(unknownClient(auth([]), r)).toBe(true);
    expect(unknownClient(auth(['c1']), r)).toBe(false);
    expect(unknownClient({ check: () => 'bad' }, r)).toBe(false); // cannot tell: the refusal is the sender's
    expect(unknownClient(undefined, r)).toBe(false);
    expect(unknownClient(auth([]), { ...r, client: 7 as unknown as string })).toBe(false); // not even a client id
  });
});
