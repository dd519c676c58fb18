import { describe, it, expect } from 'vitest';
import type { CoreContext, Input, ProtocolCore, ProtocolDefinition, Ready, RecoveredState } from '@phalanx/interface';
import { ConfigError, CryptoError, DecodeError } from '@phalanx/interface';
import { encode, decode, readArray, readU64 } from '@phalanx/codec';
import { simulate, runSeeds, formatFailure, parseSeed, replayCommand, createStubKeys, assertProfile, loadAdapter, realKeys, buildScenario, Xoshiro128 } from '../src/index.js';
import type { SimAdapter } from '../src/index.js';
import { toyAdapter, toyCodec } from './fixtures/toy-bft.js';

describe('determinism', () => {
  it('the same seed gives a byte-identical trace; another seed does not', () => {
    const run = (seed: bigint) => simulate(toyAdapter(), { seed, faults: 'chaos', trace: true, traceLimit: 5 });
    const a = run(0xfeedn);
    const b = run(0xfeedn);
    const c = run(0xfeeen);
    expect(a.traceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.trace).toEqual(a.trace);
    expect(b.stats).toEqual(a.stats);
    expect(c.traceHash).not.toBe(a.traceHash);
  });

  it('replay lines round-trip their seed', () => {
    const line = replayCommand('pbft', 0xdeadbeefn, 'crash-restart', 7);
    expect(line).toBe('pnpm sim --protocol pbft --seed 0xdeadbeef --faults crash-restart --n 7');
    expect(parseSeed('0xdeadbeef')).toBe(0xdeadbeefn);
    expect(parseSeed('12')).toBe(12n);
    expect(() => parseSeed('0xzz')).toThrow(expect.objectContaining({ constructor: ConfigError, path: 'seed', message: 'seed: not a seed: "0xzz" (use 0x… hex or decimal)' }));
    expect(() => parseSeed('-1', '--seed-base')).toThrow(expect.objectContaining({ constructor: ConfigError, path: '--seed-base' }));
  });

  it('names what is wrong with a fault profile, a protocol or a scheme', async () => {
    expect(() => assertProfile('lossy+nope')).toThrow(expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'faults', message: expect.stringMatching(/^faults: unknown fault profile "nope" \(known: none, /) }));
    expect(() => simulate(toyAdapter(), { seed: 1, faults: 'nope' })).toThrow(expect.objectContaining({ constructor: ConfigError, path: 'faults' }));
    await expect(loadAdapter('no-such-protocol')).rejects.toThrow(expect.objectContaining({ constructor: ConfigError, path: 'protocol', message: expect.stringMatching(/^protocol: cannot load "no-such-protocol":\n {2}@phalanx\/no-such-protocol: /) }));
    await expect(loadAdapter('module', '/no/such/adapter.js')).rejects.toThrow(expect.objectContaining({ constructor: ConfigError, path: 'module', message: expect.stringMatching(/^module: cannot load "\/no\/such\/adapter\.js":/) }));
    await expect(realKeys('rot13' as never)).rejects.toThrow(expect.objectContaining({ constructor: CryptoError, code: 'CRYPTO', message: '@phalanx/crypto has no scheme "rot13"' }));
  });
});

describe('the correct fixture (quorum 2f+1) passes every checker', () => {
  const profiles = ['none', 'lossy', 'partition', 'crash', 'crash-leader', 'crash-restart', 'stop-restart', 'equivocate', 'twins', 'byzantine', 'chaos']; // not byzantine-restarts: see compliance.test.ts
  for (const faults of profiles) {
    it(`n4 ${faults}`, () => {
      const rep = runSeeds(toyAdapter(), { faults, seeds: Number(process.env.PHALANX_SEEDS ?? 4), seedBase: 100 });
      expect(rep.failures.map(formatFailure)).toEqual([]);
      expect(rep.commits).toBeGreaterThan(0);
    });
  }
  it('n4 lossy+crash-restart (composed profiles)', () => {
    const rep = runSeeds(toyAdapter(), { faults: 'lossy+crash-restart', seeds: 3, seedBase: 300 });
    expect(rep.failures.map(formatFailure)).toEqual([]);
    const r = simulate(toyAdapter(), { seed: 300, faults: 'lossy+crash-restart' });
    expect(r.scenario.network.loss).toBeGreaterThan(0);
    expect(r.scenario.crashes.length).toBeGreaterThan(0);
  });
  it('n7 chaos', () => {
    const rep = runSeeds(toyAdapter(), { faults: 'chaos', n: 7, seeds: 3, seedBase: 200 });
    expect(rep.failures.map(formatFailure)).toEqual([]);
  });
});

