import { afterEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ConfigError } from '@phalanx/interface';
import { awaitReplicas, openBftClient } from '../src/bft-client.js';
import { configToYaml, loadConfig, validateConfig } from '../src/config.js';
import { keygen } from '../src/keygen.js';
import { protocolFor } from '../src/node-runner.js';
import { runTestnet } from '../src/testnet.js';
import { createRequestAuthenticator } from '@phalanx/client-auth';
import { verifier } from '@phalanx/crypto';

const node = (i: number) => ({
  id: `r${i}`,
  address: `/ip4/127.0.0.1/tcp/${7000 + i}`,
  publicKey: `01${String(i).padStart(64, 'a')}`,
  http: `127.0.0.1:${8000 + i}`,
  metrics: `127.0.0.1:${9100 + i}`,
});
const good = () => ({ version: 1, chainId: 'test', consensus: { type: 'pbft' }, nodes: [0, 1, 2, 3].map(node) });

function errorOf(raw: unknown): ConfigError {
  try {
    validateConfig(raw, 'cfg.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('accepted a bad config');
}

describe('configuration', () => {
  it('fills defaults and round-trips through YAML', () => {
    const c = validateConfig(good());
    expect(c.consensus).toMatchObject({ type: 'pbft', viewTimeoutMs: 1000, checkpointInterval: 100, batch: { maxSize: 512, maxBytes: 1048576, maxRequestBytes: 65536 } });
    expect(c.storage.type).toBe('lmdb');
    expect(c.kv.sessionWindow).toBe(4096);
    expect(c.kv.maxKeys).toBe(10_000_000);
    expect(c.crypto).toEqual({ verifyWorkers: 1, minPoolItems: 2, poolTimeoutMs: 5000 });
    const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-cfg-'));
    writeFileSync(path.join(dir, 'c.yaml'), configToYaml(c));
    expect(loadConfig(path.join(dir, 'c.yaml'))).toEqual(c);
  });

  it.each<[string, (c: ReturnType<typeof good>) => unknown, RegExp]>([
    ['an unknown protocol', (c) => ({ ...c, consensus: { type: 'paxos' } }), /^cfg\.yaml: consensus\.type: /],
    ['a bad address', (c) => { c.nodes[2]!.address = '127.0.0.1:7000'; return c; }, /^cfg\.yaml: nodes\[2\]\.address: must be a TCP multiaddr/],
    ['a non-hex key', (c) => { c.nodes[1]!.publicKey = 'xyz'; return c; }, /^cfg\.yaml: nodes\[1\]\.publicKey: must be a hex string/],
    ['a duplicate id', (c) => { c.nodes[3]!.id = 'r0'; return c; }, /^cfg\.yaml: nodes\[3\]\.id: same id as nodes\[0\]/],
    ['a duplicate key', (c) => { c.nodes[3]!.publicKey = c.nodes[0]!.publicKey; return c; }, /nodes\[3\]\.publicKey: same publicKey as nodes\[0\]/],
    ['a port used twice', (c) => { c.nodes[1]!.metrics = c.nodes[0]!.http; return c; }, /nodes\[1\]\.metrics: same metrics as nodes\[0\]/],
    ['a port out of range', (c) => { c.nodes[0]!.http = '127.0.0.1:70000'; return c; }, /nodes\[0\]\.http: port must be at most 65535/],
    ['an unknown field', (c) => ({ ...c, colour: 'red' }), /colour|Unrecognized key/],
    ['a negative timeout', (c) => ({ ...c, consensus: { type: 'pbft', viewTimeoutMs: -1 } }), /consensus\.viewTimeoutMs/],
    ['no nodes', (c) => ({ ...c, nodes: [] }), /nodes: /],
    ['a zero session window', (c) => ({ ...c, kv: { sessionWindow: 0 } }), /^cfg\.yaml: kv\.sessionWindow: /],
    ['a pbft batch timer over half the view timer', (c) => ({ ...c, consensus: { ...c.consensus, viewTimeoutMs: 100, batch: { timeoutMs: 51 } } }), /^cfg\.yaml: consensus\.batch\.timeoutMs: must be at most half of viewTimeoutMs \(100\) for pbft, got 51/],
    ['more keys than a Map holds', (c) => ({ ...c, kv: { maxKeys: 16_000_001 } }), /^cfg\.yaml: kv\.maxKeys: /],
    ['a leader election for PBFT', (c) => ({ ...c, consensus: { type: 'pbft', leaderElection: 'round-robin' } }), /^cfg\.yaml: consensus\.leaderElection: only for hotstuff/],
    ['a batch over half a transport frame', (c) => ({ ...c, consensus: { type: 'pbft', batch: { maxBytes: 3 * 1024 * 1024 } } }), /^cfg\.yaml: consensus\.batch\.maxBytes: /],
    ['a request that cannot fit a batch', (c) => ({ ...c, consensus: { type: 'hotstuff', batch: { maxBytes: 65536, maxRequestBytes: 65536 } } }), /^cfg\.yaml: consensus\.batch\.maxRequestBytes: a request of 65536 bytes must fit a batch/],
    ['an unknown leader election', (c) => ({ ...c, consensus: { type: 'hotstuff', leaderElection: 'lottery' } }), /^cfg\.yaml: consensus\.leaderElection: /],
    ['a snapshot interval for PBFT', (c) => ({ ...c, consensus: { type: 'pbft', snapshotInterval: 500 } }), /^cfg\.yaml: consensus\.snapshotInterval: only for hotstuff/],
    ['a commit rule for PBFT', (c) => ({ ...c, consensus: { type: 'pbft', commitRule: 'two-chain' } }), /^cfg\.yaml: consensus\.commitRule: only for hotstuff/],
    ['a sync window for PBFT', (c) => ({ ...c, consensus: { type: 'pbft', syncWindow: 64 } }), /^cfg\.yaml: consensus\.syncWindow: only for hotstuff/],
    ['an empty sync window', (c) => ({ ...c, consensus: { type: 'hotstuff', syncWindow: 0 } }), /^cfg\.yaml: consensus\.syncWindow: /],
    ['a sync window above the core bound', (c) => ({ ...c, consensus: { type: 'hotstuff', syncWindow: 1_000_001 } }), /^cfg\.yaml: consensus\.syncWindow: /],
    ['a sync window not above the default snapshot interval', (c) => ({ ...c, consensus: { type: 'hotstuff', syncWindow: 1000 } }), /^cfg\.yaml: consensus\.syncWindow: snapshotInterval \(1000\) must be below syncWindow \(1000\) or 0/],
    ['a snapshot interval not below the default sync window', (c) => ({ ...c, consensus: { type: 'hotstuff', snapshotInterval: 1024 } }), /^cfg\.yaml: consensus\.snapshotInterval: snapshotInterval \(1024\) must be below syncWindow \(1024\) or 0/],
    ['a client id reserved for local clients', (c) => ({ ...c, clients: [{ id: 'local-r0-0123456789ab', publicKey: '01' + 'b'.repeat(64) }] }), /^cfg\.yaml: clients\[0\]\.id: "local-" ids are reserved/],
    ['a duplicate client id', (c) => ({ ...c, clients: [0, 1].map((i) => ({ id: 'c0', publicKey: '01' + String(i).repeat(64) })) }), /^cfg\.yaml: clients\[1\]\.id: same id as clients\[0\]/],
    ['a client key listed twice', (c) => ({ ...c, clients: [0, 1].map((i) => ({ id: `c${i}`, publicKey: '01' + (i ? 'B' : 'b').repeat(64) })) }), /^cfg\.yaml: clients\[1\]\.publicKey: same publicKey as clients\[0\]/],
    ['a client id longer than the cores take', (c) => ({ ...c, clients: [{ id: 'c'.repeat(257), publicKey: '01' + 'b'.repeat(64) }] }), /^cfg\.yaml: clients\[0\]\.id: /],
    ['a PBFT batch larger than its codec decodes', (c) => ({ ...c, consensus: { type: 'pbft', batch: { maxSize: 5000 } } }), /^cfg\.yaml: consensus\.batch\.maxSize: at most 4096 requests per batch for pbft, got 5000/],
    ['an unknown commit rule', (c) => ({ ...c, consensus: { type: 'hotstuff', commitRule: 'one-chain' } }), /^cfg\.yaml: consensus\.commitRule: /],
    ['a negative status interval', (c) => ({ ...c, consensus: { type: 'hotstuff', statusIntervalMs: -1 } }), /^cfg\.yaml: consensus\.statusIntervalMs: /],
    ['a fractional worker count', (c) => ({ ...c, crypto: { verifyWorkers: 1.5 } }), /^cfg\.yaml: crypto\.verifyWorkers: /],
    ['a pool threshold of 0', (c) => ({ ...c, crypto: { minPoolItems: 0 } }), /^cfg\.yaml: crypto\.minPoolItems: /],
    ['a fractional pool threshold', (c) => ({ ...c, crypto: { minPoolItems: 1.5 } }), /^cfg\.yaml: crypto\.minPoolItems: /],
    ['a pool timeout of 1 ms', (c) => ({ ...c, crypto: { poolTimeoutMs: 1 } }), /^cfg\.yaml: crypto\.poolTimeoutMs: /],
    ['an unknown crypto setting', (c) => ({ ...c, crypto: { workers: 2 } }), /^cfg\.yaml: crypto: /],
  ])('names the path of %s', (_what, mutate, message) => {
    expect(errorOf(mutate(good())).message).toMatch(message);
  });

  it('hands statusIntervalMs to either protocol, and leaves the core default without it', () => {
    const auth = createRequestAuthenticator({ chainId: 't', keyOf: () => undefined, verifier });
    for (const type of ['pbft', 'hotstuff'] as const) {
      const set = protocolFor(validateConfig({ ...good(), consensus: { type, statusIntervalMs: 0 } }, 'cfg.yaml'), auth).settings as { statusIntervalMs?: number };
      expect(set.statusIntervalMs, type).toBe(0);
      const unset = protocolFor(validateConfig({ ...good(), consensus: { type } }, 'cfg.yaml'), auth).settings as { statusIntervalMs?: number };
      expect(unset.statusIntervalMs, type).toBeUndefined();
    }
  });

  it('takes a HotStuff sync window and keeps it through YAML; without one the core default applies', () => {
    const c = validateConfig({ ...good(), consensus: { type: 'hotstuff', syncWindow: 64, snapshotInterval: 32 } }, 'cfg.yaml');
    expect(c.consensus.syncWindow).toBe(64);
    const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-cfg-'));
    writeFileSync(path.join(dir, 'c.yaml'), configToYaml(c));
    expect(loadConfig(path.join(dir, 'c.yaml')).consensus.syncWindow).toBe(64);
    expect(validateConfig({ ...good(), consensus: { type: 'hotstuff' } }, 'cfg.yaml').consensus.syncWindow).toBeUndefined();
    // Snapshots off: no state transfer, so any window will do.
    expect(validateConfig({ ...good(), consensus: { type: 'hotstuff', syncWindow: 16, snapshotInterval: 0 } }, 'cfg.yaml').consensus.syncWindow).toBe(16);
  });

  it('refuses a PBFT network whose NEW-VIEW could outgrow a transport frame, and says what would fit', () => {
    const big = { ...good(), nodes: Array.from({ length: 31 }, (_, i) => node(i)) };
    const err = errorOf(big);
    expect(err.message).toMatch(/^cfg\.yaml: consensus\.checkpointInterval: with 31 replicas a PBFT NEW-VIEW can reach 13\.\d MiB/);
    const fits = Number(/at most about (\d+)/.exec(err.message)![1]);
    expect(fits).toBeGreaterThan(10);
    expect(fits).toBeLessThan(100);
    // The interval it suggests passes; HotStuff (no such message) is not concerned.
    expect(validateConfig({ ...big, consensus: { type: 'pbft', checkpointInterval: fits } }, 'cfg.yaml').nodes).toHaveLength(31);
    expect(validateConfig({ ...big, consensus: { type: 'hotstuff' } }, 'cfg.yaml').nodes).toHaveLength(31);
    // keygen picks such an interval itself for a large PBFT network.
    const out = mkdtempSync(path.join(tmpdir(), 'phalanx-keygen-31-'));
    const written = keygen({ replicas: 31, out, protocol: 'pbft' });
    expect(written.consensus.checkpointInterval).toBeLessThan(100);
    expect(loadConfig(path.join(out, 'config.yaml')).consensus.checkpointInterval).toBe(written.consensus.checkpointInterval);
  });

  it('keygen gives each replica a verifier thread unless a loopback network has no cores to spare', () => {
    const workers = (o: Partial<Parameters<typeof keygen>[0]>) =>
      keygen({ replicas: 4, out: mkdtempSync(path.join(tmpdir(), 'phalanx-keygen-')), protocol: 'pbft', ...o }).crypto.verifyWorkers;
    expect(workers({ cores: 2 })).toBe(0); // 4 replicas on 2 cores: threads would only compete
    expect(workers({ cores: 4 })).toBe(0);
    expect(workers({ cores: 8 })).toBe(1);
    expect(workers({ cores: 2, addressTemplate: '/dns4/phalanx-{i}.phalanx/tcp/7000' })).toBe(1); // one host each
    expect(workers({ cores: 2, verifyWorkers: 3 })).toBe(3);
    const out = mkdtempSync(path.join(tmpdir(), 'phalanx-keygen-'));
    expect(() => keygen({ replicas: 4, out, protocol: 'pbft', verifyWorkers: 65 })).toThrow(/--verify-workers: must be an integer from 0 to 64, got 65/);
    expect(readdirSync(out)).toEqual([]); // refused before any key was written
  });

  it('allows one wildcard listen address on every node (one pod each), as the StatefulSet uses', () => {
    const c = good();
    for (const n of c.nodes) {
      n.http = '0.0.0.0:8080';
      n.metrics = '0.0.0.0:9100';
    }
    expect(validateConfig(c).nodes).toHaveLength(4);
  });

  it('refuses a client window above the session window before connecting', async () => {
    // Requests beyond the replicas' exactly-once window could be refused when they commit late.
    const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-cfg-'));
    writeFileSync(path.join(dir, 'c.yaml'), configToYaml(validateConfig({ ...good(), kv: { sessionWindow: 8 } })));
    const open = openBftClient({ config: path.join(dir, 'c.yaml'), key: path.join(dir, 'no-key.json'), window: 16 });
    await expect(open).rejects.toThrow(ConfigError);
    await expect(open).rejects.toThrow(/--window: 16 requests in flight exceed the network's kv\.sessionWindow of 8/);
  });

  it('reports missing files and broken YAML in one line', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-cfg-'));
    expect(() => loadConfig(path.join(dir, 'missing.yaml'))).toThrow(/missing\.yaml: no such file/);
    writeFileSync(path.join(dir, 'bad.yaml'), 'nodes: [\n  - id: r0\n   address: x\n');
    expect(() => loadConfig(path.join(dir, 'bad.yaml'))).toThrow(/bad\.yaml: not valid YAML/);
    writeFileSync(path.join(dir, 'dup.yaml'), 'version: 1\nversion: 1\n');
    expect(() => loadConfig(path.join(dir, 'dup.yaml'))).toThrow(/not valid YAML/);
  });

  it('a testnet whose config.yaml is gone is a ConfigError naming the file (the CLI exits 2), before any replica starts', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-cfg-'));
    const file = path.join(dir, 'config.yaml');
    writeFileSync(file, configToYaml(validateConfig(good())));
    const config = loadConfig(file);
    rmSync(file);
    await expect(runTestnet({ dir, config, durationSec: 0, clients: 0, out: process.stdout, stopSignal: new Promise<void>(() => undefined) })).rejects.toThrow(
      expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: file, message: `${file}: is missing (run keygen first)` }),
    );
  });
});

