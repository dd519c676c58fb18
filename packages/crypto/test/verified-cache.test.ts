import { describe, expect, it } from 'vitest';
import type { BatchVerifier, Verifier, VerifyItem } from '@phalanx/interface';
import { createBatchVerifier } from '../src/batch.js';
import { generateKeyPair, signerFromSecret, verifier } from '../src/signatures.js';
import { createVerifiedCache } from '../src/verified-cache.js';
import { testBytes } from './helpers.js';

const signer = signerFromSecret(generateKeyPair('ed25519', { seed: testBytes(3, 32) }).secretKey);
const items: VerifyItem[] = Array.from({ length: 20 }, (_, i) => {
  const message = testBytes(i + 10, 40);
  const signature = signer.sign(message);
  if (i % 4 === 0) signature[20]! ^= 1;
  return { publicKey: signer.publicKey, message, signature };
});

/** Counts calls to the inner verifier so cache hits are visible. */
function counting(): Verifier & { calls: number } {
  const v = {
    calls: 0,
    verify(pk: Uint8Array, m: Uint8Array, s: Uint8Array) {
      v.calls++;
      return verifier.verify(pk, m, s);
    },
  };
  return v;
}

describe('verified-digest cache', () => {
  it('answers like the inner verifier and caches only successes', () => {
    const inner = counting();
    const c = createVerifiedCache({ verifier: inner });
    const first = items.map((it) => c.verify(it.publicKey, it.message, it.signature));
    expect(first).toEqual(items.map((it) => verifier.verify(it.publicKey, it.message, it.signature)));
    expect(inner.calls).toBe(20);
    const second = items.map((it) => c.verify(it.publicKey, it.message, it.signature));
    expect(second).toEqual(first);
    expect(inner.calls).toBe(20 + 5); // the 5 invalid ones are checked again, valid ones are hits
    expect(c.size).toBe(15);
  });

  it('a cached success does not leak to a different message, key or signature', () => {
    const c = createVerifiedCache();
    const it0 = items[1]!;
    expect(c.verify(it0.publicKey, it0.message, it0.signature)).toBe(true);
    expect(c.verify(it0.publicKey, items[2]!.message, it0.signature)).toBe(false);
    // Shifting a byte between message and signature must not collide (length-prefixed digest).
    const shifted = Uint8Array.from([...it0.message, it0.signature[0]!]);
    expect(c.verify(it0.publicKey, shifted, it0.signature.subarray(1))).toBe(false);
    expect(c.verify('x' as unknown as Uint8Array, it0.message, it0.signature)).toBe(false);
  });

  it('preverify on the pool fills the cache so later sync verifies are hits', async () => {
    const inner = counting();
    const c = createVerifiedCache({ verifier: inner, capacity: 100 });
    const pool: BatchVerifier = createBatchVerifier({ workers: 1 });
    try {
      const res = await c.preverify(pool, items);
      expect(res).toEqual(items.map((it) => verifier.verify(it.publicKey, it.message, it.signature)));
      expect(items.map((it) => c.verify(it.publicKey, it.message, it.signature))).toEqual(res);
      expect(inner.calls).toBe(5); // only the invalid items reach the inner verifier
    } finally {
      await pool.close();
    }
  });

  it('preverify sends only the misses to the pool, and answers hits from the cache', async () => {
    const c = createVerifiedCache({ capacity: 100 });
    const sent: VerifyItem[][] = [];
    const pool: BatchVerifier = {
      verifyBatch: async (batch) => {
        sent.push([...batch]);
        return batch.map((it) => verifier.verify(it.publicKey, it.message, it.signature));
      },
      close: async () => {},
    };
    const expected = items.map((it) => verifier.verify(it.publicKey, it.message, it.signature));
    expect(await c.preverify(pool, items.slice(0, 8))).toEqual(expected.slice(0, 8));
    expect(await c.preverify(pool, items)).toEqual(expected);
    // The second batch held the 6 valid items of the first: only the other 14 went to the pool.
    expect(sent.map((b) => b.length)).toEqual([8, 14]);
    expect(await c.preverify(pool, items.filter((_, i) => i % 4 !== 0))).toEqual(Array(15).fill(true));
    expect(sent.length).toBe(2); // all hits: no round trip at all
    expect(items.map((it) => c.cached(it))).toEqual(expected);
    // A malformed item is a miss the pool judges (false), never a hit.
    const bad = { publicKey: 'x', message: items[1]!.message, signature: items[1]!.signature } as unknown as VerifyItem;
    expect(await c.preverify(pool, [bad])).toEqual([false]);
    expect(c.cached(bad)).toBe(false);
    // Copies of one item in a batch go to the pool once, and all get its verdict.
    const fresh = createVerifiedCache({ capacity: 100 });
    sent.length = 0;
    const twice = [items[1]!, items[4]!, { ...items[1]! }, items[4]!];
    expect(await fresh.preverify(pool, twice)).toEqual([true, false, true, false]);
    expect(sent.map((b) => b.length)).toEqual([2]);
  });
});
