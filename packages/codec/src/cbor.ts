/**
 * Canonical CBOR: the RFC 8949 §4.2.1 "core deterministic encoding" (shortest integer and length
 * forms, definite lengths, map keys sorted bytewise) restricted to a small data model: null,
 * booleans, integers (no floats: they have several encodings of one value and no place in signed
 * consensus data), strings, byte strings, arrays and string-keyed maps.
 *
 * Both directions are our own (`encoder.ts`, `decoder.ts`), each written straight against the
 * bytes: cborg, which the codec used, built a token object per item, and for the values consensus
 * moves at every step that was most of their cost. cborg stays as the tests' oracle: `encode`
 * writes the bytes cborg writes with its RFC 8949 options, and `decode` accepts exactly what
 * cborg's strict decode accepts and re-encodes to the same bytes (the older "decode, re-encode,
 * compare" algorithm), decoding it to the same value. Those refusals are exactly the ways bytes
 * can decode to a value whose canonical encoding is other bytes, so a decoded value always
 * re-encodes to its input. One deliberate difference: a `__proto__` map key is refused (a plain
 * object would make it an own property, which `Object.assign` or a for-in copy turns into a
 * prototype change; no consensus message needs it).
 */
import { ConfigError, DecodeError } from '@phalanx/interface';
import { decodeCanonical } from './decoder.js';
import { encodeCanonical } from './encoder.js';
import { EncodeError } from './errors.js';
import { MAX_DEPTH_LIMIT } from './value.js';
import type { Value } from './value.js';

export type { Value } from './value.js';
export { EncodeError } from './errors.js';

export interface DecodeLimits {
  /** Largest input accepted, in bytes. Default 16 MiB. */
  readonly maxBytes?: number;
  /** Deepest nesting of arrays and maps. Default 32. */
  readonly maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 32;

export { MAX_DEPTH_LIMIT } from './value.js';

/**
 * Canonical bytes of `value`. Throws `EncodeError` for values outside the data model: floats and
 * unsafe integers, integers beyond 64 bits, `undefined`, strings with a lone surrogate, objects
 * that are not plain, nesting deeper than `MAX_DEPTH_LIMIT`.
 */
export function encode(value: Value): Uint8Array {
  try {
    return encodeCanonical(value);
  } catch (err) {
    // A throwing getter or Proxy trap, a revoked Proxy: the value is not one of the data model.
    if (err instanceof EncodeError) throw err;
    throw new EncodeError(`cannot encode value: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Decodes canonical bytes. Throws `DecodeError` for anything else: truncated or trailing
 * bytes, non-minimal forms, unsorted or duplicate map keys, floats, tags, oversized input,
 * lengths beyond the input, nesting deeper than `maxDepth`. Limits that would switch a bound
 * off throw `ConfigError` (path: the limit).
 * Byte strings in the result are copies: they never keep a large input alive, and each costs a copy.
 */
export function decode(bytes: Uint8Array, limits: DecodeLimits = {}): Value {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  // A NaN or fractional limit would make every comparison false and switch the bound off: the
  // caller's setting is wrong, not the input, hence ConfigError and not DecodeError.
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new ConfigError('maxBytes', `decode limit must be a non-negative integer, got ${maxBytes}`);
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_DEPTH_LIMIT) {
    throw new ConfigError('maxDepth', `decode limit must be an integer in 0..${MAX_DEPTH_LIMIT}, got ${maxDepth}`);
  }
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('input is not a Uint8Array');
  if (bytes.length === 0) throw new DecodeError('empty input');
  if (bytes.length > maxBytes) throw new DecodeError(`input of ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  // Byte strings are sliced out of the input: from a Buffer (or another subclass), `slice` would
  // make views that keep the whole input alive and change with it; from a plain view, copies.
  if (Object.getPrototypeOf(bytes) !== Uint8Array.prototype) bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  return decodeCanonical(bytes, maxDepth);
}
