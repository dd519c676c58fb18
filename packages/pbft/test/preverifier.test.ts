/**
 * `pbft.preverifier` (DESIGN §10): the checks it lists for a message are exactly the ones the core
 * then makes, so with a verified cache in front of the core every signature of honest traffic is
 * verified once, by the pre-verification, and the core's own `verify` calls are all cache hits.
 */
import { describe, expect, it } from 'vitest';
import { bytesEqual, concatBytes, utf8 } from '@phalanx/codec';
import { MAX_PREVERIFY_ITEMS } from '@phalanx/interface';
import type { ClientRequest, CoreContext, Hasher, NodeId, Preverifier, ProtocolEvent, RequestAuthenticator, Signer, Verifier, VerifyItem } from '@phalanx/interface';
import { createRequestAuthenticator, groupMessage, signRequests } from '@phalanx/client-auth';
import { createVerifiedCache, createVerifier, generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import type { VerifiedCache } from '@phalanx/crypto';
import { voteSigningBytes } from '@phalanx/quorum';
import { KIND_PREPARE, PbftCore, pbft, pbftCodec, refOf, sha256, sha256Hasher } from '../src/index.js';
import type { CheckpointPart, FetchMsg, NewViewMsg, PbftConfig, PbftMessage, StateMsg, ViewChangeMsg } from '../src/index.js';
import { Cluster, makeValidators, seededRng, testSigner, testVerifier } from './cluster.js';
import { CHAIN, checkpoint, digestOf, prePrepare, req, resign, vote } from './craft.js';
import { checkpointDigestOf } from '../src/message-checks.js';

// ---- real Ed25519 keys for replicas and clients (deterministic seeds)
const real = createVerifier();
const seedKey = (b: number) => generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(b) });
const replicaSecrets = new Map<string, Uint8Array>();
const replicaSigner = (id: string): Signer => {
  let s = replicaSecrets.get(id);
  if (!s) replicaSecrets.set(id, (s = seedKey(id.charCodeAt(1)).secretKey));
  return signerFromSecret(s);
};
const alice = seedKey(0xa1);
const bob = seedKey(0xb0);
const clientSigner = { alice: signerFromSecret(alice.secretKey), bob: signerFromSecret(bob.secretKey) };
const directory = new Map<string, Uint8Array>([
  ['alice', alice.publicKey],
  ['bob', bob.publicKey],
]);
const CLIENT_CHAIN = 'test';
let nextSeq = 0;
/** `n` commands of `client`, signed in groups of `group` (each group one signature). */
function signed(client: 'alice' | 'bob', n: number, group = 6): ClientRequest[] {
  const out: ClientRequest[] = [];
  for (let i = 0; i < n; i += group) {
    const items = Array.from({ length: Math.min(group, n - i) }, () => ({ seq: BigInt(nextSeq++), payload: utf8.encode(`cmd-${nextSeq}`) }));
    out.push(...signRequests(clientSigner[client], client, items, { chainId: CLIENT_CHAIN }));
  }
  return out;
}

/** The authenticator a replica gets, verifying through its verified cache; with `verifyItem` (built here if the package lacks it). */
function authenticator(verifier: Verifier): RequestAuthenticator {
  const base = createRequestAuthenticator({ chainId: CLIENT_CHAIN, keyOf: (c) => directory.get(c), verifier });
  if (base.verifyItem) return base;
  return {
    check: (r) => base.check(r),
    knows: (c) => directory.has(c),
    verifyItem: (g) => {
      const publicKey = directory.get(g.client);
      return publicKey ? { publicKey, message: groupMessage(g.client, g.digests, { chainId: CLIENT_CHAIN }), signature: g.signature } : undefined;
    },
  };
}

type Phase = 'pre' | 'step';