describe('mutation: the fixture with a quorum of f+1 is caught', () => {
  it('by agreement under an equivocating leader, within 3 seeds', () => {
    const rep = runSeeds(toyAdapter({ quorum: 2 }), { faults: 'equivocate', seeds: 3, seedBase: 1 });
    expect(rep.failures.length).toBeGreaterThan(0);
    const f = rep.failures[0]!;
    expect(f.violations[0]!.checker).toBe('agreement');
    const text = formatFailure(f);
    expect(text.split('\n')[0]).toMatch(/^replay: pnpm sim --protocol toy-bft-q2 --seed 0x[0-9a-f]+ --faults equivocate$/);
    expect(f.trace.length).toBeGreaterThan(5);
    // Replaying the printed seed reproduces the same failure.
    const again = simulate(toyAdapter({ quorum: 2 }), { seed: f.seed, faults: 'equivocate' });
    expect(again.violations[0]?.message).toBe(f.violations[0]!.message);
  });

  it('by agreement with Twins on the leader, within 20 seeds', () => {
    const rep = runSeeds(toyAdapter({ quorum: 2 }), { faults: 'twins', seeds: 20, seedBase: 1 });
    expect(rep.failures.length).toBeGreaterThan(0);
    expect(rep.failures[0]!.violations[0]!.checker).toBe('agreement');
  });
});

describe('more mutations, each caught by the checker it targets', () => {
  it('a leader that forgets committed requests is caught by validity (committed twice)', () => {
    const rep = runSeeds(toyAdapter({ unsafeNoDedupe: true }), { faults: 'lossy', seeds: 5, seedBase: 1 });
    expect(rep.failures[0]?.violations[0]?.checker).toBe('validity');
    expect(rep.failures[0]?.violations[0]?.message).toMatch(/twice/);
  });

  it('a protocol that never retransmits is caught by liveness on a lossy network', () => {
    const rep = runSeeds(toyAdapter({ unsafeNoRetransmit: true }), { faults: 'lossy', seeds: 5, seedBase: 1 });
    expect(rep.failures[0]?.violations[0]?.checker).toBe('liveness');
    // …and the same mutant passes on a perfect network: the checker is not just always failing.
    expect(runSeeds(toyAdapter({ unsafeNoRetransmit: true }), { faults: 'none', seeds: 2 }).failures).toEqual([]);
  });
});

describe('robustness is checked', () => {
  it('a codec that throws something other than DecodeError on garbage is reported', () => {
    const base = toyAdapter();
    const sloppy: SimAdapter<unknown, unknown> = {
      ...(base as SimAdapter<unknown, unknown>),
      definition: {
        ...(base.definition as ProtocolDefinition<unknown, unknown>),
        codec: {
          encode: (m) => toyCodec.encode(m as never),
          decode: (b) => {
            try {
              return toyCodec.decode(b);
            } catch {
              throw new TypeError('boom');
            }
          },
        },
      },
    };
    const r = simulate(sloppy, { seed: 3, faults: 'none', scenario: { byzantine: [{ target: 1, adversary: 'garbage' }] } });
    expect(r.ok).toBe(false);
    expect(r.violations[0]!.checker).toBe('robustness');
  });

  it('garbage, forged and replayed frames never crash the fixture', () => {
    for (const adversary of ['garbage', 'forge', 'replay', 'future'] as const) {
      const r = simulate(toyAdapter(), { seed: 5, scenario: { byzantine: [{ target: 2, adversary }] } });
      expect(formatFailure(r), adversary).toMatch(/0 violation/);
    }
  });
});

/**
 * A probe core that persists a counter every millisecond. After a crash, what it recovers must be
 * exactly the last write that was acknowledged `persisted` — nothing later, nothing earlier.
 */
