#!/usr/bin/env node
/**
 * The `phalanx` command line. Every failure a user can cause (bad config, unreadable key, port in
 * use, foreign data directory) ends as one line on stderr and a non-zero exit, never a stack trace.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { ConfigError, PhalanxError } from '@phalanx/interface';
import { loadConfig, protocols } from './config.js';
import type { ProtocolName } from './config.js';
import { keygen } from './keygen.js';
import { runTestnet } from './testnet.js';
import { runReplica } from './node-runner.js';
import { verifyCertificateFile } from './verify.js';
import { openBftClient } from './bft-client.js';
import { runLoad } from './load.js';
import { decodeResult, encodeCommand } from '@phalanx/kv-store';

const int = (name: string) => (v: string): number => {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new InvalidArgumentError(`${name} must be a non-negative integer`);
  return n;
};
const seconds = (name: string) => (v: string): number => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0 || n > 86_400) throw new InvalidArgumentError(`${name} must be a number of seconds from 0 to 86400`);
  return n;
};
const protocol = (v: string): ProtocolName => {
  if (!(protocols as readonly string[]).includes(v)) throw new InvalidArgumentError(`must be one of ${protocols.join(', ')}`);
  return v as ProtocolName;
};

/** Exit codes: 1 runtime failure, 2 bad usage or configuration. */
function fail(err: unknown): never {
  const e = err as Error;
  const usage = err instanceof PhalanxError && (err.code === 'CONFIG' || err.code === 'KEY_FILE' || err.code === 'DATA_DIR_MISMATCH');
  const code = (err as NodeJS.ErrnoException).code;
  let line = e?.message ?? String(err);
  if (code === 'EADDRINUSE') line = `address in use: ${line.replace(/^listen EADDRINUSE: address already in use /, '')}`;
  process.stderr.write(`phalanx: ${line.split('\n')[0]}\n`);
  if (process.env.PHALANX_DEBUG) process.stderr.write(`${e?.stack ?? ''}\n`);
  process.exit(usage ? 2 : 1);
}

/**
 * Resolves on the first SIGINT or SIGTERM; later ones are ignored while the process stops. A
 * supervisor that signals a whole process group (`timeout`, systemd, a terminal's Ctrl-C) reaches
 * a testnet's replicas directly, and then the testnet sends each its own SIGTERM: with one-shot
 * handlers that second signal killed the replicas halfway through their graceful stop. SIGKILL
 * still ends a process at once (the testnet sends it after 15 s).
 */
function onStop(): Promise<void> {
  return new Promise((resolve) => {
    process.on('SIGINT', () => resolve());
    process.on('SIGTERM', () => resolve());
  });
}

/** The configured replicas, or only `node`: one the configuration lacks is bad usage. */
function nodesOf(configFile: string, node?: string): { readonly id: string; readonly http: string }[] {
  const config = loadConfig(configFile);
  const nodes = node ? config.nodes.filter((n) => n.id === node) : config.nodes;
  // A ConfigError, so the CLI exits 2 (bad usage) like for any other wrong argument.
  if (nodes.length === 0) throw new ConfigError('--node', `no node "${node}" in ${configFile}`);
  return nodes;
}

async function httpOf(configFile: string, node?: string): Promise<string[]> {
  return nodesOf(configFile, node).map((n) => n.http);
}

/** A KV command through the BFT client: f+1 replicas must return the same result. */
async function kvClientRequest(configFile: string, keyFile: string, op: 'get' | 'put' | 'del', key: string, value?: string): Promise<void> {
  const open = await openBftClient({ config: configFile, key: keyFile, window: 1, timeoutMs: 15_000 });
  try {
    await open.connected(5_000);
    const k = new TextEncoder().encode(key);
    const cmd = op === 'put' ? { op, key: k, value: new TextEncoder().encode(value ?? '') } : { op, key: k };
    const result = decodeResult((await open.client.submit(encodeCommand(cmd))).result);
    if (!result.ok) throw new Error(result.error);
    if (op !== 'get') process.stdout.write('ok\n');
    else if (result.value === undefined) throw new Error('no such key');
    else process.stdout.write(Buffer.from(result.value).toString('utf8') + '\n');
  } finally {
    await open.close();
  }
}

async function kvRequest(configFile: string, node: string | undefined, method: string, key: string, body?: string): Promise<void> {
  let lastError = 'no node answered';
  for (const http of await httpOf(configFile, node)) {
    try {
      const res = await fetch(`http://${http}/kv/${encodeURIComponent(key)}`, { method, body, signal: AbortSignal.timeout(15_000) });
      if (method === 'GET' && res.status === 200) {
        process.stdout.write(Buffer.from(await res.arrayBuffer()).toString('utf8') + '\n');
        return;
      }
      const text = await res.text();
      if (res.ok) {
        process.stdout.write('ok\n');
        return;
      }
      // The command's own answer, the same from every node: no point asking another.
      if (res.status === 404 || res.status === 400 || res.status === 507) throw new Error((JSON.parse(text) as { error: string }).error);
      lastError = `${http}: ${text.trim()}`;
    } catch (err) {
      if ((err as Error).name !== 'TypeError' && (err as Error).name !== 'TimeoutError') throw err;
      lastError = `${http}: ${(err as Error).message}`;
    }
  }
  throw new Error(lastError);
}

