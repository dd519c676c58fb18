/**
 * Canonical CBOR: our own encoder (`encoder.ts`), cborg's decoder. We use the RFC 8949 §4.2.1
 * "core deterministic encoding"
 * (shortest integer and length forms, definite lengths, map keys sorted bytewise) restricted to
 * a small data model: null, booleans, integers (no floats: they have several encodings of one
 * value and no place in signed consensus data), strings, byte strings, arrays and string-keyed maps.
 *
 * cborg's strict decode mode refuses non-minimal integers and lengths,
 * and with `useMaps: false` refuses simple values and keys that are not text strings, but it does
 * not check map key order or UTF-8 validity. So `decode` runs cborg with a tokenizer that enforces
 * the rest as the tokens stream by — before anything is allocated: floats, tags, indefinite
 * lengths and `undefined` are refused; nesting and declared lengths are bounded; map keys must be
 * strictly increasing in the bytewise order of their encodings (which also rules out duplicates);
 * text strings must be valid UTF-8. Those are exactly the ways bytes can decode to a value whose
 * canonical encoding is other bytes, so a decoded value always re-encodes to its input — the tests
 * check this against the older "decode, re-encode, compare" algorithm as an oracle (which cost
 * about as much again as the decode). One deliberate difference: a `__proto__` map key is refused
 * (cborg makes it an own property, which `Object.assign` or a for-in copy would turn into a
 * prototype change; no consensus message needs it).
 */
import { decode as cborDecode, Tokenizer, Type } from 'cborg';
import type { Token } from 'cborg';
import { DecodeError } from '@phalanx/interface';
import { encodeCanonical } from './encoder.js';
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
  return encodeCanonical(value);
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

/** Strict UTF-8 (refuses overlong forms, surrogates, truncated sequences). */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Bytewise order of two ranges of `data`: negative, zero or positive. */
function compareRanges(data: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const n = Math.min(a1 - a0, b1 - b0);
  for (let i = 0; i < n; i++) {
    const d = data[a0 + i]! - data[b0 + i]!;
    if (d !== 0) return d;
  }
  return a1 - a0 - (b1 - b0);
}

/** Length of the head (initial byte plus argument) of the data item at `at`. */
function headLength(data: Uint8Array, at: number): number {
  const ai = data[at]! & 0x1f;
  return ai < 24 ? 1 : ai === 24 ? 2 : ai === 25 ? 3 : ai === 26 ? 5 : 9;
}

/** Tokenizer that enforces the data model, canonical form and the limits while cborg builds the value. */
class BoundedTokenizer extends Tokenizer {
  /** Items still expected by each open container (a map entry counts as two items). */
  private readonly open: number[] = [];
  /** Per open container: whether it is a map, and where its previous key's encoding starts and ends. */
  private readonly isMap: boolean[] = [];
  private readonly keyStart: number[] = [];
  private readonly keyEnd: number[] = [];
  private readonly maxDepth: number;
  private readonly length: number;

  private readonly bytes: Uint8Array;

  constructor(bytes: Uint8Array, maxDepth: number) {
    // Token decoders read the tokenizer's own options (strict minimal forms, bigint support).
    super(bytes, decodeOptions);
    this.bytes = bytes;
    this.maxDepth = maxDepth;
    this.length = bytes.length;
  }

