/**
 * A least-recently-used map. Used to bound caches keyed by attacker-influenced bytes (public keys
 * a peer sends us), so a flood of fresh keys cannot grow memory without limit.
 *
 * On `lru-cache` (a linked list over preallocated arrays, O(1) per operation). The `Map` this
 * replaced evicted its first key and moved every hit to the end; V8 keeps a deleted entry's slot
 * until the table is rebuilt and iteration steps over those slots, so once full, each eviction
 * cost O(capacity): ~8.5 µs per insert in the 65,536-entry verified-signature cache.
 */
import { LRUCache } from 'lru-cache';
import { ConfigError } from '@phalanx/interface';

/** Largest capacity accepted (2^22): lru-cache preallocates ~28 bytes of index an entry, ~120 MB here. */
const MAX_CAPACITY = 4_194_304;

/**
 * Throws `ConfigError` (path: `path`, the option that sets the capacity) unless `capacity` is an
 * integer from 1 to 2^22. Exported so an option that sizes a cache further down can be checked
 * under its own name (the runtime's `verifiedCacheSize`).
 */
export function checkLruCapacity(capacity: number, path = 'capacity'): void {
  if (!Number.isSafeInteger(capacity) || capacity < 1 || capacity > MAX_CAPACITY) {
    throw new ConfigError(path, `LRU capacity must be an integer from 1 to ${MAX_CAPACITY}, got ${capacity}`);
  }
}

// lru-cache keys and values may be anything but null and undefined (an undefined value reads as a miss).
export class LruCache<K extends NonNullable<unknown>, V extends NonNullable<unknown>> {
  readonly #cache: LRUCache<K, V>;

  /** Throws `ConfigError` (path `capacity`) for a capacity outside 1..2^22. */
  constructor(capacity: number) {
    checkLruCapacity(capacity);
    this.#cache = new LRUCache<K, V>({ max: capacity });
  }

  get size(): number {
    return this.#cache.size;
  }

  get(key: K): V | undefined {
    return this.#cache.get(key);
  }

  set(key: K, value: V): void {
    this.#cache.set(key, value);
  }

  clear(): void {
    this.#cache.clear();
  }
}
