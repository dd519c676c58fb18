/**
 * Client-signed commands (`config.clientAuth`, @phalanx/client-auth) with real Ed25519 client keys:
 * OSDI '99 §4.2 — a backup accepts a pre-prepare only if "the signatures in the request and the
 * pre-prepare message are correct". Without it a Byzantine primary orders commands no client sent.
 */
import { describe, expect, it } from 'vitest';
import { decode, encode, toHex, utf8 } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { ConfigError, DecodeError, batchWireBytes } from '@phalanx/interface';
import type { ClientRequest, NodeId, ProtocolEvent, RequestAuthenticator } from '@phalanx/interface';
import { createRequestAuthenticator, groupOf, requestListValue, signRequests } from '@phalanx/client-auth';
import { createVerifier, generateKeyPair, signerFromSecret, verifier } from '@phalanx/crypto';
import { MAX_GROUP_WIRE_BYTES, PbftCore, batchValue, fromValue, pbftCodec, refOf } from '../src/index.js';
import type { NewViewMsg, PbftConfig, PbftMessage, PreparedCert, PrePrepareMsg, RequestMsg, StateMsg } from '../src/index.js';
import { Cluster, makeValidators, seededRng, testSigner, testVerifier } from './cluster.js';
import type { Packet } from './cluster.js';
import { Solo, digestOf, fuzzDecode, prePrepare, req, resign, restartFrom, viewChange, vote } from './craft.js';

// ---- clients: real Ed25519 keys, deterministic seeds
const clientKey = (seed: number) => generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(seed) });
const alice = clientKey(0xa1);
const bob = clientKey(0xb0);
const signerOf = { alice: signerFromSecret(alice.secretKey), bob: signerFromSecret(bob.secretKey) };
const directory = new Map<string, Uint8Array>([
  ['alice', alice.publicKey],
  ['bob', bob.publicKey],
]);
/** Each replica gets its own authenticator (its own verdict cache), as in a real deployment. */
const authenticator = (keys: ReadonlyMap<string, Uint8Array> = directory): RequestAuthenticator =>
  createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier });
const items = (from: number, n: number, text = 'cmd') =>
  Array.from({ length: n }, (_, i) => ({ seq: BigInt(from + i), payload: utf8.encode(`${text}-${from + i}`) }));
const signed = (client: 'alice' | 'bob', from: number, n: number, text?: string): ClientRequest[] => signRequests(signerOf[client], client, items(from, n, text), { chainId: 'test' });
const strip = (rs: readonly ClientRequest[]): ClientRequest[] => rs.map((r) => ({ client: r.client, seq: r.seq, payload: r.payload }));
const idOf = (r: ClientRequest) => `${r.client}/${r.seq}/${toHex(r.payload)}`;

const authConfig = (): PbftConfig => ({ clientAuth: authenticator() });
const honest = ['r1', 'r2', 'r3'];
const misbehaviour = (events: readonly ProtocolEvent[], peer: NodeId, kind = 'invalid-signature') =>
  events.filter((e) => e.type === 'misbehaviour' && e.peer === peer && e.kind === kind);

/** Pre-prepare digests a replica persisted (REC_PP records): what it accepted. */
function acceptedDigests(c: Cluster, id: NodeId): Set<string> {
  const out = new Set<string>();
  for (const rec of c.node(id).disk.log) {
    const [tag, v] = decode(rec.data, { maxBytes: rec.data.length }) as [number, Value];
    if (tag !== 0) continue;
    const m = fromValue(v);
    if (m.type === 'pre-prepare') out.add(toHex(m.digest));
  }
  return out;
}

describe('config.clientAuth', () => {
  it('must be an authenticator, and a batch must leave room for one signed command', () => {
    expect(() => new Solo('r0', 4, { clientAuth: {} as RequestAuthenticator })).toThrow(ConfigError);
    expect(() => new Solo('r0', 4, { clientAuth: authenticator(), maxPayloadBytes: 64 * 1024, maxBatchBytes: 64 * 1024 + 8192 })).toThrow(/maxBatchBytes/);
    expect(() => new Solo('r0', 4, { clientAuth: authenticator(), maxPayloadBytes: 64 * 1024, maxBatchBytes: 64 * 1024 + 1024 + MAX_GROUP_WIRE_BYTES - 1 })).toThrow(/maxBatchBytes/);
    expect(() => new Solo('r0', 4, { clientAuth: authenticator(), maxPayloadBytes: 64 * 1024, maxBatchBytes: 64 * 1024 + 1024 + MAX_GROUP_WIRE_BYTES })).not.toThrow();
    // Without clientAuth the old minimum stands.
    expect(() => new Solo('r0', 4, { maxPayloadBytes: 64 * 1024, maxBatchBytes: 64 * 1024 + 1024 })).not.toThrow();
  });
});