  override next(): Token {
    const start = this.pos();
    if (start >= this.length) throw new DecodeError(`truncated input at byte ${start}`);
    const token = super.next();
    const type = token.type;
    const end = this.pos();
    // This token fills one slot of the innermost open container; in a map, every other slot is a key.
    const top = this.finishContainers();
    const isKey = top >= 0 && this.isMap[top]! && this.open[top]! % 2 === 0;
    if (top >= 0) this.open[top]! -= 1;
    if (Type.equals(type, Type.float)) throw new DecodeError(`float at byte ${start}: floats are not allowed`);
    if (Type.equals(type, Type.undefined)) throw new DecodeError(`undefined at byte ${start} is not allowed`);
    if (Type.equals(type, Type.tag)) throw new DecodeError(`tag ${String(token.value)} at byte ${start} is not allowed`);
    if (Type.equals(type, Type.break)) throw new DecodeError(`indefinite-length item at byte ${start} is not allowed`);
    if (Type.equals(type, Type.string)) this.checkUtf8(start, end);
    if (isKey) this.checkKey(top, token, start, end);
    if (Type.equals(type, Type.array) || Type.equals(type, Type.map)) {
      const count = token.value as number;
      if (!Number.isSafeInteger(count) || count < 0) {
        throw new DecodeError(`indefinite or oversized container at byte ${start}`);
      }
      const isMap = Type.equals(type, Type.map);
      const slots = isMap ? count * 2 : count;
      // Every item takes at least one byte: a longer declaration is a lie, refuse before allocating.
      const remaining = this.length - end;
      if (slots > remaining) {
        throw new DecodeError(`container at byte ${start} declares ${count} items but only ${remaining} bytes remain`);
      }
      if (slots > 0) {
        if (this.open.length >= this.maxDepth) {
          throw new DecodeError(`nesting deeper than ${this.maxDepth} at byte ${start}`);
        }
        this.open.push(slots);
        this.isMap.push(isMap);
        this.keyStart.push(-1);
        this.keyEnd.push(-1);
      }
    }
    return token;
  }

  /**
   * Pops containers whose slots are all taken (each finishes once the next token arrives: its last
   * item, possibly a nested container, sits above it and finishes first); returns the innermost
   * still open, or -1.
   */
  private finishContainers(): number {
    const open = this.open;
    while (open.length > 0 && open[open.length - 1] === 0) {
      open.pop();
      this.isMap.pop();
      this.keyStart.pop();
      this.keyEnd.pop();
    }
    return open.length - 1;
  }

  private checkKey(top: number, token: Token, start: number, end: number): void {
    // Keys of another type are refused by cborg itself (useMaps: false) once the map is built.
    if (token.value === '__proto__') throw new DecodeError(`map key "__proto__" at byte ${start} is not allowed`);
    const prev = this.keyStart[top]!;
    // RFC 8949 §4.2.1: keys sorted by the bytewise order of their encodings; equal means duplicate.
    if (prev >= 0 && compareRanges(this.bytes, prev, this.keyEnd[top]!, start, end) >= 0) {
      throw new DecodeError(`map key at byte ${start} is not after the previous key (keys must be sorted and unique)`);
    }
    this.keyStart[top] = start;
    this.keyEnd[top] = end;
  }

  private checkUtf8(start: number, end: number): void {
    const data = this.bytes;
    const from = start + headLength(data, start);
    for (let i = from; i < end; i++) {
      if (data[i]! < 0x80) continue;
      try {
        UTF8.decode(data.subarray(from, end));
      } catch {
        throw new DecodeError(`text string at byte ${start} is not valid UTF-8`);
      }
      return;
    }
  }
}

/**
 * Decodes canonical bytes. Throws `DecodeError` for anything else: truncated or trailing
 * bytes, non-minimal forms, unsorted or duplicate map keys, floats, tags, oversized input,
 * lengths beyond the input, nesting deeper than `maxDepth`.
 * Byte strings in the result are copies (cborg slices them out of the input): they never keep a
 * large input alive, and each costs a copy.
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
  // cborg slices byte strings out of the input: from a Buffer, `slice` makes Buffer views that
  // keep the whole input alive; from a plain view, it makes plain Uint8Array copies.
  if (Object.getPrototypeOf(bytes) !== Uint8Array.prototype) bytes = new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
  let value: Value;
  try {
    value = cborDecode(bytes, { ...decodeOptions, tokenizer: new BoundedTokenizer(bytes, maxDepth) }) as Value;
  } catch (err) {
    if (err instanceof DecodeError) throw err;
    throw new DecodeError(`malformed CBOR: ${(err as Error).message.replace(/^CBOR decode error: /, '')}`, { cause: err });
  }
  return value;
}
