import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ed25519VerifyNative, ed25519VerifyNoble } from '../src/ed25519.js';

const L = (1n << 252n) + 27742317777372353535851937790883648493n;
const to32 = (n: bigint): Uint8Array => {
  const o = new Uint8Array(32);
  for (let i = 0; i < 32; i++) {
    o[i] = Number(n & 255n);
    n >>= 8n;
  }
  return o;
};
const identity = ed25519.Point.ZERO.toBytes();

/** Ways a Byzantine peer can bend an honest (key, message, signature). */
const mutation = fc.oneof(
  fc.constant({ kind: 'none' as const }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(95), bit: fc.nat(7) }),
  fc.record({ kind: fc.constant('randomSig' as const), bytes: fc.uint8Array({ minLength: 64, maxLength: 64 }) }),
  fc.record({ kind: fc.constant('randomKey' as const), bytes: fc.uint8Array({ minLength: 32, maxLength: 32 }) }),
  fc.record({ kind: fc.constant('sPlusL' as const) }),
  fc.record({ kind: fc.constant('identityR' as const) }),
  fc.record({ kind: fc.constant('message' as const), extra: fc.uint8Array({ minLength: 1, maxLength: 4 }) }),
);

describe('Ed25519 native vs noble (property)', () => {
  it('both paths give the same answer on honest and bent inputs, and honest ones verify', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 32, maxLength: 32 }),
        fc.uint8Array({ maxLength: 200 }),
        mutation,
        (seed, msg, mut) => {
          let pk = ed25519.getPublicKey(seed);
          let m = msg;
          let sig = ed25519.sign(msg, seed);
          switch (mut.kind) {
            case 'flip': {
              const both = new Uint8Array([...sig, ...pk]);
              both[mut.at]! ^= 1 << mut.bit;
              sig = both.subarray(0, 64);
              pk = both.subarray(64);
              break;
            }
            case 'randomSig':
              sig = mut.bytes;
              break;
            case 'randomKey':
              pk = mut.bytes;
              break;
            case 'sPlusL': {
              let s = 0n;
              for (let i = 31; i >= 0; i--) s = (s << 8n) | BigInt(sig[32 + i]!);
              sig = new Uint8Array([...sig.subarray(0, 32), ...to32(s + L)]);
              break;
            }
            case 'identityR':
              sig = new Uint8Array([...identity, ...sig.subarray(32)]);
              break;
            case 'message':
              m = new Uint8Array([...msg, ...mut.extra]);
              break;
          }
          const n = ed25519VerifyNative(pk, m, sig);
          expect(ed25519VerifyNoble(pk, m, sig)).toBe(n);
          expect(n).toBe(mut.kind === 'none');
        },
      ),
      { numRuns: 150, seed: 20261122 },
    );
  });
});
