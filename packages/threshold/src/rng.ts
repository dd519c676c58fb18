/**
 * Randomness sources. Everything in this package takes an injected `Rng` (the DKG must replay
 * from a seed in the simulator). `secureRng()` is the production source (WebCrypto CSPRNG);
 * `seededRng(seed)` is a deterministic ChaCha-free SHA-256 counter stream for tests and
 * simulation only — never use it for real keys.
 */
import { sha256 } from '@noble/hashes/sha2.js';
import { ArgumentError } from '@phalanx/interface';
import type { Rng } from '@phalanx/interface';
import { utf8 } from '@phalanx/codec';

function fromBytes(bytes: (n: number) => Uint8Array): Rng {
  const u32 = (): number => {
    const b = bytes(4);
    return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
  };
  return {
    nextU32: u32,
    nextFloat: () => u32() / 2 ** 32,
    nextInt: (n: number) => {
      // An integer: `x % 1.5` would hand back fractions from an "integer" source.
      if (!(n > 0 && n <= 2 ** 32) || !Number.isInteger(n)) throw new ArgumentError('n', `nextInt bound ${n} not an integer in (0, 2^32]`);
      // Rejection sampling keeps the result uniform.
      const limit = 2 ** 32 - (2 ** 32 % n);
      for (;;) {
        const x = u32();
        if (x < limit) return x % n;
      }
    },
    bytes,
  };
}

/** CSPRNG-backed Rng (globalThis.crypto.getRandomValues). */
export function secureRng(): Rng {
  return fromBytes((n) => {
    const out = new Uint8Array(n);
    for (let off = 0; off < n; off += 65536) globalThis.crypto.getRandomValues(out.subarray(off, Math.min(n, off + 65536)));
    return out;
  });
}

/** Deterministic stream: SHA-256(seed ‖ counter) blocks. Tests and simulation only. */
export function seededRng(seed: string | Uint8Array): Rng {
  const key = typeof seed === 'string' ? utf8.encode(seed) : Uint8Array.from(seed);
  let counter = 0;
  let buf = new Uint8Array(0);
  let pos = 0;
  return fromBytes((n) => {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      if (pos >= buf.length) {
        const block = new Uint8Array(key.length + 8);
        block.set(key);
        new DataView(block.buffer).setBigUint64(key.length, BigInt(counter++));
        buf = sha256(block);
        pos = 0;
      }
      out[i] = buf[pos++]!;
    }
    return out;
  });
}
