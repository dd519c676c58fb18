/**
 * `phalanx load`: a closed-loop load generator over the BFT client protocol. `window` requests are
 * kept in flight (pipelined on the client's libp2p streams); each is a KV put of `valueBytes`
 * bytes and counts once f+1 replicas returned the same result. What it measures is what a client
 * of the network gets: ordering, durable storage, execution and f+1 matching replies.
 */
import { ConfigError } from '@phalanx/interface';
// The subpath, not the package root: importing the root arms a benchmark's time budget.
import { latencyRecorder } from '@phalanx/bench-kit/latency';
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
  /** First measure one request at a time for this long: commit latency at light load. Default 0 (off). */
  readonly lightSec?: number;
  /**
   * Puts cycle over this many keys (`load-<client>-0` …). Default: a new key for every put, so the
   * store grows by one key per command and a long run can fill it (`kv.maxKeys`).
   */
  readonly keys?: number;
}

/** One measured phase: requests that succeeded and how long they took. */
export interface LoadPhase {
  readonly ok: number;
  readonly failed: number;
  readonly seconds: number;
  readonly opsPerSec: number;
  readonly window: number;
  /** Milliseconds from submit to f+1 matching replies. */
  readonly latency?: { readonly p50: number; readonly p90: number; readonly p99: number; readonly max: number };
}

/** The main phase's figures (`failed`: timeouts and results other than ok), and the light-load phase if asked for. */
export interface LoadResult extends LoadPhase {
  readonly client: string;
  readonly valueBytes: number;
  /** Requests resent to every replica during the measured phase (unanswered within the client's wait). */
  readonly resends: number;
  /** The client's wait before a resend at the end of the run (adapts to commit latency; `Client.retryTimeoutMs`). */
  readonly retryTimeoutMs: number;
  readonly light?: LoadPhase;
  readonly errors: readonly string[];
}

export async function runLoad(o: LoadOptions): Promise<LoadResult> {
  if (!Number.isSafeInteger(o.window) || o.window < 1) throw new ConfigError('--window', `must be a positive integer, got ${o.window}`);
  const keys = o.keys;
  if (keys !== undefined && (!Number.isSafeInteger(keys) || keys < 1)) throw new ConfigError('--keys', `must be a positive integer, got ${keys}`);
  const open = await openBftClient({ config: o.config, key: o.key, window: o.window });
  try {
    await open.connected(10_000);
    const value = new Uint8Array(o.valueBytes).fill(0x61);
    const enc = new TextEncoder();
    let n = 0;
    const put = (): Uint8Array => {
      const i = keys === undefined ? n : n % keys;
      n++;
      return encodeCommand({ op: 'put', key: enc.encode(`load-${open.id}-${i}`), value });
    };
    const errors = new Set<string>();
    /** Keeps `window` requests in flight until `until`; measures them when `measure`. */
    const drive = async (window: number, until: number, measure: boolean): Promise<LoadPhase> => {
      const lat = latencyRecorder();
      let ok = 0;
      let failed = 0;
      const t0 = performance.now();
      const worker = async (): Promise<void> => {
        while (performance.now() < until) {
          const start = performance.now();
          try {
            const r = decodeResult((await open.client.submit(put())).result);
            if (!measure) continue;
            if (!r.ok) {
              failed++;
              if (errors.size < 5) errors.add(r.error);
              continue;
            }
            ok++;
            lat.record(performance.now() - start);
          } catch (err) {
            if (!measure) continue;
            failed++;
            if (errors.size < 5) errors.add((err as Error).message);
          }
        }
      };
      await Promise.all(Array.from({ length: window }, worker));
      const seconds = (performance.now() - t0) / 1000;
      const l = lat.count > 0 ? lat.summary() : undefined;
      return {
        ok,
        failed,
        seconds,
        opsPerSec: ok / seconds,
        window,
        ...(l ? { latency: { p50: l.p50, p90: l.p90, p99: l.p99, max: l.max } } : {}),
      };
    };
    const lightSec = o.lightSec ?? 0;
    // Connections and the leader hint settle during a short unmeasured lead-in before either phase.
    await drive(1, performance.now() + Math.min(0.3, o.warmupSec ?? 1) * 1000, false);
    const light = lightSec > 0 ? await drive(1, performance.now() + lightSec * 1000, true) : undefined;
    await drive(o.window, performance.now() + (o.warmupSec ?? 1) * 1000, false);
    const resendsBefore = open.client.resends;
    const main = await drive(o.window, performance.now() + o.durationSec * 1000, true);
    return {
      client: open.id,
      ...main,
      valueBytes: o.valueBytes,
      resends: open.client.resends - resendsBefore,
      retryTimeoutMs: open.client.retryTimeoutMs,
      ...(light ? { light } : {}),
      errors: [...errors],
    };
  } finally {
    await open.close();
  }
}
