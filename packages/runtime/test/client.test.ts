import { describe, it, expect, vi } from 'vitest';
import { MemoryHub } from '@phalanx/transport-memory';
import { EncodeError, encode } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { ConfigError } from '@phalanx/interface';
import { Client, ClientNotRunningError, ClientRejectedError, ClientResultExpiredError, ClientTimeoutError, decodeClientFrame, encodeClientFrame, rejectedSeqs, MAX_FRAME_ITEMS } from '../src/index.js';
import { framesOf } from '../src/wire.js';
import type { RejectCode, RejectFrame } from '../src/wire.js';
import type { ClientOptions } from '../src/index.js';

/** Fake replicas on the client plane: each answers with whatever `answer` says. */
function fakeCluster(answer: (replica: string, seq: bigint) => Uint8Array | { reject: RejectCode } | undefined, leaderHint?: string | (() => string)) {
  const hub = new MemoryHub();
  const ids = ['r0', 'r1', 'r2', 'r3'];
  /** Requests received per replica, and frames they came in. */
  const received: Record<string, number> = {};
  const frames: Record<string, number> = {};
  for (const id of ids) {
    const t = hub.transport(id, { peers: ids });
    void t.start();
    t.clients.onFrame((client, frame) => {
      const f = decodeClientFrame(frame);
      if (f.type !== 'request') throw new Error('clients send requests');
      frames[id] = (frames[id] ?? 0) + 1;
      received[id] = (received[id] ?? 0) + f.requests.length;
      // One reply frame for everything answered, as a replica answers one committed batch, and
      // one reject frame per code, as a replica refuses what one frame brought.
      const rejects = new Map<RejectCode, bigint[]>();
      const results = f.requests.flatMap((r) => {
        const result = answer(id, r.seq);
        if (result && 'reject' in result) {
          rejects.set(result.reject, [...(rejects.get(result.reject) ?? []), r.seq]);
          return [];
        }
        return result ? [{ seq: r.seq, result }] : [];
      });
      for (const [code, [seq, ...more]] of rejects) t.clients.send(client, encodeClientFrame({ type: 'reject', seq: seq!, ...(more.length > 0 ? { more } : {}), code, message: 'no' }));
      const leader = typeof leaderHint === 'function' ? leaderHint() : leaderHint;
      if (results.length > 0) t.clients.send(client, encodeClientFrame({ type: 'reply', height: 7n, results, ...(leader ? { leader } : {}) }));
    });
  }
  return { hub, ids, received, frames };
}

/**
 * Fake replicas that answer every request, all of them, `delayMs` after it arrives (or after
 * `delayMs(seq)`, to hold some requests longer than others); `received` counts requests.
 */
function slowCluster(delayMs: number | ((seq: bigint) => number | undefined)) {
  const hub = new MemoryHub();
  const ids = ['r0', 'r1', 'r2', 'r3'];
  const stats = { received: 0 };
  for (const id of ids) {
    const t = hub.transport(id, { peers: ids });
    void t.start();
    t.clients.onFrame((client, frame) => {
      const f = decodeClientFrame(frame);
      if (f.type !== 'request') return;
      stats.received += f.requests.length;
      if (typeof delayMs === 'number') {
        const results = f.requests.map((r) => ({ seq: r.seq, result: Uint8Array.of(1) }));
        setTimeout(() => t.clients.send(client, encodeClientFrame({ type: 'reply', height: 7n, results })), delayMs);
        return;
      }
      for (const r of f.requests) {
        const results = [{ seq: r.seq, result: Uint8Array.of(1) }];
        const ms = delayMs(r.seq);
        if (ms === undefined) continue; // dropped
        setTimeout(() => t.clients.send(client, encodeClientFrame({ type: 'reply', height: 7n, results })), ms);
      }
    });
  }
  return { hub, ids, stats };
}