interface Probe {
  acked: bigint[];
  recovered: bigint[];
  /** r1's counter values in the order it made them, and whether each recovery found a stop mark. */
  made?: bigint[];
  marks?: boolean[];
}
function probeAdapter(log: Probe): SimAdapter<bigint, null> {
  class ProbeCore implements ProtocolCore<bigint> {
    private counter: bigint;
    private out: Ready<bigint> = { send: [], commit: [], timers: [{ op: 'set', id: 't', ms: 1 }], events: [] };
    private id = 0n;
    private readonly pending = new Map<bigint, bigint>();
    constructor(
      private readonly ctx: CoreContext,
      recovered?: RecoveredState,
    ) {
      this.counter = recovered?.hardState ? readU64(readArray(decode(recovered.hardState), 'hs')[0], 'c') : 0n;
      if (recovered && ctx.self === 'r1') {
        log.recovered.push(this.counter);
        log.marks?.push(recovered.log.length > 0);
      }
    }
    step(i: Input<bigint>): void {
      if (i.type === 'stop') {
        this.id++;
        // A record of its own, not the counter: the counter on disk must be what the writes in flight left.
        this.out = { send: [], commit: [], timers: [], events: [], persist: { id: this.id, append: [{ index: 0n, data: encode(['stopped']) }] } };
      } else if (i.type === 'timeout') {
        this.counter++;
        if (this.ctx.self === 'r1') log.made?.push(this.counter);
        this.id++;
        this.pending.set(this.id, this.counter);
        this.out = { ...this.out, persist: { id: this.id, hardState: encode([this.counter]), append: [] }, timers: [{ op: 'set', id: 't', ms: 1 }] };
      } else if (i.type === 'persisted' && this.ctx.self === 'r1') {
        log.acked.push(this.pending.get(i.upTo)!);
      }
    }
    hasReady(): boolean {
      return this.out.persist !== undefined || this.out.timers.length > 0;
    }
    ready(): Ready<bigint> {
      const o = this.out;
      this.out = { send: [], commit: [], timers: [], events: [] };
      return o;
    }
    status() {
      return { protocol: 'probe', node: this.ctx.self, view: 0n, committedHeight: 0n };
    }
  }
  return {
    definition: {
      name: 'probe',
      codec: {
        encode: (m) => encode([m]),
        decode: (b) => {
          const v = readArray(decode(b), 'm');
          if (v.length !== 1) throw new DecodeError('m');
          return readU64(v[0], 'm[0]');
        },
      },
      create: (ctx, _c, rec) => new ProbeCore(ctx, rec),
    },
    config: () => null,
  };
}

describe('crash-restart', () => {
  it('loses exactly the writes not yet acknowledged persisted', () => {
    const log: Probe = { acked: [], recovered: [] };
    const r = simulate(probeAdapter(log), {
      seed: 11,
      scenario: {
        disk: { minMs: 0.5, maxMs: 3 },
        clients: { count: 0, requests: 0, timeoutMs: 100, thinkMs: 0 },
        crashes: [
          { target: 1, atMs: 20.3, restartAfterMs: 5 },
          { target: 1, atMs: 60.7, restartAfterMs: 5 },
        ],
        settleMs: 10,
      },
    });
    expect(r.stats.restarts).toBe(2);
    expect(log.recovered).toHaveLength(2);
    // Each recovery resumes from the last acknowledged value before that crash.
    const ackedBefore = (n: number) => log.acked.slice(0, n);
    expect(log.recovered[0]).toBeGreaterThan(0n);
    expect(ackedBefore(log.acked.length)).toContain(log.recovered[0]);
    // Counters acknowledged after the first restart start again from the recovered value.
    const i = log.acked.indexOf(log.recovered[0]!);
    expect(log.acked[i + 1]).toBe(log.recovered[0]! + 1n);
  });
});

