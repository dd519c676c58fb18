import { describe, expect, it } from 'vitest';
import { ConfigError } from '@phalanx/interface';
import { LruCache, checkLruCapacity } from '../src/lru.js';
import { setEd25519KeyCacheSize } from '../src/ed25519.js';
import { createVerifiedCache } from '../src/verified-cache.js';

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

  it('refuses a nonsensical capacity with ConfigError (path capacity), from every option that sets one', () => {
    const refused = (capacity: number) =>
      expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'capacity', message: `capacity: LRU capacity must be an integer from 1 to 4194304, got ${capacity}` });
    // 2^22 + 1: lru-cache would preallocate its index for all of it.
    for (const capacity of [0, 1.5, Number.NaN, 2 ** 22 + 1]) {
      expect(() => new LruCache(capacity)).toThrow(refused(capacity));
      expect(() => createVerifiedCache({ capacity })).toThrow(refused(capacity));
      expect(() => setEd25519KeyCacheSize(capacity)).toThrow(refused(capacity));
    }
    expect(new LruCache(2 ** 22).size).toBe(0);
    // An option further down names itself.
    expect(() => checkLruCapacity(0, 'verifiedCacheSize')).toThrow(expect.objectContaining({ constructor: ConfigError, path: 'verifiedCacheSize' }));
    expect(() => checkLruCapacity(2 ** 22, 'verifiedCacheSize')).not.toThrow();
  });
});
