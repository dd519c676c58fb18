import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
/** The monorepo root (packages/crypto/test → ../../..). */
export const repoRoot = path.resolve(here, '../../..');

/** Parsed Wycheproof file, read in place from ../shared beside the repo (never copied). */
export function wycheproof<T>(file: string): T {
  return JSON.parse(readFileSync(path.resolve(repoRoot, '../shared/vectors/wycheproof', file), 'utf8')) as T;
}

export function hex(s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'hex'));
}

export function cat(...parts: Uint8Array[]): Uint8Array {
  return new Uint8Array(Buffer.concat(parts));
}

/** Deterministic bytes for tests (xorshift), so failures reproduce. */
export function testBytes(seed: number, length: number): Uint8Array {
  let x = seed >>> 0 || 1;
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}
