/** Small byte helpers every package needs; kept here so nobody writes them twice. */
import { DecodeError } from '@phalanx/interface';

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Bytewise lexicographic order: negative, zero or positive like `Array.prototype.sort` wants. */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  let size = 0;
  for (const p of parts) size += p.length;
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

// Node's native hex codec: the per-byte string building and parseInt it replaced showed in
// profiles (KV snapshots convert every key, ~20% of a checkpoint).
export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function fromHex(hex: string): Uint8Array {
  // Buffer.from stops silently at the first non-hex character; check the whole string first.
  if (hex.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(hex)) throw new DecodeError('not a hex string of whole bytes');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

const encoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF (by default it is dropped, and two byte strings decode alike).
const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
export const utf8 = {
  encode: (s: string): Uint8Array => encoder.encode(s),
  decode: (b: Uint8Array): string => {
    try {
      return decoder.decode(b);
    } catch {
      throw new DecodeError('invalid UTF-8');
    }
  },
};
