/**
 * The preverifier (`hotstuff.preverifier`): for each message a replica is about to step, the
 * signature checks its core will make. Each replica's core verifies through a verified-digest cache
 * (`createVerifiedCache`, as the runtime wires it) over a counting verifier; before each delivery
 * the test verifies the listed items into that cache, as the runtime's worker pool would. With
 * honest traffic the core must then never verify anything itself (every check a cache hit), in the
 * normal case, across view changes, through block sync and through state transfer, with client
 * signatures on.
 */
import { describe, expect, it } from 'vitest';
import { MAX_PREVERIFY_ITEMS } from '@phalanx/interface';
import type { ClientRequest, Input, Preverifier, ProtocolEvent, RequestAuthenticator, SignedRequestGroup, Verifier, VerifyItem } from '@phalanx/interface';
import { utf8 } from '@phalanx/codec';
import { createVerifiedCache } from '@phalanx/crypto';
import type { VerifiedCache } from '@phalanx/crypto';
import { createRequestAuthenticator, groupMessage, MAX_GROUP_SIZE, signRequests } from '@phalanx/client-auth';
import { blsAggregateScheme, hotstuff, roundRobin } from '../src/index.js';
import type { HotStuffConfig, HotStuffCore, HotStuffMessage } from '../src/index.js';
import { Crafter } from './craft.js';
import { Cluster, fakeKeys, fakeValidators, fakeVerifier, seededRng } from './harness.js';

const CHAIN = 'test';
const alice = fakeKeys('client:alice');
const bob = fakeKeys('client:bob');
const directory = new Map([
  ['alice', alice.publicKey],
  ['bob', bob.publicKey],
]);

/**
 * `verifyItem` for groups, as @phalanx/client-auth defines it: the client's key, the group message,
 * the signature. Used only until the authenticator provides its own.
 */
function groupItem(g: SignedRequestGroup): VerifyItem | undefined {
  const publicKey = directory.get(g.client);
  if (!publicKey || g.digests.length === 0 || g.digests.length > MAX_GROUP_SIZE) return undefined;
  return { publicKey, message: groupMessage(g.client, g.digests, { chainId: CHAIN }), signature: g.signature };
}

function authenticator(verifier: Verifier): RequestAuthenticator {
  const base = createRequestAuthenticator({ chainId: CHAIN, keyOf: (id) => directory.get(id), verifier });
  return base.verifyItem ? base : { ...base, verifyItem: groupItem };
}

/** One replica's verification plumbing: cache over a counting verifier, its authenticator and preverifier. */
interface Rig {
  readonly cache: VerifiedCache;
  /** What the core (and its authenticator) verify through: the cache, recording what was asked. */
  readonly verifier: Verifier;
  readonly auth: RequestAuthenticator;
  pv: Preverifier<HotStuffMessage> | undefined;
  /** The input being stepped (labels misses). */
  current: string;
  /** Verifications the core made itself (cache misses), labelled with the input being stepped. */
  readonly misses: string[];
  /** Items verified ahead of the core, and how many of those were invalid. */
  preverified: number;
  invalid: number;
  /** Items listed per input kind, and inputs stepped per kind. */
  readonly listed: Map<string, number>;
  readonly stepped: Map<string, number>;
}

/** Whether the counting verifiers are being called ahead of a core (the "pool") or by it. */
let phase: 'pre' | 'core' = 'core';

function rig(): Rig {
  const counting: Verifier = {
    verify(pk, m, s) {
      const ok = fakeVerifier.verify(pk, m, s);
      if (phase === 'pre') {
        r.preverified += 1;
        if (!ok) r.invalid += 1;
      } else r.misses.push(r.current);
      return ok;
    },
  };
  const cache = createVerifiedCache({ verifier: counting });
  const r: Rig = { cache, verifier: cache, auth: authenticator(cache), pv: undefined, current: 'none', misses: [], preverified: 0, invalid: 0, listed: new Map(), stepped: new Map() };
  return r;
}

const bump = (m: Map<string, number>, k: string, by = 1): void => void m.set(k, (m.get(k) ?? 0) + by);

/**
 * A 4-replica cluster whose replicas verify through their own caches, with the preverifier's items
 * verified into the cache before every delivery (and a client request's group at admission, as the
 * runtime checks it there).
 */
