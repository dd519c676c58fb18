export { KvStore, DEFAULT_MAX_KEYS, MAX_CLIENT_ID, MAX_KEYS, isStoreFull } from './kv-store.js';
export type { KvStoreOptions } from './kv-store.js';
export { encodeCommand, decodeCommand, encodeResult, decodeResult, MAX_KEY_BYTES, MAX_VALUE_BYTES } from './commands.js';
export type { KvCommand, KvResult } from './commands.js';
