import { createPublicKey, verify as opensslVerify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import {
  ed25519VerifyNative,
  ed25519VerifyNoble,
  isCanonicalScalar,
  isSmallOrderEncoding,
  setEd25519KeyCacheSize,
  validateEd25519PublicKey,
  DEFAULT_KEY_CACHE_SIZE,
} from '../src/ed25519.js';
import { CryptoError } from '@phalanx/interface';
import { cat, hex, testBytes, wycheproof } from './helpers.js';

interface EdVector { tcId: number; comment: string; msg: string; sig: string; result: 'valid' | 'invalid'; flags: string[] }
interface EdFile { testGroups: { publicKey: { pk: string }; tests: EdVector[] }[] }

const Point = ed25519.Point;
type EdPoint = InstanceType<typeof Point>;
const P = (1n << 255n) - 19n;
const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const le = (b: Uint8Array): bigint => {
  let n = 0n;
  for (let i = b.length - 1; i >= 0; i--) n = (n << 8n) | BigInt(b[i]!);
  return n;
};
const to32 = (n: bigint): Uint8Array => {
  const o = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    o[i] = Number(n & 255n);
    n >>= 8n;
  }
  return o;
};
const challenge = (R: Uint8Array, A: Uint8Array, M: Uint8Array): bigint => le(sha512(cat(R, A, M))) % L;

/** A point of order exactly 8 (found the same way as the module, independently coded). */
const T8: EdPoint = (() => {
  for (let y = 3n; ; y++) {
    try {
      const p = Point.fromBytes(to32(y));
      const t = p.multiplyUnsafe(L - 1n).add(p);
      if (!t.double().double().is0()) return t;
    } catch {
      /* not a y coordinate on the curve */
    }
  }
})();

const both = (pk: Uint8Array, m: Uint8Array, s: Uint8Array): [boolean, boolean] => [
  ed25519VerifyNative(pk, m, s),
  ed25519VerifyNoble(pk, m, s),
];

/** What raw OpenSSL says without our pre-checks (to show why they exist). */
function rawOpenssl(pk: Uint8Array, m: Uint8Array, s: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pk]), format: 'der', type: 'spki' });
  return opensslVerify(null, m, key, s);
}

describe('Ed25519 Wycheproof vectors', () => {
  const file = wycheproof<EdFile>('ed25519_test.json');
  const vectors = file.testGroups.flatMap((g) => g.tests.map((t) => ({ pk: hex(g.publicKey.pk), t })));

  it('has the whole file', () => {
    expect(vectors.length).toBe(151);
  });

  for (const path of ['native', 'noble'] as const) {
    it(`${path} path gives the expected result on every vector`, () => {
      const f = path === 'native' ? ed25519VerifyNative : ed25519VerifyNoble;
      const wrong = vectors.filter(({ pk, t }) => f(pk, hex(t.msg), hex(t.sig)) !== (t.result === 'valid'));
      expect(wrong.map(({ t }) => `${t.tcId} ${t.comment}`)).toEqual([]);
    });
  }
});

describe('Ed25519 RFC 8032 §7.1 test vectors', () => {
  const rfc = [
    {
      sk: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
      pk: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
      msg: '',
      sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
    },
    {
      sk: '4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb',
      pk: '3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c',
      msg: '72',
      sig: '92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00',
    },
    {
      sk: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
      pk: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
      msg: 'af82',
      sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
    },
  ];
  for (const [i, v] of rfc.entries()) {
    it(`TEST ${i + 1}: key derivation, signature and both verify paths`, () => {
      expect(Buffer.from(ed25519.getPublicKey(hex(v.sk))).toString('hex')).toBe(v.pk);
      expect(Buffer.from(ed25519.sign(hex(v.msg), hex(v.sk))).toString('hex')).toBe(v.sig);
      expect(both(hex(v.pk), hex(v.msg), hex(v.sig))).toEqual([true, true]);
      const bad = hex(v.sig);
      bad[5]! ^= 1;
      expect(both(hex(v.pk), hex(v.msg), bad)).toEqual([false, false]);
    });
  }
});

