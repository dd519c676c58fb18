import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { KeyFileError } from '@phalanx/interface';
import {
  exportPublicKey,
  keyFileJson,
  readKeyFile,
  readPublicKeyFile,
  signerFromKeyFile,
  writeKeyFile,
  writePublicKeyFile,
} from '../src/key-file.js';
import { generateKeyPair, verifySignature } from '../src/signatures.js';
import { SUPPORTED_SCHEMES } from '../src/schemes.js';
import { testBytes } from './helpers.js';

const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => path.join(dir, `key-${n++}.json`);
const kp = generateKeyPair('ed25519', { seed: testBytes(1, 32) });

function expectKeyFileError(fn: () => unknown, pattern: RegExp): void {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KeyFileError);
  expect((err as Error).message).toMatch(pattern);
}

/** Writes a valid file, then rewrites its JSON through `edit` (keeping mode 0600). */
function edited(edit: (doc: Record<string, unknown>) => void): string {
  const f = fresh();
  writeKeyFile(f, kp);
  const doc = JSON.parse(readFileSync(f, 'utf8')) as Record<string, unknown>;
  edit(doc);
  writeFileSync(f, JSON.stringify(doc), { mode: 0o600 });
  return f;
}

describe('key files', () => {
  it.each(SUPPORTED_SCHEMES)('round-trips a %s key with mode 0600 and a usable signer', (scheme) => {
    const key = generateKeyPair(scheme, { seed: testBytes(9, scheme === 'hybrid-ed25519-ml-dsa-44' ? 64 : 32) });
    const f = fresh();
    writeKeyFile(f, key);
    expect(statSync(f).mode & 0o777).toBe(0o600);
    expect(readKeyFile(f)).toEqual(key);
    expect(readKeyFile(f, { scheme })).toEqual(key);
    const signer = signerFromKeyFile(f);
    const m = new TextEncoder().encode('m');
    expect(verifySignature(key.publicKey, m, signer.sign(m))).toBe(true);
  });

  it('has the documented JSON shape', () => {
    const doc = keyFileJson(kp);
    expect(Object.keys(doc)).toEqual(['format', 'version', 'kind', 'scheme', 'publicKey', 'secretKey', 'checksum']);
    expect(doc).toMatchObject({ format: 'phalanx-key', version: 1, kind: 'secret', scheme: 'ed25519' });
    expect(doc.publicKey).toMatch(/^01[0-9a-f]{64}$/);
  });

  it('overwrites atomically and leaves no temp files behind', () => {
    const f = fresh();
    writeKeyFile(f, kp);
    const other = generateKeyPair('ed25519', { seed: testBytes(2, 32) });
    writeKeyFile(f, other);
    expect(readKeyFile(f)).toEqual(other);
    expect(readdirSync(dir).filter((x) => x.endsWith('.tmp'))).toEqual([]);
  });

  it('refuses to write a pair whose public key does not belong to the secret', () => {
    const other = generateKeyPair('ed25519', { seed: testBytes(2, 32) });
    expectKeyFileError(() => writeKeyFile(fresh(), { ...kp, publicKey: other.publicKey }), /does not belong/);
  });

  it('write errors are KeyFileErrors too (missing directory, bad secret)', () => {
    expectKeyFileError(() => writeKeyFile(path.join(dir, 'no-such-dir', 'k.json'), kp), /cannot write/);
    expectKeyFileError(() => writeKeyFile(fresh(), { ...kp, secretKey: kp.secretKey.subarray(0, 5) }), /bad secret key/);
  });

  it('missing file', () => {
    expectKeyFileError(() => readKeyFile(path.join(dir, 'nope.json')), /no such key file/);
    expectKeyFileError(() => readKeyFile(dir), /not a regular file/);
  });

  it.each([0o640, 0o604, 0o644, 0o660])('group/world-accessible permissions (%o)', (mode) => {
    const f = fresh();
    writeKeyFile(f, kp);
    chmodSync(f, mode);
    expectKeyFileError(() => readKeyFile(f), /group\/others.*chmod 600/);
    expect(readKeyFile(f, { allowInsecurePermissions: true })).toEqual(kp);
  });

  it('truncated content', () => {
    const f = fresh();
    writeKeyFile(f, kp);
    const text = readFileSync(f, 'utf8');
    for (const cut of [0, 1, 40, text.length - 3]) {
      writeFileSync(f, text.slice(0, cut), { mode: 0o600 });
      expectKeyFileError(() => readKeyFile(f), /truncated or corrupted/);
    }
  });

  it('corrupted content: a flipped hex digit in either key fails the checksum', () => {
    for (const field of ['publicKey', 'secretKey'] as const) {
      const f = edited((d) => {
        const s = d[field] as string;
        d[field] = s.slice(0, 10) + (s[10] === 'a' ? 'b' : 'a') + s.slice(11);
      });
      expectKeyFileError(() => readKeyFile(f), /checksum mismatch/);
    }
    expectKeyFileError(() => readKeyFile(edited((d) => delete d.checksum)), /checksum/);
    expectKeyFileError(() => readKeyFile(edited((d) => (d.secretKey = 'zz'))), /checksum/);
  });

  it('public key not matching the secret (checksum recomputed, as a careless edit would)', () => {
    const other = generateKeyPair('ed25519', { seed: testBytes(2, 32) });
    const f = fresh();
    const doc = { ...keyFileJson(kp) };
    const forged = keyFileJson({ ...kp, publicKey: other.publicKey });
    writeFileSync(f, JSON.stringify({ ...doc, publicKey: forged.publicKey, checksum: forged.checksum }), { mode: 0o600 });
    expectKeyFileError(() => readKeyFile(f), /does not match the secret/);
  });

  it('unknown version, wrong format, unknown scheme, wrong expected scheme', () => {
    expectKeyFileError(() => readKeyFile(edited((d) => (d.version = 2))), /unknown key file version 2/);
    expectKeyFileError(() => readKeyFile(edited((d) => (d.format = 'pem'))), /not a Phalanx key file/);
    expectKeyFileError(() => readKeyFile(edited((d) => (d.scheme = 'rsa-2048'))), /unknown scheme "rsa-2048"/);
    const f = fresh();
    writeKeyFile(f, kp);
    expectKeyFileError(() => readKeyFile(f, { scheme: 'ml-dsa-44' }), /wrong scheme: file holds ed25519, expected ml-dsa-44/);
  });

  it('scheme field edited to another supported scheme is caught (checksum, then key tag)', () => {
    expectKeyFileError(() => readKeyFile(edited((d) => (d.scheme = 'ml-dsa-44'))), /checksum/);
    const f = fresh();
    const j = keyFileJson(kp);
    const lie = keyFileJson({ scheme: 'ml-dsa-44', publicKey: kp.publicKey, secretKey: kp.secretKey });
    writeFileSync(f, JSON.stringify({ ...j, scheme: 'ml-dsa-44', checksum: lie.checksum }), { mode: 0o600 });
    expectKeyFileError(() => readKeyFile(f), /bad public key: .*expected ml-dsa-44/);
  });

  it('public-key-only export for configs', () => {
    const doc = exportPublicKey(kp.publicKey);
    expect(doc).toMatchObject({ format: 'phalanx-key', version: 1, kind: 'public', scheme: 'ed25519' });
    expect('secretKey' in doc).toBe(false);
    const f = fresh();
    writePublicKeyFile(f, kp.publicKey);
    expect(readPublicKeyFile(f)).toEqual(kp.publicKey);
    // A public file is not a secret key file...
    chmodSync(f, 0o600);
    expectKeyFileError(() => readKeyFile(f), /only a public key/);
    // ...but the public key can be read from a secret file.
    const s = fresh();
    writeKeyFile(s, kp);
    expect(readPublicKeyFile(s)).toEqual(kp.publicKey);
    const small = new Uint8Array(33);
    small[0] = 1;
    small[1] = 1; // identity point
    expect(() => exportPublicKey(small)).toThrow(/small-order/);
  });
});