function rigged(seed: number, config: Partial<HotStuffConfig> = {}): { c: Cluster; rigs: Map<string, Rig> } {
  const ids = fakeValidators(4).ids;
  const rigs = new Map(ids.map((id) => [id, rig()]));
  const c = new Cluster({
    n: 4,
    seed,
    verifierFor: (id) => rigs.get(id)!.verifier,
    configFor: (id) => ({ ...config, clientAuth: rigs.get(id)!.auth }),
  });
  for (const id of ids) {
    const r = rigs.get(id)!;
    r.pv = hotstuff.preverifier!({ self: id, validators: c.validators, signer: c.signers.get(id)!, verifier: r.verifier, rng: seededRng(1) }, c.config(id));
  }
  c.beforeStep = (id, input: Input<HotStuffMessage>) => {
    const r = rigs.get(id)!;
    let items: readonly VerifyItem[] = [];
    let what: string = input.type;
    if (input.type === 'message') {
      what = input.msg.type === 'proposal' && input.msg.tc ? 'proposal+tc' : input.msg.type === 'state' && input.msg.cert ? 'state+cert' : input.msg.type;
      items = r.pv!(input.msg, input.from);
    } else if (input.type === 'request' && input.request.auth) {
      const it = r.auth.verifyItem!(input.request.auth.group);
      items = it ? [it] : [];
    }
    bump(r.stepped, what);
    bump(r.listed, what, items.length);
    phase = 'pre';
    try {
      for (const it of items) r.cache.verify(it.publicKey, it.message, it.signature);
    } finally {
      phase = 'core';
    }
    r.current = what;
  };
  return { c, rigs };
}

const sum = (rigs: Map<string, Rig>, f: (r: Rig) => number): number => [...rigs.values()].reduce((a, r) => a + f(r), 0);
const total = (rigs: Map<string, Rig>, what: string, key: 'listed' | 'stepped'): number => sum(rigs, (r) => r[key].get(what) ?? 0);

/** Every replica: no verification of its own, no invalid item listed, and pre-verification did happen. */
function expectAllPreverified(rigs: Map<string, Rig>): void {
  for (const [id, r] of rigs) {
    expect({ id, misses: r.misses }).toEqual({ id, misses: [] });
    expect({ id, invalid: r.invalid }).toEqual({ id, invalid: 0 });
  }
  expect(sum(rigs, (r) => r.preverified)).toBeGreaterThan(0);
}

function signed(client: 'alice' | 'bob', from: number, count: number, tag = 'v'): ClientRequest[] {
  const keys = client === 'alice' ? alice : bob;
  const items = Array.from({ length: count }, (_, i) => ({ seq: BigInt(from + i), payload: utf8.encode(`${tag}${from + i}`) }));
  return signRequests(keys.signer, client, items, { chainId: CHAIN });
}

function committedAll(c: Cluster, ids: readonly string[], count: number): () => boolean {
  return () => ids.every((id) => c.nodes.get(id)!.committedRequests.size >= count);
}

function misbehaviours(events: ProtocolEvent[], kind: string): string[] {
  return events.flatMap((e) => (e.type === 'misbehaviour' && e.kind === kind ? [`${e.peer}: ${e.detail}`] : []));
}