describe('clean stop (CrashPlan.clean)', () => {
  it('lets the writes in flight finish, steps `stop`, keeps its answer, and loses nothing', () => {
    const log: Probe = { acked: [], recovered: [], made: [], marks: [] };
    const r = simulate(probeAdapter(log), {
      seed: 11,
      scenario: {
        disk: { minMs: 0.5, maxMs: 3 },
        clients: { count: 0, requests: 0, timeoutMs: 100, thinkMs: 0 },
        crashes: [{ target: 1, atMs: 20.3, restartAfterMs: 5, clean: true }],
        settleMs: 10,
      },
      trace: true,
      traceLimit: 100_000,
    });
    expect(r.stats.restarts).toBe(1);
    expect(r.trace.some((l) => l.includes('stopped r1 cleanly'))).toBe(true);
    // The restart resumes from the last value made before the stop, so r1 counts 1, 2, 3, ...
    // without a repeat (a crash loses the writes in flight: it counts some values twice), and
    // finds the core's answer to `stop`.
    expect(log.recovered[0]).toBeGreaterThan(0n);
    expect(log.made).toEqual(log.made!.map((_, i) => BigInt(i + 1)));
    expect(log.marks).toEqual([true]);
  });

  it('a crash while the stop waits for its writes wins: the core is not stopped and no answer is kept', () => {
    const log: Probe = { acked: [], recovered: [], made: [], marks: [] };
    const r = simulate(probeAdapter(log), {
      seed: 11,
      scenario: {
        disk: { minMs: 2, maxMs: 3 }, // every write is in flight for 2 ms or more
        clients: { count: 0, requests: 0, timeoutMs: 100, thinkMs: 0 },
        crashes: [
          { target: 1, atMs: 20.3, restartAfterMs: 5, clean: true },
          { target: 1, atMs: 20.4, restartAfterMs: 5 },
        ],
        settleMs: 10,
      },
      trace: true,
      traceLimit: 100_000,
    });
    expect(r.trace.some((l) => l.includes('stop r1'))).toBe(true);
    expect(r.trace.some((l) => l.includes('stopped r1 cleanly'))).toBe(false);
    expect(r.stats.restarts).toBe(1);
    expect(log.marks).toEqual([false]);
    expect(r.violations).toEqual([]);
  });
});

describe('fault budget', () => {
  it('refuses more than f faulty replicas unless the scenario says so', () => {
    const scenario = { byzantine: [{ target: 1, adversary: 'silent' as const }], crashes: [{ target: 2, atMs: 10 }] };
    expect(() => simulate(toyAdapter(), { seed: 1, scenario })).toThrow(
      expect.objectContaining({ constructor: ConfigError, code: 'CONFIG', path: 'faults', message: 'faults: scenario makes 2 replicas faulty but n=4 tolerates f=1 (set allowExcessFaults to mean it)' }),
    );
    const r = simulate(toyAdapter(), { seed: 1, scenario: { ...scenario, allowExcessFaults: true, checkLiveness: false, livenessBoundMs: 500 } });
    expect(r.stats.crashes).toBe(1);
  });

  it("counts each fault aimed at 'leader' on its own (the leader may change between them), and composed crash profiles add up", () => {
    // A Byzantine leader at the start and a leader crash later may be two different replicas.
    expect(() => simulate(toyAdapter(), { seed: 1, faults: 'equivocate+crash-leader' })).toThrow(expect.objectContaining({ constructor: ConfigError, path: 'faults' }));
    // `crash` adds its crash to crash-restart's, which keep their restarts.
    const ctx = { n: 7, f: 2, rng: new Xoshiro128(1, 2, 3, 4), capabilities: {}, hooks: undefined };
    const s = buildScenario('crash-restart+crash', ctx);
    expect(s.crashes.some((c) => c.restartAfterMs !== undefined)).toBe(true);
    expect(s.crashes.some((c) => c.restartAfterMs === undefined)).toBe(true);
  });

  it('byzantine-restarts counts only permanent faults: composed with a crash that never restarts it is refused', () => {
    // Its f honest replicas restart, so f Byzantine + f restarting is within the budget ...
    expect(() => simulate(toyAdapter(), { seed: 1, faults: 'byzantine-restarts', scenario: { checkLiveness: false, livenessBoundMs: 500 } })).not.toThrow();
    // ... but a leader that crashes for good is one fault more than f = 1.
    expect(() => simulate(toyAdapter(), { seed: 1, faults: 'crash-leader+byzantine-restarts' })).toThrow(
      expect.objectContaining({ constructor: ConfigError, path: 'faults', message: expect.stringMatching(/makes 2 replicas faulty but n=4 tolerates f=1/) }),
    );
  });
});

