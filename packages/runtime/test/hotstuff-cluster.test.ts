/**
 * The runtime is protocol-agnostic: chained HotStuff (packages/hotstuff) through the same Replica
 * and Client over the in-process transport, with a crash-restart of one replica.
 */
import { describe, it, expect } from 'vitest';
import { MemoryHub } from '@phalanx/transport-memory';
import type { MemoryTransport } from '@phalanx/transport-memory';
import { MemoryDisk, openMemoryStorage } from '@phalanx/storage-memory';
import { createValidatorSet } from '@phalanx/quorum';
import { generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import { hotstuff } from '@phalanx/hotstuff';
import type { HotStuffConfig, HotStuffMessage } from '@phalanx/hotstuff';
import { waitFor } from '@phalanx/compliance';
import { toHex } from '@phalanx/codec';
import { Client, Replica } from '../src/index.js';
import { LogMachine } from './fixtures.js';

const ids = ['r0', 'r1', 'r2', 'r3'];
const keys = ids.map(() => generateKeyPair('ed25519'));
const validators = createValidatorSet(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey, power: 1 })));
// Frequent snapshots and a short stored log: the restarted replica recovers from a snapshot and
// a compacted log, through the runtime's snapshot store and storage compaction.
const config: HotStuffConfig = { chainId: 'runtime-hs', baseTimeoutMs: 300, snapshotInterval: 5, syncWindow: 16 };
const COMMANDS = process.env['PHALANX_LONG'] ? 3_000 : 200;

function boot(hub: MemoryHub, i: number, prev?: { disk: MemoryDisk; transport: MemoryTransport }) {
  const disk = prev?.disk ?? new MemoryDisk();
  const transport = prev?.transport ?? hub.transport(ids[i]!, { peers: ids });
  const app = new LogMachine();
  const storage = openMemoryStorage({ disk });
  const replica = new Replica<HotStuffMessage, HotStuffConfig>({
    protocol: hotstuff,
    config,
    self: ids[i]!,
    validators,
    signer: signerFromSecret(keys[i]!.secretKey),
    storage,
    transport,
    clients: transport.clients,
    stateMachine: app,
  });
  return { disk, transport, app, replica, storage };
}

describe('HotStuff over the runtime (in-process)', () => {
  it('commits client commands exactly once with equal state everywhere, across a crash-restart', async () => {
    const hub = new MemoryHub();
    const nodes = ids.map((_, i) => boot(hub, i));
    await Promise.all(nodes.map((n) => n.replica.start()));
    const client = new Client({ endpoint: hub.client('client-1'), replicas: ids, quorum: 2, retryMs: 300, timeoutMs: 30_000 });
    await client.start();
    const payloads = Array.from({ length: COMMANDS }, (_, i) => new TextEncoder().encode(`hs-${i}`));
    const half = COMMANDS / 2;
    // The first half in waves of ten: many blocks, so snapshots are taken and the log compacted.
    const first = [];
    for (let i = 0; i < half; i += 10) first.push(...(await Promise.all(payloads.slice(i, Math.min(half, i + 10)).map((p) => client.submit(p)))));
    // The replica about to crash has a stored snapshot and a log trimmed below it: its restart
    // restores the one and replays the other.
    const victimSnapshot = (await nodes[2]!.storage.snapshots.latest())?.height ?? 0n;
    expect(victimSnapshot).toBeGreaterThan(0n);
    expect(nodes[2]!.storage.logBounds()!.first).toBeGreaterThan(1n);

    const victim = nodes[2]!;
    hub.partition([['r0', 'r1', 'r3']]);
    victim.disk.crash();
    await victim.replica.stop().catch(() => undefined);
    const second = Promise.all(payloads.slice(half).map((p) => client.submit(p)));
    await victim.transport.start();
    nodes[2] = boot(hub, 2, victim);
    await nodes[2].replica.start();
    hub.heal();
    const all = [...first, ...(await second)];

    expect(new Set(all.map((r) => r.seq)).size).toBe(COMMANDS);
    const top = all.reduce((m, r) => (r.height > m ? r.height : m), 0n);
    await waitFor(() => nodes.every((n) => n.replica.committedHeight >= top), 'every replica to reach the top height', 30_000);
    // Replicas may still be finishing the last blocks' chain; compare once the heights agree.
    await waitFor(() => {
      const h = nodes.map((n) => n.replica.committedHeight);
      return h.every((x) => x === h[0]) && new Set(nodes.map((n) => toHex(n.replica.stateDigest()))).size === 1;
    }, 'equal state digests at one height', 15_000);
    for (const n of nodes) {
      expect(n.app.entries.length).toBe(COMMANDS);
      expect(new Set(n.app.entries).size).toBe(COMMANDS);
    }
    // Every stored log, the restarted replica's included, holds only its last blocks.
    for (const n of nodes) expect(n.storage.logBounds()!.first).toBeGreaterThan(1n);
    await client.stop();
    await Promise.all(nodes.map((n) => n.replica.stop()));
  });
});
