export { MemoryDisk, MemoryStorage, openMemoryStorage } from './memory-storage.js';
export type { MemoryDiskOptions, MemoryStorageOptions } from './memory-storage.js';