describe('signed commands commit (4 replicas)', () => {
  it('with real Ed25519 replicas and clients, groups split across batches, relays from backups', () => {
    const secrets = new Map<string, Uint8Array>();
    const keys = {
      verifier: createVerifier(),
      signer(id: string) {
        let s = secrets.get(id);
        if (!s) secrets.set(id, (s = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(id.charCodeAt(1)) }).secretKey));
        return signerFromSecret(s);
      },
    };
    // 16 per batch: alice's 40 commands (one group) are split over several pre-prepares.
    const c = new Cluster({ n: 4, keys, config: { maxBatchSize: 16, checkpointInterval: 4 }, configFor: authConfig });
    const fromAlice = signed('alice', 0, 40);
    const fromBob = signed('bob', 0, 10);
    for (const r of fromAlice) c.deliverRequest('all', r);
    // Bob talks to a backup only: r2 relays his commands to the primary, signatures included.
    for (const r of fromBob) c.deliverRequest('r2', r);
    expect(c.runUntil(() => c.ids.every((id) => c.node(id).app.applied.length === 50))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
    const want = new Set([...fromAlice, ...fromBob].map(idOf));
    for (const id of c.ids) {
      expect(new Set(c.node(id).app.applied.map(idOf))).toEqual(want);
      expect(c.node(id).events.filter((e) => e.type === 'misbehaviour'), `${id} blames nobody`).toEqual([]);
      expect(c.node(id).core.status().view).toBe(0n);
    }
  });

  it('survives a crash-restart: persisted batches keep their signatures', () => {
    const c = new Cluster({ n: 4, config: { maxBatchSize: 8, checkpointInterval: 4 }, configFor: authConfig });
    const cmds = signed('alice', 0, 64);
    for (const r of cmds.slice(0, 24)) c.deliverRequest('all', r);
    expect(c.runUntil(() => c.committedAll(1n))).toBe(true);
    c.crash('r3');
    for (const r of cmds.slice(24, 48)) c.deliverRequest('all', r);
    c.runUntil(() => c.node('r0').app.applied.length >= 48);
    c.restart('r3');
    for (const r of cmds.slice(48)) c.deliverRequest('all', r);
    expect(c.runUntil(() => ['r0', 'r1', 'r2'].every((id) => c.node(id).app.applied.length === 64) && c.committedAll(c.node('r0').core.status().committedHeight))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
  });
});

