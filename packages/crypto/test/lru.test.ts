import { describe, expect, it } from 'vitest';
import { LruCache } from '../src/lru.js';

describe('LruCache', () => {
  it('evicts the least recently used entry and refreshes on get and set', () => {
    const c = new LruCache<string, number>(2);
    c.set('a', 1);
    c.set('b', 2);
    expect(c.get('a')).toBe(1); // a is now newer than b
    c.set('c', 3);
    expect(c.get('b')).toBeUndefined();
    expect(c.get('a')).toBe(1);
    c.set('c', 4); // overwrite refreshes c without evicting
    c.set('d', 5);
    expect(c.get('a')).toBeUndefined();
    expect([c.get('c'), c.get('d'), c.size]).toEqual([4, 5, 2]);
    c.clear();
    expect(c.size).toBe(0);
  });

  it('refuses a nonsensical capacity', () => {
    expect(() => new LruCache(0)).toThrow(RangeError);
    expect(() => new LruCache(1.5)).toThrow(RangeError);
    expect(() => new LruCache(2 ** 22 + 1)).toThrow(RangeError); // lru-cache would preallocate its index for all of it
    expect(new LruCache(2 ** 22).size).toBe(0);
  });
});