describe.each(['three-chain', 'two-chain'] as const)('preverifier (%s): the core verifies nothing itself on honest traffic', (commitRule) => {
  it('normal case: proposals, votes, relayed requests and status', () => {
    const { c, rigs } = rigged(41, { commitRule, maxBlockCommands: 50, snapshotInterval: 0 });
    const cmds = [...signed('alice', 1, 200), ...signed('bob', 1, 30)];
    for (const r of cmds) c.request(r.client === 'alice' ? 'r0' : 'r2', r);
    c.run({ until: committedAll(c, c.ids, 230) });
    for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size).toBe(230);
    c.checkAgreement(true);
    expectAllPreverified(rigs);
    for (const t of ['proposal', 'vote', 'requests']) expect(total(rigs, t, 'listed')).toBeGreaterThan(0);
    for (const id of c.ids) expect(misbehaviours(c.nodes.get(id)!.events, 'invalid-signature')).toEqual([]);
  });

  it('view change: a crashed leader, TIMEOUTs, TCs and proposals justified by a TC', () => {
    const { c, rigs } = rigged(42, { commitRule, leaderElection: roundRobin, maxBlockCommands: 20, snapshotInterval: 0 });
    c.crash('r1');
    const live = ['r0', 'r2', 'r3'];
    const cmds = signed('alice', 1, 100);
    for (const r of cmds) for (const id of live) c.request(id, r);
    c.run({ until: committedAll(c, live, 100) });
    for (const id of live) expect(c.nodes.get(id)!.committedRequests.size).toBe(100);
    c.checkAgreement(true);
    expectAllPreverified(rigs);
    expect(total(rigs, 'timeout', 'listed')).toBeGreaterThan(0);
    expect(total(rigs, 'proposal+tc', 'listed')).toBeGreaterThan(0);
  });

  it('block sync: a replica cut off while the others commit fetches the blocks it missed', () => {
    const { c, rigs } = rigged(43, { commitRule, maxBlockCommands: 10, snapshotInterval: 0 });
    let isolated = true;
    c.filter = (e) => !(isolated && (e.from === 'r3' || e.to === 'r3'));
    const majority = ['r0', 'r1', 'r2'];
    for (const r of signed('alice', 1, 60)) for (const id of majority) c.request(id, r);
    c.run({ until: committedAll(c, majority, 60) });
    isolated = false;
    for (const r of signed('bob', 1, 20)) for (const id of c.ids) c.request(id, r);
    c.run({ until: committedAll(c, c.ids, 80) });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(80);
    c.checkAgreement(true);
    expectAllPreverified(rigs);
    expect(rigs.get('r3')!.stepped.get('blocks') ?? 0).toBeGreaterThan(0);
  });

  it('state transfer: checkpoint votes and certificates, and the first piece with its commit proof', () => {
    const { c, rigs } = rigged(44, { commitRule, syncWindow: 8, snapshotInterval: 4, stateTickMs: 100, stateChunkBytes: 1024 });
    c.crash('r3');
    const live = ['r0', 'r1', 'r2'];
    for (let i = 1; i <= 40; i++) {
      for (const r of signed('alice', i, 1, 'x'.repeat(100))) for (const id of live) c.request(id, r);
      c.run({ until: committedAll(c, live, i), maxSteps: 50_000 });
    }
    c.start('r3');
    c.run({ until: committedAll(c, c.ids, 40), maxSteps: 100_000 });
    expect(c.nodes.get('r3')!.committedRequests.size).toBe(40);
    expect(c.nodes.get('r3')!.events.some((e) => e.type === 'state-transfer' && e.phase === 'completed')).toBe(true);
    for (let i = 41; i <= 45; i++) {
      for (const r of signed('alice', i, 1)) for (const id of c.ids) c.request(id, r);
      c.run({ until: committedAll(c, c.ids, i), maxSteps: 50_000 });
    }
    c.checkAgreement(true);
    expectAllPreverified(rigs);
    expect(total(rigs, 'checkpoint', 'listed')).toBeGreaterThan(0);
    expect(rigs.get('r3')!.listed.get('state+cert') ?? 0).toBeGreaterThan(0);
  });
});

/** One core over a cache, as in the cluster tests, for hand-made messages. */
function single(self: string, config: Partial<HotStuffConfig> = {}) {
  const v = fakeValidators(4);
  const craft = new Crafter(v.validators, v.signers);
  const r = rig();
  const ctx = { self, validators: v.validators, signer: v.signers.get(self)!, verifier: r.verifier, rng: seededRng(3) };
  const cfg: HotStuffConfig = { chainId: CHAIN, baseTimeoutMs: 100, statusIntervalMs: 0, leaderElection: roundRobin, ...config };
  const core = hotstuff.create(ctx, cfg) as HotStuffCore;
  const pv = hotstuff.preverifier!(ctx, cfg);
  const events: ProtocolEvent[] = [];
  const drain = (): void => {
    while (core.hasReady()) events.push(...core.ready().events);
  };
  drain();
  /** Verifies `items` into the cache as the pool would, then steps the message. */
  const deliver = (from: string, msg: HotStuffMessage, items: readonly VerifyItem[] = pv(msg, from)): void => {
    phase = 'pre';
    try {
      for (const it of items) r.cache.verify(it.publicKey, it.message, it.signature);
    } finally {
      phase = 'core';
    }
    core.step({ type: 'message', from, msg });
    drain();
  };
  return { v, craft, r, core, pv, events, deliver, ctx, cfg };
}

