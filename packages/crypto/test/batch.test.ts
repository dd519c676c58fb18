import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, CryptoError } from '@phalanx/interface';
import type { VerifyItem } from '@phalanx/interface';
import { createBatchVerifier, resolveWorkerScript } from '../src/batch.js';
import { createVerifier, generateKeyPair, signerFromSecret } from '../src/signatures.js';
import { testBytes } from './helpers.js';

// The pool runs the compiled dist/batch-worker.js: build the package before these tests
// (`pnpm --filter @phalanx/crypto build`; root `pnpm test` builds first).

let memo: VerifyItem[] | undefined;
/** The first n of 300 fixed items (signed once: ML-DSA signing is the slow part of these tests). */
function mixedItems(n: number): VerifyItem[] {
  memo ??= buildItems(300);
  return memo.slice(0, n);
}

function buildItems(n: number): VerifyItem[] {
  const signers = [
    signerFromSecret(generateKeyPair('ed25519', { seed: testBytes(1, 32) }).secretKey),
    signerFromSecret(generateKeyPair('ed25519', { seed: testBytes(2, 32) }).secretKey),
    signerFromSecret(generateKeyPair('ml-dsa-44', { seed: testBytes(3, 32) }).secretKey),
  ];
  const items: VerifyItem[] = [];
  for (let i = 0; i < n; i++) {
    const s = signers[i % 7 === 3 ? 2 : i % 2]!;
    const message = testBytes(100 + i, 20 + (i % 50));
    let signature = s.sign(message);
    let publicKey = s.publicKey;
    if (i % 5 === 1) signature = Uint8Array.from(signature, (b, j) => (j === 9 ? b ^ 1 : b)); // corrupted
    if (i % 11 === 4) publicKey = signers[(i + 1) % 2]!.publicKey; // wrong signer
    if (i % 13 === 6) signature = signature.subarray(0, 10); // truncated
    items.push({ publicKey, message, signature });
  }
  return items;
}

describe('batch verifier pool', () => {
  const tmp = mkdtempSync(path.join(tmpdir(), 'phalanx-batch-'));
  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  it('finds the compiled worker script', () => {
    expect(resolveWorkerScript().pathname).toMatch(/dist\/batch-worker\.js$/);
  });

  it('gives the same per-item results, in order, as sequential verification (valid and invalid items)', async () => {
    const items = mixedItems(300);
    const seq = items.map((it) => createVerifier().verify(it.publicKey, it.message, it.signature));
    expect(seq.filter(Boolean).length).toBeGreaterThan(100);
    expect(seq.filter((x) => !x).length).toBeGreaterThan(50);
    const pool = createBatchVerifier({ workers: 2, minChunk: 8 });
    try {
      expect(pool.workerCount).toBe(2);
      expect(await pool.verifyBatch(items)).toEqual(seq);
      expect(await pool.verifyBatch([])).toEqual([]);
      expect(await pool.verifyBatch(items.slice(0, 1))).toEqual(seq.slice(0, 1));
      // Concurrent batches share the pool and still come back in their own order.
      const [a, b] = await Promise.all([pool.verifyBatch(items.slice(0, 150)), pool.verifyBatch(items.slice(150))]);
      expect([...a, ...b]).toEqual(seq);
    } finally {
      await pool.close();
    }
  });

  it('treats non-byte fields as invalid items instead of failing the batch', async () => {
    const good = mixedItems(1);
    const pool = createBatchVerifier({ workers: 1 });
    try {
      const bad = { publicKey: 'x', message: null, signature: 7 } as unknown as VerifyItem;
      expect(await pool.verifyBatch([good[0]!, bad, good[0]!])).toEqual([true, false, true]);
    } finally {
      await pool.close();
    }
  });

  it('noble backend in the workers agrees too', async () => {
    const items = mixedItems(40);
    const seq = items.map((it) => createVerifier({ ed25519: 'noble' }).verify(it.publicKey, it.message, it.signature));
    const pool = createBatchVerifier({ workers: 2, ed25519: 'noble', minChunk: 4 });
    try {
      expect(await pool.verifyBatch(items)).toEqual(seq);
    } finally {
      await pool.close();
    }
  });

  it('close() lets submitted batches finish, then refuses new ones; it is idempotent', async () => {
    const items = mixedItems(60);
    const pool = createBatchVerifier({ workers: 2 });
    const pending = pool.verifyBatch(items);
    const closed = pool.close();
    expect(await pending).toHaveLength(60);
    await closed;
    await pool.close();
    await expect(pool.verifyBatch(items)).rejects.toThrow(/closed/);
  });

  it('a crashing worker rejects the pending batch with a clear error instead of hanging', async () => {
    const script = path.join(tmp, 'crash-worker.mjs');
    writeFileSync(
      script,
      "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => { throw new Error('boom in worker'); });\n",
    );
    const pool = createBatchVerifier({ workers: 2, workerScript: script });
    try {
      const err = await pool.verifyBatch(mixedItems(40)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CryptoError);
      expect((err as Error).message).toMatch(/worker \d crashed \(boom in worker\)/);
    } finally {
      await pool.close();
    }
  });

  it('a worker that exits mid-batch also rejects, and the pool replaces it', async () => {
    const script = path.join(tmp, 'exit-worker.mjs');
    writeFileSync(script, "import { parentPort } from 'node:worker_threads';\nparentPort.on('message', () => process.exit(3));\n");
    const pool = createBatchVerifier({ workers: 1, workerScript: script });
    try {
      await expect(pool.verifyBatch(mixedItems(5))).rejects.toThrow(/exited with code 3/);
      await expect(pool.verifyBatch(mixedItems(5))).rejects.toThrow(/crashed/); // the replacement runs (and dies) too
    } finally {
      await pool.close();
    }
  });

  it('a worker script that cannot load rejects the batch (and is not respawned in a loop)', async () => {
    const pool = createBatchVerifier({ workers: 1, workerScript: path.join(tmp, 'no-such-worker.mjs') });
    try {
      await expect(pool.verifyBatch(mixedItems(3))).rejects.toThrow(CryptoError);
    } finally {
      await pool.close();
    }
  });

  it('refuses a nonsensical worker count with ConfigError naming the option', () => {
    for (const workers of [0, -1, 1.5, Number.NaN]) {
      expect(() => createBatchVerifier({ workers })).toThrow(
        expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'workers', message: `workers: batch verifier needs at least one worker, got ${workers}` }),
      );
    }
  });
});