describe('framesOf (client frames by count and bytes)', () => {
  it('keeps each frame under ~1 MiB of payload and 4,096 items; a bigger item goes alone', () => {
    const sizes = (xs: number[]) => framesOf(xs, (x) => x).map((f) => f.length);
    expect(sizes(Array.from({ length: 10 }, () => 300_000))).toEqual([3, 3, 3, 1]);
    expect(sizes(Array.from({ length: 5000 }, () => 10))).toEqual([4096, 904]);
    expect(sizes([2_000_000, 10, 2_000_000])).toEqual([1, 1, 1]);
    expect(sizes([])).toEqual([]);
  });
});

describe('reject frames', () => {
  it('carry one request or many alike, within the frame limit', () => {
    const one = { type: 'reject', seq: 5n, code: 'expired', message: 'x' } as const;
    expect(decodeClientFrame(encodeClientFrame(one))).toEqual(one);
    const many = { type: 'reject', seq: 5n, more: [6n, 9n], code: 'unauthenticated', message: 'bad signature' } as const;
    const back = decodeClientFrame(encodeClientFrame(many));
    expect(back).toEqual(many);
    expect(rejectedSeqs(back as RejectFrame)).toEqual([5n, 6n, 9n]);
    // An empty list is written as no list; a hand-made one is refused, as is one past the limit.
    expect(decodeClientFrame(encodeClientFrame({ ...one, more: [] }))).toEqual(one);
    expect(() => decodeClientFrame(encode({ v: 3, t: 2, seq: 5n, code: 0, message: 'x', more: [] }))).toThrow(/client\.more: empty/);
    const over = Array.from({ length: MAX_FRAME_ITEMS }, (_, i) => BigInt(i));
    expect(() => encodeClientFrame({ ...one, more: over })).toThrow(EncodeError);
    expect(() => decodeClientFrame(encode({ v: 3, t: 2, seq: 5n, code: 0, message: 'x', more: over }))).toThrow(/client\.more/);
  });
});

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

  it('fails at once when quorum replicas refuse a request for good, not on one refusal or a passing one', async () => {
    // r0 alone says too-large (it may be lying): r1 and r2 answer, the request commits.
    const one = fakeCluster((r) => (r === 'r0' ? { reject: 'too-large' } : r === 'r3' ? undefined : Uint8Array.of(1)));
    const c1 = new Client({ endpoint: one.hub.client('c'), replicas: one.ids, quorum: 2, retryMs: 20 });
    await c1.start();
    expect((await c1.submit(Uint8Array.of(0))).result).toEqual(Uint8Array.of(1));
    await c1.stop();
    // Two say too-large: one of them is honest. No waiting for the 30-s deadline.
    const two = fakeCluster((r) => (r === 'r0' || r === 'r1' ? { reject: 'too-large' } : undefined));
    const c2 = new Client({ endpoint: two.hub.client('c'), replicas: two.ids, quorum: 2, timeoutMs: 30_000 });
    await c2.start();
    const err = await c2.submit(Uint8Array.of(0)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClientRejectedError);
    expect((err as ClientRejectedError).reason).toBe('too-large');
    // Submits of one tick travel in one frame and come back refused in one frame each: all fail.
    const alike = await Promise.all([1, 2, 3].map((i) => c2.submit(Uint8Array.of(i)).catch((e: unknown) => e)));
    for (const e of alike) expect(e).toBeInstanceOf(ClientRejectedError);
    expect(two.frames['r0']).toBe(2);
    await c2.stop();
    // Two say the command ran but its result is gone: that is final too, and not a refusal.
    const gone = fakeCluster((r) => (r === 'r2' || r === 'r3' ? { reject: 'expired' } : undefined));
    const c4 = new Client({ endpoint: gone.hub.client('c'), replicas: gone.ids, quorum: 2, timeoutMs: 30_000 });
    await c4.start();
    const lost = await c4.submit(Uint8Array.of(0)).catch((e: unknown) => e);
    expect(lost).toBeInstanceOf(ClientResultExpiredError);
    expect((lost as Error).message).toMatch(/was executed, but its result is no longer cached/);
    await c4.stop();
    // "unavailable" may pass (a replica catching up): retried until the deadline.
    const busy = fakeCluster(() => ({ reject: 'unavailable' }));
    const c3 = new Client({ endpoint: busy.hub.client('c'), replicas: busy.ids, quorum: 2, retryMs: 20, timeoutMs: 150 });
    await c3.start();
    await expect(c3.submit(Uint8Array.of(0))).rejects.toBeInstanceOf(ClientTimeoutError);
    expect(busy.received['r0']).toBeGreaterThanOrEqual(2);
    await c3.stop();
  });

  it('counts the deadline from submit: a request that waited it out for room is never sent', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'performance'] });
    try {
      const { hub, ids, received } = fakeCluster(() => undefined);
      const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, maxInFlight: 1, retryMs: 1_000, timeoutMs: 100 });
      await c.start();
      const a = c.submit(Uint8Array.of(1)).catch((e: unknown) => e); // holds the only place in the window
      const b = c.submit(Uint8Array.of(2)).catch((e: unknown) => e); // waits behind it
      const turns = async (n: number) => {
        for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
      };
      await turns(5); // the client's flush, then the hub's delivery
      expect(received['r0']).toBe(1);
      await vi.advanceTimersByTimeAsync(100);
      const [ea, eb] = (await Promise.all([a, b])) as ClientTimeoutError[];
      expect(ea).toBeInstanceOf(ClientTimeoutError);
      expect(ea!.seq).toBe(0n);
      expect(eb).toBeInstanceOf(ClientTimeoutError);
      expect(eb!.seq).toBeUndefined();
      await turns(5);
      expect(received['r0']).toBe(1); // b never went out
      await c.stop();
    } finally {
      vi.useRealTimers();
    }
  });

  it('retries unanswered requests and times out with a named error', async () => {
    const { hub, ids, received } = fakeCluster(() => undefined);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20, timeoutMs: 150 });
    await c.start();
    await expect(c.submit(Uint8Array.of(0))).rejects.toBeInstanceOf(ClientTimeoutError);
    expect(received['r0']).toBeGreaterThanOrEqual(2);
    await c.stop();
  });

  it('waits longer before resending when commits are slower than retryMs, and resends little (RFC 6298)', async () => {
    // Replicas that answer 60 ms after a request arrives. A fixed 20-ms wait resent every request
    // twice (at 20 ms and 60 ms) to the replicas that had not answered.
    const { hub, ids, stats } = slowCluster(60);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20 });
    await c.start();
    expect(c.retryTimeoutMs).toBe(20); // no sample yet: retryMs
    for (let i = 0; i < 20; i++) await c.submit(Uint8Array.of(0));
    expect(c.retryTimeoutMs).toBeGreaterThanOrEqual(60);
    // 80 first sends; the first requests are resent while the wait backs off, then almost none are
    // (a fixed 20-ms wait resent each to the two or three replicas not yet answered, twice: ~180).
    expect(stats.received).toBeLessThan(80 + 30);
    await c.stop();
  });

  it('backs its wait off once per wait, not once per request, when a whole window falls due in a stall', async () => {
    // Replicas that hold every answer for 150 ms: 64 pipelined requests all fall due, one after
    // another, during the stall.
    const { hub, ids } = slowCluster(150);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20, maxInFlight: 64 });
    await c.start();
    const all = Promise.all(Array.from({ length: 64 }, (_, i) => new Promise((r) => setTimeout(r, i)).then(() => c.submit(Uint8Array.of(0)))));
    await new Promise((r) => setTimeout(r, 100));
    // 100 ms of stall with a 20-ms wait: at most a handful of doublings (20 → 40 → 80 → 160), not one per request.
    expect(c.retryTimeoutMs).toBeLessThanOrEqual(320);
    await all;
    await c.stop();
  });

  it("samples latency only from requests answered at their first attempt (Karn's rule): slow answers to resent requests leave the wait alone", async () => {
    // Seqs 10, 12, 14 and 16 are held 500 ms, long past their first resend (due at about 50 ms): an
    // answer to a resent request may answer either attempt, so its latency says nothing. Sampled
    // anyway, four ~500-ms latencies would take SRTT + 4·RTTVAR to several hundred ms, and the fast
    // samples after them would still leave it there; from fast samples alone it stays at retryMs.
    // One at a time, each followed by a fast one: each slow one is then the only request due while
    // nothing is decided, so it is resent (see the next tests), and the fast one's sample ends the
    // back-off, so the next slow one's wait is again 50 ms, not one grown past 500.
    const slow = new Set([10n, 12n, 14n, 16n]);
    const { hub, ids } = slowCluster((seq) => (slow.has(seq) ? 500 : 0));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 50 });
    await c.start();
    for (let i = 0; i < 10; i++) await c.submit(Uint8Array.of(0)); // fast: the estimate settles at retryMs
    for (let i = 0; i < 4; i++) {
      await c.submit(Uint8Array.of(0));
      await c.submit(Uint8Array.of(0));
    }
    expect(c.resends).toBeGreaterThanOrEqual(4); // each slow one was resent, so none is a sample
    for (let i = 0; i < 2; i++) await c.submit(Uint8Array.of(0));
    expect(c.retryTimeoutMs).toBeLessThan(250);
    await c.stop();
  });

  it('ends the back-off at the next sample: after a stall, one fast answer to a first attempt brings the wait back down (RFC 6298 §5.5)', async () => {
    // Seq 0 is held 900 ms: resent at about 100 and 500 ms, the wait doubling to 200, then 400 ms.
    // Its answer is no sample (it was resent), so the wait stays doubled until seq 1, answered at
    // once at its first attempt, gives one. The estimate itself was retryMs (no sample yet) and a
    // sample never takes it below that, so without the reset the wait could only stay or grow.
    const { hub, ids } = slowCluster((seq) => (seq === 0n ? 900 : 0));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 100 });
    await c.start();
    await c.submit(Uint8Array.of(0));
    const stalled = c.retryTimeoutMs;
    expect(stalled).toBeGreaterThanOrEqual(200); // backed off at least once
    await c.submit(Uint8Array.of(0));
    expect(c.retryTimeoutMs).toBeLessThan(stalled);
    await c.stop();
  });

  it('resends only the oldest request due while nothing says the others were lost', async () => {
    // Replicas that hold every answer for 400 ms: 32 pipelined requests fall due at 50 ms. Resending
    // each to every replica (as before) sent the window again, and again at each back-off.
    const { hub, ids, stats } = slowCluster(400);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 50, maxInFlight: 32 });
    await c.start();
    await Promise.all(Array.from({ length: 32 }, () => c.submit(Uint8Array.of(0))));
    // One per wait, the wait doubling (50, 100, 200 ms): three, a few more on a slow machine; not 32 or more.
    expect(c.resends).toBeGreaterThanOrEqual(1);
    expect(c.resends).toBeLessThanOrEqual(8);
    expect(stats.received).toBeLessThanOrEqual(4 * 32 + 4 * 8);
    await c.stop();
  });

  it('resends at once the requests a replaced leader lost, and those a later decided request overtook', async () => {
    // A leader that went silent: the oldest due goes to everyone, and is decided under a new
    // leader; every request sent to the old one is then resent, not held back behind probes.
    let silent = false;
    const lost = fakeCluster((r) => (silent && r === 'r2' ? undefined : Uint8Array.of(1)), () => (silent ? 'r1' : 'r2'));
    const c = new Client({ endpoint: lost.hub.client('c'), replicas: lost.ids, quorum: 2, retryMs: 30, timeoutMs: 60_000 });
    await c.start();
    await c.submit(Uint8Array.of(0)); // learns the leader r2: first attempts go to it alone
    silent = true;
    const started = performance.now();
    const rs = await Promise.all(Array.from({ length: 20 }, () => c.submit(Uint8Array.of(0))));
    expect(rs.every((r) => !r.replicas.includes('r2'))).toBe(true);
    // Held back to the wait's ceiling (a quarter of timeoutMs) they would take 15 s.
    expect(performance.now() - started).toBeLessThan(5_000);
    await c.stop();

    // Seqs 1-10 are held 3 s, seq 11's first attempt is lost, seq 12 is answered at once. Held
    // back behind the probes, seq 11 would wait for seqs 1-10 (one probe per wait, the wait
    // doubling); overtaken by seq 12, it is resent at its first turn.
    let attempts = 0;
    const gap = slowCluster((seq) => (seq >= 1n && seq <= 10n ? 3_000 : seq === 11n && attempts++ < 4 ? undefined : 0));
    const d = new Client({ endpoint: gap.hub.client('d'), replicas: gap.ids, quorum: 2, retryMs: 30, timeoutMs: 60_000 });
    await d.start();
    await d.submit(Uint8Array.of(0));
    const held = Array.from({ length: 10 }, () => d.submit(Uint8Array.of(0)));
    const t = performance.now();
    const eleven = d.submit(Uint8Array.of(0)).then(() => performance.now() - t);
    await d.submit(Uint8Array.of(0));
    expect(await eleven).toBeLessThan(1_500);
    await Promise.all(held);
    await d.stop();
  });

  it('holds a request back no later than a quarter of timeoutMs from its first send: by then it reaches every replica', async () => {
    // The leader r2 keeps the first attempts it is sent alone and never answers them; the other
    // replicas answer whatever they get. Seq 1 probes at the first wait (400 ms); seq 2, held behind
    // it, would go at the next probe (400 + 500 ms: the doubled wait, capped at the quarter) but for
    // the quarter of timeoutMs itself (500 ms from its first send).
    const { hub, ids } = fakeCluster((r) => (r === 'r2' ? undefined : Uint8Array.of(1)), 'r2');
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 400, timeoutMs: 2_000 });
    await c.start();
    await c.submit(Uint8Array.of(0)); // to everyone: learns the leader r2
    const start = performance.now();
    const [a, b] = [c.submit(Uint8Array.of(0)), c.submit(Uint8Array.of(0))];
    const rb = await b;
    const took = performance.now() - start;
    await a;
    expect(rb.replicas).not.toContain('r2');
    expect(took).toBeLessThan(800);
    await c.stop();
  });

  it('never lets the wait grow past a quarter of timeoutMs, so a request reaches every replica before its deadline', async () => {
    // Answers after 120 ms would set the wait near 3x that; with timeoutMs 200 it stays at 50 ms.
    const { hub, ids } = slowCluster(120);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 5, timeoutMs: 200 });
    await c.start();
    for (let i = 0; i < 5; i++) await c.submit(Uint8Array.of(0));
    expect(c.retryTimeoutMs).toBeLessThanOrEqual(50);
    await c.stop();
  });

  it('keeps retryMs as its wait when answers come faster', async () => {
    const { hub, ids } = fakeCluster(() => Uint8Array.of(1));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20 });
    await c.start();
    for (let i = 0; i < 30; i++) await c.submit(Uint8Array.of(0));
    expect(c.retryTimeoutMs).toBe(20);
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

  it('keeps the seqs in flight within maxInFlight of the oldest unanswered one, even when answers come out of order', async () => {
    // An exactly-once table refuses a seq committed a full session window below the newest one run;
    // a count-only window lets a stuck request fall that far behind while later ones complete.
    let releaseFirst = false;
    let highestSent = -1n;
    const { hub, ids } = fakeCluster((_r, seq) => {
      if (!releaseFirst && seq > highestSent) highestSent = seq;
      return seq === 0n && !releaseFirst ? undefined : Uint8Array.of(Number(seq));
    });
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, maxInFlight: 4, retryMs: 40 });
    await c.start();
    const all = Promise.all(Array.from({ length: 12 }, () => c.submit(Uint8Array.of(0))));
    await new Promise((r) => setTimeout(r, 30)); // seqs 1–3 answered; 0 not yet
    expect(highestSent).toBe(3n);
    expect(c.inFlight).toBe(1);
    releaseFirst = true; // seq 0's retry is answered, and the window moves on
    const rs = await all;
    expect(rs.map((r) => r.seq)).toEqual(Array.from({ length: 12 }, (_, i) => BigInt(i)));
    await c.stop();
  });

  it('rejects the submits in flight and still waiting for room when it stops, and any before it starts, with ClientNotRunningError', async () => {
    const { hub, ids } = fakeCluster(() => undefined);
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, maxInFlight: 2 });
    await expect(c.submit(Uint8Array.of(0))).rejects.toThrow(ClientNotRunningError);
    await expect(c.submit(Uint8Array.of(0))).rejects.toThrow('client not started');
    await c.start();
    const outcomes = Array.from({ length: 6 }, () =>
      c.submit(Uint8Array.of(0)).then(
        () => 'resolved',
        (e: unknown) => (e instanceof ClientNotRunningError && e.code === 'CLIENT_NOT_RUNNING' ? e.message : `other: ${String(e)}`),
      ),
    );
    await c.stop();
    // Two were in flight, four waiting for room: all six end the same way.
    expect(await Promise.all(outcomes)).toEqual(Array.from({ length: 6 }, () => 'client stopped'));
    expect(() => new Client({ endpoint: hub.client('d'), replicas: ids, quorum: 2, maxInFlight: 0 })).toThrow(/maxInFlight/);
  });

  // Four replicas: a quorum is an integer from 1 to 4; a window a positive safe integer; a retry
  // interval at least 1 ms and finite; a timeout above 0 (Infinity: never).
  it.each<[keyof ClientOptions, unknown]>([
    ['quorum', 0],
    ['quorum', 5],
    ['quorum', 1.5],
    ['quorum', NaN],
    ['quorum', '2'],
    ['maxInFlight', 0],
    ['maxInFlight', -1],
    ['maxInFlight', 2.5],
    ['maxInFlight', NaN],
    ['maxInFlight', Infinity],
    ['maxInFlight', 2 ** 53],
    ['retryMs', 0],
    ['retryMs', 0.5],
    ['retryMs', -5],
    ['retryMs', NaN],
    ['retryMs', Infinity],
    ['retryMs', '100'],
    ['timeoutMs', 0],
    ['timeoutMs', -1],
    ['timeoutMs', NaN],
    ['timeoutMs', '100'],
  ])('refuses %s = %o with a ConfigError naming the option', (option, value) => {
    const options = { endpoint: new MemoryHub().client('c'), replicas: ['r0', 'r1', 'r2', 'r3'], quorum: 2, [option]: value };
    let thrown: unknown;
    try {
      new Client(options as ClientOptions);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).path).toBe(option);
    expect((thrown as ConfigError).message).toContain(`got ${String(value)}`);
  });

  it.each<[keyof ClientOptions, number]>([
    ['quorum', 1],
    ['quorum', 4],
    ['maxInFlight', 1],
    ['maxInFlight', Number.MAX_SAFE_INTEGER],
    ['retryMs', 1],
    ['timeoutMs', 0.5],
    ['timeoutMs', Infinity],
  ])('accepts %s = %s, the edge of its range', (option, value) => {
    const c = new Client({ endpoint: new MemoryHub().client('c'), replicas: ['r0', 'r1', 'r2', 'r3'], quorum: 2, [option]: value });
    expect(c.sequence).toBe(0n);
  });

  it('follows the leader hint of matching replies for first attempts, and retries to everyone', async () => {
    let silentLeader = false;
    const { hub, ids, received } = fakeCluster((r) => (silentLeader && r === 'r2' ? undefined : Uint8Array.of(1)), 'r2');
    // The retry interval is far above how long the first attempt takes to arrive, so a loaded
    // machine cannot fire the retry (to everyone) before the check below (a 10 ms sleep against a
    // 30 ms retry once did).
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 500 });
    await c.start();
    await c.submit(Uint8Array.of(0)); // first attempt: everyone
    expect(ids.map((r) => received[r] ?? 0)).toEqual([1, 1, 1, 1]);
    const r2 = c.submit(Uint8Array.of(0));
    while ((received['r2'] ?? 0) < 2) await new Promise((r) => setImmediate(r));
    expect(ids.map((r) => received[r] ?? 0)).toEqual([1, 1, 2, 1]); // only the leader
    await r2;
    silentLeader = true; // a leader that does not answer costs one retry interval, not liveness
    const r3 = await c.submit(Uint8Array.of(0));
    expect(r3.replicas).not.toContain('r2');
    await c.stop();
  });

  it('sends the requests of one event-loop turn as one frame per replica, and takes many results per reply', async () => {
    const { hub, ids, received, frames } = fakeCluster((_r, seq) => Uint8Array.of(Number(seq)));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2 });
    await c.start();
    const rs = await Promise.all(Array.from({ length: 50 }, () => c.submit(Uint8Array.of(0))));
    expect(rs.every((r) => r.result[0] === Number(r.seq))).toBe(true);
    expect(ids.map((r) => frames[r])).toEqual([1, 1, 1, 1]);
    expect(ids.map((r) => received[r])).toEqual([50, 50, 50, 50]);
    await c.stop();
  });

  it('keeps one timer for all requests in flight, and still retries each and gives each up on time', async () => {
    let answering = false;
    const { hub, ids, received } = fakeCluster((_r, seq) => (answering || seq === 0n ? Uint8Array.of(1) : undefined));
    const c = new Client({ endpoint: hub.client('c'), replicas: ids, quorum: 2, retryMs: 20, timeoutMs: 400 });
    await c.start();
    const armed = vi.spyOn(globalThis, 'setTimeout');
    try {
      const pending = Array.from({ length: 500 }, () => c.submit(Uint8Array.of(0)).catch((e: unknown) => e));
      // 500 submits in one turn arm one timer (two timers per request made GC a third of a load generator).
      expect(armed.mock.calls.length).toBeLessThanOrEqual(1);
      const outcomes = await Promise.all(pending);
      // Every unanswered request was resent before its deadline (the first retry is due at 20 ms of 400).
      expect(received['r1']).toBeGreaterThanOrEqual(2 * 500 - 1);
      expect((outcomes[0] as { seq: bigint }).seq).toBe(0n);
      expect(outcomes.slice(1).every((o) => o instanceof ClientTimeoutError)).toBe(true);
    } finally {
      armed.mockRestore();
    }
    answering = true;
    expect((await c.submit(Uint8Array.of(0))).result).toEqual(Uint8Array.of(1)); // the timer re-arms after going idle
    await c.stop();
  });

  it('round-trips every frame type', () => {
    const frames = [
      { type: 'request', requests: [{ seq: 0n, payload: Uint8Array.of(1) }, { seq: 2n ** 64n - 1n, payload: new Uint8Array(0) }] },
      { type: 'request', requests: [{ seq: 0n, payload: Uint8Array.of(1) }], sigs: [new Uint8Array(65)] },
      { type: 'reply', height: 9n, results: [{ seq: 3n, result: Uint8Array.of(4) }], proof: Uint8Array.of(5), leader: 'r1' },
      { type: 'reply', height: 1n, results: [{ seq: 3n, result: Uint8Array.of(4) }] },
      { type: 'reject', seq: 7n, code: 'expired', message: 'gone' },
    ] as const;
    for (const f of frames) expect(decodeClientFrame(encodeClientFrame(f))).toEqual(f);
  });

  it('rejects malformed client frames with a clear error', () => {
    const good = encodeClientFrame({ type: 'request', requests: [{ seq: 1n, payload: Uint8Array.of(1) }] });
    expect(() => decodeClientFrame(Uint8Array.of(0xa0))).toThrow();
    expect(() => decodeClientFrame(good.subarray(1))).toThrow();
    // version 1 (one request per frame) is refused by name
    expect(() => decodeClientFrame(encode({ v: 1, t: 0, seq: 1n, payload: Uint8Array.of(1) }))).toThrow(/version 1/);
    // empty and oversized lists, and pairs of the wrong shape
    expect(() => decodeClientFrame(encode({ v: 3, t: 0, reqs: [] }))).toThrow(/empty/);
    const many = Array.from({ length: MAX_FRAME_ITEMS + 1 }, (_, i) => [BigInt(i), Uint8Array.of(0)]);
    expect(() => decodeClientFrame(encode({ v: 3, t: 0, reqs: many }))).toThrow();
    expect(() => decodeClientFrame(encode({ v: 3, t: 0, reqs: [[1n]] }))).toThrow(/seq, bytes/);
    expect(() => decodeClientFrame(encode({ v: 3, t: 1, height: 1n, results: [[1n, 'text']] }))).toThrow();
    // Each item of a list is checked, the bad one named: every field at its bounds, in both lists.
    const okItem = [5n, Uint8Array.of(1)];
    const items: [readonly Value[] | { seq: bigint }, string | undefined][] = [
      [[0, new Uint8Array(0)], undefined],
      [[2n ** 64n - 1n, Uint8Array.of(2)], undefined],
      [[-1, Uint8Array.of(2)], 'seq'],
      [[-(2n ** 64n), Uint8Array.of(2)], 'seq'],
      [['1', Uint8Array.of(2)], 'seq'],
      [[1n, 'text'], 'bytes'],
      [[1n, [1]], 'bytes'],
      [[1n], ''],
      [[1n, Uint8Array.of(2), 3], ''],
      [{ seq: 1n }, ''],
    ];
    for (const [item, field] of items) {
      for (const [list, frame] of [
        ['reqs', { v: 3, t: 0, reqs: [okItem, item] }],
        ['results', { v: 3, t: 1, height: 1n, results: [okItem, item] }],
      ] as const) {
        const read = () => decodeClientFrame(encode(frame as never));
        if (field === undefined) {
          const f = read();
          const back = f.type === 'request' ? f.requests.map((r) => [r.seq, r.payload]) : f.type === 'reply' ? f.results.map((r) => [r.seq, r.result]) : [];
          const [seq, bytes] = item as readonly Value[];
          expect(back).toEqual([okItem, [BigInt(seq as number | bigint), bytes]]);
        } else expect(read).toThrow(new RegExp(`^client\\.${list}\\[1\\]${field && `\\.${field}`}`));
      }
    }
    expect(() => encodeClientFrame({ type: 'request', requests: [] })).toThrow(EncodeError);
    // one signature per run of 128 requests, no more, no fewer
    const reqs = Array.from({ length: 129 }, (_, i) => [BigInt(i), Uint8Array.of(0)]);
    expect(() => decodeClientFrame(encode({ v: 3, t: 0, reqs, sigs: [Uint8Array.of(1)] }))).toThrow(/2 signed groups, got 1/);
    expect(() => decodeClientFrame(encode({ v: 3, t: 0, reqs: reqs.slice(0, 1), sigs: [] }))).toThrow(/1 signed groups, got 0/);
    expect(() => encodeClientFrame({ type: 'request', requests: [{ seq: 0n, payload: Uint8Array.of(1) }], sigs: [] })).toThrow(EncodeError);
  });

  it('refuses to encode a frame the decoder would refuse with EncodeError (code ENCODE), saying what is wrong', () => {
    const req = (n: number) => Array.from({ length: n }, (_, i) => ({ seq: BigInt(i), payload: Uint8Array.of(0) }));
    const res = (n: number) => Array.from({ length: n }, (_, i) => ({ seq: BigInt(i), result: Uint8Array.of(0) }));
    const cases: Array<[Parameters<typeof encodeClientFrame>[0], string]> = [
      [{ type: 'request', requests: [] }, `a request frame carries 1..${MAX_FRAME_ITEMS} items, got 0`],
      [{ type: 'request', requests: req(MAX_FRAME_ITEMS + 1) }, `a request frame carries 1..${MAX_FRAME_ITEMS} items, got ${MAX_FRAME_ITEMS + 1}`],
      [{ type: 'reply', height: 1n, results: res(0) }, `a reply frame carries 1..${MAX_FRAME_ITEMS} items, got 0`],
      [{ type: 'reject', seq: 0n, code: 'expired', message: 'x', more: req(MAX_FRAME_ITEMS).map((r) => r.seq) }, `a reject frame carries 1..${MAX_FRAME_ITEMS} items, got ${MAX_FRAME_ITEMS + 1}`],
      [{ type: 'request', requests: req(129), sigs: [Uint8Array.of(1)] }, '129 requests are 2 signed groups, got 1 signatures'],
    ];
    for (const [frame, message] of cases) {
      expect(() => encodeClientFrame(frame)).toThrow(expect.objectContaining({ constructor: EncodeError, code: 'ENCODE', message }));
    }
  });
});
