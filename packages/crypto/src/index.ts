export {
  SCHEME_TAG,
  SCHEME_SIZES,
  SUPPORTED_SCHEMES,
  isSupportedScheme,
  schemeOfTag,
} from './schemes.js';
export type { SupportedScheme, SchemeSizes } from './schemes.js';
export {
  generateKeyPair,
  publicKeyFromSecret,
  signerFromSecret,
  parsePublicKey,
  validatePublicKey,
  createVerifier,
  verifier,
  verifySignature,
  mlDsaVerifyRaw,
} from './signatures.js';
export type { KeyPair, GenerateOptions, SignerOptions, VerifierOptions, ParsedPublicKey } from './signatures.js';
export {
  ed25519VerifyNative,
  ed25519VerifyNoble,
  validateEd25519PublicKey,
  isSmallOrderEncoding,
  isCanonicalScalar,
  setEd25519KeyCacheSize,
  DEFAULT_KEY_CACHE_SIZE,
} from './ed25519.js';
export type { Ed25519Backend } from './ed25519.js';
export { sha256Native, sha256Noble, blake3Noble, createHasher, digest } from './hash.js';
export type { HashAlgorithm, HashBackend, NamedHasher } from './hash.js';
export { kemKeygen, kemEncapsulate, kemDecapsulate } from './kem.js';
export type { KemScheme, KemKeyPair } from './kem.js';
export { createBatchVerifier, resolveWorkerScript } from './batch.js';
export type { BatchVerifierOptions } from './batch.js';
export {
  KEY_FILE_FORMAT,
  KEY_FILE_VERSION,
  keyFileJson,
  exportPublicKey,
  writeKeyFile,
  writePublicKeyFile,
  parseKeyFile,
  readKeyFile,
  readPublicKeyFile,
  signerFromKeyFile,
} from './key-file.js';
export type { KeyFileJson, LoadedKey, ReadKeyFileOptions } from './key-file.js';
export { LruCache, checkLruCapacity } from './lru.js';
export { createVerifiedCache } from './verified-cache.js';
export type { VerifiedCache, VerifiedCacheOptions } from './verified-cache.js';