describe('waiting for replicas before a client command', () => {
  afterEach(() => void vi.useRealTimers());

  it('waits for every replica, but only a grace period once a quorum is connected', async () => {
    vi.useFakeTimers();
    let connected = 0;
    const started = Date.now();
    const elapsed = () => Date.now() - started;
    // All four come up after 300 ms: it waits for all of them.
    const all = awaitReplicas(() => (elapsed() >= 300 ? 4 : connected), 4, 2, 10_000, 1000);
    await vi.advanceTimersByTimeAsync(400);
    expect(await all).toBe(4);
    // Three of four (one down): 1 s of grace after the quorum, not the 10 s deadline.
    const t0 = Date.now();
    connected = 3;
    let resolvedAfter = -1;
    const three = awaitReplicas(() => connected, 4, 2, 10_000, 1000).then((n) => ((resolvedAfter = Date.now() - t0), n));
    await vi.advanceTimersByTimeAsync(2000);
    expect(await three).toBe(3);
    expect(resolvedAfter).toBeGreaterThanOrEqual(1000);
    expect(resolvedAfter).toBeLessThan(1100);
    // Below the quorum: the whole deadline, then an error naming the count.
    connected = 1;
    const one = awaitReplicas(() => connected, 4, 2, 5000, 1000);
    const failed = expect(one).rejects.toThrow(/only 1 of 4 replicas reachable; 2 must answer/);
    await vi.advanceTimersByTimeAsync(5100);
    await failed;
  });
});