/** One replica's verified cache, with every real verification behind it counted by what caused it. */
interface Rig {
  readonly id: NodeId;
  readonly cache: VerifiedCache;
  readonly auth: RequestAuthenticator;
  preverifier?: Preverifier<PbftMessage>;
  phase: Phase;
  /** What is being stepped when the core verifies (for the failure message). */
  current: string;
  /** Verifications made by pre-verification (what the worker pool would do). */
  pre: number;
  /** Verifications the core made itself (of its own signatures too: it trusts what it signed): must be none. */
  readonly misses: string[];
}

function makeRig(id: NodeId, ownKey: Uint8Array): Rig {
  const rig = { id, phase: 'step', current: '', pre: 0, misses: [] } as unknown as Rig & { cache: VerifiedCache; auth: RequestAuthenticator };
  const counting: Verifier = {
    verify(pk, msg, sig) {
      if (rig.phase === 'pre') rig.pre++;
      else rig.misses.push(bytesEqual(pk, ownKey) ? `own ${rig.current}` : rig.current);
      return real.verify(pk, msg, sig);
    },
  };
  rig.cache = createVerifiedCache({ verifier: counting });
  rig.auth = authenticator(rig.cache);
  return rig;
}

/** Pre-verifies `items` into the rig's cache synchronously (as the pool would, counted apart). */
function preverify(rig: Rig, items: readonly VerifyItem[]): void {
  rig.phase = 'pre';
  for (const it of items) rig.cache.verify(it.publicKey, it.message, it.signature);
  rig.phase = 'step';
}

const BASE: PbftConfig = { checkpointInterval: 4, maxBatchSize: 4 };

function rigged(opts: { breakItems?: (items: readonly VerifyItem[]) => VerifyItem[] } = {}) {
  const rigs = new Map<NodeId, Rig>();
  const configOf = (id: NodeId): PbftConfig => ({ ...BASE, clientAuth: rigs.get(id)!.auth });
  const types = new Set<string>();
  const ctxOf = (id: NodeId, rig: Rig): CoreContext => ({ self: id, validators: c.validators, signer: replicaSigner(id), verifier: rig.cache, rng: seededRng(1) });
  const c: Cluster = new Cluster({
    n: 4,
    keys: { signer: replicaSigner, verifier: real },
    config: BASE,
    configFor: (id) => configOf(id),
    verifierFor: (id) => {
      const rig = makeRig(id, replicaSigner(id).publicKey);
      rigs.set(id, rig);
      return rig.cache;
    },
    beforeMessage: (to, from, msg) => {
      const rig = rigs.get(to)!;
      // Built once per replica from the context and config its core gets.
      rig.preverifier ??= pbft.preverifier!(ctxOf(to, rig), configOf(to));
      const items = rig.preverifier(msg, from);
      preverify(rig, opts.breakItems ? opts.breakItems(items) : items);
      rig.current = msg.type;
      types.add(msg.type);
    },
  });
  /** A client's commands reach `to`: the runtime checks their groups at admission (pre-verified like messages). */
  const submit = (rs: readonly ClientRequest[], to: readonly NodeId[]): void => {
    for (const id of to) {
      const rig = rigs.get(id)!;
      const groups = new Set(rs.map((r) => r.auth!.group));
      preverify(rig, [...groups].map((g) => rig.auth.verifyItem!(g)).filter((x): x is VerifyItem => x !== undefined));
      rig.current = 'client request';
      for (const r of rs) c.deliverRequest(id, r);
    }
  };
  return { c, rigs, types, submit };
}

