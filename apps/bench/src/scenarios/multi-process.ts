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
import { bftLoad, startPhalanxTestnet, phalanxPut } from './testnet.js';
import type { BftLoadResult } from './testnet.js';
import { startEtcd, etcdPut } from './etcd.js';

export const MP_QUICK_SIZES: readonly number[] = [4];
export const MP_FULL_SIZES: readonly number[] = [4, 7];
export const VALUE_BYTES = 100;

function loadShape(quick: boolean): { concurrency: number; durationMs: number; warmupMs: number } {
  return { concurrency: quick ? 16 : 64, durationMs: quick ? 1500 : 15_000, warmupMs: quick ? 300 : 2000 };
}

/** Requests in flight for the throughput run of the BFT client (its light-load run has one). */
export const BFT_WINDOW = 1024;
/**
 * A deeper window, measured too: a closed-loop client commits at most window / latency per second
 * (Little's law), so at 1,024 the client's window, not the replicas, can be the limit (measured:
 * PBFT 6.9k at 1,024, 11.5k at 4,096, latency 140 → 340 ms).
 */
export const BFT_DEEP_WINDOW = 4096;

export interface MultiProcessResult {
  /** HTTP puts spread over every replica (the load the etcd comparison uses). */
  readonly http: HttpLoadResult & { concurrency: number };
  /** The BFT client over libp2p, `BFT_WINDOW` in flight: the cluster's throughput; and, first,
   * one request at a time (`light`): commit latency at light load. */
  readonly bft: BftLoadResult;
  /** The same client with `BFT_DEEP_WINDOW` in flight. */
  readonly bftDeep?: BftLoadResult;
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

export async function multiProcessRun(repoRoot: string, protocol: string, n: number, quick: boolean): Promise<MultiProcessResult> {
  const dir = mkdtempSync(path.join(tmpdir(), `phalanx-bench-${protocol}-${n}-`));
  let keep = false;
  try {
    const net = await startPhalanxTestnet(repoRoot, dir, n, protocol);
    try {
      // Smallest state first: the HTTP run is compared with a fresh etcd, and every checkpoint
      // snapshots the whole KV state, so later runs pay for what earlier ones wrote.
      const http = await drive(net.httpUrls, quick, phalanxPut);
      const bft = await bftLoad(repoRoot, net, { lightSec: quick ? 1 : 5, durationSec: quick ? 1.5 : 15, warmupSec: quick ? 0.5 : 1, window: BFT_WINDOW, log: path.join(dir, 'load-bft.log') });
      const bftDeep = await bftLoad(repoRoot, net, { lightSec: 0, durationSec: quick ? 1.5 : 15, warmupSec: quick ? 0.5 : 1, window: BFT_DEEP_WINDOW, log: path.join(dir, 'load-bft-deep.log') });
      return { http, bft, bftDeep };
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

/** Issue #9's throughput targets for four processes on loopback with durable storage. */
const TARGET_OPS: Readonly<Record<string, number>> = { pbft: 10_000, hotstuff: 20_000 };

/** Figures of the BFT client runs (throughput at `BFT_WINDOW`, latency at light load). */
export function bftLoadRecords(suite: string, base: Record<string, ParamValue>, r: MultiProcessResult, ceiling: Ceiling | undefined): BenchRecord[] {
  const target = base['n'] === 4 ? TARGET_OPS[String(base['protocol'])] : undefined;
  const out: BenchRecord[] = [];
  for (const run of r.bftDeep ? [r.bft, r.bftDeep] : [r.bft]) {
    out.push({
      suite,
      name: 'client commits',
      value: run.opsPerSec,
      unit: 'ops/s',
      params: { ...base, client: 'bft (f+1 replies, libp2p)', valueBytes: VALUE_BYTES, window: run.window, failed: run.failed },
      ...(ceiling ? { ceiling } : {}),
      ...(target ? { claim: `target (issue #9): ≥ ${target.toLocaleString('en-US')} ops/s, four processes, durable` } : {}),
      better: 'higher',
    });
    if (run.latency) out.push({ suite, name: 'client latency under load', value: run.latency.p50, unit: 'ms', params: { ...base, window: run.window, stat: 'p50' }, better: 'lower' });
  }
  const light = r.bft.light;
  if (light?.latency) {
    for (const stat of ['p50', 'p99'] as const) {
      out.push({
        suite,
        name: 'client latency at light load',
        value: light.latency[stat],
        unit: 'ms',
        params: { ...base, window: light.window, stat },
        ...(stat === 'p50' ? { claim: 'target (issue #9): p50 ≤ 5 ms at light load' } : {}),
        better: 'lower',
      });
    }
  }
  return out;
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
  const phalanx = phalanxResult ?? (await multiProcessRun(repoRoot, protocol, 4, quick)).http;
  const suite = 'peer/etcd';
  const etcdCeiling: Ceiling = { name: 'etcd, 3 members, same load', value: etcdResult.opsPerSec, unit: 'ops/s' };
  return [
    ...httpLoadRecords(suite, { system: 'phalanx', protocol, n: 4, storage: 'durable' }, phalanx, etcdCeiling),
    ...httpLoadRecords(suite, { system: 'etcd', n: 3, storage: 'durable' }, etcdResult, undefined),
  ];
}
