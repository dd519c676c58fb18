/**
 * How records sit in LMDB. Every value is `crc32c (4 bytes, big-endian) || payload`, the CRC taken
 * over the record's key bytes and then its payload, so a value copied under the wrong key is caught
 * as well as a flipped bit.
 */
import { CorruptionError } from '@phalanx/interface';
import { crc32c } from './crc32c.js';

export function indexKey(index: bigint): Buffer {
  const k = Buffer.allocUnsafe(8);
  k.writeBigUInt64BE(index);
  return k;
}

export function seal(key: Uint8Array, payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(4 + payload.byteLength);
  out.writeUInt32BE(crc32c(payload, crc32c(key)), 0);
  out.set(payload, 4);
  return out;
}

/** Checks and strips the checksum; a copy, so callers may keep or mutate it. */
export function unseal(file: string, record: string, key: Uint8Array, stored: Uint8Array): Uint8Array {
  if (stored.byteLength < 4) throw new CorruptionError(file, record, `value is ${stored.byteLength} bytes, shorter than its checksum`);
  const payload = stored.subarray(4);
  const want = ((stored[0]! << 24) | (stored[1]! << 16) | (stored[2]! << 8) | stored[3]!) >>> 0;
  const got = crc32c(payload, crc32c(key));
  if (want !== got) {
    throw new CorruptionError(file, record, `checksum mismatch (stored ${want.toString(16)}, computed ${got.toString(16)})`);
  }
  return new Uint8Array(payload);
}
