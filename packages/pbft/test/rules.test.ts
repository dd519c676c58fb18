import { describe, expect, it } from 'vitest';
import { ConfigError, InsufficientReplicasError } from '@phalanx/interface';
import { createValidatorSet, decodeCertificate, verifyCertificate, verifyEvidence } from '@phalanx/quorum';
import { PbftCore, computeNewView, pbft } from '../src/index.js';
import type { ViewChangeMsg, PreparedCert, PrePrepareMsg, RequestMsg } from '../src/index.js';
import { CHAIN, Solo, checkpoint, digestOf, drain, prePrepare, req, resign, restartFrom, sentBy, viewChange, vote } from './craft.js';
import { makeValidators, publicKeyOf, seededRng, testSigner, testVerifier } from './cluster.js';

describe('prepared and committed-local predicates (§4.2)', () => {
  it('prepared needs the pre-prepare and 2f matching PREPAREs from backups; committed-local 2f+1 COMMITs', () => {
    const r1 = new Solo('r1');
    const batch = [req(0)];
    const pp = prePrepare('r0', 0n, 1n, batch);
    r1.msg('r0', pp);
    expect(r1.sent('prepare')).toHaveLength(1); // §4.2: a backup accepting a pre-prepare multicasts PREPARE
    // A PREPARE from the primary does not count (and is a protocol violation).
    r1.msg('r0', vote('prepare', 'r0', 0n, 1n, pp.digest));
    expect(r1.events().some((e) => e.type === 'misbehaviour' && e.kind === 'protocol-violation')).toBe(true);
    r1.msg('r2', vote('prepare', 'r2', 0n, 1n, new Uint8Array(32))); // other digest: does not match
    expect(r1.sent('commit')).toHaveLength(0);
    r1.msg('r3', vote('prepare', 'r3', 0n, 1n, pp.digest));
    // own + r3 = 2f = 2 backups (r2 voted for another digest): prepared
    expect(r1.sent('commit')).toHaveLength(1);
    r1.msg('r2', vote('commit', 'r2', 0n, 1n, pp.digest));
    expect(r1.commits()).toEqual([]); // own + r2 = 2 < 2f+1
    r1.msg('r3', vote('commit', 'r3', 0n, 1n, pp.digest));
    expect(r1.commits()).toEqual([1n]);
    // The proof is a quorum certificate anyone can verify offline.
    const b = r1.out.flatMap((r) => r.commit)[0]!;
    verifyCertificate(decodeCertificate(b.proof!), makeValidators(4), testVerifier, { kind: 'pbft/commit', height: 1n, digest: pp.digest });
  });

  it('a Ready is deferrable unless it records the replica\'s COMMIT, hard state or compaction', () => {
    const r1 = new Solo('r1');
    expect(r1.out[0]!.persist).toMatchObject({ append: [] }); // a first start: hard state, synced before any send
    expect(r1.out[0]!.persist?.hardState).toBeDefined();
    expect(r1.out[0]!.persist?.deferrable).toBeUndefined();
    const pp = prePrepare('r0', 0n, 1n, [req(0)]);
    const last = () => r1.out[r1.out.length - 1]!;
    r1.msg('r0', pp); // the pre-prepare and r1's own PREPARE: sent at once, fenced after a restart
    expect(last().persist).toMatchObject({ deferrable: true });
    expect(last().persist?.append).toHaveLength(2);
    expect(last().send.map((s) => s.msg.type)).toEqual(['prepare']);
    r1.msg('r2', vote('prepare', 'r2', 0n, 1n, pp.digest)); // prepared: the certificate is durable before the COMMIT leaves
    expect(last().persist?.deferrable).toBeUndefined();
    expect(last().send.map((s) => s.msg.type)).toEqual(['commit']);
    r1.msg('r2', vote('commit', 'r2', 0n, 1n, pp.digest)); // a received vote, nothing of r1's own
    expect(last().persist?.deferrable).toBe(true);
    r1.msg('r3', vote('commit', 'r3', 0n, 1n, pp.digest)); // committed-local: executes without waiting
    expect(last().persist?.deferrable).toBe(true);
    expect(last().commit.map((b) => b.height)).toEqual([1n]);
    const r0 = new Solo('r0');
    r0.core.step({ type: 'request', request: req(1) });
    r0.flush();
    const proposal = r0.out[r0.out.length - 1]!; // the primary's PRE-PREPARE, fenced after a restart too
    expect(proposal.persist).toMatchObject({ deferrable: true });
    expect(proposal.send.map((s) => s.msg.type)).toEqual(['pre-prepare']);
  });

  it('neither checks nor records a vote past its quorum', () => {
    const r1 = new Solo('r1');
    const pp = prePrepare('r0', 0n, 1n, [req(0)]);
    r1.msg('r0', pp);
    r1.msg('r2', vote('prepare', 'r2', 0n, 1n, pp.digest)); // prepared (own + r2)
    for (const id of ['r2', 'r3']) r1.msg(id, vote('commit', id, 0n, 1n, pp.digest)); // committed (own + r2 + r3)
    expect(r1.commits()).toEqual([1n]);
    const outputs = r1.out.length;
    // r3's PREPARE and r0's COMMIT come after their quorums: nothing to persist, check or blame,
    // even with a signature nobody made.
    r1.msg('r3', { ...vote('prepare', 'r3', 0n, 1n, pp.digest), signature: new Uint8Array(64).fill(7) });
    r1.msg('r0', vote('commit', 'r0', 0n, 1n, pp.digest));
    expect(r1.out.slice(outputs).filter((r) => r.persist || r.events.length > 0)).toEqual([]);
    // A late vote for another digest is checked: a second vote is equivocation evidence, past the
    // quorum as before it (r2's PREPARE, r3's COMMIT: an equivocator is isolated at once).
    const other = new Uint8Array(32).fill(9);
    r1.msg('r2', vote('prepare', 'r2', 0n, 1n, other));
    r1.msg('r3', vote('commit', 'r3', 0n, 1n, other));
    const evidence = r1.out.slice(outputs).flatMap((r) => r.events).filter((e) => e.type === 'evidence');
    expect(evidence.map((e) => e.type === 'evidence' && e.evidence.first.kind)).toEqual(['pbft/prepare', 'pbft/commit']);
    for (const e of evidence) if (e.type === 'evidence') verifyEvidence(e.evidence, makeValidators(4), testVerifier, CHAIN); // throws unless checkable
  });

  it('executes strictly in sequence order', () => {
    const r1 = new Solo('r1');
    const pp2 = prePrepare('r0', 0n, 2n, [req(1)]);
    const pp1 = prePrepare('r0', 0n, 1n, [req(0)]);
    for (const pp of [pp2, pp1]) {
      r1.msg('r0', pp);
      for (const id of ['r2', 'r3']) r1.msg(id, vote('prepare', id, 0n, pp.seq, pp.digest));
    }
    for (const id of ['r2', 'r3']) r1.msg(id, vote('commit', id, 0n, 2n, pp2.digest));
    expect(r1.commits()).toEqual([]); // 2 is committed-local but 1 is not yet
    for (const id of ['r2', 'r3']) r1.msg(id, vote('commit', id, 0n, 1n, pp1.digest));
    expect(r1.commits()).toEqual([1n, 2n]);
  });

  it('rejects forged signatures and votes signed for someone else', () => {
    const r1 = new Solo('r1');
    const pp = prePrepare('r0', 0n, 1n, [req(0)]);
    r1.msg('r0', { ...pp, signature: new Uint8Array(32) });
    expect(r1.sent('prepare')).toHaveLength(0);
    r1.msg('r3', vote('prepare', 'r2', 0n, 1n, pp.digest));
    const kinds = r1.events().flatMap((e) => (e.type === 'misbehaviour' ? [e.kind] : []));
    expect(kinds).toContain('invalid-signature');
    expect(kinds).toContain('protocol-violation');
  });
});