/** One core (test MAC keys) behind a verified cache, each message pre-verified with the preverifier first. */
function countingCore(id: NodeId, config: PbftConfig = {}, signer: Signer = testSigner(id)) {
  let phase: 'pre' | 'core' = 'core';
  const counting: Verifier = {
    verify(pk, msg, sig) {
      // Its own key: the one check of the signer the core makes before trusting what it signs.
      if (phase === 'core' && bytesEqual(pk, ctx.signer.publicKey)) r.own++;
      else if (phase === 'core') r.misses++;
      return testVerifier.verify(pk, msg, sig);
    },
  };
  const cache = createVerifiedCache({ verifier: counting });
  const ctx: CoreContext = { self: id, validators: makeValidators(4), signer, verifier: cache, rng: seededRng(1) };
  const core = new PbftCore(ctx, config);
  const pre = pbft.preverifier!(ctx, config);
  const r = {
    core,
    pre,
    misses: 0,
    own: 0,
    events: [] as ProtocolEvent[],
    commits: [] as bigint[],
    step(from: NodeId, msg: PbftMessage) {
      phase = 'pre';
      for (const it of pre(msg, from)) cache.verify(it.publicKey, it.message, it.signature); // the pool's verdicts
      phase = 'core';
      core.step({ type: 'message', from, msg });
      while (core.hasReady()) {
        const rd = core.ready();
        r.events.push(...rd.events);
        r.commits.push(...rd.commit.map((b) => b.height));
      }
    },
  };
  return r;
}

const applied = (c: Cluster, id: NodeId) => c.node(id).app.applied.length;
const eventsOf = (c: Cluster, type: ProtocolEvent['type']) => c.ids.flatMap((id) => c.node(id).events.filter((e) => e.type === type));

/**
 * The normal case with relays and checkpoints, a lagging replica brought back by state transfer,
 * then the primary crashed and a view change. Returns what it ran through.
 */
function scenario(opts: Parameters<typeof rigged>[0] = {}) {
  const r = rigged(opts);
  const { c, submit } = r;
  const height = (id: NodeId) => c.node(id).core.status().committedHeight;
  const level = (ids: readonly NodeId[], leader: NodeId) => ids.every((id) => height(id) === height(leader));
  // 1. Normal case (§4.2) and checkpoints (§4.3) while r3 is cut off.
  let isolated = true;
  c.filter = (p) => !isolated || (p.to !== 'r3' && p.from !== 'r3');
  submit(signed('alice', 24), ['r0', 'r1', 'r2']);
  submit(signed('bob', 8), ['r1']); // reaches the primary only as a relayed REQUEST (§4.1)
  expect(c.runUntil(() => applied(c, 'r0') === 32 && level(['r1', 'r2'], 'r0'))).toBe(true);
  // 2. r3 is behind the stable checkpoint: it catches up by state transfer (TOCS §6.2).
  isolated = false;
  submit(signed('alice', 8), ['r0']);
  expect(c.runUntil(() => applied(c, 'r0') === 40 && level(['r1', 'r2', 'r3'], 'r0'), 400_000)).toBe(true);
  // 3. The primary crashes: a view change (§4.4) to r1, which orders what the backups hold.
  c.crash('r0');
  const rest = ['r1', 'r2', 'r3'];
  submit(signed('bob', 12), rest);
  expect(c.runUntil(() => applied(c, 'r1') === 52 && level(rest, 'r1'), 400_000)).toBe(true);
  // 4. And more in the new view, relayed by a backup.
  submit(signed('alice', 8), ['r2']);
  expect(c.runUntil(() => applied(c, 'r1') === 60 && level(rest, 'r1'), 400_000)).toBe(true);
  expect(c.node('r1').core.status().view).toBeGreaterThanOrEqual(1n);
  c.checkAgreement();
  c.checkHealthy();
  return r;
}

