import { afterAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig } from '../src/config.js';
import { basePort, cli, phalanx, start, waitFor } from './cli-helpers.js';

// One of four replica processes runs out of disk (a file-size limit, the way to a full disk for a
// root process without mounting anything: `ulimit -f`, with SIGXFSZ ignored so the write fails
// with EFBIG instead of killing the process). It must halt, not crash and not carry on: alive,
// /readyz not ready, `replica_halted 1`. The other three keep committing, and once it restarts
// with room again it recovers from what it had made durable and catches up.
describe.each(['pbft', 'hotstuff'] as const)('a %s replica whose disk fills up', (protocol) => {
  const dir = mkdtempSync(path.join(tmpdir(), `phalanx-full-disk-${protocol}-`));
  const children: ChildProcess[] = [];
  afterAll(async () => {
    // Killed and gone before the data (~100 MiB a run) is removed.
    await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r).kill('SIGKILL')))));
    rmSync(dir, { recursive: true, force: true });
  });

  it('halts, stays up and not ready; the others commit on; restarted with room, it catches up', async () => {
    const k = await phalanx(['keygen', '--replicas', '4', '--out', dir, '--protocol', protocol, '--base-port', String(await basePort())]);
    expect(k.code).toBe(0);
    const cfg = path.join(dir, 'config.yaml');
    const config = loadConfig(cfg);
    const args = (id: string): string[] => ['run', '--config', cfg, '--key', path.join(dir, `key_${id}.json`), '--data-dir', path.join(dir, `data_${id}`), '--log-level', 'warn'];
    const replicas = config.nodes.slice(0, 3).map((n) => start(args(n.id)));
    children.push(...replicas.map((r) => r.child));
    // r3 under a 16 MiB file-size limit (dash counts `ulimit -f` in 512-byte blocks).
    const limited = spawn('sh', ['-c', `trap '' XFSZ; ulimit -f 32768; exec "${process.execPath}" "${cli}" "$@"`, 'sh', ...args('r3')], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    children.push(limited);
    let limitedErr = '';
    limited.stderr.on('data', (c: Buffer) => (limitedErr += c.toString()));
    const [r3] = config.nodes.slice(3);
    const http = (i: number): string => config.nodes[i]!.http;
    await Promise.all(config.nodes.map((n) => waitFor(`${n.id} ready`, async () => ((await fetch(`http://${n.http}/readyz`)).ok ? true : undefined))));

    // Writes of 8 KiB values until r3 halts: PBFT checkpoints store the whole state, and HotStuff
    // stores every block, so r3's data file outgrows the limit within a few MiB of writes.
    const value = 'v'.repeat(8192);
    let written = 0;
    const halted = async (): Promise<boolean> => /^replica_halted\S* 1$/m.test(await (await fetch(`http://${r3!.metrics!}/metrics`)).text());
    const until = Date.now() + 90_000;
    while (!(await halted())) {
      if (Date.now() > until) throw new Error(`r3 did not halt after ${written} writes: ${limitedErr}`);
      const batch = Array.from({ length: 32 }, () => fetch(`http://${http(written++ % 3)}/kv/big${written}`, { method: 'PUT', body: value }).then((r) => r.status));
      expect(await Promise.all(batch)).toEqual(Array(32).fill(200));
    }
    // Halted, not crashed: the process serves, says it is not ready, and counted the storage error.
    expect(limited.exitCode).toBeNull();
    expect((await fetch(`http://${r3!.http}/healthz`)).status).toBe(200);
    expect((await fetch(`http://${r3!.http}/readyz`)).status).toBe(503);
    const metrics = await (await fetch(`http://${r3!.metrics!}/metrics`)).text();
    expect(metrics).toMatch(/^storage_errors_total\S* [1-9]/m);
    expect(limitedErr).toMatch(/replica halted/);
    expect(limitedErr).toMatch(/disk is full or not writable/);

    // The other three carry on: a write through r1 commits and they agree.
    expect((await fetch(`http://${http(1)}/kv/after-halt`, { method: 'PUT', body: 'yes' })).status).toBe(200);
    const digests = async (ids: number[]): Promise<Set<string>> => {
      const s = await Promise.all(ids.map(async (i) => (await (await fetch(`http://${http(i)}/status?digest=1`)).json()) as Record<string, string>));
      return new Set(s.map((x) => `${x.stateDigestHeight}/${x.stateDigest}`));
    };
    await waitFor('r0..r2 agree', async () => ((await digests([0, 1, 2])).size === 1 ? true : undefined));

    // Room again (no limit): r3 restarts from its data directory and catches up with the rest.
    limited.kill('SIGKILL');
    await new Promise((r) => limited.once('exit', r));
    const again = start(args('r3'));
    children.push(again.child);
    await waitFor('r3 ready again', async () => ((await fetch(`http://${r3!.http}/readyz`)).ok ? true : undefined));
    expect((await fetch(`http://${http(0)}/kv/after-restart`, { method: 'PUT', body: 'yes' })).status).toBe(200);
    await waitFor('all four agree', async () => ((await digests([0, 1, 2, 3])).size === 1 ? true : undefined), 90_000);
    expect(await (await fetch(`http://${r3!.http}/kv/after-halt`)).text()).toBe('yes');
  });
});