describe('watermarks (§4.2)', () => {
  it('a backup refuses sequence numbers outside (h, h+L]', () => {
    const r1 = new Solo('r1', 4, { checkpointInterval: 2, watermarkWindow: 4 });
    r1.msg('r0', prePrepare('r0', 0n, 5n, [req(0)]));
    expect(r1.sent('prepare')).toHaveLength(0);
    expect(r1.events().some((e) => e.type === 'misbehaviour' && e.kind === 'future')).toBe(true);
    r1.msg('r0', prePrepare('r0', 0n, 4n, [req(0)]));
    expect(r1.sent('prepare')).toHaveLength(1);
  });

  it('the primary assigns no sequence number above the high watermark', () => {
    const r0 = new Solo('r0', 4, { checkpointInterval: 2, watermarkWindow: 4, maxBatchSize: 1, pipelineDepth: 100 });
    for (let i = 0; i < 10; i++) {
      r0.core.step({ type: 'request', request: req(i) });
      r0.flush();
    }
    const seqs = r0.sent('pre-prepare').map((m) => (m.type === 'pre-prepare' ? m.seq : 0n));
    expect(seqs).toEqual([1n, 2n, 3n, 4n]);
  });
});

describe('checkpoint stability (§4.3)', () => {
  it('becomes stable only with 2f+1 matching signed CHECKPOINTs', () => {
    const r1 = new Solo('r1', 4, { checkpointInterval: 2, watermarkWindow: 4 });
    const d = new Uint8Array(32).fill(7);
    r1.msg('r2', checkpoint('r2', 2n, d));
    r1.msg('r3', checkpoint('r3', 2n, new Uint8Array(32).fill(8))); // mismatching digest
    r1.msg('r0', checkpoint('r0', 2n, d));
    expect(r1.core.status().detail?.stableCheckpoint).toBe(0n);
    // r1 has not executed 2: with a quorum proof beyond its state it starts a state transfer.
    r1.msg('r3', checkpoint('r3', 2n, d)); // equivocation: r3 already signed another digest
    expect(r1.events().some((e) => e.type === 'evidence')).toBe(true);
    expect(r1.sent('fetch')).toHaveLength(0);
  });

  it('a quorum proof beyond our state starts a state transfer (§4.3, TOCS §6.2)', () => {
    const r1 = new Solo('r1', 4, { checkpointInterval: 2, watermarkWindow: 4 });
    const d = new Uint8Array(32).fill(7);
    for (const id of ['r0', 'r2', 'r3']) r1.msg(id, checkpoint(id, 2n, d));
    expect(r1.events().some((e) => e.type === 'state-transfer' && e.phase === 'started' && e.height === 2n)).toBe(true);
    expect(r1.sent('fetch')).toHaveLength(1);
  });
});

