/**
 * Real-process crash test: a child appends with group-committed syncs and prints each write it
 * saw acknowledged (sync resolved); the parent SIGKILLs it at a random moment, reopens the data
 * directory and checks that every acknowledged write is present, intact and contiguous.
 * 15 rounds by default; PHALANX_LONG=1 runs 200.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { openLmdbStorage } from '../src/index.js';
import { ensureBuilt, fixture, tempDir } from './helpers.js';
// @ts-expect-error -- plain JS fixture shared with the child process
import { payload } from './fixtures/payload.mjs';

const ROUNDS = process.env.PHALANX_LONG === '1' ? 200 : 15;
const identity = { validator: 'v1', protocol: 'crash-test', chainId: 'c1' };

/** Runs the child until its first ack, waits `killAfterMs`, SIGKILLs it; resolves with the highest acks. */
function runChild(dir: string, seed: number, killAfterMs: number): Promise<{ acked: bigint; snap: bigint }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fixture('crash-child.mjs'), dir, String(seed)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let acked = -1n;
    let snap = -1n;
    let buf = '';
    let err = '';
    let armed = false;
    child.stdout.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const [kind, n] = line.split(' ');
        if (kind === 'ack' && BigInt(n!) > acked) acked = BigInt(n!);
        if (kind === 'snap' && BigInt(n!) > snap) snap = BigInt(n!);
        if (!armed && (kind === 'ack' || kind === 'open')) {
          armed = true;
          setTimeout(() => child.kill('SIGKILL'), killAfterMs);
        }
      }
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      if (signal === 'SIGKILL') resolve({ acked, snap });
      else reject(new Error(`child exited on its own (code ${code}): ${err}`));
    });
  });
}

describe('LmdbStorage survives SIGKILL at random moments', () => {
  beforeAll(ensureBuilt);

  it(`keeps every acknowledged write across ${ROUNDS} kills`, async () => {
    const dir = tempDir();
    let rng = 0x9e3779b9;
    const rand = (n: number): number => {
      rng = (Math.imul(rng ^ (rng >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0;
      return rng % n;
    };
    let everAcked = 0n;
    let everSnap = -1n;
    let snapsChecked = 0;
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const { acked, snap } = await runChild(dir, round + 1, 5 + rand(120));
        if (acked > everAcked) everAcked = acked;
        if (snap > everSnap) everSnap = snap;
        const st = await openLmdbStorage({ path: dir, identity });
        try {
          const b = st.logBounds();
          expect(b, `round ${round}`).toBeDefined();
          expect(b!.last >= everAcked, `round ${round}: last ${b!.last} < acknowledged ${everAcked}`).toBe(true);
          const records = await st.readLog(b!.first, b!.last + 1n);
          expect(records.length, `round ${round}: contiguous`).toBe(Number(b!.last - b!.first + 1n));
          for (const [i, r] of records.entries()) {
            expect(r.index).toBe(b!.first + BigInt(i));
            if (!Buffer.from(r.data).equals(payload(r.index) as Buffer)) throw new Error(`round ${round}: record ${r.index} differs`);
          }
          const hs = await st.getHardState('last');
          expect(hs).toBeDefined();
          const hard = BigInt(Buffer.from(hs!).toString('utf8'));
          expect(hard >= everAcked && hard <= b!.last, `round ${round}: hard state ${hard}`).toBe(true);
          const latest = await st.snapshots.latest();
          if (everSnap >= 0n) expect(latest && latest.height >= everSnap, `round ${round}: snapshot ${everSnap} lost`).toBe(true);
          if (latest) {
            const chunks: Uint8Array[] = [];
            for await (const c of st.snapshots.read()) chunks.push(c);
            const want = [0n, 1n, 2n].map((c) => payload(latest.height * 8n + c) as Buffer);
            expect(Buffer.concat(chunks).equals(Buffer.concat(want)), `round ${round}: snapshot ${latest.height} differs`).toBe(true);
            expect(Buffer.from(latest.digest).toString()).toBe(`d${latest.height}`);
            snapsChecked++;
          }
        } finally {
          await st.close();
        }
      }
      expect(everAcked).toBeGreaterThan(0n);
      expect(snapsChecked).toBeGreaterThan(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, ROUNDS * 2_000 + 30_000);
});
