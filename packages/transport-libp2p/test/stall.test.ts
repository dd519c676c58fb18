import { describe, it, expect, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { waitFor } from '@phalanx/compliance';
import { Libp2pTransport } from '../src/index.js';
import { identities } from './helpers.js';
import type { TestIdentity } from './helpers.js';

const fixture = fileURLToPath(new URL('./stall-fixture.ts', import.meta.url));
const STALL_MS = 16_000;

describe('a validator whose event loop stalls', () => {
  const cleanup: Array<() => Promise<void> | void> = [];
  afterEach(async () => {
    for (const c of cleanup.splice(0)) await c();
  });

  // libp2p pings every connection each 10 s and by default aborts it when a ping is unanswered
  // after 5 s. A 16 s stall always spans a whole ping timeout, so with those defaults the link
  // breaks (and every stream on it: frames in flight lost, client replies dropped).
  it(`keeps its links through a ${STALL_MS / 1000} s stall`, async () => {
    const ids = await identities(['r0', 'r1']);
    const [i0, i1] = ids as [TestIdentity, TestIdentity];
    const validators = ids.map((v) => ({ id: v.id, publicKey: v.publicKey, addrs: v.addrs }));
    const r0 = new Libp2pTransport({ self: 'r0', seed: i0.seed, listen: i0.addrs, validators, reconnect: { initialMs: 20, maxMs: 200 } });
    await r0.start();
    cleanup.push(() => r0.stop());
    const args = { seed: [...i1.seed], listen: i1.addrs, validators: validators.map((v) => ({ ...v, publicKey: [...v.publicKey] })) };
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, JSON.stringify(args)], { stdio: ['pipe', 'pipe', 'inherit'] });
    cleanup.push(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitFor(() => out.includes('started') && r0.connectedPeers().includes('r1'), 'r0 and r1 linked', 20_000);
    // Frames r0 sends during the stall wait in the kernel and arrive when r1 wakes.
    let gaps = 0;
    let linked = true;
    const watch = setInterval(() => {
      const now = r0.connectedPeers().includes('r1');
      if (linked && !now) gaps++;
      linked = now;
    }, 20);
    cleanup.push(() => clearInterval(watch));
    child.stdin.write(`${STALL_MS}\n`);
    await waitFor(() => out.includes('awake'), 'r1 to wake', STALL_MS + 10_000);
    // A ping r1 sent before it stalled times out when its timer runs on waking: give that a moment.
    await new Promise((r) => setTimeout(r, 1_500));
    clearInterval(watch);
    expect(gaps).toBe(0);
    expect(r0.connectedPeers()).toContain('r1');
  }, STALL_MS + 40_000);
});
