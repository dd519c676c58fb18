/**
 * Full stack in one process: three honest PBFT replicas over the libp2p transport, and r3 — its
 * real key, so the gater admits it — running only a transport that sends garbage (undecodable)
 * and oversized frames. The honest replicas drop and count them (runtime: undecodable; transport:
 * oversized) and keep committing client commands (n = 4 tolerates one faulty replica). Truncated
 * frames at the byte level are covered by transport-libp2p's hostile-peer tests.
 */
import { describe, it, expect, afterAll } from 'vitest';
import net from 'node:net';
import { createValidatorSet } from '@phalanx/quorum';
import { generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import { MemoryDisk, openMemoryStorage } from '@phalanx/storage-memory';
import { Libp2pClientEndpoint, Libp2pTransport } from '@phalanx/transport-libp2p';
import { pbft } from '@phalanx/pbft';
import type { PbftConfig, PbftMessage } from '@phalanx/pbft';
import { waitFor } from '@phalanx/compliance';
import { Client, Replica } from '../src/index.js';
import { LogMachine } from './fixtures.js';

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

describe('PBFT over libp2p with a Byzantine peer sending garbage', () => {
  const cleanup: Array<() => Promise<unknown>> = [];
  afterAll(async () => {
    for (const c of cleanup.reverse()) await c().catch(() => undefined);
  });

  it('drops and counts the bad frames while the honest replicas keep committing', async () => {
    const ids = ['r0', 'r1', 'r2', 'r3'];
    const keys = ids.map(() => generateKeyPair('ed25519'));
    const ports = await Promise.all(ids.map(() => freePort()));
    const clientKey = generateKeyPair('ed25519');
    const validators = createValidatorSet(ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey, power: 1 })));
    const peers = ids.map((id, i) => ({ id, publicKey: keys[i]!.publicKey, addrs: [`/ip4/127.0.0.1/tcp/${ports[i]}`] }));
    const honest = [0, 1, 2].map((i) => {
      const transport = new Libp2pTransport({
        self: ids[i]!,
        seed: keys[i]!.secretKey.subarray(1),
        listen: peers[i]!.addrs,
        validators: peers,
        clients: [{ id: 'client', publicKey: clientKey.publicKey }],
        maxFrameBytes: 64 * 1024,
        reconnect: { initialMs: 50, maxMs: 200 },
      });
      const replica = new Replica<PbftMessage, PbftConfig>({
        protocol: pbft,
        config: { chainId: 'byz', viewChangeTimeoutMs: 1000 },
        self: ids[i]!,
        validators,
        signer: signerFromSecret(keys[i]!.secretKey),
        storage: openMemoryStorage({ disk: new MemoryDisk() }),
        transport,
        clients: transport.clients,
        stateMachine: new LogMachine(),
      });
      cleanup.push(() => replica.stop());
      return { transport, replica };
    });
    await Promise.all(honest.map((h) => h.replica.start()));

    // r3, Byzantine: a bare transport with a larger frame limit than the honest replicas accept.
    const evil = new Libp2pTransport({ self: 'r3', seed: keys[3]!.secretKey.subarray(1), listen: peers[3]!.addrs, validators: peers, maxFrameBytes: 1 << 20 });
    await evil.start();
    cleanup.push(() => evil.stop());
    await waitFor(() => evil.connectedPeers().length === 3, 'r3 connected');
    const garbage = [Uint8Array.of(0xff), Uint8Array.of(0xa1, 0x61, 0x78, 0x01), new TextEncoder().encode('not cbor at all')];
    for (const g of garbage) evil.broadcast(g);
    evil.broadcast(new Uint8Array(100 * 1024)); // oversized for the honest replicas

    const endpoint = new Libp2pClientEndpoint({ self: 'client', seed: clientKey.secretKey.subarray(1), replicas: peers.slice(0, 3) });
    const client = new Client({ endpoint, replicas: ids.slice(0, 3), quorum: 2, retryMs: 500, timeoutMs: 30_000 });
    await client.start();
    cleanup.push(() => client.stop());
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => client.submit(Uint8Array.of(i))));
    expect(new Set(results.map((r) => r.seq)).size).toBe(40);

    await waitFor(() => honest.every((h) => h.transport.stats().dropped['r3']?.oversized === 1), 'oversized frames counted');
    for (const h of honest) {
      expect(h.replica.metrics().malformed['r3']).toBe(garbage.length);
      expect(h.transport.stats().dropped['r3']?.oversized).toBe(1);
    }
  });
});
