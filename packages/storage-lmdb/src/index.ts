export { openLmdbStorage, LmdbStorage, MAX_KV_KEY_BYTES } from './lmdb-storage.js';
export type { LmdbStorageOptions } from './lmdb-storage.js';
export { crc32c } from './crc32c.js';