describe('a Byzantine primary cannot order commands no client signed', () => {
  const genuine = signed('alice', 0, 4);
  const later = signed('alice', 4, 4);
  const variants: [string, (batch: readonly ClientRequest[]) => ClientRequest[]][] = [
    ['a command no client sent (unsigned)', (b) => [...b, { client: 'alice', seq: 999n, payload: utf8.encode('pay mallory') }]],
    ['a genuine command with its payload altered', (b) => b.map((r, i) => (i === 0 ? { ...r, payload: utf8.encode('pay mallory') } : r))],
    ['a command in alice\'s name signed by bob', (b) => [...b, ...signRequests(signerOf.bob, 'alice', [{ seq: 999n, payload: utf8.encode('pay mallory') }], { chainId: 'test' })]],
    ['a signature that does not verify', (b) => [...b, ...groupOf('alice', [{ seq: 999n, payload: utf8.encode('pay mallory') }], new Uint8Array(65).fill(7))]],
  ];

  it.each(variants)('%s: backups refuse it, blame the primary, change view and go on', (_name, forge) => {
    const c = new Cluster({ n: 4, configFor: authConfig });
    const forged = new Set<string>();
    c.intercept.set('r0', (p: Packet, msg: PbftMessage) => {
      if (msg.type !== 'pre-prepare' || msg.view !== 0n || msg.batch.length === 0) return [p];
      const bad = prePrepare('r0', msg.view, msg.seq, forge(msg.batch));
      forged.add(toHex(bad.digest));
      return [{ ...p, bytes: pbftCodec.encode(bad) }];
    });
    const prepared = new Set<string>();
    for (const id of honest) {
      c.intercept.set(id, (p: Packet, msg: PbftMessage) => {
        if (msg.type === 'prepare') prepared.add(toHex(msg.digest));
        return [p];
      });
    }
    for (const r of genuine) c.deliverRequest('all', r);
    expect(c.runUntil(() => honest.every((id) => c.node(id).app.applied.length === 4))).toBe(true);
    for (const r of later) c.deliverRequest('all', r);
    expect(c.runUntil(() => honest.every((id) => c.node(id).app.applied.length === 8))).toBe(true);

    expect(forged.size).toBeGreaterThan(0);
    const want = new Set([...genuine, ...later].map(idOf));
    for (const id of honest) {
      const n = c.node(id);
      expect(misbehaviour(n.events, 'r0').length, `${id} blames r0`).toBeGreaterThan(0);
      expect(n.core.status().view, `${id} changed view`).toBeGreaterThanOrEqual(1n);
      // Only what alice signed was executed, each exactly as she signed it.
      expect(new Set(n.app.applied.map(idOf))).toEqual(want);
      for (const d of forged) expect(acceptedDigests(c, id).has(d), `${id} never accepted the forged pre-prepare`).toBe(false);
      // Nobody honest is blamed.
      expect(n.events.some((e) => e.type === 'misbehaviour' && e.peer !== 'r0')).toBe(false);
    }
    for (const d of forged) expect(prepared.has(d), 'no PREPARE for a forged batch').toBe(false);
    c.checkAgreement();
    c.checkHealthy(honest);
  });

  it('a genuine command the client gave the primary alone still commits (the backups take it from the refused batch)', () => {
    const c = new Cluster({ n: 4, configFor: authConfig });
    c.intercept.set('r0', (p: Packet, msg: PbftMessage) => {
      if (msg.type !== 'pre-prepare' || msg.view !== 0n || msg.batch.length === 0) return [p];
      return [{ ...p, bytes: pbftCodec.encode(prePrepare('r0', msg.view, msg.seq, variants[0]![1](msg.batch))) }];
    });
    // Only r0 hears of it; the backups learn it from the forged pre-prepare, wait for it (their
    // view-change timers run), and the next primary orders it. (Commands a Byzantine primary
    // keeps to itself are the clients' to re-send to every replica, §4.1.)
    c.deliverRequest('r0', genuine[0]!);
    expect(c.runUntil(() => honest.every((id) => c.node(id).app.applied.length === 1))).toBe(true);
    for (const id of honest) {
      expect(c.node(id).core.status().view).toBeGreaterThanOrEqual(1n);
      expect(c.node(id).app.applied.map(idOf)).toEqual([idOf(genuine[0]!)]);
    }
    c.checkAgreement();
  });

  it('one backup: no PREPARE and no record for a forged batch, a PREPARE for a genuine one', () => {
    const r1 = new Solo('r1', 4, authConfig());
    const forgedPp = prePrepare('r0', 0n, 1n, variants[1]![1](genuine));
    r1.msg('r0', forgedPp);
    expect(r1.sent('prepare')).toHaveLength(0);
    expect(r1.out.flatMap((r) => r.persist?.append ?? [])).toHaveLength(0);
    const blamed = misbehaviour(r1.events(), 'r0');
    expect(blamed).toHaveLength(1);
    expect(blamed[0]).toMatchObject({ detail: expect.stringMatching(/does not match what its client signed/) });
    // The same seq with alice's genuine batch is accepted (one bad pre-prepare is not a verdict on the slot).
    r1.msg('r0', prePrepare('r0', 0n, 1n, genuine));
    expect(r1.sent('prepare')).toHaveLength(1);
  });

  it('without clientAuth the forged batch is prepared (unauthenticated clients: the behaviour before)', () => {
    const r1 = new Solo('r1');
    r1.msg('r0', prePrepare('r0', 0n, 1n, variants[0]![1](genuine)));
    expect(r1.sent('prepare')).toHaveLength(1);
  });
});

