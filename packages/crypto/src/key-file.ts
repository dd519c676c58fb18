/**
 * Key files: versioned JSON, checksummed, written atomically with owner-only permissions.
 *
 * Secret key file (mode 0600):
 *   { "format": "phalanx-key", "version": 1, "kind": "secret", "scheme": "ed25519",
 *     "publicKey": "<hex, scheme-tagged>", "secretKey": "<hex, scheme-tagged seed>",
 *     "checksum": "<hex SHA-256 of the checksum input below>" }
 * Public key file / config entry (any mode): the same without "secretKey", "kind": "public".
 * Checksum input: UTF-8 of "phalanx-key/v1\n" + kind + "\n" + scheme + "\n" + publicKey + "\n" +
 * (secretKey ?? "") — catches truncation and bit rot; it is not a MAC (whoever can write the file
 * can recompute it).
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import path from 'node:path';
import { bytesEqual, fromHex, toHex, utf8 } from '@phalanx/codec';
import { KeyFileError } from '@phalanx/interface';
import type { SignatureScheme, Signer } from '@phalanx/interface';
import { sha256Native } from './hash.js';
import { isSupportedScheme } from './schemes.js';
import type { SupportedScheme } from './schemes.js';
import { parsePublicKey, publicKeyFromSecret, signerFromSecret, validatePublicKey } from './signatures.js';
import type { KeyPair, SignerOptions } from './signatures.js';

export const KEY_FILE_FORMAT = 'phalanx-key';
export const KEY_FILE_VERSION = 1;

export interface KeyFileJson {
  readonly format: typeof KEY_FILE_FORMAT;
  readonly version: typeof KEY_FILE_VERSION;
  readonly kind: 'secret' | 'public';
  readonly scheme: SupportedScheme;
  readonly publicKey: string;
  readonly secretKey?: string;
  readonly checksum: string;
}

export interface LoadedKey {
  readonly scheme: SupportedScheme;
  readonly publicKey: Uint8Array;
  /** Present for secret key files. */
  readonly secretKey?: Uint8Array;
}

function checksumOf(kind: string, scheme: string, publicKey: string, secretKey: string | undefined): string {
  return toHex(sha256Native.digest(utf8.encode(`phalanx-key/v1\n${kind}\n${scheme}\n${publicKey}\n${secretKey ?? ''}`)));
}

/** The JSON document for a key pair (secret) or a public key alone (for configs). */
export function keyFileJson(key: KeyPair | { scheme: SupportedScheme; publicKey: Uint8Array }): KeyFileJson {
  const publicKey = toHex(key.publicKey);
  const secretKey = 'secretKey' in key ? toHex(key.secretKey) : undefined;
  const kind = secretKey === undefined ? 'public' : 'secret';
  const doc = {
    format: KEY_FILE_FORMAT,
    version: KEY_FILE_VERSION,
    kind,
    scheme: key.scheme,
    publicKey,
    ...(secretKey === undefined ? {} : { secretKey }),
    checksum: checksumOf(kind, key.scheme, publicKey, secretKey),
  } as const;
  return doc;
}

/** Public-key-only export (a JSON object) for configuration files. */
export function exportPublicKey(publicKey: Uint8Array): KeyFileJson {
  validatePublicKey(publicKey); // CryptoError for unknown tags, wrong lengths, small-order keys
  return keyFileJson({ scheme: parsePublicKey(publicKey).scheme, publicKey });
}

