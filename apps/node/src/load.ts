/**
 * `phalanx load`: a closed-loop load generator over the BFT client protocol. `window` requests are
 * kept in flight (pipelined on the client's libp2p streams); each is a KV put of `valueBytes`
 * bytes and counts once f+1 replicas returned the same result. What it measures is what a client
 * of the network gets: ordering, durable storage, execution and f+1 matching replies.
 */
import { ConfigError } from '@phalanx/interface';
import { encodeCommand, decodeResult } from '@phalanx/kv-store';
import { openBftClient } from './bft-client.js';

export interface LoadOptions {
  readonly config: string;
  readonly key: string;
  readonly durationSec: number;
  readonly window: number;
  readonly valueBytes: number;
  /** Unmeasured lead-in (connections, leader hint, JIT). Default 1 s. */
  readonly warmupSec?: number;
}

export interface LoadResult {
  readonly client: string;
  readonly ok: number;
  /** Requests that failed (timeout, or a result other than ok). */
  readonly failed: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly window: number;
  readonly valueBytes: number;
  /** Milliseconds from submit to f+1 matching replies. */
  readonly latency?: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
  readonly errors: readonly string[];
}

/** Nearest-rank percentile of sorted values. */
function rank(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (!Number.isSafeInteger(o.window) || o.window < 1) throw new ConfigError('--window', `must be a positive integer, got ${o.window}`);
  const open = await openBftClient({ config: o.config, key: o.key, window: o.window });
  try {
    const reachable = await open.connected(10_000);
    if (reachable < open.quorum) throw new Error(`only ${reachable} of ${open.config.nodes.length} replicas reachable; ${open.quorum} must answer`);
    const value = new Uint8Array(o.valueBytes).fill(0x61);
    const enc = new TextEncoder();
    let n = 0;
    const put = (): Uint8Array => encodeCommand({ op: 'put', key: enc.encode(`load-${open.id}-${n++}`), value });
    let lat = new Float64Array(4096);
    let samples = 0;
    let ok = 0;
    let failed = 0;
    const errors = new Set<string>();
    const drive = async (until: number, measure: boolean): Promise<void> => {
      const worker = async (): Promise<void> => {
        while (performance.now() < until) {
          const t0 = performance.now();
          try {
            const r = decodeResult((await open.client.submit(put())).result);
            if (!measure) continue;
            if (!r.ok) {
              failed++;
              if (errors.size < 5) errors.add(r.error);
              continue;
            }
            ok++;
            if (samples === lat.length) {
              const next = new Float64Array(lat.length * 2);
              next.set(lat);
              lat = next;
            }
            lat[samples++] = performance.now() - t0;
          } catch (err) {
            if (!measure) continue;
            failed++;
            if (errors.size < 5) errors.add((err as Error).message);
          }
        }
      };
      await Promise.all(Array.from({ length: o.window }, worker));
    };
    await drive(performance.now() + (o.warmupSec ?? 1) * 1000, false);
    const t0 = performance.now();
    await drive(t0 + o.durationSec * 1000, true);
    const seconds = (performance.now() - t0) / 1000;
    const sorted = lat.subarray(0, samples).sort();
    return {
      client: open.id,
      ok,
      failed,
      seconds,
      opsPerSec: ok / seconds,
      window: o.window,
      valueBytes: o.valueBytes,
      ...(samples > 0 ? { latency: { p50: rank(sorted, 50), p90: rank(sorted, 90), p99: rank(sorted, 99), max: sorted[samples - 1]! } } : {}),
      errors: [...errors],
    };
  } finally {
    await open.close();
  }
}
