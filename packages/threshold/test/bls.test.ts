import { describe, expect, it } from 'vitest';
import { CryptoError } from '@phalanx/interface';
import { bls12_381 } from '@noble/curves/bls12-381.js';
import {
  aggregateSignatures,
  DST_SIG_BASIC,
  DST_SIG_POP,
  fastAggregateVerify,
  keygen,
  loadBlstBackend,
  nobleBackend,
  popProve,
  popVerify,
  publicKeyOf,
  registerPublicKey,
  seededRng,
  selectBackend,
  setBackend,
  sign,
  verify,
  activeBackend,
} from '../src/index.js';
import type { BlsBackend ,
  PopVerifiedKey} from '../src/index.js';
import { loadBlsVectors } from './helpers.js';

const basic = loadBlsVectors('bls_sig_g2_basic_verify_test.json');
const pop = loadBlsVectors('bls_sig_g2_pop_verify_test.json');
const blst = await loadBlstBackend();
const backends: BlsBackend[] = blst ? [nobleBackend, blst] : [nobleBackend];
const utf8 = (s: string) => new TextEncoder().encode(s);

describe('Wycheproof BLS vectors (min-pk)', () => {
  it('the files cover the suites we think they do', () => {
    expect(basic.header).toContain('Basic scheme (NUL DST)');
    expect(pop.header).toContain('Proof of Possession scheme (POP DST)');
    expect(new Set(basic.vectors.map((v) => v.dst))).toEqual(new Set([DST_SIG_BASIC]));
    expect(new Set(pop.vectors.map((v) => v.dst))).toEqual(new Set([DST_SIG_POP]));
    expect(basic.vectors.length).toBe(88);
    expect(pop.vectors.length).toBe(26);
  });

  it('the native backend loads here (it is installed in this workspace)', () => {
    // If this fails the dual-backend tests below silently degrade to noble only.
    expect(blst?.name).toBe('blst');
  });

  for (const backend of backends) {
    for (const set of [basic, pop]) {
      it(`${backend.name}: every vector of ${set.vectors[0]!.file} gets its expected result`, () => {
        const wrong = set.vectors
          .filter((v) => backend.verify(v.publicKey, v.msg, v.sig, v.dst) !== v.valid)
          .map((v) => `tcId ${v.tcId} [${v.flags.join(',')}] expected ${v.valid}`);
        expect(wrong).toEqual([]);
      });
    }
  }

  it('POP vectors fail under the Basic DST and vice versa (the DST is bound into the hash)', () => {
    const v = pop.vectors.find((x) => x.valid)!;
    expect(nobleBackend.verify(v.publicKey, v.msg, v.sig, DST_SIG_POP)).toBe(true);
    expect(nobleBackend.verify(v.publicKey, v.msg, v.sig, DST_SIG_BASIC)).toBe(false);
    if (blst) expect(blst.verify(v.publicKey, v.msg, v.sig, DST_SIG_BASIC)).toBe(false);
  });
});

describe('sign / verify / proof of possession', () => {
  const rng = seededRng('bls-test');
  const a = keygen(rng);
  const b = keygen(rng);
  const msg = utf8('phalanx vote');
  const sigA = sign(a.secretKey, msg);

  it('round-trips and rejects wrong key, wrong message, tampered or mis-sized bytes, on both backends', () => {
    expect(publicKeyOf(a.secretKey)).toEqual(a.publicKey);
    const tampered = Uint8Array.from(sigA);
    tampered[50]! ^= 1;
    const identitySig = bls12_381.G2.Point.ZERO.toBytes(true);
    const identityPk = bls12_381.G1.Point.ZERO.toBytes(true);
    const cases: [Uint8Array, Uint8Array, Uint8Array, boolean][] = [
      [a.publicKey, msg, sigA, true],
      [b.publicKey, msg, sigA, false],
      [a.publicKey, utf8('other'), sigA, false],
      [a.publicKey, msg, tampered, false],
      [a.publicKey, msg, sigA.subarray(0, 95), false],
      [a.publicKey, msg, identitySig, false],
      [identityPk, msg, identitySig, false],
      [a.publicKey.subarray(1), msg, sigA, false],
      [bls12_381.G1.Point.fromBytes(a.publicKey).toBytes(false), msg, sigA, false], // uncompressed: refused
    ];
    for (const backend of backends) {
      for (const [pk, m, s, want] of cases) expect(backend.verify(pk, m, s, DST_SIG_POP)).toBe(want);
    }
  });

  it('a proof of possession verifies only for its own key', () => {
    const proofA = popProve(a.secretKey);
    expect(popVerify(a.publicKey, proofA)).toBe(true);
    expect(popVerify(b.publicKey, proofA)).toBe(false);
    // A signature on the key bytes under the *signing* DST is not a proof (different DST).
    expect(popVerify(a.publicKey, sign(a.secretKey, a.publicKey))).toBe(false);
    expect(() => registerPublicKey(b.publicKey, proofA)).toThrow(CryptoError);
  });

  it('selectBackend picks blst when it loads and noble when forced off', async () => {
    const before = activeBackend();
    try {
      expect((await selectBackend({ native: false })).name).toBe('noble');
      expect(verify(a.publicKey, msg, sigA)).toBe(true);
      if (blst) expect((await selectBackend()).name).toBe('blst');
      expect(verify(a.publicKey, msg, sigA)).toBe(true);
      expect(verify(b.publicKey, msg, sigA)).toBe(false);
    } finally {
      setBackend(before);
    }
  });
});

