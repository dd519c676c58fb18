import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { MemoryHub } from '@phalanx/transport-memory';
import { MemoryDisk, openMemoryStorage } from '@phalanx/storage-memory';
import { createValidatorSet } from '@phalanx/quorum';
import { createVerifiedCache, generateKeyPair, signerFromSecret, verifier } from '@phalanx/crypto';
import { createRequestAuthenticator, signRequests } from '@phalanx/client-auth';
import { waitFor } from '@phalanx/compliance';
import { ConfigError, MAX_PREVERIFY_ITEMS, PhalanxError, silentLogger } from '@phalanx/interface';
import type { BatchVerifier, ClientRequest, CoreContext, Logger, SnapshotMeta, SnapshotWriter, Storage, Verifier, VerifyItem } from '@phalanx/interface';
import { bytesEqual, encode } from '@phalanx/codec';
import { Client, PoolTimeoutError, Replica, ReplicaError, ReplicatedState, encodeClientFrame, decodeClientFrame, rejectedSeqs, MAX_FRAME_ITEMS } from '../src/index.js';
import type { RejectFrame, ReplicaOptions, ReplyFrame } from '../src/index.js';
import { LogMachine, counterCodec, counterProtocol, traceStorage, traceTransport } from './fixtures.js';
import type { CounterConfig, CounterCore, CounterMsg } from './fixtures.js';

const keys = ['r0', 'r1'].map(() => generateKeyPair('ed25519'));
const validators = createValidatorSet(['r0', 'r1'].map((id, i) => ({ id, publicKey: keys[i]!.publicKey, power: 1 })));
const signer = signerFromSecret(keys[0]!.secretKey);
const payload = (s: string): Uint8Array => new TextEncoder().encode(s);

/** Blocks this thread (and so its event loop) for `ms`, as a long checkpoint or GC would. */
function blockEventLoop(ms: number): number {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  return performance.now();
}

/** Memory storage on a disk of its own, and a gate a wrapped snapshot writer can wait at until `release`. */
function gatedStorage() {
  const disk = new MemoryDisk();
  const inner = openMemoryStorage({ disk });
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  return { disk, inner, held, release };
}

/** `replica.stop()` within 5 s, so that a stop that hangs fails the test at once, not at its timeout. */
async function stopWithin5s(replica: { stop(): Promise<void> }): Promise<string> {
  return Promise.race([replica.stop().then(() => 'stopped'), new Promise<string>((r) => setTimeout(r, 5_000, 'still stopping after 5 s').unref())]);
}

/**
 * Starts `replica` (checkpoints every 2) and submits seqs 0-1, then, once the store of the
 * checkpoint at 2 is under way (`storing`), seqs 2-4: batches 3 and 4 apply, and batch 5 waits
 * behind the checkpoint at 4, which waits for the held store.
 */
async function applyBehindHeldStore(replica: { start(): Promise<void>; submit(r: ClientRequest): unknown }, app: { entries: unknown[] }, storing: () => boolean): Promise<void> {
  await replica.start();
  for (let i = 0; i < 2; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
  await waitFor(storing, 'the checkpoint at 2 being stored');
  for (let i = 2; i < 5; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
  await waitFor(() => app.entries.length === 4, 'batches 3 and 4 applied');
  await new Promise((r) => setTimeout(r, 30));
  expect(app.entries.length).toBe(4);
}

/** `storage` with each snapshot writer it begins passed through `wrap` (what `wrap` leaves out is the real writer's). */
function wrapSnapshotWriter(storage: Storage, wrap: (w: SnapshotWriter) => Partial<SnapshotWriter>): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop !== 'snapshots') return Reflect.get(target, prop, receiver) as unknown;
      return {
        ...target.snapshots,
        begin: async (meta: SnapshotMeta): Promise<SnapshotWriter> => {
          const w = await target.snapshots.begin(meta);
          return { write: (c) => w.write(c), commit: () => w.commit(), abort: () => w.abort(), ...wrap(w) };
        },
      };
    },
  });
}

/**
 * A log whose snapshot takes `steps` steps of `stepMs` each, like a large state's
 * (`StateMachine.snapshotSteps`), and records what it saw of each run of them.
 */
class SlowSnapshotMachine extends LogMachine {
  readonly runs: Array<{ start: number; end: number; entriesAtStart: number; entriesAtEnd: number }> = [];
  constructor(
    private readonly steps: number,
    private readonly stepMs: number,
    trace?: string[],
  ) {
    super(trace);
  }
  *snapshotSteps(): Generator<void, Uint8Array> {
    const start = performance.now();
    const entriesAtStart = this.entries.length;
    for (let i = 0; i < this.steps; i++) {
      blockEventLoop(this.stepMs);
      yield;
    }
    this.runs.push({ start, end: performance.now(), entriesAtStart, entriesAtEnd: this.entries.length });
    return this.snapshot();
  }
}

function setup(opts: { config?: CounterConfig; disk?: MemoryDisk; trace?: string[]; hub?: MemoryHub; syncDelayMs?: number; extra?: Partial<ConstructorParameters<typeof Replica<CounterMsg, CounterConfig>>[0]> } = {}) {
  const hub = opts.hub ?? new MemoryHub();
  const trace = opts.trace ?? [];
  const cores: CounterCore[] = [];
  const disk = opts.disk ?? new MemoryDisk();
  const t0 = hub.transport('r0', { peers: ['r0', 'r1'] });
  const peer = opts.hub ? undefined : hub.transport('r1', { peers: ['r0', 'r1'] });
  const got: CounterMsg[] = [];
  peer?.onFrame((_f, b) => got.push(counterCodec.decode(b)));
  const app = new LogMachine(trace);
  const replica = new Replica<CounterMsg, CounterConfig>({
    protocol: counterProtocol(cores),
    config: opts.config ?? {},
    self: 'r0',
    validators,
    signer,
    storage: traceStorage(openMemoryStorage({ disk }), trace, opts.syncDelayMs),
    transport: traceTransport(t0, trace),
    clients: t0.clients,
    stateMachine: app,
    ...opts.extra,
  });
  return { hub, trace, cores, disk, replica, peer, got, app, t0 };
}

