import { describe, expect, it } from 'vitest';
import { CryptoError } from '@phalanx/interface';
import type { Rng, SignatureScheme } from '@phalanx/interface';
import {
  createVerifier,
  generateKeyPair,
  mlDsaVerifyRaw,
  parsePublicKey,
  publicKeyFromSecret,
  signerFromSecret,
  validatePublicKey,
  verifySignature,
} from '../src/signatures.js';
import { SCHEME_SIZES, SCHEME_TAG, SUPPORTED_SCHEMES } from '../src/schemes.js';
import { cat, hex, testBytes, wycheproof } from './helpers.js';

const native = createVerifier();
const noble = createVerifier({ ed25519: 'noble' });
const msg = new TextEncoder().encode('phalanx/test/v1 message');

function seedFor(scheme: SignatureScheme, n: number): Uint8Array {
  return testBytes(n, SCHEME_SIZES[scheme as keyof typeof SCHEME_SIZES].secret);
}

/** One key pair and signature per scheme, made once (ML-DSA signing is the slow part). */
const fixtures = new Map(
  SUPPORTED_SCHEMES.map((scheme) => {
    const kp = generateKeyPair(scheme, { seed: seedFor(scheme, 11) });
    const signer = signerFromSecret(kp.secretKey, scheme);
    return [scheme, { kp, signer, sig: signer.sign(msg) }] as const;
  }),
);

describe.each(SUPPORTED_SCHEMES)('%s', (scheme) => {
  const { kp, signer, sig } = fixtures.get(scheme)!;

  it('tags keys and signatures with the scheme and has the documented sizes', () => {
    const sizes = SCHEME_SIZES[scheme];
    expect(kp.publicKey[0]).toBe(SCHEME_TAG[scheme]);
    expect(sig[0]).toBe(SCHEME_TAG[scheme]);
    expect(kp.publicKey.length).toBe(sizes.publicKey + 1);
    expect(sig.length).toBe(sizes.signature + 1);
    expect(kp.secretKey.length).toBe(sizes.secret + 1);
    expect(signer.publicKey).toEqual(kp.publicKey);
    expect(parsePublicKey(kp.publicKey, scheme)).toEqual({ scheme, key: kp.publicKey.subarray(1) });
    expect(() => validatePublicKey(kp.publicKey)).not.toThrow();
  });

  it('is deterministic from the seed (key and signature)', () => {
    const again = generateKeyPair(scheme, { seed: seedFor(scheme, 11) });
    expect(again).toEqual(kp);
    expect(signerFromSecret(kp.secretKey).sign(msg)).toEqual(sig);
    expect(generateKeyPair(scheme, { seed: seedFor(scheme, 12) }).publicKey).not.toEqual(kp.publicKey);
  });

  it('verifies on both Ed25519 paths; refuses another message, key or a flipped bit', () => {
    expect(native.verify(kp.publicKey, msg, sig)).toBe(true);
    expect(noble.verify(kp.publicKey, msg, sig)).toBe(true);
    expect(verifySignature(kp.publicKey, msg, sig)).toBe(true);
    expect(native.verify(kp.publicKey, cat(msg, new Uint8Array([0])), sig)).toBe(false);
    const other = generateKeyPair(scheme, { seed: seedFor(scheme, 13) });
    expect(native.verify(other.publicKey, msg, sig)).toBe(false);
    for (const at of [1, 40, sig.length - 1]) {
      const bad = Uint8Array.from(sig);
      bad[at]! ^= 0x10;
      expect(native.verify(kp.publicKey, msg, bad)).toBe(false);
      expect(noble.verify(kp.publicKey, msg, bad)).toBe(false);
    }
  });

  it('never throws on malformed input: truncated, extended, empty, retagged, non-bytes', () => {
    const cases: [unknown, unknown, unknown][] = [
      [kp.publicKey, msg, sig.subarray(0, sig.length - 1)],
      [kp.publicKey, msg, cat(sig, new Uint8Array([0]))],
      [kp.publicKey.subarray(0, 10), msg, sig],
      [new Uint8Array(0), msg, sig],
      [kp.publicKey, msg, new Uint8Array(0)],
      [kp.publicKey, msg, cat(new Uint8Array([0x7f]), sig.subarray(1))],
      [cat(new Uint8Array([0x7f]), kp.publicKey.subarray(1)), msg, sig],
      [cat(new Uint8Array([SCHEME_TAG['bls12-381']]), kp.publicKey.subarray(1)), msg, sig],
      ['not bytes', msg, sig],
      [kp.publicKey, null, sig],
      [kp.publicKey, msg, [1, 2, 3]],
    ];
    for (const [pk, m, s] of cases) {
      expect(native.verify(pk as Uint8Array, m as Uint8Array, s as Uint8Array)).toBe(false);
      expect(noble.verify(pk as Uint8Array, m as Uint8Array, s as Uint8Array)).toBe(false);
    }
  });

  it('refuses a signature of this scheme under a key of every other scheme (and vice versa)', () => {
    for (const other of SUPPORTED_SCHEMES.filter((s) => s !== scheme)) {
      const { kp: okp, sig: osig } = fixtures.get(other)!;
      expect(native.verify(okp.publicKey, msg, sig)).toBe(false);
      expect(native.verify(kp.publicKey, msg, osig)).toBe(false);
      // Same body, other tag: the tag is authoritative, the body is never reinterpreted.
      const retagged = Uint8Array.from(sig);
      retagged[0] = SCHEME_TAG[other];
      expect(native.verify(kp.publicKey, msg, retagged)).toBe(false);
      expect(() => parsePublicKey(kp.publicKey, other)).toThrow(CryptoError);
      expect(() => validatePublicKey(kp.publicKey, other)).toThrow(/expected/);
      expect(() => signerFromSecret(kp.secretKey, other)).toThrow(CryptoError);
    }
  });
});