const highQCView = (core: HotStuffCore): bigint => core.status().detail!.highQCView as bigint;

describe('preverifier: wrong items change nothing about safety', () => {
  it('lists the first MAX_PREVERIFY_ITEMS of a message that would need more, and stops hashing groups there', () => {
    const auth = authenticator(createVerifiedCache());
    const { pv: withAuth } = single('r1', { clientAuth: auth });
    // A relay of 65,536 one-command groups, each "signed" by alice (forged): the core stops at the
    // first forged one; the pool must not be handed 65,536 verifications.
    const one = signed('alice', 0, 1)[0]!;
    const forged: ClientRequest[] = Array.from({ length: 65_536 }, (_, i) => ({
      ...one,
      seq: BigInt(i),
      auth: { group: { ...one.auth!.group, digests: [Uint8Array.from({ length: 32 }, (_, k) => (k < 4 ? (i >>> (8 * k)) & 0xff : 0))] }, index: 0 },
    }));
    let asked = 0;
    const counted = { ...auth, verifyItem: (g: SignedRequestGroup) => (asked++, auth.verifyItem!(g)) };
    const { pv: countingPv } = single('r1', { clientAuth: counted });
    const listed = countingPv({ type: 'requests', requests: forged }, 'r0');
    expect(listed).toHaveLength(MAX_PREVERIFY_ITEMS);
    expect(listed[0]!.signature).toBe(forged[0]!.auth!.group.signature); // the first ones, in order
    expect(asked).toBe(MAX_PREVERIFY_ITEMS + 1); // the walk ended with the list
    // Up to the cap, every group is listed.
    expect(withAuth({ type: 'requests', requests: forged.slice(0, MAX_PREVERIFY_ITEMS) }, 'r0')).toHaveLength(MAX_PREVERIFY_ITEMS);
    expect(withAuth({ type: 'requests', requests: forged.slice(0, MAX_PREVERIFY_ITEMS + 1) }, 'r0')).toHaveLength(MAX_PREVERIFY_ITEMS);
  });

  it('a forged QC is refused, even when the listed items are valid signatures for other bytes', () => {
    const s = single('r0');
    const g = s.craft.genesis;
    const a = s.craft.block(g, 1n, [], 'r1');
    const twin = s.craft.block(g, 1n, signed('alice', 1, 1), 'r1');
    const realQC = s.craft.qc(a);
    // The signatures of a real QC on the twin, claimed for `a`: every share is a valid signature,
    // over other bytes.
    const forgedQC = { ...s.craft.qc(a), sig: s.craft.qc(twin).sig };
    const child = s.craft.block(forgedQC, 2n, [], 'r2');
    const msg = s.craft.proposal(child);
    // An honest list (the forged shares: they fail in the pool and are not cached) ...
    const honest = s.pv(msg, 'r2');
    expect(honest.length).toBe(1 + 3);
    // ... and a lying one: the valid shares of the real QC on `a` and of the twin's QC.
    const lying = [...s.pv(s.craft.proposal(s.craft.block(realQC, 2n, [], 'r2')), 'r2'), ...s.pv(s.craft.proposal(s.craft.block(s.craft.qc(twin), 2n, [], 'r2')), 'r2')];
    for (const items of [lying, honest]) {
      s.deliver('r2', msg, items);
      expect(highQCView(s.core)).toBe(0n);
      expect(misbehaviours(s.events, 'invalid-signature').length).toBeGreaterThan(0);
    }
    expect(s.r.invalid).toBeGreaterThan(0); // the honest list's forged shares failed in the "pool"
    expect(s.r.misses.length).toBeGreaterThan(0); // and the core checked them itself
    // The genuine QC, listed honestly, is taken without a check of the core's own.
    const before = s.r.misses.length;
    s.deliver('r2', s.craft.proposal(s.craft.block(realQC, 2n, [], 'r2')));
    expect(highQCView(s.core)).toBe(1n);
    expect(s.r.misses.length).toBe(before);
  });

  it('a forged vote is refused (no QC) whatever was listed; the genuine vote completes the QC', () => {
    // r2 aggregates the votes of view 1 (it leads view 2). r0 and r1 vote honestly; r3's vote carries
    // r1's signature, while the list names r3's genuine share.
    const s = single('r2');
    const a = s.craft.block(s.craft.genesis, 1n, [], 'r1');
    for (const id of ['r0', 'r1']) s.deliver(id, s.craft.vote(id, a));
    const genuine = s.craft.vote('r3', a);
    const forged = { ...genuine, share: (s.craft.vote('r1', a) as Extract<HotStuffMessage, { type: 'vote' }>).share };
    s.deliver('r3', forged, s.pv(genuine, 'r3'));
    expect(highQCView(s.core)).toBe(0n);
    expect(misbehaviours(s.events, 'invalid-signature')).toEqual(['r3: vote for view 1']);
    // A lying list cannot make the cache vouch for the forged share: it is not a valid signature.
    s.deliver('r3', genuine);
    expect(highQCView(s.core)).toBe(1n);
  });

  it('a forged client signature in a proposal is still refused: no vote', () => {
    const s = single('r0', { clientAuth: authenticator(fakeVerifier) });
    const real = signed('alice', 1, 2);
    const forgedGroup = { ...real[0]!.auth!.group, signature: new Uint8Array(32).fill(7) };
    const forged = real.map((r, index) => ({ ...r, auth: { group: forgedGroup, index } }));
    const b = s.craft.block(s.craft.genesis, 1n, forged, 'r1');
    const msg = s.craft.proposal(b);
    // The list carries the genuine group's item instead (valid, cached): nothing changes.
    const items = [...s.pv(msg, 'r1'), groupItem(real[0]!.auth!.group)!];
    s.deliver('r1', msg, items);
    expect(misbehaviours(s.events, 'invalid-signature').join()).toMatch(/bad signature of client "alice"/);
  });
});