describe('NEW-VIEW computation (§4.4)', () => {
  const cert = (view: bigint, seq: bigint, text: string): PreparedCert => ({ prePrepare: prePrepare('r0', view, seq, [req(Number(seq), text)]), prepares: [] });
  const vc = (replica: string, stableSeq: bigint, prepared: PreparedCert[]): ViewChangeMsg => ({
    type: 'view-change', replica, newView: 2n, stable: { seq: stableSeq, digest: new Uint8Array(32), votes: [] }, prepared, signature: new Uint8Array(0),
  });
  const NULL = digestOf([]);

  it('picks the highest-view certificate per sequence number and fills gaps with null requests', () => {
    const a = cert(0n, 1n, 'a');
    const c0 = cert(0n, 3n, 'c');
    const c1 = cert(1n, 3n, 'd');
    const plan = computeNewView([vc('r1', 0n, [a, c0]), vc('r2', 0n, [c1]), vc('r3', 0n, [])], NULL);
    expect(plan.minS).toBe(0n);
    expect(plan.maxS).toBe(3n);
    expect(plan.entries.map((e) => e.seq)).toEqual([1n, 2n, 3n]);
    expect(plan.entries[0]!.digest).toEqual(a.prePrepare.digest);
    expect(plan.entries[1]!.digest).toEqual(NULL); // gap: null request
    expect(plan.entries[1]!.cert).toBeUndefined();
    expect(plan.entries[2]!.cert).toBe(c1);
    expect(plan.entries[2]!.digest).toEqual(c1.prePrepare.digest); // view 1 beats view 0
  });

  it('starts after the latest stable checkpoint in V (min-s)', () => {
    const plan = computeNewView([vc('r1', 4n, []), vc('r2', 0n, [cert(0n, 3n, 'old'), cert(0n, 6n, 'new')]), vc('r3', 0n, [])], NULL);
    expect(plan.minS).toBe(4n);
    expect(plan.entries.map((e) => e.seq)).toEqual([5n, 6n]);
    expect(plan.entries[0]!.digest).toEqual(NULL);
  });
});

