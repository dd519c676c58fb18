export { runStorageCompliance } from './storage-compliance.js';
export type { StorageHarness, StorageComplianceOptions } from './storage-compliance.js';
