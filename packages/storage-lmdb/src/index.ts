export { openLmdbStorage, LmdbStorage, MAX_KV_KEY_BYTES, STORAGE_FORMAT } from './lmdb-storage.js';
export type { LmdbStorageOptions } from './lmdb-storage.js';
export { crc32c } from './crc32c.js';
