/**
 * `phalanx testnet`: N replica processes on loopback, each with its own durable data directory,
 * a demo workload through their HTTP APIs, and a live progress line. Ctrl-C (SIGINT) or SIGTERM
 * stops the workload, asks every replica to shut down gracefully (they sync their storage and
 * exit), and waits for them, so the data directories are left consistent for the next start.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@phalanx/interface';
import type { NetworkConfig } from './config.js';
import { loadConfig } from './config.js';

export interface TestnetOptions {
  readonly dir: string;
  readonly config: NetworkConfig;
  /** Stop after this many seconds (0 = until interrupted). */
  readonly durationSec: number;
  /** Concurrent demo clients (0 disables the workload). */
  readonly clients: number;
  readonly out: NodeJS.WritableStream;
  /** Resolves when the caller wants the testnet to stop (Ctrl-C handling lives in the CLI). */
  readonly stopSignal: Promise<void>;
  readonly logLevel?: string;
}

export interface TestnetSummary {
  readonly committed: number;
  readonly failed: number;
  readonly seconds: number;
  readonly heights: Record<string, string>;
  /** Each replica's exit code after the graceful stop (0 when clean). */
  readonly exitCodes: Record<string, number | null>;
}

const cliPath = fileURLToPath(new URL('./cli.js', import.meta.url));

interface Replica {
  readonly id: string;
  readonly http: string;
  readonly child: ChildProcess;
  readonly stderrTail: string[];
  exited: Promise<number | null>;
}