describe('requests entering the pool', () => {
  it('a request input that fails the check is dropped without blaming anyone', () => {
    const r0 = new Solo('r0', 4, authConfig());
    r0.core.step({ type: 'request', request: req(0, 'x', 'alice') }); // unsigned
    r0.core.step({ type: 'request', request: { ...genuineOne(), payload: utf8.encode('altered') } });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(0);
    expect(r0.events().filter((e) => e.type === 'misbehaviour')).toEqual([]);
    r0.core.step({ type: 'request', request: genuineOne() });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1);
  });

  it('a forged relay is dropped and its relay blamed; the genuine commands of the same relay are kept', () => {
    const r0 = new Solo('r0', 4, authConfig());
    const forgedRelay: RequestMsg = {
      type: 'request',
      requests: [req(5, 'made up', 'alice'), ...signRequests(signerOf.bob, 'alice', [{ seq: 6n, payload: utf8.encode('x') }], { chainId: 'test' })],
    };
    r0.msg('r3', forgedRelay);
    expect(r0.sent('pre-prepare')).toHaveLength(0);
    expect(misbehaviour(r0.events(), 'r3')).toHaveLength(1);
    r0.msg('r1', { type: 'request', requests: [genuineOne()] });
    const pps = r0.sent('pre-prepare') as PrePrepareMsg[];
    expect(pps).toHaveLength(1);
    expect(pps[0]!.batch.map(idOf)).toEqual([idOf(genuineOne())]);
    expect(misbehaviour(r0.events(), 'r1')).toHaveLength(0);
  });

  it('commands of a client this replica does not know are skipped without blame (the directories may differ); the rest of the relay counts', () => {
    const r0 = new Solo('r0', 4, { clientAuth: authenticator(new Map([...directory].filter(([id]) => id !== 'bob'))) });
    r0.msg('r3', { type: 'request', requests: [...signed('bob', 0, 2), genuineOne()] });
    expect(r0.sent('pre-prepare')).toHaveLength(1); // alice's command, read past bob's
    expect(misbehaviour(r0.events(), 'r3')).toEqual([]);
  });

  it('a relay stops at its first forged command: the rest of the message is dropped unread (no signature checks spent on it)', () => {
    const r0 = new Solo('r0', 4, authConfig());
    r0.msg('r3', { type: 'request', requests: [req(5, 'made up', 'alice'), genuineOne()] });
    expect(r0.sent('pre-prepare')).toHaveLength(0); // the genuine command after it was not admitted
    const blames = r0.events().filter((e) => e.type === 'misbehaviour' && e.peer === 'r3');
    expect(blames).toHaveLength(1);
    expect(blames[0]).toMatchObject({ detail: expect.stringMatching(/relayed request 0 .*; 1 more dropped unread/) });
  });

  it('a Byzantine backup relaying forged commands to the primary: blamed, never proposed, the cluster goes on', () => {
    const c = new Cluster({ n: 4, configFor: authConfig });
    const proposed: ClientRequest[] = [];
    c.intercept.set('r0', (p: Packet, msg: PbftMessage) => {
      if (msg.type === 'pre-prepare' && p.to === 'r1') proposed.push(...msg.batch);
      return [p];
    });
    const made = [req(100, 'made up', 'alice'), ...signRequests(signerOf.bob, 'alice', [{ seq: 101n, payload: utf8.encode('x') }], { chainId: 'test' })];
    c.inject('r3', 'r0', { type: 'request', requests: made });
    const cmds = signed('alice', 0, 6);
    for (const r of cmds) c.deliverRequest('r3', r); // r3's honest core relays these (r3 is Byzantine only in what we inject)
    expect(c.runUntil(() => c.ids.every((id) => c.node(id).app.applied.length === 6))).toBe(true);
    expect(misbehaviour(c.node('r0').events, 'r3').length).toBeGreaterThan(0);
    expect(proposed.some((r) => r.seq >= 100n)).toBe(false);
    for (const id of c.ids) expect(c.node(id).app.applied.some((r) => r.seq >= 100n)).toBe(false);
    // The honest relays (r3's own, of what clients gave it) are not blamed for anything else.
    for (const id of c.ids) expect(c.node(id).events.some((e) => e.type === 'misbehaviour' && e.peer !== 'r3')).toBe(false);
    c.checkAgreement();
    c.checkHealthy();
  });
});