describe('preverifier: what it lists', () => {
  it('a proposal: the leader signature, each QC share, each TC timeout and its QC, one item per client group', () => {
    const s = single('r0', { clientAuth: authenticator(fakeVerifier) });
    const g = s.craft.genesis;
    const a = s.craft.block(g, 1n, [], 'r1');
    const qcA = s.craft.qc(a);
    const tc = s.craft.tc(2n, qcA, ['r1', 'r2', 'r3']);
    const cmds = [...signed('alice', 1, 3), ...signed('bob', 1, 2)];
    const b = s.craft.block(qcA, 3n, cmds, 'r3');
    const items = s.pv(s.craft.proposal(b, tc), 'r3');
    // 1 proposal signature + 3 QC shares + 3 timeouts (the TC's high QC is the same QC: deduplicated) + 2 groups.
    expect(items.length).toBe(1 + 3 + 3 + 2);
    expect(items.every((it) => fakeVerifier.verify(it.publicKey, it.message, it.signature))).toBe(true);
    // A proposal relayed by someone else, or malformed before any signature: nothing.
    expect(s.pv(s.craft.proposal(b, tc), 'r2')).toEqual([]);
    expect(s.pv(s.craft.proposal(b), 'r3')).toEqual([]); // view 3 on a QC of view 1 needs a TC
    // Our own signatures are not listed (the core does not check them).
    expect(s.pv(s.craft.timeout('r0', 2n, qcA), 'r0')).toEqual([]);
    expect(s.pv(s.craft.timeout('r1', 2n, qcA), 'r1').length).toBe(1 + 3);
    expect(s.pv({ type: 'status', highQC: g, reply: true }, 'r1')).toEqual([]);
    expect(s.pv({ type: 'blocks', blocks: [b.block] }, 'r1')).toEqual([]);
    expect(s.pv({ type: 'requests', requests: cmds }, 'r1').length).toBe(2);
    // From a non-member: nothing.
    expect(s.pv(s.craft.proposal(b, tc), 'mallory')).toEqual([]);
  });

  it('BLS certificates: nothing for QCs or vote shares (the pool cannot verify them), the Ed25519 signatures still', () => {
    const v = fakeValidators(4);
    const never = (): never => {
      throw new Error('the preverifier must not run BLS arithmetic');
    };
    const bls = { sign: never, verify: never, aggregate: never, verifyAggregate: never };
    const certificates = blsAggregateScheme({ bls, publicKeys: new Map(v.ids.map((id) => [id, new Uint8Array(48)])) });
    const s = single('r0', { certificates });
    const a = s.craft.block(s.craft.genesis, 1n, [], 'r1');
    const qcA = { view: 1n, height: 1n, block: a.hash, sig: new Uint8Array(96).fill(1) };
    const b = s.craft.block(qcA, 2n, [], 'r2');
    const items = s.pv(s.craft.proposal(b), 'r2');
    expect(items.length).toBe(1); // the leader's signature only
    expect(s.pv(s.craft.vote('r1', a), 'r1')).toEqual([]);
    expect(s.pv(s.craft.timeout('r1', 2n, qcA), 'r1').length).toBe(1);
  });
});