describe('same-message aggregation', () => {
  const rng = seededRng('agg-test');
  const parties = [keygen(rng), keygen(rng), keygen(rng)];
  const keys = parties.map((p) => registerPublicKey(p.publicKey, popProve(p.secretKey)));
  const msg = utf8('block 7');
  const agg = aggregateSignatures(parties.map((p) => sign(p.secretKey, msg)));

  for (const backend of backends) {
    it(`${backend.name}: fast aggregate verify accepts the aggregate and rejects a subset or another message`, () => {
      const before = activeBackend();
      setBackend(backend);
      try {
        expect(fastAggregateVerify(keys, msg, agg)).toBe(true);
        expect(fastAggregateVerify(keys.slice(0, 2), msg, agg)).toBe(false);
        expect(fastAggregateVerify(keys, utf8('block 8'), agg)).toBe(false);
        expect(fastAggregateVerify([], msg, agg)).toBe(false);
      } finally {
        setBackend(before);
      }
    });
  }

  it('refuses a rogue-key aggregate: the attack works on raw keys, but the key cannot pass PoP', () => {
    // Rogue key (Boneh–Drijvers–Neven 2018 §1): the attacker publishes pk_r = x·G1 − pk_honest,
    // so pk_honest + pk_r = x·G1 and x·H(m) "is" an aggregate signature by both.
    const G1 = bls12_381.G1.Point;
    const honest = parties[0]!;
    const x = 0x1234567890abcdefn;
    const rogue = G1.BASE.multiply(x).subtract(G1.fromBytes(honest.publicKey)).toBytes(true);
    const forged = bls12_381.longSignatures.hash(msg, DST_SIG_POP).multiply(x).toBytes(true);
    // Without PoP the forgery goes through (this is why the check exists)...
    expect(nobleBackend.fastAggregateVerify([honest.publicKey, rogue], msg, forged, DST_SIG_POP)).toBe(true);
    // ...but the attacker cannot register the rogue key: it does not know its secret.
    const fakeProof = bls12_381.longSignatures.hash(rogue, 'BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_').multiply(x).toBytes(true);
    expect(() => registerPublicKey(rogue, fakeProof)).toThrow(/proof of possession/);
    expect(() => registerPublicKey(rogue, popProve(honest.secretKey))).toThrow(CryptoError);
    // ...and the public API refuses keys that did not come through registerPublicKey.
    const smuggled = [keys[0]!, { publicKey: rogue } as unknown as PopVerifiedKey];
    expect(() => fastAggregateVerify(smuggled, msg, forged)).toThrow(/proof of possession/);
  });

  it('aggregateSignatures refuses empty and malformed input', () => {
    expect(() => aggregateSignatures([])).toThrow(CryptoError);
    expect(() => aggregateSignatures([new Uint8Array(96)])).toThrow(CryptoError);
  });
});