describe('batches a quorum vouches for are not checked again', () => {
  it('a NEW-VIEW re-proposal is taken by a replica whose directory lacks the client (it refused the pre-prepare in view 0)', () => {
    // r3's client directory has no alice: in view 0 it refuses the pre-prepare, r1 and r2 prepare it.
    const c = new Cluster({ n: 4, config: { maxBatchSize: 1 }, configFor: (id) => ({ clientAuth: authenticator(id === 'r3' ? new Map() : directory) }) });
    c.filter = (p) => {
      const m = pbftCodec.decode(p.bytes);
      return !(m.type === 'commit' && m.view === 0n); // prepared, never committed in view 0
    };
    const cmds = signed('alice', 0, 1);
    for (const r of cmds) c.deliverRequest('all', r);
    expect(c.runUntil(() => ['r1', 'r2'].every((id) => c.node(id).core.status().detail?.inFlight === 1), 5000)).toBe(true);
    // r3 refused it without blaming r0: its directory, not r0, may be what is out of step.
    expect(c.node('r3').core.status().detail?.inFlight).toBe(0);
    expect(misbehaviour(c.node('r3').events, 'r0')).toEqual([]);
    c.crash('r0');
    // r0 is gone: view 1 needs r3's PREPARE and COMMIT for the certified batch (fetched by digest).
    expect(c.runUntil(() => honest.every((id) => c.node(id).app.applied.length === 1), 100_000)).toBe(true);
    expect(c.node('r3').app.applied.map(idOf)).toEqual(cmds.map(idOf));
    c.checkAgreement();
  });

  describe('one backup that knows no client: a NEW-VIEW batch is taken however it arrives', () => {
    const batch = signed('alice', 0, 2);
    const pp0 = prePrepare('r0', 0n, 1n, batch);
    const cert: PreparedCert = {
      prePrepare: refOf(pp0),
      prepares: ['r1', 'r3'].map((id) => ({ voter: id, signature: vote('prepare', id, 0n, 1n, pp0.digest).signature })),
    };
    // View 1's NEW-VIEW by r1: O assigns seq 1 the certified batch, by digest.
    const newView = (): NewViewMsg =>
      resign('r1', {
        type: 'new-view',
        view: 1n,
        viewChanges: [viewChange('r0'), viewChange('r1', 1n, [cert]), viewChange('r3', 1n, [cert])],
        prePrepares: [refOf(prePrepare('r1', 1n, 1n, batch))],
        signature: new Uint8Array(0),
      });
    const stale = (): PbftConfig => ({ clientAuth: authenticator(new Map()) });

    it('in the normal case it refuses the batch', () => {
      const r2 = new Solo('r2', 4, stale());
      r2.msg('r0', pp0);
      expect(r2.sent('prepare')).toHaveLength(0);
    });

    it('from a BATCH answer to its FETCH-BATCH', () => {
      const r2 = new Solo('r2', 4, stale());
      r2.msg('r1', newView());
      expect(r2.sent('fetch-batch')).toHaveLength(1);
      expect(r2.sent('prepare')).toHaveLength(0);
      r2.msg('r3', { type: 'batch', seq: 1n, batch });
      expect(r2.sent('prepare')).toMatchObject([{ view: 1n, seq: 1n, digest: pp0.digest }]);
      expect(r2.events().filter((e) => e.type === 'misbehaviour')).toEqual([]);
    });

    it('from the new primary\'s pre-prepare for the assigned seq', () => {
      const r2 = new Solo('r2', 4, stale());
      r2.msg('r1', newView());
      r2.msg('r1', prePrepare('r1', 1n, 1n, batch));
      expect(r2.sent('prepare')).toMatchObject([{ view: 1n, seq: 1n, digest: pp0.digest }]);
      expect(r2.events().filter((e) => e.type === 'misbehaviour')).toEqual([]);
    });
  });

  it('committed batches from state transfer are taken with their commit certificate', () => {
    // r3 knows no client and was away: it catches up on alice's batches by STATE entries.
    const c = new Cluster({ n: 4, config: { checkpointInterval: 50, statusIntervalMs: 100 }, configFor: (id) => ({ clientAuth: authenticator(id === 'r3' ? new Map() : directory) }) });
    c.crash('r3');
    for (const r of signed('alice', 0, 5)) c.deliverRequest('all', r);
    expect(c.runUntil(() => ['r0', 'r1', 'r2'].every((id) => c.node(id).app.applied.length === 5))).toBe(true);
    const states: StateMsg[] = [];
    for (const id of ['r0', 'r1', 'r2']) {
      c.intercept.set(id, (p, msg) => {
        if (msg.type === 'state' && p.to === 'r3') states.push(msg);
        return [p];
      });
    }
    c.restart('r3');
    expect(c.runUntil(() => c.node('r3').app.applied.length === 5)).toBe(true);
    expect(states.some((s) => s.entries.length > 0)).toBe(true);
    c.checkAgreement();
  });
});

