/**
 * The phalanx side of the multi-process and peer scenarios: `phalanx testnet` (apps/node) with the
 * demo workload off, i.e. n replica processes on loopback over libp2p with durable storage, loaded
 * through their HTTP APIs (`PUT /kv/<key>`) by the shared load generator.
 */
import { existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { startProcess, portsFree, type Managed } from './processes.js';
import { waitForHttp, type HttpRequestSpec } from './http-load.js';

export interface PhalanxTestnet {
  readonly httpUrls: readonly string[];
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
    for (const u of urls) await waitForHttp(`${u}/readyz`, 60_000);
    return { httpUrls: urls, process: proc, stop: () => proc.stop(20_000, 'SIGINT') };
  } catch (e) {
    await proc.stop(10_000, 'SIGINT');
    throw e;
  }
}

export function phalanxPut(key: string, value: Uint8Array): HttpRequestSpec {
  return { method: 'PUT', path: `/kv/${encodeURIComponent(key)}`, body: value, headers: { 'content-type': 'application/octet-stream' } };
}
