/**
 * The canonical encoder behind `encode`: RFC 8949 §4.2.1 core deterministic encoding of the
 * codec's data model, written straight into one reusable buffer.
 *
 * Why not cborg's encoder (which the codec used, and which the tests keep as the oracle): cborg
 * first turns the value into a token object per item, then the tokens into bytes, through a
 * chunked byte list. For the values consensus encodes at every step — batches of hundreds of
 * requests, votes, signing bytes — that was ~10% of a replica's CPU and much of its young-generation
 * garbage. Here each item is written as it is visited; what it allocates is the result, a key
 * list per map, the bytes of non-ASCII text and, for values larger than any before, a bigger
 * scratch buffer. The output is byte-identical to cborg's with the codec's options
 * (property-tested in `test/encoder.test.ts`).
 */
import { compareBytes } from './bytes.js';
import { headLength, writeHead } from './head.js';
import { EncodeError } from './errors.js';
import { MAX_DEPTH_LIMIT, U64_MAX } from './value.js';
import type { Value } from './value.js';

const U32_LIMIT = 0x1_0000_0000;
/** With the `u` flag a surrogate pair is one code point, so only unpaired halves match. */
const LONE_SURROGATE = /\p{Surrogate}/u;
const LONE_SURROGATE_MESSAGE = 'cannot encode a string with a lone UTF-16 surrogate (not valid Unicode)';
/** Scratch kept between calls; one grown past this (a large snapshot) is let go after the call. */
const KEEP_BYTES = 1 << 20;
const UTF8 = new TextEncoder();

class Writer {
  buf = new Uint8Array(4096);
  view = new DataView(this.buf.buffer);
  at = 0;

  /** Makes room for `n` more bytes. */
  reserve(n: number): void {
    const need = this.at + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Shortest head (§4.2.1) of major type `major` with argument `n`, a non-negative safe integer. */
  head(major: number, n: number): void {
    if (n >= U32_LIMIT) return this.bigHead(major, BigInt(n));
    this.reserve(5);
    this.at = writeHead(this.buf, this.at, major, n);
  }

  /** As `head`, for an argument given as a bigint in [0, 2^64). */
  bigHead(major: number, n: bigint): void {
    if (n < 0x1_0000_0000n) return this.head(major, Number(n));
    this.reserve(9);
    this.buf[this.at++] = (major << 5) | 27;
    this.view.setBigUint64(this.at, n);
    this.at += 8;
  }

  bytes(v: Uint8Array): void {
    const n = v.length;
    this.head(2, n);
    this.reserve(n);
    // A short copy by hand beats `set`'s fixed cost; long ones are memcpy.
    if (n < 64) {
      const b = this.buf;
      const at = this.at;
      for (let i = 0; i < n; i++) b[at + i] = v[i]!;
    } else {
      this.buf.set(v, this.at);
    }
    this.at += n;
  }

  text(s: string): void {
    const n = s.length;
    let ascii = true;
    for (let i = 0; i < n; i++) {
      if (s.charCodeAt(i) > 0x7f) {
        ascii = false;
        break;
      }
    }
    if (ascii) {
      this.head(3, n);
      this.reserve(n);
      const b = this.buf;
      const at = this.at;
      for (let i = 0; i < n; i++) b[at + i] = s.charCodeAt(i);
      this.at += n;
      return;
    }
    // A lone surrogate would be written as U+FFFD: two different strings, one encoding, and a
    // signature over one would also cover the other. Refuse it (map keys come through here too).
    if (LONE_SURROGATE.test(s)) throw new EncodeError(LONE_SURROGATE_MESSAGE);
    const u = UTF8.encode(s);
    this.head(3, u.length);
    this.reserve(u.length);
    this.buf.set(u, this.at);
    this.at += u.length;
  }

  value(v: Value, depth: number): void {
    switch (typeof v) {
      case 'number':
        if (!Number.isSafeInteger(v)) throw new EncodeError(`cannot encode ${v}: only safe integers are allowed (no floats)`);
        // -0 is the integer 0 (as cborg writes it: `-0 >= 0`).
        if (v >= 0) this.head(0, v);
        else this.head(1, -1 - v);
        return;
      case 'bigint':
        if (v > U64_MAX || v < -U64_MAX - 1n) throw new EncodeError(`cannot encode ${v}: integers are limited to 64 bits`);
        if (v >= 0n) this.bigHead(0, v);
        else this.bigHead(1, -1n - v);
        return;
      case 'string':
        this.text(v);
        return;
      case 'boolean':
        this.reserve(1);
        this.buf[this.at++] = v ? 0xf5 : 0xf4;
        return;
      case 'object':
        if (v === null) {
          this.reserve(1);
          this.buf[this.at++] = 0xf6;
          return;
        }
        if (v instanceof Uint8Array) return this.bytes(v);
        if (Array.isArray(v)) {
          const a = v as readonly Value[];
          if (a.length > 0) this.deeper(depth);
          this.head(4, a.length);
          for (let i = 0; i < a.length; i++) this.value(a[i]!, depth + 1);
          return;
        }
        return this.map(v as { readonly [key: string]: Value }, depth);
      case 'undefined':
        throw new EncodeError('cannot encode undefined (use null or omit the field)');
      default:
        throw new EncodeError(`cannot encode a ${typeof v}`);
    }
  }

  /**
   * Refuses a non-empty array or map inside MAX_DEPTH_LIMIT others: `decode` counts nesting the
   * same way (empty containers open nothing), so whatever this writes it can read back.
   */
  private deeper(depth: number): void {
    if (depth >= MAX_DEPTH_LIMIT) throw new EncodeError(`cannot encode arrays or maps nested deeper than ${MAX_DEPTH_LIMIT}`);
  }

  private map(v: { readonly [key: string]: Value }, depth: number): void {
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new EncodeError(`cannot encode a ${(v as object).constructor?.name ?? 'non-plain object'}: only plain objects are maps`);
    }
    // §4.2.1: entries in the bytewise order of the keys' encodings.
    const keys = Object.keys(v).map((k) => ({ k, enc: encodedKey(k) }));
    if (keys.length > 0) this.deeper(depth);
    keys.sort((a, b) => compareBytes(a.enc, b.enc));
    this.head(5, keys.length);
    for (const { k, enc } of keys) {
      this.reserve(enc.length);
      this.buf.set(enc, this.at);
      this.at += enc.length;
      this.value(v[k]!, depth + 1);
    }
  }