describe('codec: request lists carry signed groups', () => {
  const a = signed('alice', 0, 5);
  const b = signed('bob', 0, 3);
  // Split groups (parts of alice's and bob's groups), in a mixed order, with an unsigned command.
  const batch: ClientRequest[] = [a[0]!, b[1]!, a[3]!, req(7, 'plain', 'carol'), a[4]!];
  const pp = prePrepare('r0', 2n, 9n, batch);
  const samples: PbftMessage[] = [
    pp,
    { type: 'request', requests: [b[2]!, a[1]!, b[0]!] },
    { type: 'batch', seq: 9n, batch },
    { type: 'state', entries: [{ view: 2n, seq: 9n, batch, commits: [{ voter: 'r1', signature: new Uint8Array(64) }] }], signature: new Uint8Array(64) },
  ];

  it('round-trips to identical bytes, each group once, and the signatures still check', () => {
    const auth = authenticator();
    for (const m of samples) {
      const bytes = pbftCodec.encode(m);
      const back = pbftCodec.decode(bytes);
      expect(back).toEqual(m);
      expect(pbftCodec.encode(back)).toEqual(bytes);
      const list = back.type === 'pre-prepare' || back.type === 'batch' ? back.batch : back.type === 'request' ? back.requests : (back as StateMsg).entries[0]!.batch;
      for (const r of list) {
        if (r.client === 'carol') expect(auth.check(r)).toMatch(/not signed/);
        else expect(auth.check(r), idOf(r)).toBeUndefined();
      }
      // Commands of one group share one decoded group object (checked once per group).
      const groups = new Set(list.filter((r) => r.auth).map((r) => r.auth!.group));
      expect(groups.size).toBe(2);
    }
    // Alice's group (5 digests) travels once in the pre-prepare although 3 of its commands are in it.
    const v = pbftCodec.encode(pp);
    const back = pbftCodec.decode(v) as PrePrepareMsg;
    expect(back.batch[0]!.auth!.group.digests).toHaveLength(5);
    expect(back.batch[0]!.auth!.group).toBe(back.batch[2]!.auth!.group);
    expect(v.length).toBeLessThanOrEqual(batchWireBytes(batch) + 200);
  });

  it('unsigned lists keep exactly the encoding they had', () => {
    const plain = prePrepare('r0', 1n, 2n, [req(0, 'a'), req(1, 'b', 'c9')]);
    expect(pbftCodec.encode(plain)).toEqual(
      encode([1, 1n, 2n, plain.digest, [['c0', 0n, utf8.encode('a')], ['c9', 1n, utf8.encode('b')]], plain.signature]),
    );
    expect(pbftCodec.encode({ type: 'request', requests: [req(3)] })).toEqual(encode([0, [['c0', 3n, utf8.encode('x')]]]));
  });

  it('refuses malformed groups with a DecodeError', () => {
    const list = requestListValue(batch) as { g: Value[]; r: Value[][] };
    const ppWith = (l: Value) => encode([1, 2n, 9n, pp.digest, l, pp.signature]);
    const group0 = list.g[0] as Value[];
    const cases: [string, Value][] = [
      ['group index out of range', { g: list.g, r: list.r.map((x, i) => (i === 0 ? [...x.slice(0, 3), 7, 0] : x)) }],
      ['position outside its group', { g: list.g, r: list.r.map((x, i) => (i === 0 ? [...x.slice(0, 4), 5] : x)) }],
      ['command of another client than its group', { g: list.g, r: list.r.map((x, i) => (i === 0 ? ['bob', ...x.slice(1)] : x)) }],
      ['a group no command uses', { g: [...list.g, group0], r: list.r }],
      ['digests not a multiple of 32 bytes', { g: [[group0[0]!, group0[1]!, new Uint8Array(33)], ...list.g.slice(1)], r: list.r }],
      ['no digests', { g: [[group0[0]!, group0[1]!, new Uint8Array(0)], ...list.g.slice(1)], r: list.r }],
      ['an unknown field', { ...list, x: 1 }],
      ['a command of 4 fields', { g: list.g, r: list.r.map((x, i) => (i === 0 ? x.slice(0, 4) : x)) }],
      ['a group of 2 fields', { g: [group0.slice(0, 2), ...list.g.slice(1)], r: list.r }],
    ];
    for (const [name, l] of cases) expect(() => pbftCodec.decode(ppWith(l)), name).toThrow(DecodeError);
    // The map form with no group at all is not an encoding of anything (a plain list has the array form).
    expect(() => pbftCodec.decode(encode([0, { g: [], r: [] }]))).toThrow(/request\.requests\.g: empty/);
    expect(() => pbftCodec.decode(encode([10, 9n, { g: list.g, r: list.r.map((x, i) => (i === 0 ? [...x.slice(0, 3), 7, 0] : x)) }]))).toThrow(DecodeError);
  });

  it('throws only DecodeError on mutated signed messages', () => {
    fuzzDecode(samples.map((m) => pbftCodec.encode(m)), 7, 3000, false);
  });
});

