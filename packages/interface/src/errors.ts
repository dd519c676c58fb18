import type { DataDirIdentity } from './storage.js';

/**
 * Named errors shared by every package. Each has a stable `code` so callers and logs can
 * match on it without parsing messages.
 */
export class PhalanxError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/** A configuration value is wrong. `path` names it (e.g. "validators[2].publicKey"). */
export class ConfigError extends PhalanxError {
  readonly path: string;
  constructor(path: string, message: string, options?: { cause?: unknown }) {
    super('CONFIG', path ? `${path}: ${message}` : message, options);
    this.path = path;
  }
}

/**
 * A function was called outside its documented contract (an argument out of range, an empty list
 * where one item is needed, a key twice): the calling code is wrong, not configuration or input.
 * `argument` names the parameter; the message is the thrower's own, not prefixed with it.
 */
export class ArgumentError extends PhalanxError {
  readonly argument: string;
  constructor(argument: string, message: string, options?: { cause?: unknown }) {
    super('ARGUMENT', message, options);
    this.argument = argument;
  }
}

/** Fewer replicas than a fault model needs (e.g. n < 3f+1 for BFT). */
export class InsufficientReplicasError extends ConfigError {
  readonly needed: number;
  readonly actual: number;
  constructor(needed: number, actual: number, why: string) {
    super('validators', `need at least ${needed} replicas, have ${actual} (${why})`);
    this.needed = needed;
    this.actual = actual;
  }
}

/** Bytes that are not a valid encoding: truncated, trailing, non-canonical, too large or too deep. */
export class DecodeError extends PhalanxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('DECODE', message, options);
  }
}

/** A key, signature or scheme is unusable (wrong scheme, wrong length, invalid point, small order). */
export class CryptoError extends PhalanxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CRYPTO', message, options);
  }
}

/** A key file cannot be used: missing, wrong permissions, wrong version or scheme, corrupted. */
export class KeyFileError extends PhalanxError {
  readonly file: string;
  constructor(file: string, message: string, options?: { cause?: unknown }) {
    super('KEY_FILE', `${file}: ${message}`, options);
    this.file = file;
  }
}

/** A certificate does not prove what it claims (too little power, bad signature, unknown voter). */
export class CertificateError extends PhalanxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CERTIFICATE', message, options);
  }
}

/** A peer that is not in the validator set (or client list) tried to talk to us. */
export class UnknownPeerError extends PhalanxError {
  readonly peer: string;
  constructor(peer: string, message = 'not a member of the validator set') {
    super('UNKNOWN_PEER', `${peer}: ${message}`);
    this.peer = peer;
  }
}

export class StorageError extends PhalanxError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('STORAGE', message, options);
  }
}

/** The disk is full or the directory is read-only: writes stop, nothing already stored is touched. */
export class StorageFullError extends StorageError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    Object.defineProperty(this, 'code', { value: 'STORAGE_FULL' });
  }
}

/** Stored bytes failed their checksum. Names the file and record so an operator can act. */
export class CorruptionError extends StorageError {
  readonly file: string;
  readonly record: string;
  constructor(file: string, record: string, message: string) {
    super(`${file} (record ${record}): ${message}`);
    Object.defineProperty(this, 'code', { value: 'CORRUPTION' });
    this.file = file;
    this.record = record;
  }
}

/** Stored data belongs to another validator, protocol or chain than the one configured. */
export class DataDirMismatchError extends StorageError {
  constructor(message: string) {
    super(message);
    Object.defineProperty(this, 'code', { value: 'DATA_DIR_MISMATCH' });
  }
}

/**
 * Throws `DataDirMismatchError` unless `have` (stored in the data directory) and `want` (what it is
 * opened as) name the same validator, protocol and chain. Every storage adapter uses this one check.
 */
export function assertSameDataDir(where: string, have: DataDirIdentity, want: DataDirIdentity): void {
  if (have.validator === want.validator && have.protocol === want.protocol && have.chainId === want.chainId) return;
  throw new DataDirMismatchError(
    `${where} belongs to validator ${have.validator}, protocol ${have.protocol}, chain ${have.chainId}; ` +
      `opened as validator ${want.validator}, protocol ${want.protocol}, chain ${want.chainId}`,
  )
}
