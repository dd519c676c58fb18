export { encode, decode, EncodeError, DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH } from './cbor.js';
export type { Value, DecodeLimits } from './cbor.js';
export { bytesEqual, compareBytes, concatBytes, toHex, fromHex, utf8 } from './bytes.js';
export { readMap, readArray, readBytes, readString, readBool, readU64, readUint, readOptional, u64Of } from './read.js';
export { U64_MAX } from './value.js';
export { signingBytes } from './signing.js';
export { headLength, writeHead, readHead } from './head.js';
