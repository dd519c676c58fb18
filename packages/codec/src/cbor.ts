/**
 * Canonical CBOR on cborg. We use the RFC 8949 §4.2.1 "core deterministic encoding"
 * (shortest integer and length forms, definite lengths, map keys sorted bytewise) restricted to
 * a small data model: null, booleans, integers (no floats: they have several encodings of one
 * value and no place in signed consensus data), strings, byte strings, arrays and string-keyed maps.
 *
 * cborg encodes canonically but its strict decode mode does not check map key order or floats,
 * so `decode` (1) scans tokens with a bounded tokenizer that rejects floats, tags, indefinite
 * lengths, `undefined`, too-deep nesting and declared lengths that cannot fit in the remaining
 * bytes — all before anything is allocated — and (2) re-encodes the result and requires the
 * same bytes back, which rules out every remaining non-canonical form at once.
 */
import { encode as cborEncode, decode as cborDecode, rfc8949EncodeOptions, Tokenizer, Type } from 'cborg';
import type { Token } from 'cborg';
import { DecodeError, PhalanxError } from '@phalanx/interface';
import { bytesEqual } from './bytes.js';

export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly Value[]
  | { readonly [key: string]: Value };

/** A value that cannot be encoded (a float, an unsafe integer, a function …): a caller bug. */
export class EncodeError extends PhalanxError {
  constructor(message: string) {
    super('ENCODE', message);
  }
}

export interface DecodeLimits {
  /** Largest input accepted, in bytes. Default 16 MiB. */
  readonly maxBytes?: number;
  /** Deepest nesting of arrays and maps. Default 32. */
  readonly maxDepth?: number;
}

export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_MAX_DEPTH = 32;

const U64_MAX = (1n << 64n) - 1n;
/** With the `u` flag a surrogate pair is one code point, so only unpaired halves match. */
const LONE_SURROGATE = /\p{Surrogate}/u;
/** Deepest `maxDepth` a caller may ask for: the decoder recurses once per level. */
export const MAX_DEPTH_LIMIT = 1024;

const encodeOptions = {
  ...rfc8949EncodeOptions,
  typeEncoders: {
    number: (n: number): Token[] | null => {
      if (!Number.isSafeInteger(n)) {
        throw new EncodeError(`cannot encode ${n}: only safe integers are allowed (no floats)`);
      }
      return null; // let cborg pick the shortest integer form
    },
    bigint: (n: bigint): Token[] | null => {
      if (n > U64_MAX || n < -U64_MAX - 1n) {
        throw new EncodeError(`cannot encode ${n}: integers are limited to 64 bits`);
      }
      return null;
    },
    string: (str: string): Token[] | null => {
      // A lone surrogate would be written as U+FFFD: two different strings, one encoding, and a
      // signature over one would also cover the other. Refuse it (map keys come through here too).
      if (LONE_SURROGATE.test(str)) throw new EncodeError('cannot encode a string with a lone UTF-16 surrogate (not valid Unicode)');
      return null;
    },
    undefined: (): Token[] | null => {
      throw new EncodeError('cannot encode undefined (use null or omit the field)');
    },
  },
};

/** Canonical bytes of `value`. Throws `EncodeError` for values outside the data model. */
export function encode(value: Value): Uint8Array {
  try {
    return cborEncode(value, encodeOptions);
  } catch (err) {
    if (err instanceof EncodeError) throw err;
    throw new EncodeError(`cannot encode value: ${(err as Error).message}`);
  }
}

const decodeOptions = {
  strict: true,
  allowIndefinite: false,
  allowUndefined: false,
  allowInfinity: false,
  allowNaN: false,
  allowBigInt: true,
  rejectDuplicateMapKeys: true,
  useMaps: false,
};

/** Tokenizer that enforces the data model and the limits while cborg builds the value. */
class BoundedTokenizer extends Tokenizer {
  /** Items still expected by each open container (a map entry counts as two items). */
  private readonly open: number[] = [];
  private readonly maxDepth: number;
  private readonly length: number;

  constructor(data: Uint8Array, maxDepth: number) {
    // Token decoders read the tokenizer's own options (strict minimal forms, bigint support).
    super(data, decodeOptions);
    this.maxDepth = maxDepth;
    this.length = data.length;
  }

