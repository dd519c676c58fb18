import { describe, expect, it } from 'vitest';
import { ClientRejectedError, ClientTimeoutError, decodeClientFrame, encodeClientFrame } from '@phalanx/runtime';
import type { ClientPlane } from '@phalanx/runtime';
import { LocalBusyError, LocalClients, localClientNode } from '../src/local-clients.js';
import { clientKeyDirectory } from '../src/node-runner.js';
import { validateConfig } from '../src/config.js';
import { fromHex } from '@phalanx/codec';
import { generateKeyPair, signerFromSecret, verifier } from '@phalanx/crypto';
import { createRequestAuthenticator, groupOf } from '@phalanx/client-auth';

/** A stand-in replica on the client plane: `answer` decides, per request it receives, what it sends back. */
function fakeReplica(answer: (seq: bigint, attempt: number) => 'result' | 'too-large' | undefined, opts: ConstructorParameters<typeof LocalClients>[2] = {}) {
  const forwarded: Array<{ client: string; frame: Uint8Array }> = [];
  const inner: ClientPlane = { send: (client, frame) => forwarded.push({ client, frame }), onFrame: () => undefined };
  const local = new LocalClients('r0', inner, { seqs: { start: async () => 0n, cover: async () => undefined }, ...opts });
  const attempts = new Map<bigint, number>();
  local.onFrame((client, frame) => {
    const f = decodeClientFrame(frame);
    if (f.type !== 'request') throw new Error('only requests reach the replica');
    for (const r of f.requests) {
      const n = (attempts.get(r.seq) ?? 0) + 1;
      attempts.set(r.seq, n);
      const a = answer(r.seq, n);
      if (a === 'result') local.send(client, encodeClientFrame({ type: 'reply', height: 1n, results: [{ seq: r.seq, result: r.payload }] }));
      if (a === 'too-large') local.send(client, encodeClientFrame({ type: 'reject', seq: r.seq, code: 'too-large', message: 'big' }));
    }
  });
  return { local, attempts, forwarded };
}

describe('client keys', () => {
  it("a configured client signs with its own key, a node's local clients with that node's key, nobody else", () => {
    const config = validateConfig({
      version: 1,
      chainId: 't',
      consensus: { type: 'pbft' },
      nodes: [0, 1, 2, 3].map((i) => ({ id: `r-${i}`, address: `/ip4/127.0.0.1/tcp/${7000 + i}`, publicKey: `01${String(i).repeat(64)}`, http: `127.0.0.1:${8000 + i}` })),
      clients: [{ id: 'c0', publicKey: '01' + 'c'.repeat(64) }],
    });
    const keyOf = clientKeyDirectory(config);
    expect(keyOf('c0')).toEqual(fromHex('01' + 'c'.repeat(64)));
    const local = new LocalClients('r-2', undefined);
    expect(localClientNode(local.id)).toBe('r-2');
    expect(keyOf(local.id)).toEqual(fromHex('01' + '2'.repeat(64)));
    expect(local.id).toBe('local-r-2');
    // One id per node: no suffix a node could vary to mint client sessions on every replica.
    for (const id of ['r-2', 'local-r-2-0123', 'local-r-2-0123456789ab', 'local-r9', 'local-', 'local-c0', 'c1']) expect(keyOf(id)).toBeUndefined();
    void local.abandon();
  });

  it('asks again after a failed start (a passing write error), and stops cleanly whatever happened', async () => {
    let starts = 0;
    const seqs = {
      start: async () => {
        if (++starts === 1) throw new Error('ENOSPC: no space left on device');
        return 0n;
      },
      cover: async () => undefined,
    };
    const { local, attempts } = fakeReplica(() => 'result', { seqs });
    await expect(local.submit(Uint8Array.of(1))).rejects.toThrow(/ENOSPC/);
    expect(await local.submit(Uint8Array.of(2))).toEqual(Uint8Array.of(2));
    expect([...attempts.keys()]).toEqual([0n]);
    await local.abandon();
    // A client whose start failed and was never retried still abandons without throwing.
    const failing = fakeReplica(() => 'result', { seqs: { start: async () => Promise.reject(new Error('EIO')), cover: async () => undefined } });
    await expect(failing.local.submit(Uint8Array.of(1))).rejects.toThrow(/EIO/);
    await expect(failing.local.abandon()).resolves.toBeUndefined();
  });

  it('asks for its first seq at the first command, and has each seq covered before it goes out', async () => {
    let asked = 0;
    const covered: number[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const seqs = {
      start: async () => (asked++, 500n),
      cover: async (i: number) => {
        covered.push(i);
        if (i === 2) await gate; // the reservation of the third is still being written
      },
    };
    const { local, attempts } = fakeReplica(() => 'result', { seqs });
    expect(asked).toBe(0);
    await local.submit(Uint8Array.of(1));
    await local.submit(Uint8Array.of(2));
    expect(asked).toBe(1);
    expect([...attempts.keys()]).toEqual([500n, 501n]);
    const third = local.submit(Uint8Array.of(3));
    await new Promise((r) => setTimeout(r, 20));
    expect([...attempts.keys()]).toEqual([500n, 501n]); // not sent before it is covered
    release();
    await third;
    expect([...attempts.keys()]).toEqual([500n, 501n, 502n]);
    expect(covered).toEqual([0, 1, 2]);
    await local.abandon();
    await expect(local.submit(Uint8Array.of(4))).rejects.toThrow(/stopped/);
  });

  it('signs its commands with the node key when given a signer', async () => {
    const key = generateKeyPair('ed25519');
    const signer = signerFromSecret(key.secretKey);
    const { local } = fakeReplica(() => 'result', { signing: { signer, chainId: 'test' } });
    let sigs: readonly Uint8Array[] | undefined;
    local.onFrame((client, frame) => {
      const f = decodeClientFrame(frame);
      if (f.type === 'request') {
        sigs = f.sigs;
        local.send(client, encodeClientFrame({ type: 'reply', height: 1n, results: f.requests.map((r) => ({ seq: r.seq, result: r.payload })) }));
      }
    });
    await local.submit(Uint8Array.of(1));
    expect(sigs).toHaveLength(1);
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (id) => (localClientNode(id) === 'r0' ? key.publicKey : undefined), verifier });
    const [r] = groupOf(local.id, [{ seq: 0n, payload: Uint8Array.of(1) }], sigs![0]!);
    expect(auth.check(r!)).toBeUndefined();
    await local.abandon();
  });
});

