/**
 * The phalanx side of the multi-process and peer scenarios: `phalanx testnet` (apps/node) with the
 * demo workload off, i.e. n replica processes on loopback over libp2p with durable storage, loaded
 * through their HTTP APIs (`PUT /kv/<key>`) by the shared load generator.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startProcess, portsFree, type Managed } from './processes.js';
import { waitForHttp, type HttpRequestSpec } from './http-load.js';

export interface PhalanxTestnet {
  readonly httpUrls: readonly string[];
  /** The network configuration and the client key `phalanx keygen` wrote (for `phalanx load`). */
  readonly configFile: string;
  readonly clientKey: string;
  readonly process: Managed;
  stop(): Promise<number | string>;
}

interface NodeConfigShape {
  readonly nodes: ReadonlyArray<{ readonly id: string; readonly http: string }>;
}

async function pickBasePort(n: number): Promise<number> {
  // keygen puts libp2p at base+i, HTTP at base+1000+i, metrics at base+2100+i.
  for (let attempt = 0; attempt < 20; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const ports = Array.from({ length: n }, (_, i) => [base + i, base + 1000 + i, base + 2100 + i]).flat();
    if (await portsFree(ports)) return base;
  }
  throw new Error('no free port range for the testnet');
}

const READY_TIMEOUT_MS = 120_000;

function tail(file: string, lines = 6): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join(' | ');
  } catch {
    return '(no log)';
  }
}

/** Resolves once the process's log has a line matching `re`; rejects if it exits or times out first. */
async function waitForLine(proc: Managed, re: RegExp, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (existsSync(proc.log) && re.test(readFileSync(proc.log, 'utf8'))) return;
    if (Date.now() > deadline) throw new Error(`${proc.name}: not ready after ${timeoutMs / 1000} s; log ends: ${tail(proc.log)}`);
    const exited = await Promise.race([proc.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 250))]);
    if (exited !== undefined) throw new Error(`${proc.name} exited with ${exited}; log ends: ${tail(proc.log)}`);
  }
}

export async function startPhalanxTestnet(repoRoot: string, dir: string, n: number, protocol: string): Promise<PhalanxTestnet> {
  const cli = path.join(repoRoot, 'apps', 'node', 'dist', 'cli.js');
  const configModule = path.join(repoRoot, 'apps', 'node', 'dist', 'config.js');
  mkdirSync(dir, { recursive: true });
  const basePort = await pickBasePort(n);
  const proc = startProcess(
    `phalanx testnet (${protocol}, n=${n})`,
    process.execPath,
    [cli, 'testnet', '--replicas', String(n), '--protocol', protocol, '--dir', path.join(dir, 'net'), '--duration', '0', '--clients', '0', '--base-port', String(basePort), '--fresh'],
    { cwd: repoRoot, log: path.join(dir, 'testnet.log') },
  );
  try {
    const configFile = path.join(dir, 'net', 'config.yaml');
    const deadline = Date.now() + 30_000;
    while (!existsSync(configFile)) {
      if (Date.now() > deadline) throw new Error(`no ${configFile} after 30 s (see ${proc.log})`);
      const early = await Promise.race([proc.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 200))]);
      if (early !== undefined) throw new Error(`phalanx testnet exited with ${early} before writing its configuration (see ${proc.log})`);
    }
    const { loadConfig } = (await import(pathToFileURL(configModule).href)) as { loadConfig: (f: string) => NodeConfigShape };
    const config = loadConfig(configFile);
    const urls = config.nodes.map((x) => `http://${x.http}`);
    // The testnet waits for every replica's /readyz itself and says so; starting n processes that
    // open durable storage and dial each other can take a while on a busy 2-core machine.
    await waitForLine(proc, /all replicas ready/, READY_TIMEOUT_MS);
    for (const u of urls) await waitForHttp(`${u}/readyz`, 10_000);
    return { httpUrls: urls, configFile, clientKey: path.join(dir, 'net', 'client_c0.json'), process: proc, stop: () => proc.stop(20_000, 'SIGINT') };
  } catch (e) {
    await proc.stop(10_000, 'SIGINT');
    throw e;
  }
}

/** What the bench reads of `phalanx load --json` (apps/node's LoadResult has more). */
export interface BftLoadResult {
  readonly opsPerSec: number;
  readonly window: number;
  readonly failed: number;
  readonly latency?: { readonly p50: number; readonly p99: number };
  readonly light?: { readonly window: number; readonly latency?: { readonly p50: number; readonly p99: number } };
}

/**
 * `phalanx load` against a running testnet: KV puts over the libp2p client protocol, `window` in
 * flight, each counted once f+1 replicas agree. A separate process, like any real client.
 */
export async function bftLoad(repoRoot: string, net: PhalanxTestnet, o: { durationSec: number; warmupSec: number; lightSec: number; window: number; log: string }): Promise<BftLoadResult> {
  const cli = path.join(repoRoot, 'apps', 'node', 'dist', 'cli.js');
  const args = [cli, 'load', '--config', net.configFile, '--key', net.clientKey, '--duration', String(o.durationSec), '--warmup', String(o.warmupSec), '--light', String(o.lightSec), '--window', String(o.window), '--json'];
  const proc = startProcess(`phalanx load (window ${o.window})`, process.execPath, args, { cwd: repoRoot, log: o.log });
  const code = await Promise.race([proc.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), (o.durationSec + o.warmupSec + o.lightSec + 30) * 1000).unref())]);
  if (code === 'timeout') {
    await proc.stop(2_000, 'SIGKILL');
    throw new Error(`phalanx load did not finish (see ${o.log})`);
  }
  await proc.stop();
  const line = readFileSync(o.log, 'utf8').split('\n').reverse().find((l) => l.startsWith('{'));
  if (code !== 0 || !line) throw new Error(`phalanx load exited with ${code}: ${tail(o.log, 2)}`);
  return JSON.parse(line) as BftLoadResult;
}

export function phalanxPut(key: string, value: Uint8Array): HttpRequestSpec {
  return { method: 'PUT', path: `/kv/${encodeURIComponent(key)}`, body: value, headers: { 'content-type': 'application/octet-stream' } };
}
