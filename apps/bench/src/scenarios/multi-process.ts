/**
 * Multi-process clusters (phalanx testnet: replicas as OS processes over libp2p on loopback,
 * durable storage) and the etcd comparison, both under the same closed-loop HTTP load: puts of
 * 100-byte values, `concurrency` clients spread over every member.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { latencyRecords, type BenchRecord, type Ceiling, type ParamValue } from '@phalanx/bench-kit';
import { httpLoad, type HttpLoadResult, type HttpRequestSpec } from './http-load.js';
import { startPhalanxTestnet, phalanxPut } from './testnet.js';
import { startEtcd, etcdPut } from './etcd.js';

export const MP_QUICK_SIZES: readonly number[] = [4];
export const MP_FULL_SIZES: readonly number[] = [4, 7];
export const VALUE_BYTES = 100;

function loadShape(quick: boolean): { concurrency: number; durationMs: number; warmupMs: number } {
  return { concurrency: quick ? 16 : 64, durationMs: quick ? 3000 : 15_000, warmupMs: quick ? 500 : 2000 };
}

async function drive(targets: readonly string[], quick: boolean, request: (key: string, value: Uint8Array) => HttpRequestSpec): Promise<HttpLoadResult & { concurrency: number }> {
  const shape = loadShape(quick);
  const value = new Uint8Array(VALUE_BYTES).fill(0x61);
  const make = (prefix: string) => (c: number, i: number) => request(`${prefix}-${c}-${i}`, value);
  // Warm-up (connections, JIT, leader election settling) is not measured.
  await httpLoad({ targets, concurrency: shape.concurrency, durationMs: shape.warmupMs, request: make('warm') });
  const r = await httpLoad({ targets, concurrency: shape.concurrency, durationMs: shape.durationMs, request: make('bench') });
  if (r.ok === 0) throw new Error(`no put succeeded (${r.failed} failed: ${r.errors.join('; ') || 'no error text'})`);
  return { ...r, concurrency: shape.concurrency };
}

export async function multiProcessRun(repoRoot: string, protocol: string, n: number, quick: boolean): Promise<HttpLoadResult & { concurrency: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), `phalanx-bench-${protocol}-${n}-`));
  let keep = false;
  try {
    const net = await startPhalanxTestnet(repoRoot, dir, n, protocol);
    try {
      return await drive(net.httpUrls, quick, phalanxPut);
    } finally {
      const code = await net.stop();
      if (code !== 0) keep = true;
    }
  } catch (e) {
    keep = true;
    throw new Error(`${(e as Error).message} (logs kept in ${dir})`);
  } finally {
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

export function httpLoadRecords(suite: string, base: Record<string, ParamValue>, r: HttpLoadResult & { concurrency: number }, ceiling: Ceiling | undefined): BenchRecord[] {
  const params = { ...base, valueBytes: VALUE_BYTES, concurrency: r.concurrency, failed: r.failed };
  const out: BenchRecord[] = [
    { suite, name: 'put throughput', value: r.opsPerSec, unit: 'ops/s', params, ...(ceiling ? { ceiling } : {}), better: 'higher' },
  ];
  const latParams: Record<string, ParamValue> = {};
  for (const k of ['system', 'protocol', 'n']) if (base[k] !== undefined) latParams[k] = base[k]!;
  if (r.latency) out.push(...latencyRecords({ suite, name: 'put latency', params: latParams }, r.latency));
  return out;
}

/** etcd (3 members) and the phalanx KV testnet (4 replicas: both tolerate one fault) under the same load. */
export async function peerComparison(
  repoRoot: string,
  etcdBin: string,
  protocol: string,
  quick: boolean,
  /** A phalanx n = 4 result measured under the same load earlier in this run, reused as is. */
  phalanxResult?: HttpLoadResult & { concurrency: number },
): Promise<BenchRecord[]> {
  const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-bench-etcd-'));
  let etcdResult: HttpLoadResult & { concurrency: number };
  try {
    const etcd = await startEtcd(etcdBin, dir);
    try {
      etcdResult = await drive(etcd.clientUrls, quick, etcdPut);
    } finally {
      await etcd.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const phalanx = phalanxResult ?? (await multiProcessRun(repoRoot, protocol, 4, quick));
  const suite = 'peer/etcd';
  const etcdCeiling: Ceiling = { name: 'etcd, 3 members, same load', value: etcdResult.opsPerSec, unit: 'ops/s' };
  return [
    ...httpLoadRecords(suite, { system: 'phalanx', protocol, n: 4, storage: 'durable' }, phalanx, etcdCeiling),
    ...httpLoadRecords(suite, { system: 'etcd', n: 3, storage: 'durable' }, etcdResult, undefined),
  ];
}
