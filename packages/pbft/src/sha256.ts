/**
 * The portable SHA-256 the core falls back to when the runtime passes no native `Hasher`
 * (`CoreContext.hasher`). @noble/hashes is pure JS, so the core stays sans-I/O (DESIGN §3), and
 * it gives the same digests as node:crypto.
 */
import { sha256 as nobleSha256 } from '@noble/hashes/sha2.js';
import type { Hasher } from '@phalanx/interface';

export function sha256(data: Uint8Array): Uint8Array {
  return nobleSha256(data);
}

export const sha256Hasher: Hasher = { algorithm: 'sha256', digest: sha256 };