describe('LocalClients (the HTTP API as a client of its own replica)', () => {
  it('resends a command the replica lost until it commits', async () => {
    const { local, attempts } = fakeReplica((_seq, attempt) => (attempt >= 3 ? 'result' : undefined), { retryMs: 10 });
    expect(await local.submit(Uint8Array.of(42))).toEqual(Uint8Array.of(42));
    expect(attempts.get(0n)).toBe(3);
    await local.abandon();
  });

  it('refuses commands past maxInFlight at once, and a timed-out command frees its place', async () => {
    const { local } = fakeReplica(() => undefined, { maxInFlight: 2, timeoutMs: 100, retryMs: 1_000 });
    const first = [local.submit(Uint8Array.of(1)), local.submit(Uint8Array.of(2))].map((p) => p.catch((e: unknown) => e));
    await expect(local.submit(Uint8Array.of(3))).rejects.toBeInstanceOf(LocalBusyError);
    for (const e of await Promise.all(first)) expect(e).toBeInstanceOf(ClientTimeoutError);
    // Both gave up: room again (the client keeps their seqs out of its window too).
    const again = local.submit(Uint8Array.of(4)).catch((e: unknown) => e);
    expect(await again).toBeInstanceOf(ClientTimeoutError);
    await local.abandon();
  });

  it('passes a refusal on at once, and other clients\' replies through to the network', async () => {
    const { local, forwarded } = fakeReplica(() => 'too-large', { timeoutMs: 30_000 });
    const err = await local.submit(Uint8Array.of(1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientRejectedError);
    const frame = encodeClientFrame({ type: 'reject', seq: 5n, code: 'expired', message: 'x' });
    local.send('c7', frame);
    expect(forwarded).toEqual([{ client: 'c7', frame }]);
    await local.abandon();
  });

  it('rejects what is in flight when the node stops', async () => {
    const { local } = fakeReplica(() => undefined);
    const pending = local.submit(Uint8Array.of(1)).catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 5));
    await local.abandon();
    expect(await pending).toBeInstanceOf(Error);
  });
});