describe('pbft.preverifier with a verified cache in front of the core (DESIGN §10)', () => {
  it('lists every signature the core checks: no verification left to the core for honest traffic, client groups included', () => {
    const { c, rigs, types } = scenario();
    // The run went through every signed message type.
    for (const t of ['pre-prepare', 'prepare', 'commit', 'checkpoint', 'view-change', 'new-view', 'request', 'fetch', 'state']) {
      expect(types.has(t), `a ${t} was delivered`).toBe(true);
    }
    expect(eventsOf(c, 'view-change').length).toBeGreaterThan(0);
    expect(eventsOf(c, 'checkpoint').length).toBeGreaterThan(0);
    expect(c.node('r3').events.some((e) => e.type === 'state-transfer' && e.phase === 'completed')).toBe(true);
    for (const rig of rigs.values()) {
      const byType: Record<string, number> = {};
      for (const t of rig.misses) byType[t] = (byType[t] ?? 0) + 1;
      // Its own signatures: the first one is checked (a broken signer must not count its votes), no other.
      const own = Object.entries(byType).filter(([t]) => t.startsWith('own '));
      expect(own.reduce((n, [, k]) => n + k, 0), `${rig.id}: own signatures checked`).toBe(1);
      for (const [t] of own) delete byType[t];
      expect(byType, `${rig.id}: signatures the core verified itself, by message stepped`).toEqual({});
      expect(rig.pre, `${rig.id} pre-verified`).toBeGreaterThan(0);
    }
  });

  it('lists the commit certificates of STATE entries (a replica a few batches behind, TOCS §6.2)', () => {
    const r3 = countingCore('r3');
    const entry = (seq: bigint, batch: readonly ClientRequest[]) => ({
      view: 0n,
      seq,
      batch,
      commits: ['r0', 'r1', 'r2'].map((v) => ({ voter: v, signature: vote('commit', v, 0n, seq, digestOf(batch)).signature })),
    });
    const st = resign<StateMsg>('r0', { type: 'state', entries: [entry(2n, [req(2)]), entry(1n, [req(1)])], signature: new Uint8Array(0) });
    expect(r3.pre(st, 'r0')).toHaveLength(7); // the body and 2 × 3 commits
    r3.step('r0', st);
    expect(r3.commits).toEqual([1n, 2n]);
    expect(r3.misses).toBe(0);
  });

  it('stops walking a STATE once the list is full: later entries are not even hashed', () => {
    let digests = 0;
    const hasher: Hasher = { algorithm: 'sha256', digest: (d) => (digests++, sha256Hasher.digest(d)) };
    const ctx: CoreContext = { self: 'r3', validators: makeValidators(4), signer: testSigner('r3'), verifier: createVerifiedCache(), rng: seededRng(1) };
    const pre = pbft.preverifier!(ctx, { hasher, checkpointInterval: 100, watermarkWindow: 200 });
    // 150 entries of 3 commits each: 451 items; the list is full within entry 85.
    const entries = Array.from({ length: 150 }, (_, i) => {
      const seq = BigInt(i + 1);
      const batch = [req(i + 1)];
      return { view: 0n, seq, batch, commits: ['r0', 'r1', 'r2'].map((v) => ({ voter: v, signature: vote('commit', v, 0n, seq, digestOf(batch)).signature })) };
    });
    const st = resign<StateMsg>('r0', { type: 'state', entries, signature: new Uint8Array(0) });
    digests = 0;
    expect(pre(st, 'r0')).toHaveLength(MAX_PREVERIFY_ITEMS);
    // One batch digest per entry walked, and the walk ended at the entry that filled the list.
    expect(digests).toBeLessThanOrEqual(Math.ceil((MAX_PREVERIFY_ITEMS - 1) / 3) + 1);
  });

  it('lists the checkpoint proof of the STATE piece that starts a transfer, not of later pieces', () => {
    const r3 = countingCore('r3', { checkpointInterval: 4 });
    const snapshot = utf8.encode('the application state at 4');
    const clients = utf8.encode('the execution table');
    const stateDigest = sha256(snapshot);
    const digest = checkpointDigestOf(sha256Hasher, 4n, stateDigest, sha256(snapshot), snapshot.length, sha256(clients), clients.length);
    const part = (offset: number, data: Uint8Array): CheckpointPart => ({
      seq: 4n,
      stateDigest,
      snapshotHash: sha256(snapshot),
      snapshotBytes: snapshot.length,
      clientsHash: sha256(clients),
      clientsBytes: clients.length,
      proof: ['r0', 'r1', 'r2'].map((v) => ({ voter: v, signature: checkpoint(v, 4n, digest).signature })),
      offset,
      data,
    });
    const first = resign<StateMsg>('r0', { type: 'state', checkpoint: part(0, snapshot.subarray(0, 8)), entries: [], signature: new Uint8Array(0) });
    expect(r3.pre(first, 'r0')).toHaveLength(4); // the body and 3 CHECKPOINT signatures
    r3.step('r0', first);
    expect(r3.events.some((e) => e.type === 'misbehaviour')).toBe(false);
    expect(r3.events.some((e) => e.type === 'state-transfer' && e.phase === 'started')).toBe(true);
    const next = resign<StateMsg>('r0', { type: 'state', checkpoint: part(8, snapshot.subarray(8)), entries: [], signature: new Uint8Array(0) });
    expect(r3.pre(next, 'r0')).toHaveLength(1); // the body only: later pieces are judged by the certified hashes
    r3.step('r0', next);
    expect(r3.misses).toBe(0);
    expect(r3.own).toBeLessThanOrEqual(1);
  });

  it('lists the first MAX_PREVERIFY_ITEMS of a message that would need more, and stops walking there', () => {
    const base = authenticator(createVerifiedCache());
    let asked = 0;
    const auth: RequestAuthenticator = { ...base, verifyItem: (g) => (asked++, base.verifyItem!(g)) };
    const ctx: CoreContext = { self: 'r1', validators: makeValidators(4), signer: testSigner('r1'), verifier: createVerifiedCache(), rng: seededRng(1) };
    const pre = pbft.preverifier!(ctx, { clientAuth: auth, maxBatchSize: 4096 });
    const [one] = signRequests(clientSigner.alice, 'alice', [{ seq: 0n, payload: utf8.encode('x') }], { chainId: CLIENT_CHAIN });
    const forged = (count: number): ClientRequest[] =>
      Array.from({ length: count }, (_, i) => ({
        ...one!,
        seq: BigInt(i),
        auth: { group: { ...one!.auth!.group, digests: [Uint8Array.from({ length: 32 }, (_, k) => (k < 4 ? (i >>> (8 * k)) & 0xff : 0))] }, index: 0 },
      }));
    // The core stops at the first forged group; a pool would verify every listed one.
    expect(pre({ type: 'request', requests: forged(MAX_PREVERIFY_ITEMS) }, 'r0')).toHaveLength(MAX_PREVERIFY_ITEMS);
    expect(pre({ type: 'request', requests: forged(MAX_PREVERIFY_ITEMS + 1) }, 'r0')).toHaveLength(MAX_PREVERIFY_ITEMS);
    asked = 0;
    const many = forged(4096);
    const listed = pre({ type: 'request', requests: many }, 'r0');
    expect(listed).toHaveLength(MAX_PREVERIFY_ITEMS);
    expect(listed[0]!.signature).toBe(many[0]!.auth!.group.signature); // the first ones, in order
    expect(asked).toBe(MAX_PREVERIFY_ITEMS + 1); // not 4096: the walk ended with the list
  });

  it('trusts its own signatures only once one verified: a broken signer has every vote checked', () => {
    const good = countingCore('r1');
    const genuine = testSigner('r1');
    // Same public key, signatures that never verify (a broken key file or remote signer).
    const broken = countingCore('r1', {}, { scheme: genuine.scheme, publicKey: genuine.publicKey, sign: (m) => Uint8Array.from(genuine.sign(m), (b, i) => (i === 0 ? b ^ 1 : b)) });
    for (const r of [good, broken]) for (let seq = 1n; seq <= 3n; seq++) r.step('r0', prePrepare('r0', 0n, seq, [req(Number(seq), 'c', 'x')]));
    expect(good.own).toBe(1); // its first PREPARE, then none
    // Each PREPARE it made: checked when made, and again as it enters its vote set, where it fails
    // and is not counted (as before own signatures were trusted).
    expect(broken.own).toBe(6);
  });

  it('a preverifier listing wrong bytes costs only speed: the same commands commit, the core verifies inline', () => {
    // Every item damaged (another chain id in the signed bytes, garbage added): none verifies, none is cached.
    const garbage: VerifyItem = { publicKey: new Uint8Array(33), message: new Uint8Array(5), signature: new Uint8Array(64) };
    const { rigs } = scenario({
      breakItems: (items) => [...items.map((i) => ({ ...i, message: concatBytes(utf8.encode('x'), i.message) })), garbage],
    });
    const misses = [...rigs.values()].reduce((n, r) => n + r.misses.length, 0);
    expect(misses).toBeGreaterThan(100);
  });

  it('never makes a forged message pass: a PREPARE under a wrong key is refused though its item was listed', () => {
    const { pre, step, events: out } = countingCore('r1');
    const pp = prePrepare('r0', 0n, 1n, [req(1)]);
    step('r0', pp);
    // r2's PREPARE signed with r3's key: listed (r2's key, those bytes, that signature), fails, not cached.
    const honest = vote('prepare', 'r2', 0n, 1n, pp.digest);
    const forged = { ...honest, signature: testSigner('r3').sign(voteSigningBytes(CHAIN, { kind: KIND_PREPARE, height: 1n, round: 0n, digest: pp.digest })) };
    expect(pre(forged, 'r2')).toHaveLength(1);
    step('r2', forged);
    expect(out.some((e) => e.type === 'misbehaviour' && e.peer === 'r2' && e.kind === 'invalid-signature')).toBe(true);
    // The genuine PREPARE still counts afterwards (the forged one took no place in the vote set).
    const before = out.length;
    step('r2', honest);
    expect(out.slice(before).some((e) => e.type === 'misbehaviour')).toBe(false);
    // Garbage in the signature field: listed, refused by the pool, refused by the core.
    const forgedCommit = { ...vote('commit', 'r3', 0n, 1n, pp.digest), signature: new Uint8Array(32) };
    step('r3', forgedCommit);
    expect(out.some((e) => e.type === 'misbehaviour' && e.peer === 'r3' && e.kind === 'invalid-signature')).toBe(true);
  });

  it('never throws, on garbage of every message shape', () => {
    const validators = makeValidators(4);
    const ctx: CoreContext = { self: 'r1', validators, signer: testSigner('r1'), verifier: testVerifier, rng: seededRng(1) };
    const auth: RequestAuthenticator = {
      check: () => undefined,
      verifyItem: () => {
        throw new Error('a throwing authenticator');
      },
    };
    const pres = [pbft.preverifier!(ctx, {}), pbft.preverifier!(ctx, { clientAuth: auth }), pbft.preverifier!(ctx, { nonsense: 1 } as PbftConfig)];
    const rng = seededRng(7);
    const junk = (depth: number): unknown => {
      const k = rng.nextInt(depth > 2 ? 7 : 10);
      switch (k) {
        case 0: return null;
        case 1: return undefined;
        case 2: return rng.bytes(rng.nextInt(40));
        case 3: return BigInt(rng.nextInt(1000)) - 3n;
        case 4: return ['r0', 'r1', 'r2', 'r3', 'x', ''][rng.nextInt(6)];
        case 5: return rng.nextInt(100) - 5;
        case 6: return {};
        case 7: return Array.from({ length: rng.nextInt(4) }, () => junk(depth + 1));
        default: {
          const o: Record<string, unknown> = {};
          for (const f of ['view', 'seq', 'digest', 'signature', 'voter', 'replica', 'newView', 'stable', 'votes', 'prepared', 'prePrepare', 'prepares', 'viewChanges', 'prePrepares', 'batch', 'requests', 'auth', 'group', 'have', 'part', 'checkpoint', 'entries', 'commits', 'proof', 'offset', 'data']) {
            if (rng.nextInt(2) === 0) o[f] = junk(depth + 1);
          }
          return o;
        }
      }
    };
    const types = ['pre-prepare', 'prepare', 'commit', 'checkpoint', 'view-change', 'new-view', 'fetch', 'state', 'request', 'fetch-batch', 'batch', 'nope'];
    let listed = 0;
    for (let i = 0; i < 4000; i++) {
      const base = junk(0);
      const msg = { ...(typeof base === 'object' && base !== null ? base : {}), type: types[i % types.length] } as unknown as PbftMessage;
      for (const pre of pres) {
        const items = pre(msg, ['r0', 'r2', 'r3', 'zz'][rng.nextInt(4)]!);
        expect(Array.isArray(items)).toBe(true);
        listed += items.length;
      }
    }
    // Well-formed messages of every signed shape with one field, at any depth, replaced by junk.
    const pp = prePrepare('r0', 0n, 1n, [req(1)]);
    const prepares = ['r1', 'r2'].map((v) => ({ voter: v, signature: vote('prepare', v, 0n, 1n, pp.digest).signature }));
    const vc = resign<ViewChangeMsg>('r2', {
      type: 'view-change', replica: 'r2', newView: 1n,
      stable: { seq: 4n, digest: pp.digest, votes: ['r0', 'r1', 'r2'].map((v) => ({ voter: v, signature: checkpoint(v, 4n, pp.digest).signature })) },
      prepared: [{ prePrepare: refOf({ ...pp, seq: 5n }), prepares }], signature: new Uint8Array(0),
    });
    const valid: [NodeId, PbftMessage][] = [
      ['r0', pp], ['r2', vote('prepare', 'r2', 0n, 1n, pp.digest)], ['r2', vote('commit', 'r2', 0n, 1n, pp.digest)],
      ['r2', checkpoint('r2', 4n, pp.digest)], ['r2', vc],
      ['r1', resign<NewViewMsg>('r1', { type: 'new-view', view: 1n, viewChanges: [vc, { ...vc, replica: 'r3' }], prePrepares: [refOf(pp)], signature: new Uint8Array(0) })],
      ['r2', resign<FetchMsg>('r2', { type: 'fetch', have: 3n, signature: new Uint8Array(0) })],
      ['r0', resign<StateMsg>('r0', { type: 'state', entries: [{ view: 0n, seq: 1n, batch: [req(1)], commits: prepares }], signature: new Uint8Array(0) })],
      ['r2', { type: 'request', requests: [req(1)] }],
    ];
    for (const [from, m] of valid) for (const pre of pres.slice(0, 2)) listed += pre(m, from).length;
    const corrupt = (x: unknown, depth: number): unknown => {
      if (depth > 0 && rng.nextInt(3) === 0) return junk(2);
      if (Array.isArray(x)) return x.length === 0 ? junk(2) : x.map((e, i) => (i === rng.nextInt(x.length) ? corrupt(e, depth + 1) : e));
      if (x === null || typeof x !== 'object' || x instanceof Uint8Array) return junk(2);
      const keys = Object.keys(x).filter((k) => k !== 'type');
      const k = keys[rng.nextInt(keys.length)]!;
      return { ...x, [k]: corrupt((x as Record<string, unknown>)[k], depth + 1) };
    };
    for (let i = 0; i < 3000; i++) {
      const [from, m] = valid[i % valid.length]!;
      for (const pre of pres) expect(Array.isArray(pre(corrupt(m, 0) as PbftMessage, from))).toBe(true);
    }
    for (const pre of pres) expect(pre(null as unknown as PbftMessage, 'r0')).toEqual([]);
    expect(pres[0]!(pbftCodec.decode(pbftCodec.encode(pp)), 'r0')).toHaveLength(1);
    expect(pres[2]!(pp, 'r0')).toEqual([]); // a config the core refuses lists nothing
    expect(listed, 'some junk is shaped well enough to list').toBeGreaterThan(0);
  });
});
