import { describe, expect, it } from 'vitest';
import {
  ArgumentError,
  ConfigError,
  CorruptionError,
  DataDirMismatchError,
  DecodeError,
  InsufficientReplicasError,
  KeyFileError,
  PhalanxError,
  StorageError,
  StorageFullError,
  UnknownPeerError,
  silentLogger,
  assertSameDataDir,
} from '../src/index.js';

describe('named errors', () => {
  it('carry their class name, a stable code and the details callers match on', () => {
    const cases: Array<[PhalanxError, string, string, RegExp]> = [
      [new ConfigError('nodes[2].address', 'not a multiaddr'), 'ConfigError', 'CONFIG', /^nodes\[2\]\.address: not a multiaddr$/],
      [new InsufficientReplicasError(4, 3, 'n >= 3f+1'), 'InsufficientReplicasError', 'CONFIG', /need at least 4 replicas, have 3/],
      [new ArgumentError('n', 'nextInt: n must be an integer in (0, 2^32], got 0'), 'ArgumentError', 'ARGUMENT', /^nextInt: n must be/],
      [new DecodeError('truncated'), 'DecodeError', 'DECODE', /truncated/],
      [new KeyFileError('/k.json', 'mode 0644 is readable by others'), 'KeyFileError', 'KEY_FILE', /^\/k\.json: mode 0644/],
      [new UnknownPeerError('12D3Koo'), 'UnknownPeerError', 'UNKNOWN_PEER', /12D3Koo: not a member/],
      [new StorageFullError('ENOSPC'), 'StorageFullError', 'STORAGE_FULL', /ENOSPC/],
      [new CorruptionError('log.mdb', '42', 'checksum mismatch'), 'CorruptionError', 'CORRUPTION', /log\.mdb \(record 42\): checksum mismatch/],
      [new DataDirMismatchError('written by r1'), 'DataDirMismatchError', 'DATA_DIR_MISMATCH', /written by r1/],
    ];
    for (const [err, name, code, message] of cases) {
      expect(err).toBeInstanceOf(PhalanxError);
      expect(err).toBeInstanceOf(Error);
      expect(err.name).toBe(name);
      expect(err.code).toBe(code);
      expect(err.message).toMatch(message);
    }
    expect(new InsufficientReplicasError(7, 6, 'x')).toMatchObject({ needed: 7, actual: 6, path: 'validators' });
    expect(new ArgumentError('items', 'empty')).toMatchObject({ argument: 'items', message: 'empty' });
    expect(new StorageFullError('x')).toBeInstanceOf(StorageError);
    expect(new CorruptionError('f', 'r', 'm')).toMatchObject({ file: 'f', record: 'r' });
  });

  it('keep the cause', () => {
    const cause = new Error('EACCES');
    expect(new StorageError('cannot open', { cause }).cause).toBe(cause);
  });
});

describe('assertSameDataDir', () => {
  it('passes only when validator, protocol and chain all match, and names both sides otherwise', () => {
    const id = { validator: 'v1', protocol: 'pbft', chainId: 'c1' };
    expect(() => assertSameDataDir('/d', id, { ...id })).not.toThrow();
    for (const other of [{ ...id, validator: 'v2' }, { ...id, protocol: 'raft' }, { ...id, chainId: 'c2' }]) {
      expect(() => assertSameDataDir('/d', id, other)).toThrow(DataDirMismatchError);
    }
    expect(() => assertSameDataDir('/d', id, { ...id, chainId: 'c2' })).toThrow(/^\/d belongs to validator v1, protocol pbft, chain c1; opened as validator v1, protocol pbft, chain c2$/);
  });
});

describe('silentLogger', () => {
  it('accepts every call and returns itself as a child', () => {
    silentLogger.info({ a: 1 }, 'x');
    expect(silentLogger.child({ node: 'r0' })).toBe(silentLogger);
  });
});
