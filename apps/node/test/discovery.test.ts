import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { basePort, phalanx, start, waitFor } from './cli-helpers.js';

// Four replica processes whose configurations are out of date: each has its own address and r0's
// right, and every other validator at an address that accepts connections and never answers (as
// if they had moved and a firewall swallowed the old address). r0's own copy has nobody's address.
// Only the signed address records the replicas pass each other (transport-libp2p's peer discovery)
// can link r1, r2 and r3 to one another.
describe('peer discovery between replica processes', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'phalanx-discovery-'));
  const replicas: Array<ReturnType<typeof start>> = [];
  const sockets: net.Socket[] = [];
  const blackholes: net.Server[] = [];
  afterAll(async () => {
    await Promise.all(replicas.map((r) => (r.child.kill('SIGKILL'), r.exited)));
    for (const s of sockets) s.destroy();
    for (const b of blackholes) b.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('links every replica to every other one from stale bootstrap lists, and commits', async () => {
    const base = await basePort();
    const k = await phalanx(['keygen', '--replicas', '4', '--out', dir, '--protocol', 'pbft', '--base-port', String(base)]);
    expect(k.code).toBe(0);
    const doc = parse(readFileSync(path.join(dir, 'config.yaml'), 'utf8')) as { nodes: Array<{ id: string; address: string; http: string }> };
    const nodes = doc.nodes.map((n) => ({ ...n }));
    const ports: number[] = [];
    for (let i = 0; i < 4; i++) {
      const srv = net.createServer((sock) => void sockets.push(sock));
      await new Promise<void>((resolve, reject) => srv.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
      blackholes.push(srv);
      ports.push((srv.address() as net.AddressInfo).port);
    }
    const moved = (i: number): string => `/ip4/127.0.0.1/tcp/${ports[i]!}`;
    nodes.forEach((me, i) => {
      const own = {
        ...doc,
        nodes: doc.nodes.map((n, j) => (j === i || (j === 0 && i !== 0) ? n : { ...n, address: moved(j) })),
      };
      const file = path.join(dir, `config_${me.id}.yaml`);
      writeFileSync(file, stringify(own));
      replicas.push(start(['run', '--config', file, '--key', path.join(dir, `key_${me.id}.json`), '--data-dir', path.join(dir, `data_${me.id}`), '--log-level', 'warn']));
    });
    const peersOf = async (http: string): Promise<number | undefined> =>
      ((await (await fetch(`http://${http}/status`)).json()) as { connectedPeers?: number }).connectedPeers;
    await Promise.all(
      nodes.map((n, i) =>
        waitFor(`${n.id} linked to its three peers`, async () => {
          if (replicas[i]!.child.exitCode !== null) throw new Error(`${n.id} exited: ${replicas[i]!.stderr()}`);
          return (await peersOf(n.http)) === 3 ? true : undefined;
        }),
      ),
    );
    const writes = nodes.map((n, i) => fetch(`http://${n.http}/kv/d${i}`, { method: 'PUT', body: `v${i}` }).then((r) => r.status));
    expect(await Promise.all(writes)).toEqual([200, 200, 200, 200]);
    expect(sockets.length).toBeGreaterThan(0); // the stale addresses were dialled, and swallowed
    await waitFor('equal state digests', async () => {
      const s = await Promise.all(nodes.map(async (n) => (await (await fetch(`http://${n.http}/status?digest=1`)).json()) as Record<string, string>));
      return new Set(s.map((x) => `${x.stateDigestHeight}/${x.stateDigest}`)).size === 1 && Number(s[0]!.committedHeight) > 0 ? true : undefined;
    });
  });
});
