import { afterEach, describe, expect, it } from 'vitest';
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KvStore, MAX_VALUE_BYTES, encodeCommand, encodeResult } from '@phalanx/kv-store';
import { ClientNotRunningError, ClientRejectedError, ClientResultExpiredError, ClientTimeoutError } from '@phalanx/runtime';
import { SeqReservationError } from '../src/seq-reservation.js';
import { createHttpApi } from '../src/http-api.js';
import type { NodeHandle } from '../src/http-api.js';
import { LocalBusyError } from '../src/local-clients.js';

/** The HTTP API over a stand-in node whose `submit` does what each case needs. */
async function api(submit: NodeHandle['submit'], timeoutMs = 10_000, stateDigest?: NodeHandle['stateDigest']): Promise<{ url: string; server: http.Server }> {
  const node: NodeHandle = { submit, status: () => ({ committedHeight: 9n }), stateDigest: stateDigest ?? (async () => ({ height: 0n, digest: new Uint8Array(32) })), isReady: () => true };
  const server = createHttpApi(node, { timeoutMs });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

describe('HTTP API status codes', () => {
  const servers: http.Server[] = [];
  afterEach(() => {
    for (const s of servers.splice(0)) s.close();
  });
  const put = async (submit: NodeHandle['submit'], timeoutMs?: number) => {
    const a = await api(submit, timeoutMs);
    servers.push(a.server);
    return fetch(`${a.url}/kv/k`, { method: 'PUT', body: 'v' });
  };

  it('maps each failure to what the caller should do', async () => {
    const ok = await put(async () => encodeResult({ ok: true }));
    expect(ok.status).toBe(200);
    // Committed refusals: a full store is not the request's fault; a bad command is.
    const full = new KvStore({ maxKeys: 1 });
    const apply = (seq: bigint, key: string) =>
      full.apply([{ client: 'c', seq, payload: encodeCommand({ op: 'put', key: new TextEncoder().encode(key), value: new Uint8Array(1) }) }], { height: seq })[0]!;
    apply(1n, 'a');
    const refused = apply(2n, 'b');
    expect((await put(async () => refused)).status).toBe(507);
    expect((await put(async () => encodeResult({ ok: false, error: 'malformed command' }))).status).toBe(400);
    const busy = await put(async () => Promise.reject(new LocalBusyError(2)));
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('1');
    expect((await put(async () => Promise.reject(new ClientRejectedError(1n, 'too-large', ['r0'])))).status).toBe(413);
    expect((await put(async () => Promise.reject(new ClientRejectedError(1n, 'malformed', ['r0'])))).status).toBe(400);
    expect((await put(async () => Promise.reject(new ClientTimeoutError(1n, 10, 'gone')))).status).toBe(504);
    expect((await put(async () => Promise.reject(new ClientResultExpiredError(1n, ['r0'])))).status).toBe(500);
    // An unreadable seq reservation is permanent until an operator acts: not a 503 to retry.
    expect((await put(async () => Promise.reject(new SeqReservationError('/d/local-client-seq', 'not a seq reservation')))).status).toBe(500);
    expect((await put(async () => Promise.reject(new Error('replica stopping')))).status).toBe(503);
    expect((await put(async () => Promise.reject(new ClientNotRunningError('client stopped')))).status).toBe(503);
    // A RangeError from inside the node is not the caller's oversized body.
    expect((await put(async () => Promise.reject(new RangeError('some internal bound')))).status).toBe(503);
  });

  it('answers 413 to a body over the value limit, before submitting anything, and closes the connection', async () => {
    let submitted = 0;
    const a = await api(async () => {
      submitted++;
      return encodeResult({ ok: true });
    });
    servers.push(a.server);
    // Before, the server reset the connection without answering: fetch failed with no status.
    const r = await fetch(`${a.url}/kv/k`, { method: 'PUT', body: new Uint8Array(MAX_VALUE_BYTES + 1) });
    expect(r.status).toBe(413);
    expect(r.headers.get('connection')).toBe('close');
    expect(((await r.json()) as { error: string }).error).toMatch(/body larger than/);
    expect(submitted).toBe(0);
  });

  it('status: the state digest only when asked, with the height it is of; 503 when the replica cannot take it', async () => {
    let asked = 0;
    const a = await api(async () => encodeResult({ ok: true }), 10_000, async () => (asked++, { height: 7n, digest: new Uint8Array(32).fill(0xab) }));
    servers.push(a.server);
    expect(await (await fetch(`${a.url}/status`)).json()).toEqual({ committedHeight: '9' });
    expect(asked).toBe(0);
    expect(await (await fetch(`${a.url}/status?digest=1`)).json()).toEqual({ committedHeight: '9', stateDigestHeight: '7', stateDigest: 'ab'.repeat(32) });
    const halted = await api(async () => encodeResult({ ok: true }), 10_000, () => Promise.reject(new Error('replica is not running')));
    servers.push(halted.server);
    const r = await fetch(`${halted.url}/status?digest=1`);
    expect(r.status).toBe(503);
    expect(((await r.json()) as { error: string }).error).toMatch(/state digest unavailable: replica is not running/);
  });

  it('answers 504 "outcome unknown" when its own deadline passes first', async () => {
    const r = await put(() => new Promise<Uint8Array>(() => undefined), 50);
    expect(r.status).toBe(504);
    expect(((await r.json()) as { error: string }).error).toMatch(/outcome is unknown/);
  });
});
