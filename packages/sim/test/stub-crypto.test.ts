import { describe, it, expect } from 'vitest';
import { createStubKeys, forgerFor } from '../src/stub-crypto.js';
import { utf8 } from '@phalanx/codec';

describe('stub crypto', () => {
  const keys = createStubKeys(1);
  const msg = utf8.encode('vote h=1');
  const r0 = keys.signer('r0');
  const r1 = keys.signer('r1');

  it('verifies its own signatures deterministically', () => {
    const sig = r0.sign(msg);
    expect(r0.sign(msg)).toEqual(sig);
    expect(keys.verifier.verify(r0.publicKey, msg, sig)).toBe(true);
  });

  it('rejects another node signing for r0, tampered messages and tampered signatures', () => {
    const sig = r0.sign(msg);
    expect(keys.verifier.verify(r0.publicKey, msg, r1.sign(msg))).toBe(false);
    expect(keys.verifier.verify(r0.publicKey, msg, forgerFor('r0').sign(msg))).toBe(false);
    expect(keys.verifier.verify(r0.publicKey, utf8.encode('vote h=2'), sig)).toBe(false);
    for (let i = 0; i < sig.length; i++) {
      const bad = sig.slice();
      bad[i]! ^= 1;
      expect(keys.verifier.verify(r0.publicKey, msg, bad)).toBe(false);
    }
  });

  it('never throws on malformed input', () => {
    expect(keys.verifier.verify(new Uint8Array(0), msg, new Uint8Array(16))).toBe(false);
    expect(keys.verifier.verify(Uint8Array.of(0xf5, 0xff, 0xfe), msg, new Uint8Array(16))).toBe(false);
    expect(keys.verifier.verify(r0.publicKey, msg, new Uint8Array(3))).toBe(false);
  });

  it('reads a key id with a leading U+FEFF as it is: another key than the id without it', () => {
    const bom = keys.signer('\uFEFFr0');
    expect(bom.publicKey).toEqual(Uint8Array.of(0xf5, 0xef, 0xbb, 0xbf, ...utf8.encode('r0')));
    expect(keys.verifier.verify(bom.publicKey, msg, bom.sign(msg))).toBe(true);
    expect(keys.verifier.verify(bom.publicKey, msg, r0.sign(msg))).toBe(false);
    expect(keys.verifier.verify(r0.publicKey, msg, bom.sign(msg))).toBe(false);
  });

  it('keyrings with different salts do not accept each other', () => {
    const other = createStubKeys(2);
    expect(other.verifier.verify(r0.publicKey, msg, r0.sign(msg))).toBe(false);
  });
});