describe('Replica', () => {
  it('makes every persist durable before any message of the same Ready leaves, then applies commits in order', async () => {
    const { replica, trace, peer, got, cores } = setup();
    await peer!.start();
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    replica.submit({ client: 'c', seq: 1n, payload: payload('b') });
    await replica.idle();
    replica.submit({ client: 'c', seq: 2n, payload: payload('c') });
    await replica.idle();
    await waitFor(() => got.length === 3, 'acks at the peer');

    let unsynced = false;
    let sends = 0;
    for (const e of trace) {
      if (e.startsWith('append') || e === 'hardstate') unsynced = true;
      if (e === 'sync:end') unsynced = false;
      if (e.startsWith('send')) {
        sends++;
        expect(unsynced, `"${e}" left before its persist was synced: ${trace.join(' ')}`).toBe(false);
      }
    }
    expect(sends).toBe(3);
    // one Ready for the two requests of one tick: one append, one sync
    expect(trace.slice(0, 7)).toEqual(['append:1,2', 'sync:start', 'sync:end', 'send:all:ack', 'send:all:ack', 'apply:1', 'apply:2']);
    expect(trace.filter((e) => e.startsWith('apply'))).toEqual(['apply:1', 'apply:2', 'apply:3']);
    expect(cores[0]!.persistedUpTo).toEqual([1n, 2n]);
    expect(replica.committedHeight).toBe(3n);
    await replica.stop();
  });

  it('overlaps the sync of a persist-only Ready with the next one, whose sends still wait for both', async () => {
    const { replica, trace, peer, got, cores } = setup({ config: { persistOnMessage: true }, syncDelayMs: 60 });
    await peer!.start();
    await replica.start();
    for (let i = 0; i < 5; i++) {
      peer!.send('r0', counterCodec.encode({ kind: 'tick', n: BigInt(i) }));
      await waitFor(() => cores[0]!.received.length === i + 1, 'the message');
      // the request lands while the message's sync is still running (60 ms here)
      replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
      await replica.idle();
    }
    await waitFor(() => got.length === 5, 'acks at the peer');
    // Every write before a send is covered by a sync that started after the write and ended before the send.
    const writes: number[] = [];
    const syncs: Array<{ start: number; end?: number }> = [];
    const open: Array<{ start: number; end?: number }> = [];
    trace.forEach((e, i) => {
      if (e.startsWith('append') || e === 'hardstate') writes.push(i);
      if (e === 'sync:start') {
        const s = { start: i };
        syncs.push(s);
        open.push(s);
      }
      if (e === 'sync:end') open.shift()!.end = i;
      if (e.startsWith('send')) {
        for (const w of writes) {
          const covered = syncs.some((s) => s.start > w && s.end !== undefined && s.end < i);
          expect(covered, `"${e}" at ${i} left before write ${w} was synced: ${trace.join(' ')}`).toBe(true);
        }
      }
    });
    // the persist-only Readies did not hold the pipeline: two syncs ran at once at least once
    let concurrent = 0;
    let most = 0;
    for (const e of trace) {
      if (e === 'sync:start') most = Math.max(most, ++concurrent);
      if (e === 'sync:end') concurrent--;
    }
    expect(most).toBe(2);
    // `persisted` is stepped once per persist id, in order, whichever sync finished first
    const ups = cores[0]!.persistedUpTo;
    expect([...ups].sort((a, b) => (a < b ? -1 : 1))).toEqual(ups);
    expect(new Set(ups).size).toBe(ups.length);
    expect(ups[ups.length - 1]).toBe(10n);
    await replica.stop();
  });

  it('stop() steps `stop` once the rest is durable, and syncs what the core records for it without sending', async () => {
    const { replica, trace, peer, got, cores, disk } = setup({ config: { recordStop: true, deferRequests: true }, extra: { deferredSyncMs: 60_000 } });
    await peer!.start();
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') }); // deferred: nothing syncs it before stop
    await waitFor(() => got.length === 1, 'the ack');
    trace.length = 0;
    await replica.stop();
    expect(cores[0]!.stops).toBe(1);
    // The request's record is synced first, then the stop record in a sync of its own; its ack is never sent.
    expect(trace).toEqual(['sync:start', 'sync:end', 'append:2', 'sync:start', 'sync:end']);
    expect(got).toHaveLength(1);
    const reopened = openMemoryStorage({ disk });
    expect((await reopened.readLog(0n, 10n)).map((r) => r.index)).toEqual([1n, 2n]);
  });

  it('a second stop() while the first runs waits for it, and the core is stopped once', async () => {
    const { replica, trace, cores } = setup({ config: { recordStop: true }, syncDelayMs: 30 });
    await replica.start();
    trace.length = 0;
    const syncsWhenSettled: number[] = [];
    const settled = () => syncsWhenSettled.push(trace.filter((e) => e === 'sync:end').length);
    const outcomes = await Promise.allSettled([replica.stop().finally(settled), replica.stop().finally(settled)]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'fulfilled']);
    expect(cores[0]!.stops).toBe(1);
    // Neither call returned before both syncs (the drain's and the stop record's) were done.
    expect(syncsWhenSettled).toEqual([2, 2]);
  });

  it('hands on a Ready with a deferrable persist at once and syncs its writes later', async () => {
    const { replica, trace, peer, got, cores } = setup({ config: { deferOnMessage: true }, extra: { deferredSyncMs: 40 } });
    await peer!.start();
    await replica.start();
    // 1. Nothing else to sync: the ack leaves before any sync, the deferred write is synced by the timer.
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 0n }));
    await waitFor(() => got.length === 1, 'the ack');
    expect(trace).toEqual(['hardstate', 'send:all:ack']);
    expect(cores[0]!.persistedUpTo).toEqual([]);
    await waitFor(() => cores[0]!.persistedUpTo.length === 1, 'the deferred sync');
    expect(trace).toEqual(['hardstate', 'send:all:ack', 'sync:start', 'sync:end']);
    expect(cores[0]!.persistedUpTo).toEqual([1n]);
    // 2. A persist that is not deferrable comes first: its sync covers the deferred write, no second sync.
    trace.length = 0;
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 1n }));
    await waitFor(() => got.length === 2, 'the second ack');
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await replica.idle();
    await new Promise((r) => setTimeout(r, 60)); // past deferredSyncMs: the timer must not sync again
    expect(trace).toEqual(['hardstate', 'send:all:ack', 'append:1', 'sync:start', 'sync:end', 'send:all:ack', 'apply:1']);
    expect(cores[0]!.persistedUpTo).toEqual([1n, 3n]);
    await replica.stop();
  });

  it('does not let a deferrable Ready send ahead of an overlapped sync that is not deferrable', async () => {
    const { replica, trace, peer, got, cores } = setup({ config: { persistOnMessage: true, deferRequests: true }, syncDelayMs: 60, extra: { deferredSyncMs: 60_000 } });
    await peer!.start();
    await replica.start();
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 0n }));
    await waitFor(() => cores[0]!.received.length === 1, 'the message');
    // Its persist-only Ready (hard state) is syncing, overlapped; this request's Ready is deferrable.
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await waitFor(() => got.length === 1, 'the ack');
    const written = trace.indexOf('hardstate');
    const sent = trace.indexOf('send:all:ack');
    const covered = trace.some((e, i) => e === 'sync:end' && i < sent && trace.slice(written, i).includes('sync:start'));
    expect(covered, trace.join(' ')).toBe(true);
    await replica.stop();
  });

  it('makes deferred writes durable before it stores a checkpoint snapshot', async () => {
    // After a restart the core trusts a stored snapshot as applied state; the writes its height's
    // execution rested on must not be lost while the snapshot survives.
    const { replica, trace, peer } = setup({ config: { deferRequests: true, checkpoint: 2n }, extra: { deferredSyncMs: 60_000 } });
    await peer!.start();
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await replica.idle();
    expect(trace).toEqual(['append:1', 'send:all:ack', 'apply:1']); // deferred: no sync yet
    replica.submit({ client: 'c', seq: 1n, payload: payload('b') });
    await replica.idle();
    expect(trace.slice(3)).toEqual(['append:2', 'send:all:ack', 'apply:2', 'sync:start', 'sync:end', 'snapshot:2']);
    await replica.stop();
  });

  it('computes the state digest once per applied height', async () => {
    const { replica, app } = setup();
    let snapshots = 0;
    const snap = app.snapshot.bind(app);
    app.snapshot = () => (snapshots++, snap());
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await replica.idle();
    const first = replica.stateDigest();
    expect(replica.stateDigest()).toEqual(first);
    expect(snapshots).toBe(1);
    replica.stateDigest()[0]! ^= 0xff; // a caller cannot corrupt the cached digest
    expect(replica.stateDigest()).toEqual(first);
    replica.submit({ client: 'c', seq: 1n, payload: payload('b') });
    await replica.idle();
    expect(replica.stateDigest()).not.toEqual(first);
    expect(snapshots).toBe(2);
    await replica.stop();
  });

  it('digestState: the digest of one applied height, taken in slices between batches while the replica goes on sending; cached per height', async () => {
    const app = new SlowSnapshotMachine(40, 5); // ~200 ms of snapshot
    const sends: number[] = [];
    const { replica, peer } = setup({ config: { ticks: 30, tickMs: 5 }, extra: { stateMachine: app, hooks: { onSend: () => sends.push(performance.now()) } } });
    await peer!.start();
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await replica.idle();
    for (let i = 1; i < 4; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    const pending = replica.digestState();
    for (let i = 4; i < 7; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    const mid = await pending;
    const run = app.runs[0]!;
    // Nothing applied between its first slice and its last, and it names the height it is of.
    expect(run.entriesAtEnd).toBe(run.entriesAtStart);
    expect(mid.height).toBe(BigInt(run.entriesAtStart));
    // Ticks fire every ~5 ms and each Ready sends one: a digest taken in one go would stop them.
    expect(sends.filter((t) => t > run.start && t < run.end).length).toBeGreaterThanOrEqual(3);
    await replica.idle();
    // The last digest answers until five times its duration has passed (see DIGEST_REST).
    let last = await replica.digestState();
    for (let tries = 0; last.height !== 7n && tries < 100; tries++) {
      await new Promise((r) => setTimeout(r, 50));
      last = await replica.digestState();
    }
    expect(last.height).toBe(7n);
    expect(last.digest).toEqual(replica.stateDigest());
    expect(mid.height).toBeLessThan(last.height); // batches came while it was taken
    expect(mid.digest).not.toEqual(last.digest);
    // Cached for the height: no second snapshot, and a caller cannot corrupt the cached copy.
    (await replica.digestState()).digest[0]! ^= 0xff;
    expect((await replica.digestState()).digest).toEqual(last.digest);
    expect(app.runs).toHaveLength(2);
    await replica.stop();
    await expect(replica.digestState()).rejects.toThrow(ReplicaError);
  });

  it('digestState polled under load rests five times a digest\'s duration before the next: applying is not slowed to one batch per digest', async () => {
    const app = new SlowSnapshotMachine(20, 5); // ~100 ms of snapshot
    const { replica } = setup({ extra: { stateMachine: app } });
    await replica.start();
    let polling = true;
    const answers: bigint[] = [];
    const poll = (async () => {
      while (polling) {
        answers.push((await replica.digestState()).height);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    const t0 = performance.now();
    for (let i = 0; i < 40; i++) {
      replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
      await new Promise((r) => setTimeout(r, 15));
    }
    await waitFor(() => app.entries.length === 40, 'all 40 applied');
    const took = performance.now() - t0;
    polling = false;
    await poll;
    // Digests back to back would take one every ~100 ms; resting 5× its duration, one per ~600 ms.
    const each = app.runs.reduce((sum, r) => sum + (r.end - r.start), 0) / app.runs.length;
    expect(app.runs.length).toBeLessThanOrEqual(Math.ceil(took / (6 * each)) + 1);
    expect(answers.length).toBeGreaterThan(app.runs.length); // the others got the last digest
    await replica.stop();
  });

  it('logs misbehaviour as a warning, but stale and future messages (normal under delay) at debug', async () => {
    const logged: Array<{ level: string; kind: unknown }> = [];
    const logger: Logger = {
      debug: (o) => logged.push({ level: 'debug', kind: (o as { kind?: unknown }).kind }),
      info: () => undefined,
      warn: (o) => logged.push({ level: 'warn', kind: (o as { kind?: unknown }).kind }),
      error: () => undefined,
      child: () => logger,
    };
    const seen: string[] = [];
    const { replica, cores } = setup({ extra: { logger, hooks: { onEvent: (e) => e.type === 'misbehaviour' && seen.push(e.kind) } } });
    await replica.start();
    for (const kind of ['stale', 'future', 'invalid-signature', 'equivocation'] as const) cores[0]!.events.push({ type: 'misbehaviour', peer: 'r1', kind, detail: 'test' });
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await replica.idle();
    expect(logged.filter((l) => l.kind !== undefined)).toEqual([
      { level: 'debug', kind: 'stale' },
      { level: 'debug', kind: 'future' },
      { level: 'warn', kind: 'invalid-signature' },
      { level: 'warn', kind: 'equivocation' },
    ]);
    expect(seen).toEqual(['stale', 'future', 'invalid-signature', 'equivocation']);
    await replica.stop();
  });

  it('arms, re-arms and fires timers from Ready.timers', async () => {
    const { replica, peer, got, cores } = setup({ config: { ticks: 3, tickMs: 5 } });
    await peer!.start();
    await replica.start();
    await waitFor(() => cores[0]!.ticks === 3 && got.length === 3, 'three ticks');
    await new Promise((r) => setTimeout(r, 30));
    expect(cores[0]!.ticks).toBe(3); // no extra firing after the core stopped re-arming
    expect(got.map((m) => (m.kind === 'tick' ? m.n : -1n))).toEqual([1n, 2n, 3n]);
    expect(replica.metrics().timersFired).toBe(3);
    await replica.stop();
  });

  it('re-arms, once, a timer that fired late after a blocked event loop (its messages are read before it fires)', async () => {
    const fired: number[] = [];
    const late: number[] = [];
    const { replica, cores } = setup({
      config: { ticks: 1, tickMs: 100 },
      extra: { hooks: { onTimer: () => fired.push(performance.now()), onTimerLate: (i) => late.push(i.lateMs) } },
    });
    await replica.start();
    const woke = blockEventLoop(400); // the 100-ms tick is due while the loop is blocked
    await waitFor(() => cores[0]!.ticks === 1, 'the tick');
    // Without the re-arm it fires at once on waking; with it, about 100 ms (its length, less than
    // the ~300 ms it overslept) later.
    expect(fired[0]! - woke).toBeGreaterThanOrEqual(60);
    expect(late).toHaveLength(1);
    expect(late[0]!).toBeGreaterThan(250);
    expect(replica.metrics()).toMatchObject({ timersFired: 1, timersExtended: 1 });
    await replica.stop();
  });

  it('re-arms a late timer only once: blocked again, it fires on waking', async () => {
    const fired: number[] = [];
    const { replica, cores } = setup({ config: { ticks: 1, tickMs: 100 }, extra: { hooks: { onTimer: () => fired.push(performance.now()) } } });
    await replica.start();
    blockEventLoop(400);
    // Blocked again while the re-armed timer waits: a peer that keeps the replica busy must not
    // postpone a timeout for ever.
    const woke = await new Promise<number>((r) => setTimeout(() => r(blockEventLoop(400)), 20));
    await waitFor(() => cores[0]!.ticks === 1, 'the tick');
    expect(fired[0]! - woke).toBeLessThan(60);
    expect(replica.metrics()).toMatchObject({ timersFired: 1, timersExtended: 1 });
    await replica.stop();
  });

  it('keeps handling Readies (sends, timers) while a checkpoint of a slow state is taken, the event loop let run between its steps', async () => {
    const app = new SlowSnapshotMachine(60, 5); // ~300 ms of snapshot
    const sends: number[] = [];
    const { replica, peer, cores } = setup({
      config: { checkpoint: 1n, ticks: 30, tickMs: 5 },
      extra: { stateMachine: app, hooks: { onSend: () => sends.push(performance.now()) } },
    });
    await peer!.start();
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await waitFor(() => cores[0]!.applied.length === 1, 'the checkpoint');
    const run = app.runs[0]!;
    // Ticks fire every ~5 ms and each Ready sends one: with the checkpoint awaited in line, or taken
    // in one go, none would leave until it ended.
    expect(sends.filter((t) => t > run.start && t < run.end).length).toBeGreaterThanOrEqual(5);
    await replica.stop();
  });

  it('applies nothing while a checkpoint is taken: its snapshot is the state at its height, later batches follow in order', async () => {
    const trace: string[] = [];
    const app = new SlowSnapshotMachine(20, 5, trace);
    const { replica, cores } = setup({ config: { checkpoint: 2n }, extra: { stateMachine: app } });
    await replica.start();
    for (let i = 0; i < 2; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await waitFor(() => app.runs.length === 0 && trace.includes('apply:2'), 'the first checkpoint under way');
    for (let i = 2; i < 7; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await replica.idle();
    expect(cores[0]!.applied).toEqual([2n, 4n, 6n]);
    expect(app.runs.map((r) => [r.entriesAtStart, r.entriesAtEnd])).toEqual([[2, 2], [4, 4], [6, 6]]);
    expect(trace.filter((t) => t.startsWith('apply:'))).toEqual(['apply:1', 'apply:2', 'apply:3', 'apply:4', 'apply:5', 'apply:6', 'apply:7']);
    expect(replica.committedHeight).toBe(7n);
    await replica.stop();
  });

  it('applies the batches after a checkpoint while its snapshot is being stored, up to the next checkpoint; the core hears `applied` after the store, and a stop waits for it', async () => {
    const trace: string[] = [];
    const { disk, inner, held, release } = gatedStorage();
    let committing = false;
    let committed = false;
    const storage = wrapSnapshotWriter(inner, (w) => ({
      commit: async () => {
        committing = true;
        await held;
        await w.commit();
        committed = true;
      },
    }));
    const { replica, cores, app } = setup({ trace, config: { checkpoint: 2n }, extra: { storage } });
    // Batches 3 and 4 apply (and would answer their clients) while the store at 2 is held; the
    // checkpoint at 4 waits for it before taking its own snapshot (one store behind at most).
    await applyBehindHeldStore(replica, app, () => committing);
    expect(committed).toBe(false);
    expect(cores[0]!.applied).toEqual([]);
    const stopped = replica.stop();
    await new Promise((r) => setTimeout(r, 30));
    expect(committed).toBe(false); // the stop is waiting for the store
    release();
    await stopped;
    expect(committed).toBe(true);
    expect(app.entries.length).toBe(5);
    // The checkpoint at 4 was taken at 4 (not later) and stored after the one at 2.
    expect(cores[0]!.applied).toEqual([2n, 4n]);
    expect((await openMemoryStorage({ disk }).snapshots.latest())!.height).toBe(4n);
  });

  it('halts when a checkpoint being stored behind later batches fails: no `applied` for it, nothing more applied or stored, and a stop still ends', async () => {
    // As above, but the held store fails when it is let go, while batch 5 waits behind the
    // checkpoint at 4 (which waits for the one at 2). The store runs detached from the applying
    // loop, so its failure must still reach `fail`, and end that loop: a swallowed error would let
    // the replica go on applying above a checkpoint it never stored, and a loop that never hears the
    // failed store end would wait for it for ever, and `stop` with it.
    const errors: Error[] = [];
    const { disk, inner, held, release } = gatedStorage();
    let begun = 0;
    let committing = false;
    let aborted = false;
    const storage = wrapSnapshotWriter(inner, (w) => {
      begun++;
      return {
        commit: async () => {
          committing = true;
          await held;
          throw new Error('disk on fire');
        },
        abort: () => ((aborted = true), w.abort()),
      };
    });
    const { replica, cores, app } = setup({ config: { checkpoint: 2n }, extra: { storage, hooks: { onFatal: (e) => errors.push(e) } } });
    await applyBehindHeldStore(replica, app, () => committing);
    release();
    await waitFor(() => errors.length === 1, 'fatal hook');
    expect(errors[0]!.message).toMatch(/disk on fire/);
    expect(aborted).toBe(true);
    expect(await stopWithin5s(replica)).toBe('stopped'); // a stop takes milliseconds
    expect(cores[0]!.applied).toEqual([]); // the core never hears of a checkpoint that is not durable
    expect(app.entries.length).toBe(4); // batch 5 dropped with the halt
    expect(replica.committedHeight).toBe(4n);
    expect(begun).toBe(1); // the checkpoint at 4 was never stored
    expect(await openMemoryStorage({ disk }).snapshots.latest()).toBeUndefined();
  });

  it('installs a restore only after a checkpoint being stored is stored, so the restored state is the latest snapshot', async () => {
    const donor = new ReplicatedState(new LogMachine());
    for (let h = 1n; h <= 5n; h++) donor.apply({ height: h, requests: [{ client: 'd', seq: h - 1n, payload: payload(`d${h}`) }] });
    const trace: string[] = [];
    const { disk, inner, held, release } = gatedStorage();
    let committedAt: number | undefined;
    const storage = wrapSnapshotWriter(inner, (w) => ({
      commit: async () => {
        if (committedAt === undefined) await held; // the checkpoint at 2; the restore's own store is not held
        await w.commit();
        committedAt ??= trace.length;
      },
    }));
    const { replica } = setup({
      trace,
      config: { checkpoint: 2n, ticks: 1, tickMs: 60, restoreOnTick: { height: 5n, snapshot: donor.snapshot() } },
      extra: { storage },
    });
    await replica.start();
    for (let i = 0; i < 2; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await new Promise((r) => setTimeout(r, 150)); // the restore's tick came while the store at 2 is held
    expect(trace).not.toContain('restore');
    release();
    await waitFor(() => trace.includes('restore'), 'the restore');
    expect(trace.indexOf('restore')).toBeGreaterThanOrEqual(committedAt!);
    await replica.stop();
    expect((await openMemoryStorage({ disk }).snapshots.latest())!.height).toBe(5n);
  });

  it('applies a batch committed just as the applying loop ends (no Ready sync between them)', async () => {
    // A request submitted from the commit hook is stepped, its Ready handled (a deferrable persist:
    // nothing awaited) and its batch queued within the same burst of microtasks as the loop's end.
    const trace: string[] = [];
    let resubmitted = false;
    const { replica, cores } = setup({
      trace,
      config: { deferRequests: true },
      extra: {
        hooks: {
          onCommit: () => {
            if (resubmitted) return;
            resubmitted = true;
            replica.submit({ client: 'c', seq: 1n, payload: payload('b') });
          },
        },
      },
    });
    await replica.start();
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await waitFor(() => cores[0]!.height === 2n, 'the second commit');
    await replica.idle();
    expect(trace.filter((t) => t.startsWith('apply:'))).toEqual(['apply:1', 'apply:2']);
    expect(replica.committedHeight).toBe(2n);
    await replica.stop();
  });

  it('installs a restore only after what was committed before it is applied, a checkpoint under way included', async () => {
    // The state to install: five commands applied elsewhere, at height 5.
    const donor = new ReplicatedState(new LogMachine());
    for (let h = 1n; h <= 5n; h++) donor.apply({ height: h, requests: [{ client: 'd', seq: h - 1n, payload: payload(`d${h}`) }] });
    const trace: string[] = [];
    const app = new SlowSnapshotMachine(30, 5, trace); // ~150 ms
    const { replica, cores } = setup({
      config: { checkpoint: 2n, ticks: 1, tickMs: 60, restoreOnTick: { height: 5n, snapshot: donor.snapshot() } },
      extra: { stateMachine: app },
    });
    await replica.start();
    for (let i = 0; i < 2; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await waitFor(() => app.runs.length === 1 && trace.includes('restore'), 'the restore');
    // The checkpoint at 2 was whole: the restore came after its last step, not in the middle.
    expect(app.runs[0]).toMatchObject({ entriesAtStart: 2, entriesAtEnd: 2 });
    expect(trace.filter((t) => t.startsWith('apply:') || t === 'restore')).toEqual(['apply:1', 'apply:2', 'restore']);
    expect(cores[0]!.applied).toEqual([2n]);
    await replica.idle();
    expect(replica.committedHeight).toBe(5n);
    expect(app.entries).toEqual(['d:0:6431', 'd:1:6432', 'd:2:6433', 'd:3:6434', 'd:4:6435']);
    await replica.stop();
  });

  it('stores a checkpoint only after the sync that took its deferred writes, even when another sync took them', async () => {
    // The requests' writes are deferred; the deferral timer's sync (200 ms here) takes them while
    // the checkpoint's snapshot (~100 ms) is still being taken, so none are left to the checkpoint.
    const trace: string[] = [];
    const app = new SlowSnapshotMachine(20, 5);
    const { replica } = setup({ trace, syncDelayMs: 200, config: { checkpoint: 2n, deferRequests: true }, extra: { stateMachine: app, deferredSyncMs: 10 } });
    await replica.start();
    for (let i = 0; i < 2; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await replica.idle();
    const staged = trace.indexOf('append:1,2');
    const synced = trace.indexOf('sync:end', staged);
    expect(staged).toBeGreaterThanOrEqual(0);
    expect(synced).toBeGreaterThan(staged);
    expect(trace.indexOf('snapshot:2')).toBeGreaterThan(synced);
    await replica.stop();
  });

  it('stops handling Readies while more than maxApplyBacklog batches wait behind a checkpoint', async () => {
    const run = async (maxApplyBacklog: number) => {
      const app = new SlowSnapshotMachine(60, 5); // ~300 ms
      const sends: number[] = [];
      const { replica } = setup({ config: { checkpoint: 1n }, extra: { stateMachine: app, maxApplyBacklog, hooks: { onSend: () => sends.push(performance.now()) } } });
      await replica.start();
      replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
      await waitFor(() => app.runs.length > 0 || sends.length > 0, 'the first ack');
      // One request per turn during the checkpoint: each its own Ready, ack and commit.
      for (let i = 1; i <= 20; i++) {
        replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
        await new Promise((r) => setTimeout(r, 5));
      }
      await replica.idle();
      const first = app.runs[0]!;
      await replica.stop();
      return sends.filter((t) => t > first.start && t < first.end).length;
    };
    expect(await run(1000)).toBeGreaterThanOrEqual(10); // acks go out while the checkpoint is taken
    expect(await run(2)).toBeLessThanOrEqual(4); // the third queued batch holds up the next Ready
  });

  // Each value here ran silently before: NaN and Infinity turned the bound off, 0 or a fraction made one no one meant.
  it.each<[keyof ReplicaOptions<CounterMsg, CounterConfig>, unknown]>([
    ['maxApplyBacklog', NaN],
    ['maxApplyBacklog', 0],
    ['maxApplyBacklog', -1],
    ['maxApplyBacklog', 2.5],
    ['maxApplyBacklog', Infinity],
    ['maxApplyBacklog', 2 ** 53],
    ['maxApplyBacklog', '256'],
    ['maxMessageBytes', NaN],
    ['maxMessageBytes', 0],
    ['maxMessageBytes', Infinity],
    ['maxRequestBytes', NaN],
    ['maxRequestBytes', -5],
    ['maxRequestBytes', 0.5],
    ['resultsPerClient', NaN],
    ['resultsPerClient', 0],
    ['resultsPerClient', Infinity],
    ['minPoolItems', NaN],
    ['minPoolItems', -1],
    ['minPoolItems', 1.5],
    ['minPoolItems', Infinity],
    ['poolTimeoutMs', NaN],
    ['poolTimeoutMs', -1],
    ['poolTimeoutMs', Infinity],
    ['poolTimeoutMs', 2 ** 31],
    ['deferredSyncMs', NaN],
    ['deferredSyncMs', -0.5],
    ['deferredSyncMs', 2 ** 31],
    ['deferredSyncMs', '10'],
    ['verifiedCacheSize', 0],
    ['verifiedCacheSize', NaN],
    ['verifiedCacheSize', 2 ** 22 + 1],
  ])('refuses %s = %o with a ConfigError naming the option', (option, value) => {
    let thrown: unknown;
    try {
      setup({ extra: { [option]: value } });
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect((thrown as ConfigError).path).toBe(option);
    expect((thrown as ConfigError).message).toContain(`got ${String(value)}`);
  });

  it.each<[keyof ReplicaOptions<CounterMsg, CounterConfig>, number]>([
    ['maxApplyBacklog', 1],
    ['maxApplyBacklog', Number.MAX_SAFE_INTEGER],
    ['maxMessageBytes', 1],
    ['maxRequestBytes', 1],
    ['resultsPerClient', 1],
    ['minPoolItems', 0],
    ['poolTimeoutMs', 0],
    ['poolTimeoutMs', 2 ** 31 - 1],
    ['deferredSyncMs', 0],
    ['deferredSyncMs', 0.5],
    ['verifiedCacheSize', 1],
  ])('accepts %s = %s, the edge of its range', async (option, value) => {
    const { replica } = setup({ extra: { [option]: value } });
    await replica.start();
    await replica.stop();
  });

  // What a caller (an `onFatal` hook, a log reader) may match on: the class, its name and a stable code.
  it.each([
    ['ReplicaError', ReplicaError, 'REPLICA'],
    ['PoolTimeoutError', PoolTimeoutError, 'POOL_TIMEOUT'],
  ] as const)('%s is a PhalanxError with its name and code', (name, ErrorClass, code) => {
    const cause = new Error('underneath');
    const err = new ErrorClass('what happened', { cause });
    expect(err).toBeInstanceOf(ErrorClass);
    expect(err).toBeInstanceOf(PhalanxError);
    expect(err.name).toBe(name);
    expect(err.code).toBe(code);
    expect(err.message).toBe('what happened');
    expect(err.cause).toBe(cause);
  });

  it('stores a snapshot and steps `applied` with the state digest for reportState batches', async () => {
    const { replica, cores, disk } = setup({ config: { checkpoint: 2n } });
    await replica.start();
    for (let i = 0; i < 5; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await replica.idle();
    expect(cores[0]!.applied).toEqual([2n, 4n]);
    // The core is handed the snapshot's SHA-256 (the state digest), so it need not hash it again.
    for (const a of cores[0]!.appliedInputs) {
      expect(a.snapshotHash).toEqual(new Uint8Array(createHash('sha256').update(a.snapshot!).digest()));
      expect(a.snapshotHash).toEqual(a.stateDigest);
    }
    await replica.stop();
    const st = openMemoryStorage({ disk });
    const meta = await st.snapshots.latest();
    expect(meta?.height).toBe(4n);
    await st.close();
  });

  it('stores a snapshot larger than a piece in pieces, read back whole after a restart', async () => {
    const first = setup({ config: { checkpoint: 4n } });
    await first.replica.start();
    // The fixture application keeps payloads as hex strings of at most 1 MiB.
    for (let i = 0; i < 4; i++) first.replica.submit({ client: 'c', seq: BigInt(i), payload: new Uint8Array(400_000).fill(i + 1) });
    await first.replica.idle();
    const digest = first.replica.stateDigest();
    await first.replica.stop();
    const st = openMemoryStorage({ disk: first.disk });
    const pieces: Uint8Array[] = [];
    for await (const c of st.snapshots.read()) pieces.push(c);
    await st.close();
    expect(pieces.length).toBeGreaterThan(2); // megabytes of state, in pieces of at most 1 MiB
    expect(pieces.every((c) => c.length <= 1 << 20)).toBe(true);
    const second = setup({ disk: first.disk, config: { checkpoint: 4n } });
    await second.replica.start();
    await second.replica.idle();
    expect(second.cores[0]!.recoveredFrom!.snapshot?.height).toBe(4n);
    expect(second.replica.stateDigest()).toEqual(digest);
    await second.replica.stop();
  });

  it('recovers hard state, log and snapshot after a graceful restart and after a crash', async () => {
    const first = setup({ config: { checkpoint: 3n, ticks: 1, tickMs: 1 } });
    await first.replica.start();
    for (let i = 0; i < 5; i++) first.replica.submit({ client: 'c', seq: BigInt(i), payload: payload(`p${i}`) });
    await waitFor(() => first.cores[0]!.ticks === 1, 'tick');
    await first.replica.idle();
    const digest = first.replica.stateDigest();
    await first.replica.stop();

    const second = setup({ disk: first.disk, config: { checkpoint: 3n } });
    await second.replica.start();
    await second.replica.idle();
    const rec = second.cores[0]!.recoveredFrom!;
    expect(rec.log.map((r) => r.index)).toEqual([1n, 2n, 3n, 4n, 5n]);
    expect(rec.snapshot?.height).toBe(3n);
    expect(rec.appliedHeight).toBe(3n);
    expect(second.cores[0]!.ticks).toBe(1); // hard state
    expect(second.replica.committedHeight).toBe(5n); // 4 and 5 replayed on top of the snapshot
    expect(second.replica.stateDigest()).toEqual(digest);
    expect(second.app.entries.length).toBe(5);

    // crash: whatever was synced survives
    second.replica.submit({ client: 'c', seq: 5n, payload: payload('p5') });
    await second.replica.idle();
    const d6 = second.replica.stateDigest();
    first.disk.crash();
    const third = setup({ disk: first.disk, config: { checkpoint: 3n } });
    await third.replica.start();
    await third.replica.idle();
    expect(third.replica.committedHeight).toBe(6n);
    expect(third.replica.stateDigest()).toEqual(d6);
    await third.replica.stop();
  });

  it('drops and counts malformed frames per peer while good ones are processed', async () => {
    const { replica, peer, cores } = setup();
    await peer!.start();
    await replica.start();
    peer!.send('r0', Uint8Array.of(0xff, 0x00, 0x13));
    peer!.send('r0', new Uint8Array(0));
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 7n }));
    peer!.send('r0', new TextEncoder().encode('["nope", 1]'));
    await waitFor(() => cores[0]!.received.length === 1, 'the good message');
    await new Promise((r) => setTimeout(r, 10));
    expect(cores[0]!.received).toEqual([{ from: 'r1', msg: { kind: 'tick', n: 7n } }]);
    expect(replica.metrics().malformed).toEqual({ r1: 3 });
    await replica.stop();
  });

  it('answers clients once per (client, seq), from the reply cache on retries', async () => {
    const { replica, hub, app } = setup();
    await replica.start();
    const endpoint = hub.client('alice');
    const client = new Client({ endpoint, replicas: ['r0'], quorum: 1, retryMs: 50 });
    await client.start();
    const results = await Promise.all(['x', 'y', 'z'].map((s) => client.submit(payload(s))));
    expect(results.map((r) => r.seq)).toEqual([0n, 1n, 2n]);
    expect(results.map((r) => r.height)).toEqual([1n, 2n, 3n]);

    // a raw retry of seq 1: answered from the cache, not applied again
    const raw = hub.client('alice-raw');
    const replies: ReplyFrame[] = [];
    raw.onFrame((_r, f) => {
      const d = decodeClientFrame(f);
      if (d.type === 'reply') replies.push(d);
    });
    await raw.start();
    raw.send('r0', encodeClientFrame({ type: 'request', requests: [{ seq: 0n, payload: payload('once') }] }));
    await waitFor(() => replies.length === 1, 'first reply');
    raw.send('r0', encodeClientFrame({ type: 'request', requests: [{ seq: 0n, payload: payload('once') }] }));
    await waitFor(() => replies.length === 2, 'cached reply');
    expect(replies[1]!.results).toEqual(replies[0]!.results);
    expect(replies[1]!.height).toBe(replies[0]!.height);
    expect(app.entries.filter((e) => e.startsWith('alice-raw:')).length).toBe(1);
    expect(replica.metrics().requestsApplied).toBe(4);
    await client.stop();
    await replica.stop();
  });

  it('takes many requests per frame: orders the new ones, answers retries from the cache, rejects the oversized', async () => {
    const { replica, hub, app } = setup({ extra: { maxRequestBytes: 8 } });
    await replica.start();
    const raw = hub.client('bob');
    const frames: ReturnType<typeof decodeClientFrame>[] = [];
    raw.onFrame((_r, f) => frames.push(decodeClientFrame(f)));
    await raw.start();
    raw.send('r0', encodeClientFrame({ type: 'request', requests: [{ seq: 0n, payload: payload('a') }, { seq: 1n, payload: payload('b') }] }));
    await waitFor(() => frames.length === 2, 'two replies (the fixture commits one request per height)');
    const big = payload('x'.repeat(9));
    // Seq 2 and seqs 4..20 too large: more than 16 refusals of one reason travel in one frame.
    const bigs = Array.from({ length: 17 }, (_, i) => ({ seq: BigInt(4 + i), payload: big }));
    raw.send('r0', encodeClientFrame({ type: 'request', requests: [{ seq: 1n, payload: payload('b') }, { seq: 2n, payload: big }, { seq: 3n, payload: payload('c') }, ...bigs] }));
    await waitFor(() => frames.length === 5, 'a cached reply, one reject frame for the 18 oversized and a new reply');
    const replies = frames.filter((f) => f.type === 'reply');
    const rejects = frames.filter((f) => f.type === 'reject');
    expect(rejects).toEqual([{ type: 'reject', seq: 2n, more: bigs.map((b) => b.seq), code: 'too-large', message: 'payload over 8 bytes' }]);
    const bySeq = new Map(replies.flatMap((f) => f.results.map((r) => [r.seq, { height: f.height, proof: f.proof }] as const)));
    expect([...bySeq.keys()].sort()).toEqual([0n, 1n, 3n]);
    // the retry of seq 1 came from the cache: same height, no proof, applied once
    expect(replies.filter((f) => f.results.some((r) => r.seq === 1n)).map((f) => f.height)).toEqual([2n, 2n]);
    expect(app.entries.filter((e) => e.startsWith('bob:')).length).toBe(3);
    await replica.stop();
  });

  it('with clientAuth, orders only requests their client signed and refuses the rest as unauthenticated', async () => {
    const alice = generateKeyPair('ed25519');
    const bob = generateKeyPair('ed25519');
    const directory = new Map([['alice', alice.publicKey], ['bob', bob.publicKey]]);
    const clientAuth = createRequestAuthenticator({ chainId: 'test', keyOf: (id) => directory.get(id), verifier: createVerifiedCache() });
    const { replica, hub, app, cores } = setup({ extra: { clientAuth } });
    await replica.start();
    const signed = new Client({ endpoint: hub.client('alice'), replicas: ['r0'], quorum: 1, retryMs: 50, signing: { signer: signerFromSecret(alice.secretKey), chainId: 'test' } });
    await signed.start();
    const ok = await Promise.all(Array.from({ length: 130 }, (_, i) => signed.submit(payload(`a${i}`))));
    expect(ok).toHaveLength(130);
    // The core got each request with its signature attached, to check again inside proposals.
    const seen = cores[0]!.requests;
    expect(seen.every((r) => r.auth && clientAuth.check(r) === undefined)).toBe(true);
    expect(new Set(seen.map((r) => r.auth!.group)).size).toBeGreaterThanOrEqual(2);

    // Unsigned, signed with someone else's key, or by a client nobody listed: refused for good.
    const unsigned = new Client({ endpoint: hub.client('bob'), replicas: ['r0'], quorum: 1, retryMs: 50 });
    const impostor = new Client({ endpoint: hub.client('bob-2'), replicas: ['r0'], quorum: 1, retryMs: 50, signing: { signer: signerFromSecret(bob.secretKey), chainId: 'test' } });
    const wrongKey = new Client({ endpoint: hub.client('bob-3'), replicas: ['r0'], quorum: 1, retryMs: 50, signing: { signer: signerFromSecret(alice.secretKey), chainId: 'test' } });
    for (const c of [unsigned, impostor, wrongKey]) await c.start();
    const refused = await Promise.all([unsigned, impostor, wrongKey].map((c) => c.submit(payload('x')).catch((e: unknown) => e)));
    for (const e of refused) expect(e).toMatchObject({ reason: 'unauthenticated' });
    expect(replica.metrics().malformed).toMatchObject({ bob: 1, 'bob-2': 1, 'bob-3': 1 });

    // One bad run does not cost the frame's good ones: 128 + 2 requests, the second signature forged.
    const frames: ReturnType<typeof decodeClientFrame>[] = [];
    const rawEndpoint = hub.client('alice-raw-auth');
    directory.set('alice-raw-auth', alice.publicKey);
    rawEndpoint.onFrame((_r, f) => frames.push(decodeClientFrame(f)));
    await rawEndpoint.start();
    const items = Array.from({ length: 130 }, (_, i) => ({ seq: BigInt(i), payload: payload(`r${i}`) }));
    const good = signRequests(signerFromSecret(alice.secretKey), 'alice-raw-auth', items.slice(0, 128), { chainId: 'test' });
    const forged = signRequests(signerFromSecret(bob.secretKey), 'alice-raw-auth', items.slice(128), { chainId: 'test' });
    const sigs = [good[0]!.auth!.group.signature, forged[0]!.auth!.group.signature];
    rawEndpoint.send('r0', encodeClientFrame({ type: 'request', requests: items, sigs }));
    await waitFor(() => frames.some((f) => f.type === 'reject') && app.entries.filter((e) => e.startsWith('alice-raw-auth:')).length === 128, 'the good run ordered, the forged one refused');
    // A few refusals go one frame each, which clients older than `more` read too.
    const refusedRun = frames.filter((f): f is RejectFrame => f.type === 'reject');
    expect(refusedRun.map((f) => [f.seq, f.more])).toEqual([[128n, undefined], [129n, undefined]]);

    // A forged run convicts the frame: the runs after it are refused unchecked (one verification,
    // not one per run), and the client is counted once.
    frames.length = 0;
    const verifies = { n: 0 };
    const check = clientAuth.check.bind(clientAuth);
    clientAuth.check = (r) => (verifies.n++, check(r));
    const later = Array.from({ length: 300 }, (_, i) => ({ seq: BigInt(1000 + i), payload: payload(`s${i}`) }));
    const runs = [0, 128, 256].map((at) => signRequests(signerFromSecret(at === 0 ? bob.secretKey : alice.secretKey), 'alice-raw-auth', later.slice(at, at + 128), { chainId: 'test' })[0]!.auth!.group.signature);
    const before = replica.metrics().malformed['alice-raw-auth'] ?? 0;
    rawEndpoint.send('r0', encodeClientFrame({ type: 'request', requests: later, sigs: runs }));
    await waitFor(() => frames.some((f) => f.type === 'reject'), 'the frame refused');
    const all = frames.filter((f): f is RejectFrame => f.type === 'reject');
    expect(all.flatMap((f) => rejectedSeqs(f))).toEqual(later.map((r) => r.seq));
    expect(all).toHaveLength(1); // 300 refusals: one frame
    expect(all[0]!.message).toMatch(/the 2 after it refused unchecked/);
    expect(verifies.n).toBe(1);
    expect(replica.metrics().malformed['alice-raw-auth']).toBe(before + 1);
    expect(app.entries.filter((e) => e.startsWith('alice-raw-auth:')).length).toBe(128);
    for (const c of [signed, unsigned, impostor, wrongKey]) await c.stop();
    await replica.stop();
  });

  it('keeps a refusal readable by the client however long its reason (a reason may quote client ids)', async () => {
    const clientAuth = createRequestAuthenticator({ chainId: 'test', keyOf: () => undefined, verifier: createVerifiedCache() });
    const { replica, hub } = setup({ extra: { clientAuth } });
    await replica.start();
    // The message quotes the id after 'unknown client "' (16 units): the second id puts a surrogate
    // pair across the cut, which must not be split (the codec refuses a lone surrogate).
    const ids = [`c${'x'.repeat(600)}`, `c${'x'.repeat(491)}\u{1F600}${'y'.repeat(100)}`];
    for (const [i, id] of ids.entries()) {
      const raw = hub.client(id);
      const frames: ReturnType<typeof decodeClientFrame>[] = [];
      raw.onFrame((_r, f) => frames.push(decodeClientFrame(f)));
      await raw.start();
      const items = [{ seq: 0n, payload: payload('a') }];
      const sigs = [signRequests(signerFromSecret(keys[1]!.secretKey), id, items, { chainId: 'test' })[0]!.auth!.group.signature];
      raw.send('r0', encodeClientFrame({ type: 'request', requests: items, sigs }));
      await waitFor(() => frames.length === 1, 'the refusal');
      expect(frames[0]).toMatchObject({ type: 'reject', seq: 0n, code: 'unauthenticated' });
      const message = (frames[0] as RejectFrame).message;
      expect(message.length).toBe(i === 0 ? 512 : 511);
      expect(message).toMatch(/^unknown client "cxxx.*x\.\.\.$/);
    }
    await replica.stop();
  });

  it('counts malformed client frames (garbage, version 1, replies, oversized lists) per client and keeps serving', async () => {
    const { replica, hub } = setup();
    await replica.start();
    const raw = hub.client('mallory');
    const frames: ReturnType<typeof decodeClientFrame>[] = [];
    raw.onFrame((_r, f) => frames.push(decodeClientFrame(f)));
    await raw.start();
    raw.send('r0', Uint8Array.of(0xff, 0x00));
    raw.send('r0', encode({ v: 1, t: 0, seq: 0n, payload: payload('old') }));
    raw.send('r0', encodeClientFrame({ type: 'reply', height: 1n, results: [{ seq: 0n, result: payload('forged') }] }));
    raw.send('r0', encode({ v: 2, t: 0, reqs: Array.from({ length: MAX_FRAME_ITEMS + 1 }, (_, i) => [BigInt(i), payload('x')]) }));
    raw.send('r0', encodeClientFrame({ type: 'request', requests: [{ seq: 0n, payload: payload('fine') }] }));
    await waitFor(() => frames.length === 1, 'the good request answered');
    expect(frames[0]).toMatchObject({ type: 'reply', results: [{ seq: 0n }] });
    expect(replica.metrics().malformed).toEqual({ mallory: 4 });
    expect(replica.metrics().requestsApplied).toBe(1);
    await replica.stop();
  });

  it('pre-verifies on the batch verifier so the core verifier hits the cache', async () => {
    let innerCalls = 0;
    let batchCalls = 0;
    const inner: Verifier = {
      verify: () => {
        innerCalls++;
        return true;
      },
    };
    const pool: BatchVerifier = {
      verifyBatch: async (items) => {
        batchCalls++;
        return items.map(() => true);
      },
      close: async () => undefined,
    };
    const item = (n: bigint): VerifyItem => ({ publicKey: keys[1]!.publicKey, message: Uint8Array.of(Number(n)), signature: new Uint8Array(64).fill(Number(n)) });
    const batches: { items: number; valid: number }[] = [];
    const { replica, peer, cores } = setup({
      extra: { verifier: inner, batchVerifier: pool, minPoolItems: 1, preverify: (m) => (m.kind === 'tick' ? [item(m.n)] : []), hooks: { onPreverify: (i) => batches.push({ items: i.items, valid: i.valid }) } },
    });
    await peer!.start();
    await replica.start();
    for (let n = 1n; n <= 4n; n++) peer!.send('r0', counterCodec.encode({ kind: 'tick', n }));
    await waitFor(() => cores[0]!.received.length === 4, 'messages after pre-verification');
    expect(cores[0]!.received.map((r) => (r.msg.kind === 'tick' ? r.msg.n : 0n))).toEqual([1n, 2n, 3n, 4n]);
    expect(batchCalls).toBe(1); // one batch for the frames of one tick
    const it = item(3n);
    expect(replica.verifier.verify(it.publicKey, it.message, it.signature)).toBe(true);
    expect(innerCalls).toBe(0);
    const miss = item(9n);
    replica.verifier.verify(miss.publicKey, miss.message, miss.signature);
    expect(innerCalls).toBe(1);
    expect(replica.metrics().preverified).toBe(4);
    expect(batches).toEqual([{ items: 4, valid: 4 }]);
    await replica.stop();
  });

  it("takes the protocol definition's preverifier, sends only uncached signatures to the pool, and steps small lists at once", async () => {
    const verified: string[] = [];
    const inner: Verifier = { verify: (_k, m) => (verified.push(`inline:${m[0]}`), true) };
    const pool: BatchVerifier = {
      verifyBatch: async (items) => (verified.push(`pool:${items.map((i) => i.message[0]).join(',')}`), items.map(() => true)),
      close: async () => undefined,
    };
    const item = (n: number): VerifyItem => ({ publicKey: keys[1]!.publicKey, message: Uint8Array.of(n), signature: new Uint8Array(64).fill(n) });
    const cores: CounterCore[] = [];
    const built: string[] = [];
    // A tick lists n signatures: 1..n; the core verifies the same ones itself.
    const protocol = {
      ...counterProtocol(cores),
      preverifier: (ctx: CoreContext, config: CounterConfig) => {
        built.push(`${ctx.self}:${JSON.stringify(config)}`);
        return (m: CounterMsg) => (m.kind === 'tick' ? Array.from({ length: Number(m.n) }, (_, i) => item(i + 1)) : []);
      },
    };
    const { replica, peer } = setup({ extra: { protocol, verifier: inner, batchVerifier: pool } });
    await peer!.start();
    await replica.start();
    expect(built).toEqual(['r0:{}']);
    const stepped = () => cores[0]!.received.length;
    const verifyAsCore = (n: bigint) => {
      for (let i = 1; i <= Number(n); i++) replica.verifier.verify(item(i).publicKey, item(i).message, item(i).signature);
    };
    // One signature: below the default threshold of 2, stepped at once and verified inline.
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 1n }));
    await waitFor(() => stepped() === 1, 'the one-signature tick');
    verifyAsCore(1n);
    expect(verified).toEqual(['inline:1']);
    // Three signatures, one of them cached by now: the two others go to the pool, then hit.
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 3n }));
    await waitFor(() => stepped() === 2, 'the three-signature tick');
    verifyAsCore(3n);
    expect(verified).toEqual(['inline:1', 'pool:2,3']);
    // Everything cached: no round trip, and no inline verification either.
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 3n }));
    await waitFor(() => stepped() === 3, 'the cached tick');
    verifyAsCore(3n);
    expect(verified).toEqual(['inline:1', 'pool:2,3']);
    // Arrival order holds: a tick needing the pool, then one that would be stepped at once.
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 5n }));
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 0n }));
    await waitFor(() => stepped() === 5, 'both ticks');
    expect(cores[0]!.received.slice(3).map((r) => (r.msg.kind === 'tick' ? r.msg.n : -1n))).toEqual([5n, 0n]);
    expect(verified).toEqual(['inline:1', 'pool:2,3', 'pool:4,5']);
    await replica.stop();
  });

  it('leaves to the core the sources the pool caught, isolated peers, oversized lists, and a pool that does not answer', async () => {
    const calls: number[] = [];
    let answer: 'valid' | 'invalid' | 'never' = 'invalid';
    const pool: BatchVerifier = {
      verifyBatch: (items) => {
        calls.push(items.length);
        return answer === 'never' ? new Promise<boolean[]>(() => undefined) : Promise.resolve(items.map(() => answer === 'valid'));
      },
      close: async () => undefined,
    };
    const item = (n: number, i: number): VerifyItem => ({ publicKey: keys[1]!.publicKey, message: Uint8Array.of(n, i), signature: new Uint8Array(64).fill(n) });
    const cores: CounterCore[] = [];
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (_o, msg) => void warnings.push(String(msg)), child: () => logger };
    // A tick lists n signatures; n = 1000 is over the cap.
    let walks = 0;
    const protocol = { ...counterProtocol(cores), preverifier: () => (m: CounterMsg) => (walks++, m.kind === 'tick' ? Array.from({ length: Number(m.n) }, (_, i) => item(Number(m.n) % 251, i)) : []) };
    const { replica, peer } = setup({ extra: { protocol, verifier: { verify: () => true }, batchVerifier: pool, poolTimeoutMs: 100, logger } });
    await peer!.start();
    await replica.start();
    const send = async (n: bigint, count: number) => {
      peer!.send('r0', counterCodec.encode({ kind: 'tick', n }));
      await waitFor(() => cores[0]!.received.length === count, `tick ${n} stepped`);
    };
    await send(2n, 1); // to the pool, which calls both signatures invalid
    expect(calls).toEqual([2]);
    await send(3n, 2); // r1 is distrusted now: stepped at once, nothing pooled
    expect(calls).toEqual([2]);
    expect(walks).toBe(1); // and nothing listed for it either: the walk would be wasted
    await replica.stop();

    // A fresh replica: an oversized list is never pooled; an isolated peer neither.
    calls.length = 0;
    answer = 'valid';
    const second = setup({ extra: { protocol, verifier: { verify: () => true }, batchVerifier: pool, poolTimeoutMs: 100, logger } });
    await second.peer!.start();
    await second.replica.start();
    const core = () => cores.at(-1)!;
    const send2 = async (n: bigint, count: number) => {
      second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n }));
      await waitFor(() => core().received.length === count, `tick ${n} stepped`);
    };
    second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: BigInt(MAX_PREVERIFY_ITEMS + 1) }));
    await waitFor(() => core().received.length === 1, 'the oversized tick');
    expect(calls).toEqual([]);
    second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 4n }));
    await waitFor(() => core().received.length === 2, 'a normal tick');
    expect(calls).toEqual([4]);
    // The core reports r1 isolated (in the Ready after a signature-free tick): its next ticks are not pooled.
    core().events.push({ type: 'peer-status', peer: 'r1', status: 'isolated' });
    await send2(0n, 3);
    await send2(5n, 4);
    await send2(6n, 5);
    expect(calls).toEqual([4]);
    // Back to ok: pooled again.
    core().events.push({ type: 'peer-status', peer: 'r1', status: 'ok' });
    await send2(0n, 6);
    await send2(7n, 7);
    expect(calls).toEqual([4, 7]);

    // A pool that never answers holds nothing beyond poolTimeoutMs.
    answer = 'never';
    second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 9n }));
    second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 1n }));
    await waitFor(() => core().received.length === 9, 'both ticks after the timeout');
    expect(warnings.some((w) => w.includes('the core verifies inline'))).toBe(true);
    await second.replica.stop();
  });

  it('sends a burst from one peer to the pool only up to MAX_PREVERIFY_ITEMS, and skips a pool that timed out', async () => {
    const calls: number[] = [];
    let mode: 'invalid' | 'never' | 'valid' = 'invalid';
    const pool: BatchVerifier = {
      verifyBatch: (items) => {
        calls.push(items.length);
        if (mode === 'never') return new Promise<boolean[]>(() => undefined);
        return new Promise((r) => setTimeout(() => r(items.map(() => mode === 'valid')), 20));
      },
      close: async () => undefined,
    };
    const cores: CounterCore[] = [];
    // Every tick lists 20 signatures of its own (n, i): none is ever cached.
    const protocol = { ...counterProtocol(cores), preverifier: () => (m: CounterMsg) => (m.kind === 'tick' ? Array.from({ length: 20 }, (_, i) => ({ publicKey: keys[1]!.publicKey, message: Uint8Array.of(Number(m.n) & 0xff, Number(m.n) >> 8, i), signature: new Uint8Array(64) })) : []) };
    const { replica, peer } = setup({ extra: { protocol, verifier: { verify: () => true }, batchVerifier: pool, poolTimeoutMs: 100 } });
    await peer!.start();
    await replica.start();
    // 50 forged ticks at once: the first batch takes 12 of them (240 ≤ 256 signatures), the rest
    // go to the core, and once the pool calls r1's signatures invalid nothing of r1 is pooled.
    for (let n = 1n; n <= 50n; n++) peer!.send('r0', counterCodec.encode({ kind: 'tick', n }));
    await waitFor(() => cores[0]!.received.length === 50, 'the burst stepped');
    expect(calls).toEqual([240]);
    expect(cores[0]!.received.map((r) => (r.msg.kind === 'tick' ? r.msg.n : 0n))).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i + 1)));
    await replica.stop();

    // A pool that gave no answer in time is left alone for a while: the next message does not wait on it.
    calls.length = 0;
    const second = setup({ extra: { protocol, verifier: { verify: () => true }, batchVerifier: pool, poolTimeoutMs: 100 } });
    await second.peer!.start();
    await second.replica.start();
    mode = 'never';
    second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 1n }));
    await waitFor(() => cores.at(-1)!.received.length === 1, 'stepped after the timeout');
    mode = 'valid';
    second.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 2n }));
    await waitFor(() => cores.at(-1)!.received.length === 2, 'stepped at once');
    expect(calls).toEqual([20]);
    await second.replica.stop();
  });

  it("distrusts only the source whose signatures the pool refused, not the others of its batch", async () => {
    const alice = generateKeyPair('ed25519');
    const pooled: string[] = [];
    const pool: BatchVerifier = {
      // r1's tick signatures are forged; alice's group signatures are real.
      verifyBatch: async (items) => items.map((it) => (pooled.push(bytesEqual(it.publicKey, keys[1]!.publicKey) ? 'r1' : 'alice'), verifier.verify(it.publicKey, it.message, it.signature))),
      close: async () => undefined,
    };
    const cache = createVerifiedCache();
    const clientAuth = createRequestAuthenticator({ chainId: 'test', keyOf: (id) => (id === 'alice' ? alice.publicKey : undefined), verifier: cache });
    const cores: CounterCore[] = [];
    const protocol = { ...counterProtocol(cores), preverifier: () => (m: CounterMsg) => (m.kind === 'tick' ? [0, 1].map((i) => ({ publicKey: keys[1]!.publicKey, message: Uint8Array.of(Number(m.n), i), signature: new Uint8Array(64) })) : []) };
    const { replica, hub, peer, app } = setup({ extra: { protocol, clientAuth, verifiedCache: cache, batchVerifier: pool } });
    await peer!.start();
    await replica.start();
    const raw = hub.client('alice');
    await raw.start();
    let seq = 0n;
    const frame = () => {
      const items = Array.from({ length: 200 }, () => ({ seq: seq++, payload: payload(`a${seq}`) }));
      const sigs = [0, 128].map((at) => signRequests(signerFromSecret(alice.secretKey), 'alice', items.slice(at, at + 128), { chainId: 'test' })[0]!.auth!.group.signature);
      return encodeClientFrame({ type: 'request', requests: items, sigs });
    };
    // One tick: r1's forged message and alice's frame in the same batch.
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 1n }));
    raw.send('r0', frame());
    await waitFor(() => cores[0]!.received.length === 1 && app.entries.length === 200, 'both stepped');
    expect(pooled.sort()).toEqual(['alice', 'alice', 'r1', 'r1']);
    // Then: alice's next frame still goes to the pool, r1's next tick does not.
    pooled.length = 0;
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 2n }));
    await waitFor(() => cores[0]!.received.length === 2, 'the second tick');
    raw.send('r0', frame());
    await waitFor(() => app.entries.length === 400, 'the second frame');
    expect(pooled).toEqual(['alice', 'alice']);
    await replica.stop();
  });

  it('keeps an isolated peer out of the pool even when a verdict on it lands later, until the core clears it', async () => {
    const calls: number[] = [];
    let release: ((ok: boolean) => void) | undefined;
    const pool: BatchVerifier = {
      verifyBatch: (items) => {
        calls.push(items.length);
        return new Promise((r) => (release = (ok) => r(items.map(() => ok))));
      },
      close: async () => undefined,
    };
    const cores: CounterCore[] = [];
    const protocol = { ...counterProtocol(cores), preverifier: () => (m: CounterMsg) => (m.kind === 'tick' ? [0, 1].map((i) => ({ publicKey: keys[1]!.publicKey, message: Uint8Array.of(Number(m.n), i), signature: new Uint8Array(64) })) : []) };
    const { replica, peer } = setup({ extra: { protocol, verifier: { verify: () => true }, batchVerifier: pool } });
    await peer!.start();
    await replica.start();
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 1n }));
    await waitFor(() => release !== undefined, 'the batch on the pool');
    // While it is out, the core isolates r1 (reported in the Ready of a client request).
    cores[0]!.events.push({ type: 'peer-status', peer: 'r1', status: 'isolated' });
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await waitFor(() => replica.committedHeight >= 1n, 'the first request');
    // Then the pool calls r1's signatures invalid: a 30 s spell must not replace the isolation…
    release!(false);
    await waitFor(() => cores[0]!.received.length === 1, 'the first tick');
    // …so that when the core clears r1, r1 is pooled again at once.
    cores[0]!.events.push({ type: 'peer-status', peer: 'r1', status: 'ok' });
    replica.submit({ client: 'c', seq: 1n, payload: payload('b') });
    await waitFor(() => replica.committedHeight >= 2n, 'the second request');
    release = undefined;
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 2n }));
    await waitFor(() => release !== undefined || cores[0]!.received.length === 2, 'the next tick');
    expect(calls, 'the next tick went to the pool').toEqual([2, 2]);
    release!(true);
    await waitFor(() => cores[0]!.received.length === 2, 'the second tick');
    expect(calls).toEqual([2, 2]);
    await replica.stop();
  });

  it('with clientAuth and a pool, verifies client frames there and refuses a forged run like before', async () => {
    const alice = generateKeyPair('ed25519');
    const bob = generateKeyPair('ed25519');
    let inline = 0;
    let pooled = 0;
    const cache = createVerifiedCache({ verifier: { verify: (k, m, sg) => (inline++, verifier.verify(k, m, sg)) } });
    const pool: BatchVerifier = {
      verifyBatch: async (items) => ((pooled += items.length), items.map((it) => verifier.verify(it.publicKey, it.message, it.signature))),
      close: async () => undefined,
    };
    const directory = new Map([['alice', alice.publicKey]]);
    const clientAuth = createRequestAuthenticator({ chainId: 'test', keyOf: (id) => directory.get(id), verifier: cache });
    const { replica, hub, app } = setup({ extra: { clientAuth, verifiedCache: cache, batchVerifier: pool } });
    await replica.start();
    const frames: ReturnType<typeof decodeClientFrame>[] = [];
    const raw = hub.client('alice');
    raw.onFrame((_r, f) => frames.push(decodeClientFrame(f)));
    await raw.start();
    const items = Array.from({ length: 300 }, (_, i) => ({ seq: BigInt(i), payload: payload(`p${i}`) }));
    const sigs = (signer: Uint8Array, from: readonly { seq: bigint; payload: Uint8Array }[]) =>
      [0, 128, 256].filter((at) => at < from.length).map((at) => signRequests(signerFromSecret(signer), 'alice', from.slice(at, at + 128), { chainId: 'test' })[0]!.auth!.group.signature);
    raw.send('r0', encodeClientFrame({ type: 'request', requests: items, sigs: sigs(alice.secretKey, items) }));
    await waitFor(() => app.entries.filter((e) => e.startsWith('alice:')).length === 300, 'the frame ordered');
    // Three groups, three verifications, all on the pool: the replica and the core only hit the cache.
    expect(pooled).toBe(3);
    expect(inline).toBe(0);
    // A forged run is refused from there on, as without a pool; the pool's false is not cached, so
    // the one inline check is the first forged run's.
    const later = items.map((r) => ({ seq: r.seq + 1000n, payload: r.payload }));
    const mixed = sigs(alice.secretKey, later);
    mixed[1] = sigs(bob.secretKey, later)[1]!;
    raw.send('r0', encodeClientFrame({ type: 'request', requests: later, sigs: mixed }));
    await waitFor(() => frames.some((f) => f.type === 'reject'), 'the forged run refused');
    const refused = frames.filter((f): f is RejectFrame => f.type === 'reject').flatMap((f) => rejectedSeqs(f));
    expect(refused).toEqual(later.slice(128).map((r) => r.seq));
    expect(pooled).toBe(6);
    expect(inline).toBe(1);
    expect(replica.metrics().malformed['alice']).toBe(1);
    await waitFor(() => app.entries.filter((e) => e.startsWith('alice:')).length === 428, 'the good run ordered');
    // Caught once, the client's frames go to the core's path for a while: a second forged frame
    // costs one verification (the first forged run), not one per run on the pool.
    frames.length = 0;
    const again = later.map((r) => ({ seq: r.seq + 1000n, payload: r.payload }));
    const forgedAgain = sigs(alice.secretKey, again);
    forgedAgain[0] = sigs(bob.secretKey, again)[0]!;
    raw.send('r0', encodeClientFrame({ type: 'request', requests: again, sigs: forgedAgain }));
    await waitFor(() => frames.some((f) => f.type === 'reject'), 'the second forged frame refused');
    expect(pooled).toBe(6);
    expect(inline).toBe(2);
    expect(replica.metrics().malformed['alice']).toBe(2);
    await replica.stop();
  });

  it('halts (and reports) when the core throws on an input, instead of throwing into the transport', async () => {
    const errors: Error[] = [];
    const base = counterProtocol();
    const protocol = {
      ...base,
      create: (ctx: CoreContext, config: CounterConfig) => {
        const core = base.create(ctx, config);
        const step = core.step.bind(core);
        core.step = (i) => {
          if (i.type === 'message' && i.msg.kind === 'tick' && i.msg.n === 13n) throw new Error('broken core');
          if (i.type === 'message' && i.msg.kind === 'tick' && i.msg.n === 14n) throw 'not an Error';
          step(i);
        };
        return core;
      },
    };
    const { replica, peer } = setup({ extra: { protocol, hooks: { onFatal: (e) => errors.push(e) } } });
    await peer!.start();
    await replica.start();
    peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 13n }));
    await waitFor(() => errors.length === 1, 'fatal hook');
    expect(errors[0]!.message).toBe('broken core');
    await replica.stop();
    // A thrown non-Error is reported as an Error that says what was thrown.
    const again = setup({ extra: { protocol, hooks: { onFatal: (e) => errors.push(e) } } });
    await again.peer!.start();
    await again.replica.start();
    again.peer!.send('r0', counterCodec.encode({ kind: 'tick', n: 14n }));
    await waitFor(() => errors.length === 2, 'second fatal');
    expect(errors[1]!.message).toBe('core threw not an Error');
    await again.replica.stop();
  });

  it('halts (and reports) when a snapshot piece fails, even by throwing at once, and leaves no piece in flight', async () => {
    const errors: Error[] = [];
    const inner = openMemoryStorage({ disk: new MemoryDisk() });
    let writes = 0;
    let aborted = false;
    const storage = wrapSnapshotWriter(inner, (w) => ({
      write: (chunk) => {
        if (++writes === 2) throw new Error('disk on fire'); // not a rejection: thrown before any promise
        return w.write(chunk);
      },
      abort: () => ((aborted = true), w.abort()),
    }));
    const { replica } = setup({ config: { checkpoint: 4n }, extra: { storage, hooks: { onFatal: (e) => errors.push(e) } } });
    await replica.start();
    for (let i = 0; i < 4; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: new Uint8Array(400_000).fill(i + 1) });
    await waitFor(() => errors.length === 1, 'fatal hook');
    expect(errors[0]!.message).toMatch(/disk on fire/);
    expect(writes).toBe(2); // no piece after the failed one was issued
    expect(aborted).toBe(true);
    expect(await inner.snapshots.latest()).toBeUndefined();
    expect(await stopWithin5s(replica)).toBe('stopped');
  });

  it('writes a snapshot one piece at a time and lets the event loop run between slow pieces', async () => {
    // A store that commits each piece on this thread (as the LMDB one does) for longer than a
    // slice: other work must get its turn between pieces, not only once the whole state is stored.
    const inner = openMemoryStorage({ disk: new MemoryDisk() });
    let inFlight = 0;
    let mostInFlight = 0;
    let ticks = 0;
    let committed = false;
    const ticksAtWrite: number[] = [];
    const storage = wrapSnapshotWriter(inner, (w) => ({
      write: async (chunk) => {
        mostInFlight = Math.max(mostInFlight, ++inFlight);
        ticksAtWrite.push(ticks);
        blockEventLoop(15);
        try {
          await w.write(chunk);
        } finally {
          inFlight--;
        }
      },
      commit: () => w.commit().then(() => void (committed = true)),
    }));
    let ticking = true;
    const tick = (): void => {
      ticks++;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    const { replica } = setup({ config: { checkpoint: 4n }, extra: { storage } });
    await replica.start();
    for (let i = 0; i < 4; i++) replica.submit({ client: 'c', seq: BigInt(i), payload: new Uint8Array(1_000_000).fill(i + 1) });
    await waitFor(() => committed, 'snapshot stored');
    ticking = false;
    expect(ticksAtWrite.length).toBeGreaterThanOrEqual(4);
    expect(mostInFlight).toBe(1);
    for (let i = 1; i < ticksAtWrite.length; i++) expect(ticksAtWrite[i]!, `event loop ran before piece ${i}`).toBeGreaterThan(ticksAtWrite[i - 1]!);
    await replica.stop();
  });

  it('halts (and reports) when storage fails instead of sending unpersisted promises', async () => {
    const trace: string[] = [];
    const errors: Error[] = [];
    const { replica, disk, peer, got } = setup({ trace, extra: { hooks: { onFatal: (e) => errors.push(e) } } });
    await peer!.start();
    await replica.start();
    disk.injectFault('io');
    replica.submit({ client: 'c', seq: 0n, payload: payload('a') });
    await waitFor(() => errors.length === 1, 'fatal hook');
    await new Promise((r) => setTimeout(r, 10));
    expect(got).toEqual([]);
    expect(trace.some((e) => e.startsWith('send'))).toBe(false);
    await replica.stop();
  });
});