describe('Ed25519 acceptance rule: edge cases where OpenSSL and noble disagree', () => {
  const seed = new Uint8Array(32).fill(7);
  const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(seed);
  const M = new TextEncoder().encode('phalanx edge case');
  const identity = Point.ZERO.toBytes();

  it('identity public key with R = identity, S = 0: refused (raw OpenSSL accepts it)', () => {
    const sig = cat(identity, new Uint8Array(32));
    expect(rawOpenssl(identity, M, sig)).toBe(true);
    expect(both(identity, M, sig)).toEqual([false, false]);
    expect(() => validateEd25519PublicKey(identity)).toThrow(CryptoError);
  });

  it('order-8 public key: refused at registration and by verify', () => {
    const T = T8.toBytes();
    expect(() => validateEd25519PublicKey(T)).toThrow(/small-order/);
    expect(both(T, M, cat(identity, new Uint8Array(32)))).toEqual([false, false]);
  });

  it('every small-order encoding (canonical or not, either sign) is blocked and refused as a key', () => {
    let t = Point.ZERO;
    let count = 0;
    for (let i = 0; i < 8; i++, t = t.add(T8)) {
      const enc = t.toBytes();
      expect(isSmallOrderEncoding(enc)).toBe(true);
      expect(() => validateEd25519PublicKey(enc)).toThrow(CryptoError);
      const y = le(enc) & ((1n << 255n) - 1n);
      if (y + P < 1n << 255n) {
        const nc = to32(y + P);
        expect(isSmallOrderEncoding(nc)).toBe(true);
        expect(() => validateEd25519PublicKey(nc)).toThrow(CryptoError);
        count++;
      }
    }
    // y + p fits in 255 bits only for y = 0 (the two order-4 points) and y = 1 (the identity).
    expect(count).toBe(3);
    expect(isSmallOrderEncoding(A)).toBe(false);
  });

  it('small-order R (identity) with a real key and S = k·a: refused (OpenSSL and noble strict both accept)', () => {
    const sig = cat(identity, to32((challenge(identity, A, M) * a) % L));
    expect(rawOpenssl(A, M, sig)).toBe(true);
    expect(ed25519.verify(sig, M, A, { zip215: false })).toBe(true);
    expect(both(A, M, sig)).toEqual([false, false]);
  });

  it('R with a torsion component: refused (noble strict, cofactored, accepts; OpenSSL refuses)', () => {
    const r = 123456789n;
    const R = Point.BASE.multiply(r).add(T8).toBytes();
    const sig = cat(R, to32((r + challenge(R, A, M) * a) % L));
    expect(ed25519.verify(sig, M, A, { zip215: false })).toBe(true);
    expect(rawOpenssl(A, M, sig)).toBe(false);
    expect(both(A, M, sig)).toEqual([false, false]);
  });

  const mixedA = Point.fromBytes(A).add(T8).toBytes();

  it('mixed-order public key is allowed, and a cofactorless-valid signature is accepted by both paths', () => {
    expect(() => validateEd25519PublicKey(mixedA)).not.toThrow();
    for (let r = 1n; ; r++) {
      const t = r % 8n;
      const R = Point.BASE.multiply(r).subtract(T8.multiplyUnsafe(t)).toBytes();
      const k = challenge(R, mixedA, M);
      if (k % 8n !== t) continue; // need k·T == t·T so that [S]B − [k]A' == R exactly
      const sig = cat(R, to32((r + k * a) % L));
      expect(rawOpenssl(mixedA, M, sig)).toBe(true);
      expect(both(mixedA, M, sig)).toEqual([true, true]);
      break;
    }
  });

  it('mixed-order public key with a signature valid only under the cofactored equation: refused', () => {
    for (let r = 1n; ; r++) {
      const R = Point.BASE.multiply(r).toBytes();
      const k = challenge(R, mixedA, M);
      if (k % 8n === 0n) continue;
      const sig = cat(R, to32((r + k * a) % L));
      expect(ed25519.verify(sig, M, mixedA, { zip215: false })).toBe(true);
      expect(rawOpenssl(mixedA, M, sig)).toBe(false);
      expect(both(mixedA, M, sig)).toEqual([false, false]);
      break;
    }
  });

  it('non-canonical S (S + L) is refused; canonical S accepted', () => {
    const sig = ed25519.sign(M, seed);
    expect(both(A, M, sig)).toEqual([true, true]);
    const malleated = cat(sig.subarray(0, 32), to32(le(sig.subarray(32)) + L));
    expect(isCanonicalScalar(malleated.subarray(32))).toBe(false);
    expect(both(A, M, malleated)).toEqual([false, false]);
    expect(isCanonicalScalar(to32(L - 1n))).toBe(true);
    expect(isCanonicalScalar(to32(L))).toBe(false);
  });

  it('non-canonical R (identity encoded with y = 1 + p) is refused', () => {
    const R = to32(1n + P);
    const sig = cat(R, to32((challenge(R, A, M) * a) % L));
    expect(both(A, M, sig)).toEqual([false, false]);
  });

  it('non-canonical public key encodings (y ≥ p of a large-order point, negative zero) are refused', () => {
    let found = 0;
    for (let y = 2n; y < 19n; y++) {
      let pt: EdPoint;
      try {
        pt = Point.fromBytes(to32(y));
      } catch {
        continue;
      }
      if (pt.isSmallOrder()) continue;
      const nc = to32(y + P); // same point, non-canonical encoding
      expect(() => validateEd25519PublicKey(nc)).toThrow(/canonical/);
      expect(both(nc, M, ed25519.sign(M, seed))).toEqual([false, false]);
      found++;
    }
    expect(found).toBeGreaterThan(0);
    const negZero = to32(1n);
    negZero[31]! |= 0x80; // identity with the sign bit set
    expect(() => validateEd25519PublicKey(negZero)).toThrow(CryptoError);
  });

  it('wrong lengths and garbage never throw from verify', () => {
    const sig = ed25519.sign(M, seed);
    for (const [pk, s] of [
      [A.subarray(0, 31), sig],
      [cat(A, new Uint8Array(1)), sig],
      [A, sig.subarray(0, 63)],
      [A, cat(sig, new Uint8Array(1))],
      [new Uint8Array(0), new Uint8Array(0)],
    ] as const) {
      expect(both(pk, M, s)).toEqual([false, false]);
    }
    expect(() => validateEd25519PublicKey(new Uint8Array(31))).toThrow(/32 bytes/);
    const notOnCurve = to32(2n); // y = 2 is not on the curve
    expect(() => validateEd25519PublicKey(notOnCurve)).toThrow(CryptoError);
  });
});

