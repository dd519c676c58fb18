import { describe, it, expect } from 'vitest';
import { MemoryHub } from '@phalanx/transport-memory';
import { Client, ClientTimeoutError, decodeClientFrame, encodeClientFrame } from '../src/index.js';

/** Fake replicas on the client plane: each answers with whatever `answer` says. */
function fakeCluster(answer: (replica: string, seq: bigint) => Uint8Array | undefined, leader?: string) {
  const hub = new MemoryHub();
  const ids = ['r0', 'r1', 'r2', 'r3'];
  const received: Record<string, number> = {};
  for (const id of ids) {
    const t = hub.transport(id, { peers: ids });
    void t.start();
    t.clients.onFrame((client, frame) => {
      const f = decodeClientFrame(frame);
      received[id] = (received[id] ?? 0) + 1;
      const result = answer(id, f.seq);
      if (result) t.clients.send(client, encodeClientFrame({ type: 'reply', seq: f.seq, height: 7n, result, ...(leader ? { leader } : {}) }));
    });
  }
  return { hub, ids, received };
}

describe('Client', () => {
  it('needs `quorum` matching replies: one lying replica cannot decide a result', async () => {
    const { hub, ids } = fakeCluster((r) => (r === 'r0' ? Uint8Array.of(6, 6, 6) : r === 'r3' ? undefined : Uint8Array.of(1)));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20 });
    await c.start();
    const r = await c.submit(Uint8Array.of(0));
    expect(r.result).toEqual(Uint8Array.of(1));
    expect([...r.replicas].sort()).toEqual(['r1', 'r2']);
    await c.stop();
  });

  it('retries unanswered requests and times out with a named error', async () => {
    const { hub, ids, received } = fakeCluster(() => undefined);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20, timeoutMs: 150 });
    await c.start();
    await expect(c.submit(Uint8Array.of(0))).rejects.toBeInstanceOf(ClientTimeoutError);
    expect(received['r0']).toBeGreaterThanOrEqual(2);
    await c.stop();
  });

  it('pipelines with a bounded window and numbers requests from firstSeq', async () => {
    const { hub, ids } = fakeCluster((_r, seq) => Uint8Array.of(Number(seq)));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 3, maxInFlight: 4, firstSeq: 10n });
    await c.start();
    const rs = await Promise.all(Array.from({ length: 20 }, () => c.submit(Uint8Array.of(0))));
    expect(rs.map((r) => r.seq)).toEqual(Array.from({ length: 20 }, (_, i) => BigInt(10 + i)));
    expect(rs.every((r) => r.result[0] === Number(r.seq))).toBe(true);
    await c.stop();
  });

  it('follows the leader hint of matching replies for first attempts, and retries to everyone', async () => {
    let silentLeader = false;
    const { hub, ids, received } = fakeCluster((r) => (silentLeader && r === 'r2' ? undefined : Uint8Array.of(1)), 'r2');
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 30 });
    await c.start();
    await c.submit(Uint8Array.of(0)); // first attempt: everyone
    expect(ids.map((r) => received[r] ?? 0)).toEqual([1, 1, 1, 1]);
    const r2 = c.submit(Uint8Array.of(0));
    await new Promise((r) => setTimeout(r, 10));
    expect(ids.map((r) => received[r] ?? 0)).toEqual([1, 1, 2, 1]); // only the leader
    await r2;
    silentLeader = true; // a leader that does not answer costs one retry interval, not liveness
    const r3 = await c.submit(Uint8Array.of(0));
    expect(r3.replicas).not.toContain('r2');
    await c.stop();
  });

  it('rejects malformed client frames', () => {
    expect(() => decodeClientFrame(Uint8Array.of(0xa0))).toThrow();
    expect(() => decodeClientFrame(encodeClientFrame({ type: 'request', seq: 1n, payload: Uint8Array.of(1) }).subarray(1))).toThrow();
  });
});