describe('configuration errors', () => {
  const ctx = (n: number) => ({ self: 'r0', validators: makeValidators(n), signer: testSigner('r0'), verifier: testVerifier, rng: seededRng(1) });
  it('refuses n < 3f+1', () => {
    expect(() => pbft.create(ctx(3), {})).toThrow(InsufficientReplicasError);
    expect(() => pbft.create(ctx(4), { faults: 2 })).toThrow(InsufficientReplicasError);
  });
  it('names unknown and invalid options', () => {
    expect(() => pbft.create(ctx(4), { checkpointIntervall: 5 } as never)).toThrow(/config\.checkpointIntervall: unknown option/);
    expect(() => pbft.create(ctx(4), { checkpointInterval: 10, watermarkWindow: 15 })).toThrow(ConfigError);
    expect(() => pbft.create(ctx(4), { maxBatchSize: 0 })).toThrow(/config\.maxBatchSize/);
    // Backups' view-change timers would run out while the primary waits for the batch timer.
    expect(() => pbft.create(ctx(4), { batchTimeoutMs: 501, viewChangeTimeoutMs: 1000 })).toThrow(/config\.batchTimeoutMs: must be at most half of viewChangeTimeoutMs \(1000\), got 501/);
    expect(() => pbft.create(ctx(4), { batchTimeoutMs: 500, viewChangeTimeoutMs: 1000 })).not.toThrow();
    // More than the codec decodes per batch: no backup could ever read such a PRE-PREPARE.
    expect(() => pbft.create(ctx(4), { maxBatchSize: 4097 })).toThrow(/config\.maxBatchSize/);
    expect(() => pbft.create(ctx(4), { maxBatchSize: 4096 })).not.toThrow();
  });
  it('refuses duplicate validators, a self outside the set, and a signer that is not ours', () => {
    const base = makeValidators(4);
    const dup = { ...base, validators: [...base.validators.slice(0, 3), base.validators[0]!] };
    expect(() => new PbftCore({ ...ctx(4), validators: dup }, {})).toThrow(/duplicate validator id/);
    expect(() => new PbftCore({ ...ctx(4), self: 'zz' }, {})).toThrow(/self/);
    expect(() => new PbftCore({ ...ctx(4), signer: testSigner('r1') }, {})).toThrow(/signer/);
    expect(() => createValidatorSet([{ id: 'a', publicKey: publicKeyOf('a'), power: 1 }, { id: 'a', publicKey: publicKeyOf('b'), power: 1 }])).toThrow(ConfigError);
  });
});