  override next(): Token {
    const start = this.pos();
    if (start >= this.length) throw new DecodeError(`truncated input at byte ${start}`);
    const token = super.next();
    const type = token.type;
    // This token fills one slot of the innermost open container.
    this.consumeSlot();
    if (Type.equals(type, Type.float)) throw new DecodeError(`float at byte ${start}: floats are not allowed`);
    if (Type.equals(type, Type.undefined)) throw new DecodeError(`undefined at byte ${start} is not allowed`);
    if (Type.equals(type, Type.tag)) throw new DecodeError(`tag ${String(token.value)} at byte ${start} is not allowed`);
    if (Type.equals(type, Type.break)) throw new DecodeError(`indefinite-length item at byte ${start} is not allowed`);
    if (Type.equals(type, Type.array) || Type.equals(type, Type.map)) {
      const count = token.value as number;
      if (!Number.isSafeInteger(count) || count < 0) {
        throw new DecodeError(`indefinite or oversized container at byte ${start}`);
      }
      const slots = Type.equals(type, Type.map) ? count * 2 : count;
      // Every item takes at least one byte: a longer declaration is a lie, refuse before allocating.
      const remaining = this.length - this.pos();
      if (slots > remaining) {
        throw new DecodeError(`container at byte ${start} declares ${count} items but only ${remaining} bytes remain`);
      }
      if (slots > 0) {
        if (this.open.length >= this.maxDepth) {
          throw new DecodeError(`nesting deeper than ${this.maxDepth} at byte ${start}`);
        }
        this.open.push(slots);
      }
    }
    return token;
  }

  private consumeSlot(): void {
    const open = this.open;
    // A container whose slots are all taken is finished once the next token arrives (its last
    // item, possibly a nested container, sits above it and finishes first).
    while (open.length > 0 && open[open.length - 1] === 0) open.pop();
    if (open.length > 0) open[open.length - 1]! -= 1;
  }
}


/**
 * Decodes canonical bytes. Throws `DecodeError` for anything else: truncated or trailing
 * bytes, non-minimal forms, unsorted or duplicate map keys, floats, tags, oversized input,
 * lengths beyond the input, nesting deeper than `maxDepth`.
 * Byte strings in the result share memory with `bytes`: do not reuse the input buffer.
 */
export function decode(bytes: Uint8Array, limits: DecodeLimits = {}): Value {
  const maxBytes = limits.maxBytes ?? DEFAULT_MAX_BYTES;
  const maxDepth = limits.maxDepth ?? DEFAULT_MAX_DEPTH;
  // A NaN or fractional limit would make every comparison false and switch the bound off.
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) throw new RangeError(`decode: maxBytes must be a non-negative integer, got ${maxBytes}`);
  if (!Number.isSafeInteger(maxDepth) || maxDepth < 0 || maxDepth > MAX_DEPTH_LIMIT) {
    throw new RangeError(`decode: maxDepth must be an integer in 0..${MAX_DEPTH_LIMIT}, got ${maxDepth}`);
  }
  if (!(bytes instanceof Uint8Array)) throw new DecodeError('input is not a Uint8Array');
  if (bytes.length === 0) throw new DecodeError('empty input');
  if (bytes.length > maxBytes) throw new DecodeError(`input of ${bytes.length} bytes exceeds the limit of ${maxBytes}`);
  // Decoded byte strings are views into the input; a Buffer input would make them Buffers, so
  // decode from a plain view and every byte string comes out a plain Uint8Array.
  if (Object.getPrototypeOf(bytes) !== Uint8Array.prototype) bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  let value: Value;
  try {
    value = cborDecode(bytes, { ...decodeOptions, tokenizer: new BoundedTokenizer(bytes, maxDepth) }) as Value;
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError(`malformed CBOR: ${(err as Error).message.replace(/^CBOR decode error: /, '')}`, { cause: err });
  }
  // Map keys must be strings (the data model); cborg with useMaps=false already refuses others.
  let again: Uint8Array;
  try {
    again = encode(value);
  } catch (err) {
    throw new DecodeError(`value outside the data model: ${(err as Error).message}`, { cause: err });
  }
  if (!bytesEqual(again, bytes)) throw new DecodeError('non-canonical encoding (e.g. unsorted map keys)');
  return value;
}