  /** The bytes written since the last reset, as a copy of their own. */
  take(): Uint8Array {
    const out = this.buf.slice(0, this.at);
    this.at = 0;
    if (this.buf.length > KEEP_BYTES) {
      this.buf = new Uint8Array(4096);
      this.view = new DataView(this.buf.buffer);
    }
    return out;
  }
}

/**
 * Map keys' encodings, by key: the same few keys ("type", "view", …) come back in every message,
 * and encoding and sorting them afresh cost more than the rest of a small map.
 */
const keyEncodings = new Map<string, Uint8Array>();
/** Most keys remembered; past it the cache starts over (keys are names, not data, in practice). */
const KEY_CACHE_LIMIT = 4096;

/** A map key's canonical encoding (a text string), to sort the keys by. */
function encodedKey(k: string): Uint8Array {
  let out = keyEncodings.get(k);
  if (out !== undefined) return out;
  if (LONE_SURROGATE.test(k)) throw new EncodeError(LONE_SURROGATE_MESSAGE);
  const u = UTF8.encode(k);
  out = new Uint8Array(headLength(u.length) + u.length);
  out.set(u, writeHead(out, 0, 3, u.length));
  if (keyEncodings.size >= KEY_CACHE_LIMIT) keyEncodings.clear();
  keyEncodings.set(k, out);
  return out;
}

const shared = new Writer();
let sharedBusy = false;

/** Canonical bytes of `value`; see `encode`. */
export function encodeCanonical(value: Value): Uint8Array {
  // One scratch buffer serves every call; a call made while it is in use (from a getter on the
  // value, say) gets its own.
  if (sharedBusy) {
    const w = new Writer();
    w.value(value, 0);
    return w.take();
  }
  sharedBusy = true;
  try {
    shared.value(value, 0);
    return shared.take();
  } finally {
    shared.at = 0;
    sharedBusy = false;
  }
}
