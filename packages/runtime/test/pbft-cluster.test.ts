/**
 * PBFT (packages/pbft) driven by the runtime over the in-process transport with in-memory
 * storage: clients commit through f+1 matching replies, every replica ends with the same state,
 * and a crashed replica restarts from its synced storage and catches up.
 */
import { describe, it, expect } from 'vitest';
import { MemoryHub } from '@phalanx/transport-memory';
import type { MemoryTransport } from '@phalanx/transport-memory';
import { MemoryDisk, openMemoryStorage } from '@phalanx/storage-memory';
import { createValidatorSet } from '@phalanx/quorum';
import { generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import { pbft } from '@phalanx/pbft';
import type { PbftConfig, PbftMessage } from '@phalanx/pbft';
import { waitFor } from '@phalanx/compliance';
import { toHex } from '@phalanx/codec';
import { Client, Replica } from '../src/index.js';
import { LogMachine } from './fixtures.js';

const ids = ['r0', 'r1', 'r2', 'r3'];
const keys = ids.map(() => generateKeyPair('ed25519'));
const validators = createValidatorSet(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey, power: 1 })));
const config: PbftConfig = { chainId: 'runtime-test', checkpointInterval: 20, viewChangeTimeoutMs: 500, retransmitMs: 200 };
const COMMANDS = process.env['PHALANX_LONG'] ? 5_000 : 200;

interface Node {
  id: string;
  disk: MemoryDisk;
  transport: MemoryTransport;
  app: LogMachine;
  replica: Replica<PbftMessage, PbftConfig>;
}

function boot(hub: MemoryHub, i: number, prev?: Node): Node {
  const id = ids[i]!;
  const disk = prev?.disk ?? new MemoryDisk();
  const transport = prev?.transport ?? hub.transport(id, { peers: ids });
  const app = new LogMachine();
  const replica = new Replica<PbftMessage, PbftConfig>({
    protocol: pbft,
    config,
    self: id,
    validators,
    signer: signerFromSecret(keys[i]!.secretKey),
    storage: openMemoryStorage({ disk }),
    transport,
    clients: transport.clients,
    stateMachine: app,
  });
  return { id, disk, transport, app, replica };
}

describe('PBFT over the runtime (in-process)', () => {
  it('commits pipelined client commands exactly once with equal state everywhere, across a crash-restart', async () => {
    const hub = new MemoryHub();
    const nodes = ids.map((_, i) => boot(hub, i));
    await Promise.all(nodes.map((n) => n.replica.start()));
    const client = new Client({ endpoint: hub.client('client-1'), replicas: ids, quorum: 2, retryMs: 300, timeoutMs: 30_000 });
    await client.start();

    const half = Math.floor(COMMANDS / 2);
    const payloads = Array.from({ length: COMMANDS }, (_, i) => new TextEncoder().encode(`cmd-${i}`));
    const first = await Promise.all(payloads.slice(0, half).map((p) => client.submit(p)));
    expect(first.every((r) => r.replicas.length >= 2)).toBe(true);
    expect(first[0]!.proof).toBeInstanceOf(Uint8Array);

    // Crash r3: its unsynced writes are gone, it hears nothing, its replica halts.
    const victim = nodes[3]!;
    hub.partition([ids.slice(0, 3)]);
    victim.disk.crash();
    await victim.replica.stop().catch(() => undefined);
    const second = Promise.all(payloads.slice(half).map((p) => client.submit(p)));
    await new Promise((r) => setTimeout(r, 50));
    // Restart from the synced disk while the others keep committing.
    await victim.transport.start();
    nodes[3] = boot(hub, 3, victim);
    await nodes[3].replica.start();
    hub.heal();
    const rest = await second;

    const all = [...first, ...rest];
    expect(new Set(all.map((r) => r.seq)).size).toBe(COMMANDS);
    const heights = new Set(all.map((r) => r.height));
    expect(heights.size).toBeGreaterThan(0);
    // Everyone (the restarted replica included) reaches the same height and state.
    const top = all.reduce((m, r) => (r.height > m ? r.height : m), 0n);
    await waitFor(() => nodes.every((n) => n.replica.committedHeight >= top), 'every replica to catch up', 30_000);
    await waitFor(
      () => new Set(nodes.map((n) => toHex(n.replica.stateDigest()))).size === 1,
      'equal state digests',
      10_000,
    );
    for (const n of nodes) {
      expect(n.app.entries.length).toBe(COMMANDS);
      expect(new Set(n.app.entries).size).toBe(COMMANDS); // each command once
    }
    await client.stop();
    await Promise.all(nodes.map((n) => n.replica.stop()));
  });
});
