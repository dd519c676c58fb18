/**
 * Canonical CBOR heads (RFC 8949 §3, shortest form §4.2.1) for code that writes or recognises a
 * fixed-shape encoding byte for byte instead of going through `encode`/`decode` — hot wire forms
 * whose generic encoding dominated a profile. Arguments up to 2^32 − 1.
 */

/** Bytes the canonical head with argument `n` takes. */
export function headLength(n: number): number {
  return n < 24 ? 1 : n < 0x100 ? 2 : n < 0x10000 ? 3 : 5;
}

/** Writes the canonical head of major type `major` (0–7) with argument `n` at `at`; returns where it ends. */
export function writeHead(out: Uint8Array, at: number, major: number, n: number): number {
  const m = major << 5;
  if (n < 24) {
    out[at] = m | n;
    return at + 1;
  }
  if (n < 0x100) {
    out[at] = m | 24;
    out[at + 1] = n;
    return at + 2;
  }
  if (n < 0x10000) {
    out[at] = m | 25;
    out[at + 1] = n >>> 8;
    out[at + 2] = n & 0xff;
    return at + 3;
  }
  out[at] = m | 26;
  out[at + 1] = n >>> 24;
  out[at + 2] = (n >>> 16) & 0xff;
  out[at + 3] = (n >>> 8) & 0xff;
  out[at + 4] = n & 0xff;
  return at + 5;
}

/**
 * Reads a head of major type `major` at `at`: `[argument, end]`, or undefined when the bytes end
 * first, the type differs, or the head is not the shortest form (which the decoder would refuse).
 */
export function readHead(b: Uint8Array, at: number, major: number): [number, number] | undefined {
  const h = b[at];
  if (h === undefined || h >> 5 !== major) return undefined;
  const ai = h & 0x1f;
  if (ai < 24) return [ai, at + 1];
  if (ai === 24 && at + 1 < b.length) return b[at + 1]! >= 24 ? [b[at + 1]!, at + 2] : undefined;
  if (ai === 25 && at + 2 < b.length) {
    const n = (b[at + 1]! << 8) | b[at + 2]!;
    return n >= 0x100 ? [n, at + 3] : undefined;
  }
  if (ai === 26 && at + 4 < b.length) {
    const n = (b[at + 1]! << 24 >>> 0) + (b[at + 2]! << 16) + (b[at + 3]! << 8) + b[at + 4]!;
    return n >= 0x10000 ? [n, at + 5] : undefined;
  }
  return undefined;
}