describe('batching (§5.1) and the view-change timer (§4.5.2)', () => {
  it('cuts batches and relays by bytes (maxBatchBytes), and refuses a pre-prepare over it', () => {
    const cfg = { maxBatchBytes: 4096, maxPayloadBytes: 1500, batchTimeoutMs: 10 };
    const big = (i: number) => ({ client: 'c0', seq: BigInt(i), payload: new Uint8Array(1000).fill(i) });
    const r0 = new Solo('r0', 4, cfg);
    for (let i = 0; i < 7; i++) r0.core.step({ type: 'request', request: big(i) });
    r0.core.step({ type: 'timeout', timer: 'pbft/batch' });
    r0.flush();
    // ~1,030 bytes each on the wire: three fit in 4 KiB, a fourth would not.
    expect(r0.sent('pre-prepare').map((m) => (m as PrePrepareMsg).batch.length)).toEqual([3]);
    const r2 = new Solo('r2', 4, cfg);
    for (let i = 0; i < 7; i++) r2.core.step({ type: 'request', request: big(i) });
    r2.flush();
    expect((r2.sent('request') as RequestMsg[]).map((m) => m.requests.length)).toEqual([3, 3, 1]);
    const r1 = new Solo('r1', 4, cfg);
    r1.msg('r0', prePrepare('r0', 0n, 1n, [0, 1, 2, 3].map(big)));
    expect(r1.sent('prepare')).toHaveLength(0);
    expect(r1.events().some((e) => e.type === 'misbehaviour' && e.peer === 'r0' && /batch out of bounds/.test(e.detail))).toBe(true);
    expect(() => new Solo('r0', 4, { maxBatchBytes: 2048, maxPayloadBytes: 4096 })).toThrow(/maxBatchBytes/);
  });

  it('the primary waits for the batch timer or a full batch', () => {
    const r0 = new Solo('r0', 4, { batchTimeoutMs: 10, maxBatchSize: 3 });
    for (let i = 0; i < 2; i++) r0.core.step({ type: 'request', request: req(i) });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(0);
    expect(r0.out.flatMap((r) => r.timers)).toContainEqual({ op: 'set', id: 'pbft/batch', ms: 10 });
    r0.core.step({ type: 'timeout', timer: 'pbft/batch' });
    r0.flush();
    const first = r0.sent('pre-prepare');
    expect(first).toHaveLength(1);
    expect(first[0]!.type === 'pre-prepare' && first[0]!.batch.length).toBe(2);
    for (let i = 2; i < 5; i++) r0.core.step({ type: 'request', request: req(i) });
    r0.flush();
    const all = r0.sent('pre-prepare');
    expect(all).toHaveLength(2); // a full batch (3) goes at once
    expect(all[1]!.type === 'pre-prepare' && all[1]!.batch.length).toBe(3);
  });

  it('§4.1: a backup relays the client requests of one Ready to the primary in one message, which the primary orders', () => {
    const backup = new Solo('r2', 4);
    for (let i = 0; i < 5; i++) backup.core.step({ type: 'request', request: req(i) });
    backup.flush();
    const relays = backup.out.flatMap((r) => r.send).filter((s) => s.msg.type === 'request');
    expect(relays.map((s) => s.to)).toEqual(['r0']);
    const relay = relays[0]!.msg;
    expect(relay.type === 'request' && relay.requests.map((r) => r.seq)).toEqual([0n, 1n, 2n, 3n, 4n]);
    const primary = new Solo('r0', 4);
    primary.msg('r2', relay);
    const pp = primary.sent('pre-prepare');
    expect(pp.flatMap((m) => (m.type === 'pre-prepare' ? m.batch.map((r) => r.seq) : []))).toEqual([0n, 1n, 2n, 3n, 4n]);
    // a relay cannot smuggle in what a client could not send: an oversized payload is dropped
    const p2 = new Solo('r0', 4, { maxPayloadBytes: 4 });
    p2.msg('r2', { type: 'request', requests: [req(9, 'too-long-payload')] });
    expect(p2.sent('pre-prepare')).toEqual([]);
  });

  it('without a batch timer, a partial batch waits while one is in flight; full batches are pipelined', () => {
    const r0 = new Solo('r0', 4, { maxBatchSize: 3 });
    r0.core.step({ type: 'request', request: req(0) });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1); // nothing in flight: at once
    for (let i = 1; i < 3; i++) r0.core.step({ type: 'request', request: req(i) });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1); // two requests wait for the first batch
    for (let i = 3; i < 7; i++) r0.core.step({ type: 'request', request: req(i) });
    r0.flush();
    const pps = r0.sent('pre-prepare').map((m) => (m.type === 'pre-prepare' ? m.batch.map((r) => Number(r.seq)) : []));
    expect(pps).toEqual([[0], [1, 2, 3], [4, 5, 6]]); // full batches leave without waiting
  });

  it('relays on the first expiry, changes view on the second, and doubles the timeout per view', () => {
    const r1 = new Solo('r3', 4, { viewChangeTimeoutMs: 100 }); // never the primary of views 0-2
    r1.core.step({ type: 'request', request: req(0) });
    r1.flush();
    const fire = () => {
      r1.core.step({ type: 'timeout', timer: 'pbft/view-change' });
      r1.flush();
    };
    const vcTimers = () => r1.out.flatMap((r) => r.timers).filter((t) => t.id === 'pbft/view-change' && t.op === 'set').map((t) => (t.op === 'set' ? t.ms : 0));
    fire();
    expect(r1.sent('request').length).toBeGreaterThanOrEqual(2); // forwarded, then relayed to all
    expect(r1.core.status().view).toBe(0n);
    fire();
    expect(r1.core.status()).toMatchObject({ view: 1n, role: 'view-change' });
    // §4.5.2: the new-view timer starts only once 2f+1 VIEW-CHANGEs for the view are in.
    r1.msg('r0', viewChange('r0', 1n));
    expect(vcTimers()).toEqual([100, 100]);
    r1.msg('r2', viewChange('r2', 1n));
    expect(vcTimers()).toEqual([100, 100, 100]);
    fire(); // no NEW-VIEW in time: view 2, with twice the timeout
    expect(r1.core.status().view).toBe(2n);
    r1.msg('r0', viewChange('r0', 2n));
    r1.msg('r1', viewChange('r1', 2n));
    expect(vcTimers()).toEqual([100, 100, 100, 200]);
  });

  it('runs at the primary too: a primary whose view orders nothing leaves it (sim partition+byzantine-restarts 0x148f)', () => {
    const r0 = new Solo('r0', 4, { viewChangeTimeoutMs: 100 });
    r0.core.step({ type: 'request', request: req(0) });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1);
    const armed = () => r0.out.flatMap((r) => r.timers).filter((t) => t.id === 'pbft/view-change');
    expect(armed().map((t) => t.op)).toEqual(['set']);
    const fire = () => {
      r0.core.step({ type: 'timeout', timer: 'pbft/view-change' });
      r0.flush();
    };
    fire(); // no PREPAREs: the request is relayed to every backup, which start their own timers
    expect(r0.sent('request')).toHaveLength(1);
    expect(r0.core.status().view).toBe(0n);
    fire();
    expect(r0.core.status()).toMatchObject({ view: 1n, role: 'view-change' });
    // Progress stops it, as at a backup.
    const r2 = new Solo('r0', 4, { viewChangeTimeoutMs: 100 });
    r2.core.step({ type: 'request', request: req(0) });
    r2.flush();
    const pp = r2.sent('pre-prepare')[0]!;
    const d = pp.type === 'pre-prepare' ? pp.digest : new Uint8Array(32);
    for (const id of ['r1', 'r2']) r2.msg(id, vote('prepare', id, 0n, 1n, d));
    for (const id of ['r1', 'r2']) r2.msg(id, vote('commit', id, 0n, 1n, d));
    expect(r2.commits()).toEqual([1n]);
    expect(r2.out.flatMap((r) => r.timers).filter((t) => t.id === 'pbft/view-change').map((t) => t.op)).toEqual(['set', 'cancel']);
  });

  it('at the primary it waits only for proposals: requests held back for a batch timer run no timer', () => {
    const r0 = new Solo('r0', 4, { viewChangeTimeoutMs: 1000, batchTimeoutMs: 500 });
    r0.core.step({ type: 'request', request: req(0) });
    r0.flush();
    const timers = () => r0.out.flatMap((r) => r.timers).filter((t) => t.id === 'pbft/batch' || t.id === 'pbft/view-change').map((t) => `${t.op} ${t.id}`);
    expect(timers()).toEqual(['set pbft/batch']);
    r0.core.step({ type: 'timeout', timer: 'pbft/batch' });
    r0.flush();
    expect(r0.sent('pre-prepare')).toHaveLength(1);
    expect(timers()).toEqual(['set pbft/batch', 'set pbft/view-change']);
  });

  it('a new primary that fetches the checkpoint its NEW-VIEW adopted runs no timer for it', () => {
    // V's stable checkpoint (seq 100, 2f+1 CHECKPOINTs) is above r1: it enters view 1 as primary and
    // fetches the state, with nothing of its own to see executed. A long transfer is no stuck view.
    const digest = digestOf([req(7)]);
    const stable = { seq: 100n, digest, votes: ['r0', 'r2', 'r3'].map((v) => ({ voter: v, signature: checkpoint(v, 100n, digest).signature })) };
    const r1 = new Solo('r1', 4, { viewChangeTimeoutMs: 100 });
    for (const id of ['r0', 'r3']) r1.msg(id, resign<ViewChangeMsg>(id, { ...viewChange(id), stable }));
    expect(r1.core.status()).toMatchObject({ view: 1n, role: 'primary' });
    const afterNv = r1.out.findIndex((r) => r.send.some((o) => o.msg.type === 'new-view'));
    expect(afterNv).toBeGreaterThanOrEqual(0);
    // The NEW-VIEW's Ready stops the timer the 2f+1 VIEW-CHANGEs started; nothing starts it again.
    const ops = r1.out.slice(afterNv).flatMap((r) => r.timers).filter((t) => t.id === 'pbft/view-change').map((t) => t.op);
    expect(ops[ops.length - 1]).toBe('cancel');
  });

  it('a primary fenced after a crash, which may propose nothing, runs the timer for the requests it holds', () => {
    const r0 = new Solo('r0', 4, { viewChangeTimeoutMs: 100 });
    r0.core.step({ type: 'request', request: req(0, 'A') });
    r0.flush();
    const { core } = restartFrom(r0, { viewChangeTimeoutMs: 100 }, 4, 'deferred');
    core.step({ type: 'request', request: req(1, 'B') });
    const out = drain(core);
    expect(sentBy(out, 'pre-prepare')).toEqual([]);
    expect(out.flatMap((r) => r.timers).some((t) => t.id === 'pbft/view-change' && t.op === 'set')).toBe(true);
  });

  it('each view starts the timer afresh: a replica that escalated as a backup relays first as the next primary', () => {
    const r1 = new Solo('r1', 4, { viewChangeTimeoutMs: 100 });
    const fire = () => {
      r1.core.step({ type: 'timeout', timer: 'pbft/view-change' });
      r1.flush();
    };
    r1.core.step({ type: 'request', request: req(0) });
    r1.flush();
    fire(); // escalated in view 0: relayed
    expect(r1.core.status().view).toBe(0n);
    for (const id of ['r0', 'r3']) r1.msg(id, viewChange(id)); // f+1 move on; with ours 2f+1: r1 leads view 1
    expect(r1.core.status()).toMatchObject({ view: 1n, role: 'primary' });
    expect(r1.sent('pre-prepare').length).toBeGreaterThan(0);
    fire(); // its own proposal has not executed: relay first, as in any view
    expect(r1.core.status()).toMatchObject({ view: 1n, role: 'primary' });
    fire();
    expect(r1.core.status()).toMatchObject({ view: 2n, role: 'view-change' });
  });
});