describe('point encoding fast paths', () => {
  it('encodeG2Unchecked is byte-identical to noble toBytes(true) (both y signs, many points)', async () => {
    const { encodeG2Unchecked } = await import('../src/points.js');
    const G2 = bls12_381.G2.Point;
    let p = G2.BASE;
    const signs = new Set<number>();
    for (let i = 0; i < 16; i++) {
      p = p.multiply(0x9e3779b97f4a7c15n + BigInt(i));
      const want = p.toBytes(true);
      expect(encodeG2Unchecked(p)).toEqual(want);
      expect(encodeG2Unchecked(p.negate())).toEqual(p.negate().toBytes(true));
      signs.add(want[0]! & 0x20);
    }
    expect(signs.size).toBe(2);
  });

  it('every backend decodes signature points identically and refuses the same encodings', () => {
    const sigs = [...basic.vectors, ...pop.vectors].map((v) => v.sig);
    for (const s of sigs) {
      const outcome = backends.map((b) => {
        try {
          return b.decodeSignature(s).toBytes(true).join(',');
        } catch (err) {
          expect(err).toBeInstanceOf(CryptoError);
          return 'refused';
        }
      });
      expect(new Set(outcome).size).toBe(1);
    }
  });
});

describe('checkSignature', () => {
  it('accepts and refuses exactly what decodeSignature does, on every backend', () => {
    for (const v of [...basic.vectors, ...pop.vectors]) {
      const results = backends.flatMap((b) => {
        let check = true;
        let dec = true;
        try {
          b.checkSignature(v.sig);
        } catch (err) {
          expect(err).toBeInstanceOf(CryptoError);
          check = false;
        }
        try {
          b.decodeSignature(v.sig);
        } catch {
          dec = false;
        }
        return [check, dec];
      });
      expect(new Set(results).size).toBe(1);
    }
  });
});

describe('Signer / Verifier contracts (scheme-tagged bytes)', () => {
  it('signs and verifies through the shared contracts and refuses wrong tags', async () => {
    const { blsSigner, blsVerifier, BLS_SCHEME_TAG } = await import('../src/index.js');
    const kp = keygen(seededRng('signer'));
    const signer = blsSigner(kp.secretKey);
    expect(signer.scheme).toBe('bls12-381');
    expect(signer.publicKey[0]).toBe(BLS_SCHEME_TAG);
    const m = utf8('tagged');
    const s = signer.sign(m);
    expect(s).toHaveLength(97);
    expect(blsVerifier.verify(signer.publicKey, m, s)).toBe(true);
    expect(blsVerifier.verify(signer.publicKey, utf8('x'), s)).toBe(false);
    const wrongTag = Uint8Array.from(s);
    wrongTag[0] = 0x01;
    expect(blsVerifier.verify(signer.publicKey, m, wrongTag)).toBe(false);
    expect(blsVerifier.verify(kp.publicKey, m, s)).toBe(false); // untagged key
    expect(blsVerifier.verify(new Uint8Array(0), m, new Uint8Array(0))).toBe(false);
  });

  it('falls back to pure noble when @chainsafe/blst is absent or its binary does not load', async () => {
    const before = activeBackend();
    try {
      const missing = () => Promise.reject(new Error("Cannot find module '@chainsafe/blst'"));
      expect(await loadBlstBackend(missing)).toBeUndefined();
      expect((await selectBackend({ importer: missing })).name).toBe('noble');
      const kp = keygen(seededRng('absent'));
      const m = utf8('still works');
      expect(verify(kp.publicKey, m, sign(kp.secretKey, m))).toBe(true);
      expect(await loadBlstBackend(() => Promise.resolve({ something: 'else' }))).toBeUndefined();
      // The real module is still found afterwards (a failed injected import is not cached).
      if (blst) expect((await loadBlstBackend())?.name).toBe('blst');
    } finally {
      setBackend(before);
    }
  });

  it('PHALANX_BLS_NATIVE=0 forces the pure-JS backend', async () => {
    const before = activeBackend();
    const env = process.env['PHALANX_BLS_NATIVE'];
    process.env['PHALANX_BLS_NATIVE'] = '0';
    try {
      expect((await selectBackend()).name).toBe('noble');
      expect(activeBackend()).toBe(nobleBackend);
    } finally {
      if (env === undefined) delete process.env['PHALANX_BLS_NATIVE'];
      else process.env['PHALANX_BLS_NATIVE'] = env;
      setBackend(before);
    }
  });
});