export function buildProgram(): Command {
  const program = new Command('phalanx')
    .description('Run and operate a Phalanx replica network.')
    .version(JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string)
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('keygen')
    .description('create key files (mode 0600) and a network configuration for N replicas')
    .requiredOption('--replicas <n>', 'number of replicas', int('--replicas'))
    .option('--out <dir>', 'output directory', './testnet')
    .option('--output <dir>', 'alias of --out')
    .option('--protocol <name>', `consensus protocol (${protocols.join('|')})`, protocol, 'pbft' as ProtocolName)
    .option('--chain-id <id>', 'network name signed into every message')
    .option('--base-port <port>', 'first libp2p port; HTTP at +1000, metrics at +2100', int('--base-port'), 7000)
    .option('--address-template <multiaddr>', 'replica address, {i} = index (e.g. /dns4/phalanx-{i}.phalanx/tcp/7000)')
    .option('--http-template <host:port>', 'HTTP API address, {i} = index')
    .option('--metrics-template <host:port>', 'metrics address, {i} = index')
    .option('--clients <n>', 'client keys for the libp2p client protocol (client_c<i>.json)', int('--clients'), 1)
    .option('--verify-workers <n>', 'signature-verifying threads per replica (crypto.verifyWorkers); default 1, or 0 for a loopback network with no more cores than replicas', int('--verify-workers'))
    .option('--force', 'replace an existing configuration and keys')
    .action((o: { replicas: number; out: string; output?: string; protocol: ProtocolName; chainId?: string; basePort: number; addressTemplate?: string; httpTemplate?: string; metricsTemplate?: string; clients: number; verifyWorkers?: number; force?: boolean }) => {
      const out = o.output ?? o.out;
      const c = keygen({ ...o, out });
      process.stdout.write(`wrote ${c.nodes.length} replica and ${c.clients.length} client key files and ${path.join(out, 'config.yaml')} (${c.consensus.type}, chain ${c.chainId})\n`);
    });

  program
    .command('run')
    .description('run one replica')
    .requiredOption('--config <file>', 'network configuration (YAML)')
    .requiredOption('--key <file>', "this replica's key file")
    .option('--data-dir <dir>', 'data directory (default: storage.path from the configuration)')
    .option('--log-level <level>', 'trace|debug|info|warn|error')
    .option('--pretty', 'human-readable logs instead of JSON')
    .action(async (o: { config: string; key: string; dataDir?: string; logLevel?: string; pretty?: boolean }) => {
      const node = await runReplica(o);
      await onStop();
      await node.stop();
    });

  program
    .command('testnet')
    .description('start N local replica processes on loopback with durable storage and drive a demo workload')
    .option('--replicas <n>', 'number of replicas', int('--replicas'), 4)
    .option('--protocol <name>', `consensus protocol (${protocols.join('|')})`, protocol, 'pbft' as ProtocolName)
    .option('--dir <dir>', 'where keys, configuration and data directories live', './testnet')
    .option('--duration <seconds>', 'stop after this many seconds (0: run until Ctrl-C)', int('--duration'), 0)
    .option('--clients <n>', 'concurrent demo clients (0: no workload)', int('--clients'), 8)
    .option('--base-port <port>', 'first libp2p port', int('--base-port'), 7000)
    .option('--fresh', 'discard an existing testnet directory of another shape')
    .action(async (o: { replicas: number; protocol: ProtocolName; dir: string; duration: number; clients: number; basePort: number; fresh?: boolean }) => {
      const configFile = path.join(o.dir, 'config.yaml');
      // An existing but unreadable configuration is an error, never a reason to overwrite its keys.
      const { existsSync } = await import('node:fs');
      let config = existsSync(configFile) ? loadConfig(configFile) : undefined;
      if (!config || config.nodes.length !== o.replicas || config.consensus.type !== o.protocol) {
        if (config && !o.fresh) {
          throw new PhalanxError('CONFIG', `${o.dir} holds a ${config.nodes.length}-replica ${config.consensus.type} testnet; pass --fresh to replace it or --dir for another`);
        }
        if (config) {
          const { rmSync } = await import('node:fs');
          rmSync(o.dir, { recursive: true, force: true });
        }
        config = keygen({ replicas: o.replicas, out: o.dir, protocol: o.protocol, basePort: o.basePort, force: true });
      }
      const summary = await runTestnet({ dir: o.dir, config, durationSec: o.duration, clients: o.clients, out: process.stdout, stopSignal: onStop() });
      const unclean = Object.entries(summary.exitCodes).filter(([, c]) => c !== 0);
      if (unclean.length) throw new Error(`replicas did not stop cleanly: ${unclean.map(([id, c]) => `${id}=${c}`).join(', ')}`);
    });

  program
    .command('status')
    .description('show each replica\'s view, leader and committed height')
    .requiredOption('--config <file>', 'network configuration')
    .option('--node <id>', 'only this replica')
    .action(async (o: { config: string; node?: string }) => {
      // An unknown --node printed nothing and exited 0, as if there were nothing to report.
      for (const n of nodesOf(o.config, o.node)) {
        try {
          const s = (await (await fetch(`http://${n.http}/status`, { signal: AbortSignal.timeout(2000) })).json()) as Record<string, unknown>;
          process.stdout.write(`${n.id}\tview ${String(s.view)}\tleader ${String(s.leader ?? '-')}\theight ${String(s.committedHeight)}\tpeers ${String(s.connectedPeers ?? '?')}\n`);
        } catch (err) {
          process.stdout.write(`${n.id}\tdown (${(err as Error).message})\n`);
        }
      }
    });

  const viaKey = '(BFT) send over the libp2p client protocol with this client key file and accept the result once f+1 replicas agree; without it, one replica\'s HTTP API answers';
  for (const [name, method, desc] of [
    ['get', 'GET', 'read a key (linearizable: ordered through consensus)'],
    ['del', 'DELETE', 'delete a key'],
  ] as const) {
    program
      .command(`${name} <key>`)
      .description(desc)
      .requiredOption('--config <file>', 'network configuration')
      .option('--node <id>', 'send to this replica (HTTP)')
      .option('--key <file>', viaKey)
      .action((key: string, o: { config: string; node?: string; key?: string }) =>
        o.key ? kvClientRequest(o.config, o.key, name, key) : kvRequest(o.config, o.node, method, key),
      );
  }
  program
    .command('put <key> <value>')
    .description('write a key')
    .requiredOption('--config <file>', 'network configuration')
    .option('--node <id>', 'send to this replica (HTTP)')
    .option('--key <file>', viaKey)
    .action((key: string, value: string, o: { config: string; node?: string; key?: string }) =>
      o.key ? kvClientRequest(o.config, o.key, 'put', key, value) : kvRequest(o.config, o.node, 'PUT', key, value),
    );

  program
    .command('load')
    .description('closed-loop load over the BFT client protocol: KV puts, f+1 matching replies each')
    .requiredOption('--config <file>', 'network configuration')
    .requiredOption('--key <file>', 'client key file (keygen writes client_c0.json)')
    .option('--duration <seconds>', 'measured time', seconds('--duration'), 10)
    .option('--warmup <seconds>', 'unmeasured lead-in', seconds('--warmup'), 1)
    .option('--light <seconds>', 'first measure commit latency at light load (one request at a time) this long', seconds('--light'), 0)
    .option('--window <n>', 'requests in flight', int('--window'), 256)
    .option('--value-bytes <n>', 'bytes per value', int('--value-bytes'), 100)
    .option('--keys <n>', 'cycle the puts over this many keys (default: a new key per put, so the store keeps growing)', int('--keys'))
    .option('--json', 'print the result as one JSON line')
    .action(async (o: { config: string; key: string; duration: number; warmup: number; light: number; window: number; valueBytes: number; keys?: number; json?: boolean }) => {
      const r = await runLoad({ config: o.config, key: o.key, durationSec: o.duration, warmupSec: o.warmup, lightSec: o.light, window: o.window, valueBytes: o.valueBytes, ...(o.keys !== undefined ? { keys: o.keys } : {}) });
      if (o.json) process.stdout.write(`${JSON.stringify(r)}\n`);
      else {
        const ll = r.light?.latency;
        if (ll) process.stdout.write(`light load (one request at a time): ${r.light!.ok} puts, latency p50 ${ll.p50.toFixed(1)} ms, p99 ${ll.p99.toFixed(1)} ms\n`);
        const l = r.latency;
        process.stdout.write(
          `${r.ok} puts in ${r.seconds.toFixed(1)} s: ${Math.round(r.opsPerSec)} ops/s, window ${r.window}, ${r.valueBytes} B values` +
            (l ? `; latency p50 ${l.p50.toFixed(1)} ms, p99 ${l.p99.toFixed(1)} ms, max ${l.max.toFixed(1)} ms` : '') +
            (r.failed ? `; ${r.failed} failed (${r.errors.join('; ')})` : '') +
            `; ${r.resends} resent (wait ${Math.round(r.retryTimeoutMs)} ms)` +
            '\n',
        );
      }
      if (r.ok === 0) throw new Error(`no put succeeded${r.errors.length ? `: ${r.errors.join('; ')}` : ''}`);
    });

  program
    .command('verify-certificate <file>')
    .description('check a commit certificate offline against the validator set in the configuration')
    .requiredOption('--config <file>', 'network configuration')
    .action((file: string, o: { config: string }) => {
      const what = verifyCertificateFile(file, loadConfig(o.config));
      process.stdout.write(`valid: ${what}\n`);
    });
  return program;
}

const isMain = process.argv[1] && path.resolve(process.argv[1]) === path.resolve(new URL(import.meta.url).pathname);
if (isMain) {
  // A closed stdout (`phalanx load | head -1`) is the reader saying "enough", not a failure.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(0);
    fail(err);
  });
  buildProgram()
    .parseAsync(process.argv)
    .catch((err: unknown) => {
      if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : 2);
      fail(err);
    });
  process.on('unhandledRejection', fail);
}
