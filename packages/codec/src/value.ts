/** The codec's data model: what `encode` writes and `decode` returns. */
export type Value =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | readonly Value[]
  | { readonly [key: string]: Value };

/**
 * Deepest nesting of arrays and maps there is: the most `decode` may be asked to read (it recurses
 * once per level), and the most `encode` writes.
 */
export const MAX_DEPTH_LIMIT = 1024;

/** The largest unsigned 64-bit integer: what `readU64` accepts at most, and the largest CBOR head argument. */
export const U64_MAX = (1n << 64n) - 1n;
