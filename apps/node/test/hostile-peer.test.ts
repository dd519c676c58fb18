import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readKeyFile } from '@phalanx/crypto';
import { pbft } from '@phalanx/pbft';
import type { PbftMessage } from '@phalanx/pbft';
import { Libp2pTransport } from '@phalanx/transport-libp2p';
import { fromHex } from '@phalanx/codec';
import { loadConfig } from '../src/config.js';
import { basePort, phalanx, start, waitFor } from './cli-helpers.js';

// Three honest replica processes (r0..r2) and, in this test process, r3's key driven by hand: the
// gater admits it, and it sends what no honest replica would. Beside it a stranger (a key in no
// configuration) tries to connect. Issue #9: bad frames are dropped and counted per peer, the
// stranger is refused at the connection, and the replicas keep committing (n = 4 tolerates one).
describe('replica processes under a hostile peer', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-hostile-'));
  const replicas: Array<ReturnType<typeof start>> = [];
  const transports: Libp2pTransport[] = [];
  afterAll(async () => {
    for (const t of transports) await t.stop().catch(() => undefined);
    await Promise.all(replicas.map((r) => (r.child.kill('SIGKILL'), r.exited)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('drops and counts garbage, oversized, forged and impersonating frames, refuses a stranger, and commits on', async () => {
    expect((await phalanx(['keygen', '--replicas', '4', '--out', dir, '--protocol', 'pbft', '--base-port', String(await basePort())])).code).toBe(0);
    const cfg = path.join(dir, 'config.yaml');
    const config = loadConfig(cfg);
    const honest = config.nodes.slice(0, 3);
    for (const n of honest) {
      replicas.push(start(['run', '--config', cfg, '--key', path.join(dir, `key_${n.id}.json`), '--data-dir', path.join(dir, `data_${n.id}`), '--log-level', 'warn']));
    }
    await Promise.all(honest.map((n) => waitFor(`${n.id} ready`, async () => ((await fetch(`http://${n.http}/readyz`)).ok ? true : undefined))));

    const validators = config.nodes.map((n) => ({ id: n.id, publicKey: fromHex(n.publicKey), addrs: [n.address] }));
    const r3 = config.nodes[3]!;
    // r3's real key; frames up to 8 MiB leave it (the replicas take 4 MiB).
    const hostile = new Libp2pTransport({
      self: 'r3',
      seed: readKeyFile(path.join(dir, 'key_r3.json')).secretKey.subarray(1),
      listen: [r3.address],
      validators,
      network: config.chainId,
      maxFrameBytes: 8 << 20,
    });
    transports.push(hostile);
    await hostile.start();
    const stranger = new Libp2pTransport({
      self: 'x',
      seed: new Uint8Array(randomBytes(32)),
      listen: ['/ip4/127.0.0.1/tcp/0'],
      validators: [...validators.slice(0, 3), { id: 'x', publicKey: new Uint8Array(randomBytes(32)) }],
      network: config.chainId,
    });
    // (The stranger's own key is not the one listed for 'x': it only needs to dial out.)
    transports.push(stranger);
    await stranger.start().catch(() => undefined);
    await waitFor('r3 linked to the three', async () => (hostile.connectedPeers().length === 3 ? true : undefined));

    const vote = (voter: string, seq: bigint): Uint8Array =>
      pbft.codec.encode({ type: 'prepare', voter, view: 0n, seq, digest: new Uint8Array(randomBytes(32)), signature: new Uint8Array(randomBytes(64)) } as PbftMessage);
    const rounds = 20;
    const oversized = 8; // 5 MiB each: more would overflow the sender's own 64 MiB queue
    for (let i = 0; i < rounds; i++) {
      hostile.broadcast(new Uint8Array(randomBytes(64))); // garbage
      if (i < oversized) hostile.broadcast(new Uint8Array(5 << 20)); // over the 4 MiB frame limit
      hostile.broadcast(vote('r3', BigInt(i + 1))); // its own vote, forged signature
      hostile.broadcast(vote('r0', BigInt(i + 1))); // a vote in r0's name
    }
    // Meanwhile the three honest replicas commit.
    const writes = Array.from({ length: 30 }, (_, i) => fetch(`http://${honest[i % 3]!.http}/kv/h${i}`, { method: 'PUT', body: `v${i}` }).then((r) => r.status));
    expect(await Promise.all(writes)).toEqual(Array(30).fill(200));

    type Status = { committedHeight: string; stateDigestHeight: string; stateDigest: string; transport: { dropped: Record<string, Record<string, number>> }; malformed: Record<string, number> };
    const status = async (http: string): Promise<Status> => (await (await fetch(`http://${http}/status?digest=1`)).json()) as Status;
    for (const n of honest) {
      await waitFor(`${n.id} counted r3's frames`, async () => {
        const s = await status(n.http);
        const metrics = await (await fetch(`http://${n.metrics!}/metrics`)).text();
        const kind = (k: string): number => Number(new RegExp(`^peer_misbehaviour_total\\{[^}]*peer="r3",kind="${k}"[^}]*\\} (\\d+)`, 'm').exec(metrics)?.[1] ?? 0);
        return s.transport.dropped['r3']?.['oversized'] === oversized &&
          s.malformed['r3'] === rounds && // every garbage frame, undecodable
          kind('invalid-signature') >= 1 && // its forged votes…
          kind('protocol-violation') >= 1 && // …and votes in r0's name, until…
          /^peer_isolated\{[^}]*peer="r3"[^}]*\} 1$/m.test(metrics) && // …the core stops listening to it
          (s.transport.dropped['<unknown>']?.['unknown-peer'] ?? 0) >= 1
          ? true
          : undefined;
      });
    }
    // Honest peers lost nothing, and the three agree.
    for (const n of honest) {
      const s = await status(n.http);
      expect(Object.keys(s.transport.dropped).filter((p) => honest.some((h) => h.id === p))).toEqual([]);
    }
    await waitFor('r0..r2 agree', async () => {
      const s = await Promise.all(honest.map((n) => status(n.http)));
      return new Set(s.map((x) => `${x.stateDigestHeight}/${x.stateDigest}`)).size === 1 ? true : undefined;
    });
    for (const r of replicas) expect(r.child.exitCode).toBeNull();
  });
});