describe('key generation and parsing errors', () => {
  it('uses the injected Rng when no seed is given', () => {
    let calls = 0;
    const rng: Rng = {
      nextU32: () => 0,
      nextFloat: () => 0,
      nextInt: () => 0,
      bytes: (n) => {
        calls++;
        return testBytes(99, n);
      },
    };
    const a = generateKeyPair('ed25519', { rng });
    const b = generateKeyPair('ed25519', { rng });
    expect(calls).toBe(2);
    expect(a).toEqual(b);
    expect(generateKeyPair('ed25519').publicKey).not.toEqual(generateKeyPair('ed25519').publicKey);
  });

  it('gives CryptoError for unknown schemes, bls, wrong seed lengths, bad tags', () => {
    expect(() => generateKeyPair('rsa' as SignatureScheme)).toThrow(CryptoError);
    expect(() => generateKeyPair('bls12-381')).toThrow(/unsupported/);
    expect(() => generateKeyPair('ed25519', { seed: new Uint8Array(31) })).toThrow(/32 bytes/);
    expect(() => parsePublicKey(new Uint8Array(0))).toThrow(/empty/);
    expect(() => parsePublicKey(new Uint8Array([0xee, 1, 2]))).toThrow(/unknown scheme tag 0xee/);
    expect(() => parsePublicKey(new Uint8Array([SCHEME_TAG['bls12-381'], 1]))).toThrow(/not handled/);
    expect(() => parsePublicKey(new Uint8Array([SCHEME_TAG.ed25519, 1, 2]))).toThrow(/33 bytes/);
    expect(() => signerFromSecret(new Uint8Array([SCHEME_TAG.ed25519]))).toThrow(CryptoError);
    expect(() => publicKeyFromSecret(new Uint8Array([0x42, 1]))).toThrow(CryptoError);
  });

  it('validatePublicKey refuses small-order Ed25519 keys, also inside a hybrid key', () => {
    const identity = new Uint8Array(32);
    identity[0] = 1;
    expect(() => validatePublicKey(cat(new Uint8Array([SCHEME_TAG.ed25519]), identity))).toThrow(/small-order/);
    const hybrid = generateKeyPair('hybrid-ed25519-ml-dsa-44', { seed: testBytes(5, 64) });
    const bad = Uint8Array.from(hybrid.publicKey);
    bad.set(identity, 1);
    expect(() => validatePublicKey(bad)).toThrow(/small-order/);
  });
});