describe('batch digests never cover client signatures', () => {
  const core = new PbftCore({ self: 'r0', validators: makeValidators(4), signer: testSigner('r0'), verifier: testVerifier, rng: seededRng(1) }, {});
  // The digests these batches had before commands could be signed (stored logs, certificates).
  const V_PLAIN = '4243970645da95f2cdb39efe3e5371671caa6e2fcb89238de15966f03e3a1a6f';
  const V_NULL = '76be8b528d0075f7aae98d6fa57a6d3c83ae480a8469e668d7b0af968995ac71';

  it('unsigned batches keep their digests', () => {
    expect(toHex(core.batchDigest([req(0, 'a'), req(1, 'b', 'c9')]))).toBe(V_PLAIN);
    expect(toHex(core.batchDigest([]))).toBe(V_NULL);
    expect(toHex(digestOf([req(0, 'a'), req(1, 'b', 'c9')]))).toBe(V_PLAIN);
  });

  it('a signed batch has the digest of its unsigned twin, however its groups are cut', () => {
    const c0 = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(0xc0) });
    const c9 = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(0xc9) });
    const a = signRequests(signerFromSecret(c0.secretKey), 'c0', [{ seq: 0n, payload: utf8.encode('a') }, { seq: 5n, payload: utf8.encode('z') }], { chainId: 'test' });
    const b = signRequests(signerFromSecret(c9.secretKey), 'c9', [{ seq: 1n, payload: utf8.encode('b') }], { chainId: 'test' });
    const signedBatch = [a[0]!, b[0]!];
    expect(signedBatch.every((r) => r.auth)).toBe(true);
    expect(toHex(core.batchDigest(signedBatch))).toBe(V_PLAIN);
    expect(core.batchDigest(signedBatch)).toEqual(core.batchDigest(strip(signedBatch)));
    // Decoded (new group objects) and split differently: still the same digest.
    const decoded = pbftCodec.decode(pbftCodec.encode({ type: 'batch', seq: 1n, batch: signedBatch }));
    const back = decoded.type === 'batch' ? decoded.batch : [];
    expect(toHex(core.batchDigest(back))).toBe(V_PLAIN);
    // The wire form differs (it carries the groups); the digest form does not.
    expect(encode(requestListValue(signedBatch))).not.toEqual(encode(batchValue(signedBatch)));
    expect(encode(batchValue(signedBatch))).toEqual(encode(batchValue(strip(signedBatch))));
  });

  it('a primary with clientAuth names its signed batch by the unsigned digest, and backups vote for that', () => {
    const r0 = new Solo('r0', 4, authConfig());
    const cmd = genuineOne();
    r0.core.step({ type: 'request', request: cmd });
    r0.flush();
    const pp = r0.sent('pre-prepare')[0] as PrePrepareMsg;
    expect(pp.batch[0]!.auth).toBeDefined();
    expect(pp.digest).toEqual(digestOf(strip([cmd])));
    const r1 = new Solo('r1', 4, authConfig());
    r1.msg('r0', pbftCodec.decode(pbftCodec.encode(pp)));
    expect((r1.sent('prepare')[0] as { digest: Uint8Array }).digest).toEqual(digestOf(strip([cmd])));
  });
});

