/**
 * Typed readers for decoded values. Protocol codecs use them to turn an untrusted `Value` into a
 * message: every mismatch is a `DecodeError` naming the path ("prePrepare.batch[3].seq"), so a
 * malformed frame from a Byzantine peer is an error value, never a crash or a half-built message.
 */
import { DecodeError } from '@phalanx/interface';
import type { Value } from './cbor.js';
import { U64_MAX } from './value.js';

type Obj = { readonly [key: string]: Value };

function fail(path: string, want: string, got: Value | undefined): never {
  const kind = got === undefined ? 'nothing' : got === null ? 'null' : got instanceof Uint8Array ? 'bytes' : Array.isArray(got) ? 'array' : typeof got;
  throw new DecodeError(`${path}: expected ${want}, got ${kind}`);
}

export function readMap(v: Value | undefined, path: string, keys?: readonly string[]): Obj {
  if (v === null || v === undefined || typeof v !== 'object' || v instanceof Uint8Array || Array.isArray(v)) {
    return fail(path, 'map', v);
  }
  const obj = v as Obj;
  if (keys) {
    // Unknown fields would be signed-but-ignored data: refuse them.
    for (const k of Object.keys(obj)) {
      if (!keys.includes(k)) throw new DecodeError(`${path}: unexpected field "${k}"`);
    }
  }
  return obj;
}

export function readArray(v: Value | undefined, path: string, maxItems = Number.MAX_SAFE_INTEGER): readonly Value[] {
  if (!Array.isArray(v)) return fail(path, 'array', v);
  if (v.length > maxItems) throw new DecodeError(`${path}: ${v.length} items exceed the limit of ${maxItems}`);
  return v as readonly Value[];
}

export function readBytes(v: Value | undefined, path: string, opts: { max?: number; exact?: number } = {}): Uint8Array {
  if (!(v instanceof Uint8Array)) return fail(path, 'bytes', v);
  if (opts.exact !== undefined && v.length !== opts.exact) {
    throw new DecodeError(`${path}: expected ${opts.exact} bytes, got ${v.length}`);
  }
  if (opts.max !== undefined && v.length > opts.max) {
    throw new DecodeError(`${path}: ${v.length} bytes exceed the limit of ${opts.max}`);
  }
  return v;
}

export function readString(v: Value | undefined, path: string, max = 1024): string {
  if (typeof v !== 'string') return fail(path, 'string', v);
  if (v.length > max) throw new DecodeError(`${path}: string longer than ${max}`);
  return v;
}

export function readBool(v: Value | undefined, path: string): boolean {
  if (typeof v !== 'boolean') return fail(path, 'boolean', v);
  return v;
}

/**
 * `v` as a bigint if it is a non-negative integer of up to 64 bits (in either decoded form), else
 * undefined: `readU64` without building an error, for loops that read the good case without paths.
 */
export function u64Of(v: Value | undefined): bigint | undefined {
  if (typeof v === 'number') return Number.isSafeInteger(v) && v >= 0 ? BigInt(v) : undefined;
  // A constant bound: `1n << 64n` written here allocated a bigint on every call.
  if (typeof v === 'bigint') return v >= 0n && v <= U64_MAX ? v : undefined;
  return undefined;
}

/** A non-negative integer of up to 64 bits, as a bigint whatever form it was decoded in. */
export function readU64(v: Value | undefined, path: string): bigint {
  return u64Of(v) ?? fail(path, 'unsigned 64-bit integer', v);
}

/** A non-negative safe integer as a number (counts, indices, small enums). */
export function readUint(v: Value | undefined, path: string, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return fail(path, 'unsigned integer', v);
  if (v > max) throw new DecodeError(`${path}: ${v} exceeds ${max}`);
  return v;
}

export function readOptional<T>(v: Value | undefined, read: (v: Value, path: string) => T, path: string): T | undefined {
  return v === undefined || v === null ? undefined : read(v, path);
}