/** Writes `content` to `file` atomically: a temp file in the same directory, fsync, rename. */
function atomicWrite(file: string, content: string, mode: number): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${Date.now()}.tmp`);
  // 'wx' refuses to follow a planted file or symlink at the temp name; mode applies at creation.
  let fd: number;
  try {
    fd = openSync(tmp, 'wx', mode);
  } catch (err) {
    throw new KeyFileError(file, `cannot write: ${(err as Error).message}`, { cause: err });
  }
  try {
    writeSync(fd, content);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw new KeyFileError(file, `cannot write: ${(err as Error).message}`, { cause: err });
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (err) {
    unlinkSync(tmp);
    throw new KeyFileError(file, `cannot write: ${(err as Error).message}`, { cause: err });
  }
  // fsync the directory so the rename itself survives a crash (POSIX; not possible on Windows).
  if (process.platform !== 'win32') {
    const dirFd = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  }
}

/** Writes a secret key file with mode 0600. Overwrites atomically: readers never see a half-written file. */
export function writeKeyFile(file: string, key: KeyPair): void {
  let derived: Uint8Array;
  try {
    derived = publicKeyFromSecret(key.secretKey, key.scheme);
  } catch (err) {
    throw new KeyFileError(file, `bad secret key: ${(err as Error).message}`, { cause: err });
  }
  if (!bytesEqual(derived, key.publicKey)) {
    throw new KeyFileError(file, 'public key does not belong to the secret key; refusing to write');
  }
  atomicWrite(file, JSON.stringify(keyFileJson(key), null, 2) + '\n', 0o600);
}

/** Writes a public-key-only file (mode 0644), e.g. to hand to other operators. */
export function writePublicKeyFile(file: string, publicKey: Uint8Array): void {
  atomicWrite(file, JSON.stringify(exportPublicKey(publicKey), null, 2) + '\n', 0o644);
}

export interface ReadKeyFileOptions {
  /** Refuse a file holding another scheme. */
  readonly scheme?: SignatureScheme;
  /** Skip the permission check (e.g. on filesystems without POSIX modes). Default false. */
  readonly allowInsecurePermissions?: boolean;
}

function hexField(file: string, doc: Record<string, unknown>, name: string): Uint8Array {
  const v = doc[name];
  if (typeof v !== 'string' || v.length === 0) throw new KeyFileError(file, `corrupted: "${name}" is missing or not a string`);
  try {
    return fromHex(v);
  } catch {
    throw new KeyFileError(file, `corrupted: "${name}" is not hex`);
  }
}

/** Parses and checks a key file's content (no file-system checks). Shared by both readers. */
export function parseKeyFile(file: string, text: string, options: { scheme?: SignatureScheme; kind?: 'secret' | 'public' } = {}): LoadedKey {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    throw new KeyFileError(file, 'truncated or corrupted: not valid JSON');
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new KeyFileError(file, 'corrupted: not a JSON object');
  const d = doc as Record<string, unknown>;
  if (d.format !== KEY_FILE_FORMAT) throw new KeyFileError(file, `not a Phalanx key file (format ${JSON.stringify(d.format)})`);
  if (d.version !== KEY_FILE_VERSION) {
    throw new KeyFileError(file, `unknown key file version ${JSON.stringify(d.version)}; this build reads version ${KEY_FILE_VERSION}`);
  }
  if (!isSupportedScheme(d.scheme)) throw new KeyFileError(file, `unknown scheme ${JSON.stringify(d.scheme)}`);
  const scheme = d.scheme;
  if (options.scheme !== undefined && scheme !== options.scheme) {
    throw new KeyFileError(file, `wrong scheme: file holds ${scheme}, expected ${options.scheme}`);
  }
  if (d.kind !== 'secret' && d.kind !== 'public') throw new KeyFileError(file, `corrupted: unknown kind ${JSON.stringify(d.kind)}`);
  if (options.kind === 'secret' && d.kind !== 'secret') throw new KeyFileError(file, 'holds only a public key; a secret key file is needed');
  const pkHex = typeof d.publicKey === 'string' ? d.publicKey : '';
  const skHex = d.kind === 'secret' ? (typeof d.secretKey === 'string' ? d.secretKey : '') : undefined;
  if (typeof d.checksum !== 'string' || d.checksum !== checksumOf(d.kind, scheme, pkHex, skHex)) {
    throw new KeyFileError(file, 'corrupted: checksum mismatch (truncated or edited)');
  }
  const publicKey = hexField(file, d, 'publicKey');
  try {
    validatePublicKey(publicKey, scheme);
  } catch (err) {
    throw new KeyFileError(file, `bad public key: ${(err as Error).message}`, { cause: err });
  }
  if (d.kind === 'public') return { scheme, publicKey };
  const secretKey = hexField(file, d, 'secretKey');
  let derived: Uint8Array;
  try {
    derived = publicKeyFromSecret(secretKey, scheme);
  } catch (err) {
    throw new KeyFileError(file, `bad secret key: ${(err as Error).message}`, { cause: err });
  }
  if (!bytesEqual(derived, publicKey)) throw new KeyFileError(file, 'public key does not match the secret key');
  return { scheme, publicKey, secretKey };
}

function readText(file: string, requirePrivate: boolean): string {
  let mode: number;
  try {
    const st = statSync(file);
    if (!st.isFile()) throw new KeyFileError(file, 'not a regular file');
    mode = st.mode;
  } catch (err) {
    if (err instanceof KeyFileError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    throw new KeyFileError(file, code === 'ENOENT' ? 'no such key file' : `cannot read: ${(err as Error).message}`, { cause: err });
  }
  if (requirePrivate && process.platform !== 'win32' && (mode & 0o077) !== 0) {
    throw new KeyFileError(
      file,
      `secret key file is readable or writable by group/others (mode ${(mode & 0o777).toString(8).padStart(4, '0')}); run chmod 600`,
    );
  }
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new KeyFileError(file, `cannot read: ${(err as Error).message}`, { cause: err });
  }
}

/** Reads a secret key file; throws KeyFileError saying exactly what is wrong. */
export function readKeyFile(file: string, options: ReadKeyFileOptions = {}): KeyPair {
  const text = readText(file, options.allowInsecurePermissions !== true);
  const k = parseKeyFile(file, text, { ...(options.scheme ? { scheme: options.scheme } : {}), kind: 'secret' });
  return { scheme: k.scheme, publicKey: k.publicKey, secretKey: k.secretKey! };
}

/** Reads a public key (from a public or a secret key file) without requiring private permissions. */
export function readPublicKeyFile(file: string, options: { scheme?: SignatureScheme } = {}): Uint8Array {
  return parseKeyFile(file, readText(file, false), options).publicKey;
}

/** Convenience: a Signer straight from a secret key file. */
export function signerFromKeyFile(file: string, options: ReadKeyFileOptions & SignerOptions = {}): Signer {
  const k = readKeyFile(file, options);
  return signerFromSecret(k.secretKey, k.scheme, options);
}