describe('Ed25519 native vs noble cross-check', () => {
  it('agree on random keys, messages and corrupted signatures', () => {
    let agreeValid = 0;
    for (let i = 0; i < 40; i++) {
      const seed = testBytes(1000 + i, 32);
      const pk = ed25519.getPublicKey(seed);
      const msg = testBytes(2000 + i, i * 7);
      const sig = ed25519.sign(msg, seed);
      expect(both(pk, msg, sig)).toEqual([true, true]);
      agreeValid++;
      const bad = Uint8Array.from(sig);
      bad[i % 64]! ^= 1 << (i % 8);
      const [n, b] = both(pk, msg, bad);
      expect(n).toBe(b);
      expect(n).toBe(false);
      const junk = testBytes(3000 + i, 64);
      expect(both(testBytes(4000 + i, 32), msg, junk)).toEqual([false, false]);
    }
    expect(agreeValid).toBe(40);
  });

  it('agree on every combination of edge-case keys, R values and S values', () => {
    const seed = testBytes(77, 32);
    const { scalar: a, pointBytes: A } = ed25519.utils.getExtendedPublicKey(seed);
    const M = new TextEncoder().encode('grid');
    const good = ed25519.sign(M, seed);
    const torsion: Uint8Array[] = [];
    for (let i = 0, t = Point.ZERO; i < 8; i++, t = t.add(T8)) torsion.push(t.toBytes());
    const keys = [A, Point.fromBytes(A).add(T8).toBytes(), ...torsion, to32(P + 1n), to32(2n), new Uint8Array(32).fill(0xff)];
    const rs = [good.subarray(0, 32), ...torsion, to32(P), to32(P + 1n), Point.BASE.multiply(5n).add(T8).toBytes(), testBytes(5, 32)];
    const ss = [good.subarray(32), to32(0n), to32(1n), to32(L - 1n), to32(L), to32(L + 1n), new Uint8Array(32).fill(0xff), to32((challenge(rs[1]!, A, M) * a) % L)];
    let accepted = 0;
    let total = 0;
    for (const pk of keys) {
      for (const r of rs) {
        for (const sc of ss) {
          const [n, b] = both(pk, M, cat(r, sc));
          expect(n, `pk=${Buffer.from(pk).toString('hex')} R=${Buffer.from(r).toString('hex')} S=${Buffer.from(sc).toString('hex')}`).toBe(b);
          if (n) accepted++;
          total++;
        }
      }
    }
    expect(total).toBe(keys.length * rs.length * ss.length);
    expect(accepted).toBe(1); // only the honest signature
  });

  it('keeps answering correctly when the KeyObject cache evicts', () => {
    setEd25519KeyCacheSize(2);
    try {
      const keys = [1, 2, 3, 4].map((i) => testBytes(50 + i, 32));
      const msg = new TextEncoder().encode('evict');
      for (let round = 0; round < 3; round++) {
        for (const seed of keys) expect(ed25519VerifyNative(ed25519.getPublicKey(seed), msg, ed25519.sign(msg, seed))).toBe(true);
      }
    } finally {
      setEd25519KeyCacheSize(DEFAULT_KEY_CACHE_SIZE);
    }
  });
});