describe('runaway and lying cores are reported', () => {
  /** A core whose first Ready carries `first`, then (optionally) re-arms a timer forever. */
  function oneShot(first: Partial<Ready<bigint>>, spin = false): SimAdapter<bigint, null> {
    const probe = probeAdapter({ acked: [], recovered: [] });
    return {
      ...probe,
      definition: {
        ...probe.definition,
        create: (ctx) => {
          let out: Ready<bigint> | undefined = { send: [], commit: [], timers: [], events: [], ...first };
          return {
            step: (i: Input<bigint>) => {
              if (spin && i.type === 'timeout') out = { send: [], commit: [], timers: [{ op: 'set', id: 'spin', ms: 0 }], events: [] };
            },
            hasReady: () => out !== undefined,
            ready: () => {
              const o = out!;
              out = undefined;
              return o;
            },
            status: () => ({ protocol: 'one-shot', node: ctx.self, view: 0n, committedHeight: 0n }),
          };
        },
      },
    };
  }
  const quiet = { clients: { count: 0, requests: 0, timeoutMs: 100, thinkMs: 0 }, livenessBoundMs: 100 };

  it('a core spinning on zero-delay timers hits the event budget', () => {
    const r = simulate(oneShot({ timers: [{ op: 'set', id: 'spin', ms: 0 }] }, true), { seed: 1, scenario: quiet, maxEvents: 10_000 });
    expect(r.violations[0]?.message).toMatch(/event budget/);
  });

  it('a NaN timer is a robustness violation', () => {
    const r = simulate(oneShot({ timers: [{ op: 'set', id: 't', ms: Number.NaN }] }), { seed: 1, scenario: quiet });
    expect(r.violations[0]?.checker).toBe('robustness');
  });

  it('valid evidence against an honest voter, and evidence that does not verify, are violations', async () => {
    const { signVote } = await import('@phalanx/quorum');
    const keys = createStubKeys(77);
    const body = (d: number) => ({ kind: 'toy/vote', height: 1n, round: 0n, digest: new Uint8Array(32).fill(d) });
    const s = keys.signer('r1');
    const evidence = { voter: 'r1', first: signVote(s, 'phalanx-sim', 'r1', body(1)), second: signVote(s, 'phalanx-sim', 'r1', body(2)) };
    const valid = simulate(oneShot({ events: [{ type: 'evidence', evidence }] }), { seed: 1, keys, scenario: quiet });
    expect(valid.violations[0]?.message).toMatch(/evidence against honest r1/);
    const bogus = { ...evidence, second: { ...evidence.second, signature: new Uint8Array(16) } };
    const bad = simulate(oneShot({ events: [{ type: 'evidence', evidence: bogus }] }), { seed: 1, keys, scenario: quiet });
    expect(bad.violations[0]?.message).toMatch(/does not verify/);
  });
});

describe('reproducibility guard', () => {
  it('a core that reads Math.random is flagged as not reproducible', () => {
    const base = toyAdapter();
    const flaky: SimAdapter<unknown, unknown> = {
      ...(base as SimAdapter<unknown, unknown>),
      definition: {
        ...(base.definition as ProtocolDefinition<unknown, unknown>),
        create: (ctx, config, rec) => {
          const core = base.definition.create(ctx, config as never, rec);
          return {
            step: (i) => core.step(i as never),
            hasReady: () => core.hasReady(),
            ready: () => {
              const r = core.ready();
              // Non-determinism the simulator cannot see: sometimes commit a bogus extra height.
              if (r.commit.length > 0 && Math.random() < 0.5) return { ...r, commit: [...r.commit, { height: 999n, requests: [] }] };
              return r;
            },
            status: () => core.status(),
          };
        },
      },
    };
    let sawUnreproducible = false;
    for (let i = 0; i < 20 && !sawUnreproducible; i++) {
      const rep = runSeeds(flaky, { faults: 'none', seeds: 1, seedBase: i });
      sawUnreproducible = rep.failures.some((f) => f.violations.some((v) => v.message.startsWith('NOT REPRODUCIBLE')));
    }
    expect(sawUnreproducible).toBe(true);
  });
});

describe('real crypto is selectable', () => {
  it('runs the fixture with Ed25519 keys from @phalanx/crypto, forgeries included', async () => {
    const { realKeys } = await import('../src/index.js');
    const keys = await realKeys('ed25519');
    const pk = keys.signer('r0').publicKey;
    expect(pk[0]).not.toBe(0xf5); // a real, scheme-tagged key, not a stub
    const r = simulate(toyAdapter(), { seed: 8, keys, scenario: { byzantine: [{ target: 3, adversary: 'forge' }], clients: { count: 2, requests: 3, timeoutMs: 600, thinkMs: 5 } } });
    expect(formatFailure(r)).toMatch(/0 violation/);
    expect(r.stats.misbehaviourEvents).toBeGreaterThan(0);
  });
});
