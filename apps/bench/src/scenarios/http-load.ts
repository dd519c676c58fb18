/**
 * A closed-loop HTTP load generator: `concurrency` clients, each sending its next request as soon
 * as the previous one is answered, for `durationMs`. The same generator drives etcd and the
 * phalanx testnet so the two are compared under identical load. Keep-alive connections, one per
 * client, spread round-robin over the targets.
 */
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import { latencyRecorder, type LatencySummary } from '@phalanx/bench-kit';

export interface HttpRequestSpec {
  readonly method: 'GET' | 'PUT' | 'POST' | 'DELETE';
  readonly path: string;
  readonly body?: Uint8Array | string;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface HttpLoadOptions {
  /** Base URLs, e.g. `http://127.0.0.1:8000`. Client c talks to targets[c % targets.length]. */
  readonly targets: readonly string[];
  readonly concurrency: number;
  readonly durationMs: number;
  /** Builds request number `i` of client `client`. */
  readonly request: (client: number, i: number) => HttpRequestSpec;
  /** Per-request timeout. Default 10 s. */
  readonly timeoutMs?: number;
  /** Status codes counted as success. Default 2xx. */
  readonly ok?: (status: number) => boolean;
}

export interface HttpLoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly seconds: number;
  /** Successful requests per second. */
  readonly opsPerSec: number;
  readonly latency?: LatencySummary;
  /** Up to five distinct failure descriptions. */
  readonly errors: readonly string[];
}

function send(agent: http.Agent, base: URL, spec: HttpRequestSpec, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const body = spec.body === undefined ? undefined : typeof spec.body === 'string' ? Buffer.from(spec.body) : Buffer.from(spec.body);
    const req = http.request(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: spec.method,
        path: spec.path,
        headers: { ...(body ? { 'content-length': String(body.length) } : {}), ...(spec.headers ?? {}) },
        timeout: timeoutMs,
      },
      (res) => {
        res.resume(); // drain: we only need the status
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`timed out after ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

export async function httpLoad(opts: HttpLoadOptions): Promise<HttpLoadResult> {
  if (opts.targets.length === 0) throw new RangeError('httpLoad needs at least one target');
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency });
  const bases = opts.targets.map((t) => new URL(t));
  const isOk = opts.ok ?? ((s: number) => s >= 200 && s < 300);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const latency = latencyRecorder();
  const errors = new Set<string>();
  let ok = 0;
  let failed = 0;
  const t0 = performance.now();
  const end = t0 + opts.durationMs;
  const client = async (c: number): Promise<void> => {
    for (let i = 0; performance.now() < end; i++) {
      const start = performance.now();
      try {
        const status = await send(agent, bases[c % bases.length]!, opts.request(c, i), timeoutMs);
        if (isOk(status)) {
          ok++;
          latency.record(performance.now() - start);
        } else {
          failed++;
          if (errors.size < 5) errors.add(`HTTP ${status}`);
        }
      } catch (e) {
        failed++;
        if (errors.size < 5) errors.add((e as Error).message);
        // Do not spin on a dead target: back off a little before the next attempt.
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, (_, c) => client(c)));
  } finally {
    agent.destroy();
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    ok,
    failed,
    seconds,
    opsPerSec: ok / seconds,
    ...(latency.count > 0 ? { latency: latency.summary() } : {}),
    errors: [...errors],
  };
}

/** Polls `url` until it answers with a 2xx status, or throws after `timeoutMs`. */
export async function waitForHttp(url: string, timeoutMs: number, isReady: (status: number, body: string) => boolean = (s) => s >= 200 && s < 300): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = 'no answer';
  while (performance.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      const body = await res.text();
      if (isReady(res.status, body)) return;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = (e as Error).message;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}