function startReplica(dir: string, configFile: string, id: string, http: string, logLevel: string): Replica {
  const child = spawn(
    process.execPath,
    [cliPath, 'run', '--config', configFile, '--key', path.join(dir, `key_${id}.json`), '--data-dir', path.join(dir, `data_${id}`), '--log-level', logLevel],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const stderrTail: string[] = [];
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (chunk: string) => {
    for (const line of chunk.split('\n')) if (line) stderrTail.push(line);
    if (stderrTail.length > 20) stderrTail.splice(0, stderrTail.length - 20);
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { id, http, child, stderrTail, exited };
}

async function getJson(url: string, timeoutMs = 1000): Promise<Record<string, unknown> | undefined> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
    if (!r.ok) return undefined;
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

export async function runTestnet(opts: TestnetOptions): Promise<TestnetSummary> {
  const { dir, config, out } = opts;
  const configFile = path.join(dir, 'config.yaml');
  if (!existsSync(configFile)) throw new ConfigError(configFile, 'is missing (run keygen first)');
  loadConfig(configFile); // refuse to start on a config the replicas would refuse
  const replicas = config.nodes.map((n) => startReplica(dir, configFile, n.id, n.http, opts.logLevel ?? 'warn'));
  let stopping = false;
  // Aborts the demo workload's in-flight requests the moment a stop is asked for.
  const halt = new AbortController();
  const stopped = opts.stopSignal.then(() => {
    stopping = true;
    halt.abort();
  });
  // A replica that dies on its own is reported with the end of its log.
  for (const r of replicas) {
    void r.exited.then((code) => {
      if (!stopping) out.write(`\nreplica ${r.id} exited with code ${code}:\n  ${r.stderrTail.slice(-8).join('\n  ')}\n`);
    });
  }
  const started = Date.now();
  let committed = 0;
  let failed = 0;
  // Last status seen per replica: on Ctrl-C the replicas get the signal too and may be gone already.
  let lastStatus: Array<Record<string, unknown> | undefined> = replicas.map(() => undefined);
  try {
    // Wait until every replica serves (or give up after 60 s).
    out.write(`starting ${replicas.length} replicas (${config.consensus.type}) in ${dir}\n`);
    for (const r of replicas) {
      const deadline = Date.now() + 60_000;
      while (!stopping && !(await getJson(`http://${r.http}/readyz`))?.ready) {
        if (Date.now() > deadline) throw new Error(`replica ${r.id} did not become ready within 60 s:\n  ${r.stderrTail.slice(-8).join('\n  ')}`);
        if (r.child.exitCode !== null) throw new Error(`replica ${r.id} exited with code ${r.child.exitCode}:\n  ${r.stderrTail.slice(-8).join('\n  ')}`);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    out.write(`all replicas ready; demo workload with ${opts.clients} clients${opts.durationSec ? ` for ${opts.durationSec} s` : ' (Ctrl-C to stop)'}\n`);
    const runUntil = opts.durationSec ? started + opts.durationSec * 1000 : Infinity;
    // Requests cut off by the shutdown itself are not failures of the network. Ctrl-C reaches the
    // replicas too (one process group), and one may drop a request before our own handler has
    // run: a failure counts only if no stop follows within 100 ms.
    const failure = async (): Promise<void> => {
      await new Promise((res) => setTimeout(res, 100));
      if (!stopping) failed++;
    };
    const workers = Array.from({ length: opts.clients }, async (_, c) => {
      let i = 0;
      while (!stopping && Date.now() < runUntil) {
        const r = replicas[(c + i) % replicas.length]!;
        const key = `demo-${c}-${i % 100}`;
        try {
          const res = await fetch(`http://${r.http}/kv/${key}`, { method: 'PUT', body: `value ${i} from client ${c}`, signal: AbortSignal.any([halt.signal, AbortSignal.timeout(5000)]) });
          if (res.ok) committed++;
          else await failure();
        } catch {
          await failure();
        }
        i++;
      }
    });
    let last = committed;
    let lastAt = Date.now();
    const progress = setInterval(() => {
      void Promise.all(replicas.map((r) => getJson(`http://${r.http}/status`, 500))).then((st) => {
        const now = Date.now();
        const rate = ((committed - last) * 1000) / Math.max(1, now - lastAt);
        last = committed;
        lastAt = now;
        lastStatus = st.map((x, i) => x ?? lastStatus[i]);
        const first = st.find((s) => s) ?? {};
        const heights = st.map((s) => (s ? String(s.committedHeight) : 'down')).join('/');
        out.write(
          `\r[${((now - started) / 1000).toFixed(0).padStart(4)} s] height ${heights}  view ${String(first.view ?? '?')} leader ${String(first.leader ?? '?')}  ${rate.toFixed(0).padStart(6)} ops/s  committed ${committed} failed ${failed}   `,
        );
      });
    }, 1000);
    // Without a workload the testnet still runs until the duration ends or it is interrupted.
    const workload =
      workers.length > 0
        ? Promise.all(workers).then(() => undefined)
        : new Promise<void>((resolve) => {
            if (Number.isFinite(runUntil)) setTimeout(resolve, runUntil - Date.now()).unref();
          });
    await Promise.race([stopped, workload]);
    stopping = true;
    await Promise.all(workers);
    clearInterval(progress);
  } finally {
    stopping = true;
    out.write('\nstopping replicas gracefully...\n');
  }
  const statuses = (await Promise.all(replicas.map((r) => getJson(`http://${r.http}/status`, 1000)))).map((x, i) => x ?? lastStatus[i]);
  for (const r of replicas) r.child.kill('SIGTERM');
  // A replica that has not finished its graceful stop after 15 s is killed; the timer must not
  // keep this process alive once every replica has exited.
  const codes = await Promise.all(
    replicas.map((r) => {
      let timer: NodeJS.Timeout | undefined;
      const killed = new Promise<number | null>((res) => {
        timer = setTimeout(() => {
          r.child.kill('SIGKILL');
          res(null);
        }, 15_000);
      });
      return Promise.race([r.exited, killed]).finally(() => clearTimeout(timer));
    }),
  );
  const summary: TestnetSummary = {
    committed,
    failed,
    seconds: (Date.now() - started) / 1000,
    heights: Object.fromEntries(replicas.map((r, i) => [r.id, String(statuses[i]?.committedHeight ?? 'unknown')])),
    exitCodes: Object.fromEntries(replicas.map((r, i) => [r.id, codes[i] ?? null])),
  };
  out.write(`stopped: ${committed} commands committed, ${failed} failed in ${summary.seconds.toFixed(1)} s; heights ${JSON.stringify(summary.heights)}\n`);
  return summary;
}