describe('batches are cut by group-aware bytes', () => {
  // 100-byte payloads: a command is ~150 bytes on its own, ~4.3 KB with its whole group of 128.
  const cfg = (): PbftConfig => ({ clientAuth: authenticator(), maxPayloadBytes: 1024, maxBatchBytes: 64 * 1024, maxBatchSize: 4096 });
  const cmds = (n: number) => signRequests(signerOf.alice, 'alice', Array.from({ length: n }, (_, i) => ({ seq: BigInt(i), payload: new Uint8Array(100).fill(i & 0xff) })), { chainId: 'test' });

  it('a batch of one client\'s signed commands is not cut 128× too early', () => {
    const r0 = new Solo('r0', 4, cfg());
    r0.msg('r1', { type: 'request', requests: cmds(300) });
    const pps = r0.sent('pre-prepare') as PrePrepareMsg[];
    expect(pps).toHaveLength(1);
    expect(pps[0]!.batch).toHaveLength(300); // counting each command with its group: 15
  });

  it('nor allowed over maxBatchBytes: the encoded pre-prepare fits', () => {
    const r0 = new Solo('r0', 4, cfg());
    const all = cmds(1000);
    r0.msg('r1', { type: 'request', requests: all });
    const pp = (r0.sent('pre-prepare') as PrePrepareMsg[])[0]!;
    expect(pp.batch.length).toBeGreaterThan(100);
    expect(pp.batch.length).toBeLessThan(1000);
    expect(batchWireBytes(pp.batch)).toBeLessThanOrEqual(64 * 1024);
    expect(batchWireBytes(all.slice(0, pp.batch.length + 1))).toBeGreaterThan(64 * 1024);
    expect(pbftCodec.encode(pp).length).toBeLessThanOrEqual(64 * 1024);
    // A backup accepts it (its own bound, `validBatch`, counts the same way).
    const r1 = new Solo('r1', 4, cfg());
    r1.msg('r0', pbftCodec.decode(pbftCodec.encode(pp)));
    expect(r1.sent('prepare')).toHaveLength(1);
  });
});

describe('a command too large for any batch', () => {
  it('is not admitted, so the primary never proposes a batch every backup refuses as oversized', () => {
    // An authenticator that accepts anything: what matters is the size of the group (a signature
    // far larger than any scheme's, which the config's room does not cover).
    const lax: RequestAuthenticator = { check: () => undefined };
    const cfg: PbftConfig = { clientAuth: lax, maxPayloadBytes: 1024, maxBatchBytes: 1024 + 1024 + MAX_GROUP_WIRE_BYTES };
    const [big] = groupOf('alice', [{ seq: 1n, payload: new Uint8Array(1024) }], new Uint8Array(20_000));
    const r0 = new Solo('r0', 4, cfg);
    r0.core.step({ type: 'request', request: big! });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(0);
    // What a backup does with such a pre-prepare.
    const r1 = new Solo('r1', 4, cfg);
    r1.msg('r0', prePrepare('r0', 0n, 1n, [big!]));
    expect(r1.sent('prepare')).toHaveLength(0);
    expect(r1.events().some((e) => e.type === 'misbehaviour' && /out of bounds/.test(e.detail))).toBe(true);
  });
});

describe('persisted records carry the signatures', () => {
  it('a restarted backup commits the batch it prepared before, client signatures included', () => {
    const r1 = new Solo('r1', 4, authConfig());
    const batch = signed('alice', 0, 3);
    const pp = prePrepare('r0', 0n, 1n, batch);
    r1.msg('r0', pp);
    expect(r1.sent('prepare')).toHaveLength(1);
    const { core } = restartFrom(r1, authConfig());
    for (const id of ['r2', 'r3']) core.step({ type: 'message', from: id, msg: vote('prepare', id, 0n, 1n, pp.digest) });
    for (const id of ['r0', 'r2']) core.step({ type: 'message', from: id, msg: vote('commit', id, 0n, 1n, pp.digest) });
    const outs = [];
    while (core.hasReady()) outs.push(core.ready());
    // No second PREPARE (it was restored), and the commit hands out alice's commands as signed.
    expect(outs.flatMap((o) => o.send).filter((x) => x.msg.type === 'prepare')).toHaveLength(0);
    const committed = outs.flatMap((o) => o.commit).flatMap((b) => b.requests);
    expect(committed.map(idOf)).toEqual(batch.map(idOf));
    const auth = authenticator();
    for (const r of committed) expect(auth.check(r)).toBeUndefined();
  });
});

function genuineOne(): ClientRequest {
  return signed('alice', 42, 1)[0]!;
}
