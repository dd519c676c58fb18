import { describe, it, expect } from 'vitest';
import http from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { httpLoad, waitForHttp } from '../src/scenarios/http-load.js';
import { freePort, startProcess } from '../src/scenarios/processes.js';
import { etcdPut } from '../src/scenarios/etcd.js';
import { phalanxPut } from '../src/scenarios/testnet.js';
import { bftLoadRecords, httpLoadRecords } from '../src/scenarios/multi-process.js';
import { tempDir } from './temp-dir.js';


async function server(handler: http.RequestListener): Promise<{ url: string; close: () => Promise<void>; seen: string[] }> {
  const seen: string[] = [];
  const srv = http.createServer((req, res) => {
    seen.push(`${req.method} ${req.url}`);
    handler(req, res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => srv.close(() => r())) };
}

describe('http load generator', () => {
  it('counts successes and failures per status and keeps one request in flight per client', async () => {
    let inFlight = 0;
    let maxInFlight = 0;
    const s = await server((req, res) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      req.resume();
      req.on('end', () =>
        setTimeout(() => {
          inFlight--;
          res.statusCode = req.url!.includes('bad') ? 500 : 200;
          res.end('ok');
        }, 2),
      );
    });
    try {
      const r = await httpLoad({
        targets: [s.url],
        concurrency: 3,
        durationMs: 150,
        request: (c, i) => phalanxPut(i % 4 === 3 ? `bad-${c}` : `k-${c}-${i}`, new Uint8Array(100)),
      });
      expect(r.ok).toBeGreaterThan(0);
      expect(r.failed).toBeGreaterThan(0);
      expect(r.ok + r.failed).toBe(s.seen.length);
      expect(r.errors).toEqual(['HTTP 500']);
      expect(r.latency!.count).toBe(r.ok);
      expect(maxInFlight).toBeLessThanOrEqual(3);
      expect(s.seen[0]).toMatch(/^PUT \/kv\/k-\d-0$/);
    } finally {
      await s.close();
    }
  });

  it('reports a dead target as failures, not a crash', async () => {
    const port = await freePort();
    const r = await httpLoad({ targets: [`http://127.0.0.1:${port}`], concurrency: 1, durationMs: 100, request: () => ({ method: 'GET', path: '/' }) });
    expect(r.ok).toBe(0);
    expect(r.failed).toBeGreaterThan(0);
    expect(r.errors[0]).toMatch(/ECONNREFUSED/);
  });

  it('waits for readiness and names the last problem on timeout', async () => {
    let calls = 0;
    const s = await server((_req, res) => {
      res.statusCode = ++calls < 2 ? 503 : 200;
      res.end();
    });
    try {
      await waitForHttp(`${s.url}/readyz`, 5000);
      expect(calls).toBe(2);
    } finally {
      await s.close();
    }
    const port = await freePort();
    await expect(waitForHttp(`http://127.0.0.1:${port}/health`, 300)).rejects.toThrow(/not ready after 300 ms/);
  });

  it('builds etcd v3 gateway puts and load records', () => {
    const put = etcdPut('k', Uint8Array.of(1, 2));
    expect(put).toMatchObject({ method: 'POST', path: '/v3/kv/put' });
    expect(JSON.parse(put.body as string)).toEqual({ key: 'aw==', value: 'AQI=' });
    const recs = httpLoadRecords(
      'peer/etcd',
      { system: 'phalanx', protocol: 'pbft', n: 4 },
      { ok: 10, failed: 0, seconds: 1, opsPerSec: 10, errors: [], concurrency: 4, latency: { count: 10, min: 1, mean: 2, p50: 2, p90: 3, p99: 4, max: 5 } },
      { name: 'etcd', value: 20, unit: 'ops/s' },
    );
    expect(recs[0]).toMatchObject({ name: 'put throughput', value: 10, ceiling: { value: 20 } });
    expect(recs.slice(1).map((r) => r.params.stat)).toEqual(['p50', 'p90', 'p99', 'max']);
  });

  it('builds BFT client records with the issue targets as claims', () => {
    const lat = { p50: 2, p99: 4 };
    const load = (window: number) => ({ failed: 0, opsPerSec: 10 * window, window, latency: lat });
    const r = { http: { ok: 1, failed: 0, seconds: 1, opsPerSec: 1, errors: [], concurrency: 1 }, bft: { ...load(1024), light: load(1) } };
    const recs = bftLoadRecords('cluster/multi-process', { protocol: 'hotstuff', n: 4 }, r, { name: 'kv', value: 1e6, unit: 'ops/s' });
    expect(recs.map((x) => [x.name, x.value, x.params.stat])).toEqual([
      ['client commits', 10240, undefined],
      ['client latency under load', 2, 'p50'],
      ['client latency at light load', 2, 'p50'],
      ['client latency at light load', 4, 'p99'],
    ]);
    expect(recs[0]!.claim).toMatch(/20,000 ops\/s/);
    expect(recs[2]!.claim).toMatch(/5 ms/);
    expect(bftLoadRecords('s', { protocol: 'pbft', n: 7 }, r, undefined)[0]!.claim).toBeUndefined();
    // With the deeper window: its commits and latency follow the first run's, each with its window.
    const deep = bftLoadRecords('s', { protocol: 'pbft', n: 4 }, { ...r, bftDeep: load(4096) }, undefined);
    expect(deep.map((x) => [x.name, x.value, x.params.window])).toEqual([
      ['client commits', 10240, 1024],
      ['client latency under load', 2, 1024],
      ['client commits', 40960, 4096],
      ['client latency under load', 2, 4096],
      ['client latency at light load', 2, 1],
      ['client latency at light load', 4, 1],
    ]);
    expect(deep[2]!.claim).toMatch(/10,000 ops\/s/);
  });
});

describe('child processes', () => {
  it('stops a process group politely, then by force, and keeps its log', async () => {
    const dir = tempDir('bench-proc-');
    const log = path.join(dir, 'child.log');
    // Ignores SIGINT, so the stop has to escalate to SIGKILL after the grace period.
    const p = startProcess('stubborn', process.execPath, ['-e', "process.on('SIGINT', () => {}); console.log('up'); setInterval(() => {}, 1000)"], { log });
    // Wait until the handler is installed (it prints after installing it), however slow the machine.
    for (let i = 0; i < 200 && !(existsSync(log) && readFileSync(log, 'utf8').includes('up')); i++) await new Promise((r) => setTimeout(r, 50));
    expect(await p.stop(200)).toBe('SIGKILL');
    expect(readFileSync(log, 'utf8')).toContain('up');
    const polite = startProcess('polite', process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { log });
    expect(await polite.stop(5000)).toBe('SIGINT');
  });
});