describe('preverifier: never throws', () => {
  const junk: unknown[] = [null, undefined, 0, 1n, 'x', new Uint8Array(3), [], {}, [null], { a: 1 }, new Uint8Array(100_000)];

  function variants(msg: HotStuffMessage): unknown[] {
    const out: unknown[] = [];
    const rec = msg as unknown as Record<string, unknown>;
    for (const k of Object.keys(rec)) {
      for (const j of junk) out.push({ ...rec, [k]: j });
      const inner = rec[k];
      if (inner !== null && typeof inner === 'object' && !(inner instanceof Uint8Array) && !Array.isArray(inner)) {
        for (const ik of Object.keys(inner)) for (const j of junk) out.push({ ...rec, [k]: { ...(inner as Record<string, unknown>), [ik]: j } });
      }
      if (Array.isArray(inner)) for (const j of junk) out.push({ ...rec, [k]: [...(inner as unknown[]), j] });
    }
    return out;
  }

  it('on malformed messages of every type, a throwing authenticator or scheme, or a config the core refuses', () => {
    const { c, rigs } = rigged(45, { maxBlockCommands: 10, syncWindow: 8, snapshotInterval: 4, stateTickMs: 100, stateChunkBytes: 1024 });
    c.crash('r3');
    for (let i = 1; i <= 20; i++) {
      for (const r of signed('alice', i, 1)) for (const id of ['r0', 'r1', 'r2']) c.request(id, r);
      c.run({ until: committedAll(c, ['r0', 'r1', 'r2'], i), maxSteps: 50_000 });
    }
    c.start('r3');
    c.run({ until: committedAll(c, c.ids, 20), maxSteps: 100_000 });
    const seen = new Map<string, HotStuffMessage>();
    for (const id of c.ids) for (const m of c.nodes.get(id)!.sent) seen.set(m.type === 'state' && m.cert ? 'state+cert' : m.type, m);
    expect(seen.size).toBeGreaterThanOrEqual(9);
    const v = fakeValidators(4);
    const throwingAuth: RequestAuthenticator = {
      check: () => undefined,
      verifyItem: () => {
        throw new Error('boom');
      },
    };
    const base: HotStuffConfig = { chainId: CHAIN, snapshotInterval: 4, syncWindow: 8 };
    const configs: Array<HotStuffConfig | null> = [
      base,
      { ...base, clientAuth: throwingAuth },
      {
        ...base,
        certificates: () => {
          throw new Error('no scheme');
        },
      },
      { ...base, chainId: '' },
      null,
    ];
    const pvs = [rigs.get('r0')!.pv!, ...configs.map((cfg) => hotstuff.preverifier!({ self: 'r0', validators: v.validators, signer: v.signers.get('r0')!, verifier: fakeVerifier, rng: seededRng(1) }, cfg as HotStuffConfig))];
    let calls = 0;
    for (const pv of pvs) {
      for (const m of [...seen.values()]) {
        for (const bad of [m, ...variants(m), ...junk]) {
          for (const from of ['r1', 'r0', 'nobody', undefined]) {
            const items = pv(bad as HotStuffMessage, from as string);
            expect(Array.isArray(items)).toBe(true);
            calls += 1;
          }
        }
      }
    }
    expect(calls).toBeGreaterThan(1000);
  });
});