describe('hybrid-ed25519-ml-dsa-44', () => {
  const scheme = 'hybrid-ed25519-ml-dsa-44';
  const kp = generateKeyPair(scheme, { seed: testBytes(21, 64) });
  const sig = signerFromSecret(kp.secretKey).sign(msg);
  const edKp = generateKeyPair('ed25519', { seed: kp.secretKey.slice(1, 33) });
  const pqKp = generateKeyPair('ml-dsa-44', { seed: kp.secretKey.slice(33) });
  const edLen = 1 + 64;

  it('is false when only the Ed25519 half is bad', () => {
    const bad = Uint8Array.from(sig);
    bad[10]! ^= 1;
    expect(native.verify(kp.publicKey, msg, bad)).toBe(false);
    expect(noble.verify(kp.publicKey, msg, bad)).toBe(false);
  });

  it('is false when only the ML-DSA half is bad', () => {
    const bad = Uint8Array.from(sig);
    bad[edLen + 100]! ^= 1;
    expect(native.verify(kp.publicKey, msg, bad)).toBe(false);
  });

  it('is false when one half comes from a signature over another message', () => {
    const other = signerFromSecret(kp.secretKey).sign(new TextEncoder().encode('other'));
    expect(native.verify(kp.publicKey, msg, cat(sig.subarray(0, edLen), other.subarray(edLen)))).toBe(false);
    expect(native.verify(kp.publicKey, msg, cat(other.subarray(0, edLen), sig.subarray(edLen)))).toBe(false);
  });

  it('halves are domain-separated: neither verifies as a plain Ed25519 / ML-DSA-44 signature', () => {
    expect(edKp.publicKey.subarray(1)).toEqual(kp.publicKey.subarray(1, 33));
    expect(pqKp.publicKey.subarray(1)).toEqual(kp.publicKey.subarray(33));
    const edHalf = cat(new Uint8Array([SCHEME_TAG.ed25519]), sig.subarray(1, edLen));
    const pqHalf = cat(new Uint8Array([SCHEME_TAG['ml-dsa-44']]), sig.subarray(edLen));
    expect(native.verify(edKp.publicKey, msg, edHalf)).toBe(false);
    expect(native.verify(pqKp.publicKey, msg, pqHalf)).toBe(false);
    // ...while plain signatures by the same component keys glued together do not make a hybrid one.
    const glued = cat(
      new Uint8Array([SCHEME_TAG[scheme]]),
      signerFromSecret(edKp.secretKey).sign(msg).subarray(1),
      signerFromSecret(pqKp.secretKey).sign(msg).subarray(1),
    );
    expect(native.verify(kp.publicKey, msg, glued)).toBe(false);
  });

  it('noble and native Ed25519 backends sign identically', () => {
    expect(signerFromSecret(kp.secretKey, scheme, { ed25519: 'noble' }).sign(msg)).toEqual(sig);
  });
});

interface DsaVector { tcId: number; comment: string; msg: string; sig: string; ctx?: string; result: 'valid' | 'invalid' }
interface DsaFile { testGroups: { publicKey: string; tests: DsaVector[] }[] }

describe.each([
  ['ml-dsa-44', 'mldsa_44_verify_test.json', 180],
  ['ml-dsa-65', 'mldsa_65_verify_test.json', 210],
] as const)('%s Wycheproof verify vectors', (scheme, file, count) => {
  const groups = wycheproof<DsaFile>(file).testGroups;
  const vectors = groups.flatMap((g) => g.tests.map((t) => ({ pk: hex(g.publicKey), t })));

  it('accepts every valid vector and rejects every invalid one', () => {
    expect(vectors.length).toBe(count);
    const wrong = vectors.filter(
      ({ pk, t }) => mlDsaVerifyRaw(scheme, pk, hex(t.msg), hex(t.sig), t.ctx === undefined ? undefined : hex(t.ctx)) !== (t.result === 'valid'),
    );
    expect(wrong.map(({ t }) => `${t.tcId} ${t.comment}`)).toEqual([]);
  });

  it('gives the same answers through the tagged Verifier (every third context-free vector)', () => {
    const tag = new Uint8Array([SCHEME_TAG[scheme]]);
    let checked = 0;
    for (const [i, { pk, t }] of vectors.entries()) {
      if (t.ctx !== undefined || i % 3 !== 0) continue;
      expect(native.verify(cat(tag, pk), hex(t.msg), cat(tag, hex(t.sig)))).toBe(t.result === 'valid');
      checked++;
    }
    expect(checked).toBeGreaterThan(40);
  });
});
