import { describe, expect, it } from 'vitest';
import { ClientRejectedError, ClientTimeoutError, decodeClientFrame, encodeClientFrame } from '@phalanx/runtime';
import type { ClientPlane } from '@phalanx/runtime';
import { LocalBusyError, LocalClients } from '../src/local-clients.js';

/** A stand-in replica on the client plane: `answer` decides, per request it receives, what it sends back. */
function fakeReplica(answer: (seq: bigint, attempt: number) => 'result' | 'too-large' | undefined, opts: ConstructorParameters<typeof LocalClients>[2] = {}) {
  const forwarded: Array<{ client: string; frame: Uint8Array }> = [];
  const inner: ClientPlane = { send: (client, frame) => forwarded.push({ client, frame }), onFrame: () => undefined };
  const local = new LocalClients('r0', inner, opts);
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
