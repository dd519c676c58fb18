/**
 * Bridges the asynchronous BatchVerifier and the synchronous Verifier cores call (DESIGN §10:
 * verify off the event loop, cache verified digests). The runtime pre-verifies incoming messages
 * on the worker pool; the core's later `verify` of the same (key, message, signature) is a cache
 * hit instead of a second verification on the event loop.
 */
import { concatBytes } from '@phalanx/codec';
import type { BatchVerifier, Verifier, VerifyItem } from '@phalanx/interface';
import { sha256Native } from './hash.js';
import { LruCache } from './lru.js';
import { verifier as defaultVerifier } from './signatures.js';

export interface VerifiedCacheOptions {
  /** Entries kept (LRU). Default 65,536 (about 6 MB). 1 to 2^22, else `ConfigError` (path `capacity`). */
  readonly capacity?: number;
  /** Verifier used on a miss. Default: this package's native-path verifier. */
  readonly verifier?: Verifier;
}

export interface VerifiedCache extends Verifier {
  /** Verifies `items` on `pool` and remembers the valid ones; per-item results, same order. */
  preverify(pool: BatchVerifier, items: readonly VerifyItem[]): Promise<boolean[]>;
  /** Whether `item` is a remembered success (a later `verify` of it is a hit); never verifies. */
  cached(item: VerifyItem): boolean;
  readonly size: number;
}

function lengthPrefix(n: number): Uint8Array {
  return new Uint8Array([n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/**
 * Digest of an item. Length-prefixed so (key, message, signature) boundaries cannot shift, and
 * hashed so the cache holds 32 bytes per entry, not whole messages.
 */
function itemDigest(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): string {
  const buf = concatBytes(lengthPrefix(publicKey.length), publicKey, lengthPrefix(message.length), message, lengthPrefix(signature.length), signature);
  return Buffer.from(sha256Native.digest(buf)).toString('base64');
}

/**
 * A Verifier that remembers successful verifications. Only valid results are cached: caching
 * failures would let a flood of forged messages evict the useful entries.
 */
export function createVerifiedCache(options: VerifiedCacheOptions = {}): VerifiedCache {
  const cache = new LruCache<string, true>(options.capacity ?? 65_536);
  const inner = options.verifier ?? defaultVerifier;
  const isBytes = (x: unknown): x is Uint8Array => x instanceof Uint8Array;
  return {
    verify(publicKey, message, signature) {
      if (!isBytes(publicKey) || !isBytes(message) || !isBytes(signature)) return false;
      const d = itemDigest(publicKey, message, signature);
      if (cache.get(d) === true) return true;
      const ok = inner.verify(publicKey, message, signature);
      if (ok) cache.set(d, true);
      return ok;
    },
    async preverify(pool, items) {
      // Only the misses go to the pool: a worker round trip costs more than one verification, and
      // most items a runtime lists (a certificate's votes, a group already seen in a client frame)
      // were verified before.
      // The same item listed twice (a client group relayed by several peers in one tick) is
      // verified once.
      const results: boolean[] = new Array<boolean>(items.length).fill(false);
      const misses: { readonly at: number; readonly digest: string | undefined }[] = [];
      const firstMiss = new Map<string, number>();
      const copies: { readonly at: number; readonly of: number }[] = [];
      items.forEach((it, at) => {
        const d = it && isBytes(it.publicKey) && isBytes(it.message) && isBytes(it.signature) ? itemDigest(it.publicKey, it.message, it.signature) : undefined;
        if (d !== undefined && cache.get(d) === true) results[at] = true;
        else if (d !== undefined && firstMiss.has(d)) copies.push({ at, of: firstMiss.get(d)! });
        else {
          if (d !== undefined) firstMiss.set(d, at);
          misses.push({ at, digest: d });
        }
      });
      if (misses.length === 0) return results;
      const verdicts = await pool.verifyBatch(misses.map((m) => items[m.at]!));
      misses.forEach((m, i) => {
        const ok = verdicts[i] === true;
        results[m.at] = ok;
        if (ok && m.digest !== undefined) cache.set(m.digest, true);
      });
      for (const c of copies) results[c.at] = results[c.of]!;
      return results;
    },
    cached(it) {
      return isBytes(it?.publicKey) && isBytes(it.message) && isBytes(it.signature) && cache.get(itemDigest(it.publicKey, it.message, it.signature)) === true;
    },
    get size() {
      return cache.size;
    },
  };
}
