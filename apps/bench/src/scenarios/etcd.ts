/**
 * A 3-member etcd cluster on loopback (durable: etcd fsyncs its WAL on every commit by default),
 * driven through its v3 JSON gateway (`POST /v3/kv/put`, keys and values base64).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { freePort, startProcess, type Managed } from './processes.js';
import { waitForHttp, type HttpRequestSpec } from './http-load.js';

export interface EtcdCluster {
  readonly clientUrls: readonly string[];
  readonly members: readonly Managed[];
  stop(): Promise<void>;
}

export async function startEtcd(etcdBin: string, dir: string, size = 3): Promise<EtcdCluster> {
  const client: number[] = [];
  const peer: number[] = [];
  for (let i = 0; i < size; i++) {
    client.push(await freePort());
    peer.push(await freePort());
  }
  const initial = peer.map((p, i) => `m${i}=http://127.0.0.1:${p}`).join(',');
  const members: Managed[] = [];
  try {
    for (let i = 0; i < size; i++) {
      const data = path.join(dir, `m${i}`);
      mkdirSync(data, { recursive: true });
      members.push(
        startProcess(`etcd m${i}`, etcdBin, [
          '--name', `m${i}`,
          '--data-dir', data,
          '--listen-client-urls', `http://127.0.0.1:${client[i]}`,
          '--advertise-client-urls', `http://127.0.0.1:${client[i]}`,
          '--listen-peer-urls', `http://127.0.0.1:${peer[i]}`,
          '--initial-advertise-peer-urls', `http://127.0.0.1:${peer[i]}`,
          '--initial-cluster', initial,
          '--initial-cluster-state', 'new',
          '--initial-cluster-token', 'phalanx-bench',
          '--log-level', 'warn',
        ], { log: path.join(dir, `m${i}.log`) }),
      );
    }
    const urls = client.map((p) => `http://127.0.0.1:${p}`);
    for (const u of urls) await waitForHttp(`${u}/health`, 30_000, (s, body) => s === 200 && /"health":\s*"true"/.test(body));
    return {
      clientUrls: urls,
      members,
      async stop() {
        // A throwaway cluster whose data is deleted next: SIGKILL. A graceful SIGTERM to all three
        // at once takes ~7 s here (each member tries to hand leadership to peers that are leaving).
        await Promise.all(members.map((m) => m.stop(0, 'SIGKILL')));
      },
    };
  } catch (e) {
    await Promise.all(members.map((m) => m.stop(5_000, 'SIGTERM')));
    throw e;
  }
}

/** An etcd v3 put of `value` under `key`, through the JSON gateway. */
export function etcdPut(key: string, value: Uint8Array): HttpRequestSpec {
  return {
    method: 'POST',
    path: '/v3/kv/put',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ key: Buffer.from(key).toString('base64'), value: Buffer.from(value).toString('base64') }),
  };
}
