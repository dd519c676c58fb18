/**
 * Client signatures (`clientAuth`): clients sign groups of commands with real Ed25519 keys
 * (@phalanx/crypto, @phalanx/client-auth), and replicas refuse to pool, relay-accept or vote for
 * a command its client did not sign — so a Byzantine leader cannot order commands no client sent.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError, DecodeError, batchWireBytes, requestWireBytes } from '@phalanx/interface';
import type { ClientRequest, ProtocolEvent, RequestAuthenticator, Signer } from '@phalanx/interface';
import { bytesEqual, encode, toHex, utf8 } from '@phalanx/codec';
import type { Value } from '@phalanx/codec';
import { createVerifier, generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import { createRequestAuthenticator, groupMessage, groupOf, requestDigest, signRequests } from '@phalanx/client-auth';
import { createValidatorSet, signVote } from '@phalanx/quorum';
import { blockHash, decodeMessage, encodeMessage, hotstuff, PROPOSAL_KIND, roundRobin, sha256Hasher, verifyCommitProof } from '../src/index.js';
import type { Block, HotStuffConfig, HotStuffMessage } from '../src/index.js';
import { Crafter } from './craft.js';
import { Cluster, fakeValidators, fakeVerifier, seededRng } from './harness.js';
import { Solo } from './solo.js';

const clientVerifier = createVerifier();
function clientKey(seed: number): { signer: Signer; publicKey: Uint8Array } {
  const kp = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(seed) });
  return { signer: signerFromSecret(kp.secretKey, 'ed25519'), publicKey: kp.publicKey };
}
const alice = clientKey(101);
const bob = clientKey(102);
const directory = new Map([
  ['alice', alice.publicKey],
  ['bob', bob.publicKey],
]);

/** One authenticator per replica, as each runtime has its own (verdict caches are per instance). */
function authenticator(): RequestAuthenticator {
  return createRequestAuthenticator({ chainId: 'test', keyOf: (id) => directory.get(id), verifier: clientVerifier });
}

const bytes = (s: string): Uint8Array => utf8.encode(s);
const items = (from: number, count: number, tag = 'v') =>
  Array.from({ length: count }, (_, i) => ({ seq: BigInt(from + i), payload: bytes(`${tag}${from + i}`) }));
/** Identity of a command with its payload: a forgery may reuse a genuine (client, seq). */
const fullKey = (r: ClientRequest): string => `${r.client}/${r.seq}/${toHex(r.payload)}`;

/** Forged commands a Byzantine leader might slip into its block. */
const forgeries: Array<[string, () => ClientRequest, RegExp]> = [
  ['an unsigned command', () => ({ client: 'alice', seq: 9_001n, payload: bytes('evil') }), /not signed/],
  [
    'a signed command with its payload altered',
    () => ({ ...signRequests(alice.signer, 'alice', items(1, 3), { chainId: 'test' })[0]!, payload: bytes('evil') }),
    /does not match what its client signed/,
  ],
  [
    "alice's command signed with bob's key",
    () => {
      const cmd = { seq: 9_002n, payload: bytes('evil') };
      return groupOf('alice', [cmd], bob.signer.sign(groupMessage('alice', [requestDigest(cmd.seq, cmd.payload)], { chainId: 'test' })))[0]!;
    },
    /bad signature of client "alice"/,
  ],
];

function resign(block: Block, signer: Signer): HotStuffMessage {
  const hash = blockHash(sha256Hasher, block);
  const signature = signVote(signer, 'test', block.proposer, { kind: PROPOSAL_KIND, height: block.height, round: block.view, digest: hash }).signature;
  return { type: 'proposal', block, signature };
}

function misbehaviours(events: ProtocolEvent[], kind: string): Array<Extract<ProtocolEvent, { type: 'misbehaviour' }>> {
  return events.filter((e): e is Extract<ProtocolEvent, { type: 'misbehaviour' }> => e.type === 'misbehaviour' && e.kind === kind);
}

function signedCluster(seed: number, config: Partial<HotStuffConfig> = {}, realReplicaKeys = false): Cluster {
  const configFor = () => ({ ...config, clientAuth: authenticator() });
  if (!realReplicaKeys) return new Cluster({ n: 4, seed, configFor });
  const ids = ['r0', 'r1', 'r2', 'r3'];
  const signers = new Map<string, Signer>();
  const list = ids.map((id, i) => {
    const kp = generateKeyPair('ed25519', { seed: new Uint8Array(32).fill(i + 1) });
    signers.set(id, signerFromSecret(kp.secretKey, 'ed25519'));
    return { id, publicKey: kp.publicKey, power: 1 };
  });
  return new Cluster({ n: 4, seed, ids, signers, validators: createValidatorSet(list), verifier: createVerifier(), configFor });
}

function committedFull(c: Cluster, id: string): Set<string> {
  return new Set(c.nodes.get(id)!.committed.flatMap((b) => b.requests.map(fullKey)));
}

describe('client signatures (clientAuth)', () => {
  it('signed commands commit on a 4-replica cluster; groups split over blocks; commit proofs verify', () => {
    const c = signedCluster(21, { maxBlockCommands: 50 }, true);
    // 300 commands = groups of 128, 128 and 44, cut into blocks of 50: most groups span blocks.
    const signed = signRequests(alice.signer, 'alice', items(1, 300), { chainId: 'test' });
    for (const r of signed) c.request('r0', r);
    const bobs = signRequests(bob.signer, 'bob', items(1, 20), { chainId: 'test' });
    for (const r of bobs) c.request('r2', r);
    c.run({ until: () => c.ids.every((id) => c.nodes.get(id)!.committedRequests.size >= 320) });
    const want = new Set([...signed, ...bobs].map(fullKey));
    for (const id of c.ids) expect(committedFull(c, id)).toEqual(want);
    for (const id of c.ids) expect(misbehaviours(c.nodes.get(id)!.events, 'invalid-signature')).toEqual([]);
    c.checkAgreement(true);
    // Commit proofs cover client, seq and payload, not signatures: the proof's commands are bare.
    const batch = c.nodes.get('r3')!.committed.find((b) => b.requests.length > 0)!;
    const info = verifyCommitProof(batch.proof!, c.validators, c.verifier, { chainId: 'test' });
    expect(info.requests.map(fullKey)).toEqual(batch.requests.map(fullKey));
    expect(info.requests.every((r) => r.auth === undefined)).toBe(true);
  });

  it('restarted replicas serve their committed blocks unsigned (from the log), and a laggard syncs them: ancestors are not re-checked', () => {
    const c = signedCluster(22, { maxBlockCommands: 40, snapshotInterval: 0 });
    let isolated = true;
    let unsignedServed = 0;
    c.filter = (e, m) => {
      if (isolated && (e.from === 'r3' || e.to === 'r3')) return false;
      if (e.to !== 'r3' || m.type !== 'blocks') return true;
      // r3 learns the chain only from the restarted replicas (r2 still holds signed blocks).
      if (e.from === 'r2') return false;
      if (m.blocks.some((b) => b.commands.some((r) => r.auth === undefined))) unsignedServed += 1;
      return true;
    };
    const first = signRequests(alice.signer, 'alice', items(1, 120), { chainId: 'test' });
    for (const r of first) c.request('r0', r);
    const majority = ['r0', 'r1', 'r2'];
    c.run({ until: () => majority.every((id) => c.nodes.get(id)!.committedRequests.size >= 120) });
    c.run({ maxSteps: 20_000 }); // quiet
    // Restart r0 and r1: their committed blocks now come from the log (commit proofs, which hash
    // commands without signatures), and those are what they serve r3. r2 keeps running with the
    // signed blocks in memory, and is kept from serving r3 (the filter above).
    for (const id of ['r0', 'r1']) {
      c.crash(id);
      c.start(id);
    }
    isolated = false;
    const more = signRequests(alice.signer, 'alice', items(1_000, 30), { chainId: 'test' });
    for (const r of more) c.request('r1', r);
    c.run({ until: () => c.ids.every((id) => c.nodes.get(id)!.committedRequests.size >= 150) });
    expect(unsignedServed).toBeGreaterThan(0);
    const want = new Set([...first, ...more].map(fullKey));
    for (const id of c.ids) expect(committedFull(c, id)).toEqual(want);
    for (const id of c.ids) expect(misbehaviours(c.nodes.get(id)!.events, 'invalid-signature')).toEqual([]);
    c.checkAgreement(true);
  });

  describe.each(forgeries)('a Byzantine leader proposing %s', (_name, forge, reason) => {
    it('gets no honest vote and is blamed; the next views commit genuine commands; the forgery never commits', () => {
      const c = signedCluster(23, { leaderElection: roundRobin });
      const forged = forge();
      const forgedHashes = new Set<string>();
      const signer = c.signers.get('r1')!;
      // r1 adds the forged command to every block it proposes and signs the result.
      c.tamper = (from, to, msg) => {
        if (from !== 'r1' || msg.type !== 'proposal') return [{ to, msg }];
        const block = { ...msg.block, commands: [...msg.block.commands, forged] };
        forgedHashes.add(toHex(blockHash(sha256Hasher, block)));
        return [{ to, msg: resign(block, signer) }];
      };
      const genuine = signRequests(alice.signer, 'alice', items(1, 60), { chainId: 'test' });
      for (const [i, r] of genuine.entries()) c.request(c.ids[i % 4]!, r);
      const honest = ['r0', 'r2', 'r3'];
      c.run({ until: () => honest.every((id) => c.nodes.get(id)!.committedRequests.size >= 60) });
      expect(forgedHashes.size).toBeGreaterThan(0);
      for (const id of honest) {
        const node = c.nodes.get(id)!;
        // Every genuine command committed, the forged one nowhere.
        expect(committedFull(c, id)).toEqual(new Set(genuine.map(fullKey)));
        expect(node.committed.some((b) => b.requests.some((r) => fullKey(r) === fullKey(forged)))).toBe(false);
        // No vote for any forged block; r1 blamed with the authenticator's reason.
        expect(node.sent.some((m) => m.type === 'vote' && forgedHashes.has(toHex(m.block)))).toBe(false);
        const blamed = misbehaviours(node.events, 'invalid-signature');
        expect(blamed.length).toBeGreaterThan(0);
        expect(blamed.every((e) => e.peer === 'r1' && reason.test(e.detail))).toBe(true);
        // The failed views ended by timeout, as for any refused proposal.
        expect(node.events.some((e) => e.type === 'view-change' && e.reason === 'timeout-certificate')).toBe(true);
      }
      c.checkAgreement(true);
    });
  });

  it('a forged proposal costs one view: the replica does not vote, times out, and votes in the next view', () => {
    const s = new Solo('r0', { clientAuth: authenticator() });
    const [good] = signRequests(alice.signer, 'alice', items(1, 1), { chainId: 'test' });
    s.step({ type: 'request', request: good! });
    const bad = s.craft.block(s.craft.genesis, 1n, [good!, forgeries[0]![1]()]);
    s.from(bad.block.proposer, s.craft.proposal(bad));
    expect(s.votesFor(1n)).toBe(0);
    expect(misbehaviours(s.events, 'invalid-signature').map((e) => e.peer)).toEqual([bad.block.proposer]);
    expect(s.detail('treeSize')).toBe(1); // not inserted
    // The view timer is armed (there is pending work) and expires: TIMEOUT, then a TC moves on.
    expect(s.timerSets.length).toBeGreaterThan(0);
    s.step({ type: 'timeout', timer: 'hotstuff/view' });
    expect(s.take('timeout').length).toBeGreaterThan(0);
    const tc = s.craft.tc(1n, s.craft.genesis);
    const next = s.craft.block(s.craft.genesis, 2n, [good!]);
    s.from(next.block.proposer, s.craft.proposal(next, tc));
    expect(s.votesFor(2n)).toBeGreaterThan(0);
  });

  it('a block voted on and received again (even without its signatures: same hash) is neither re-checked nor blamed', () => {
    const s = new Solo('r0', { clientAuth: authenticator() });
    const signed = signRequests(alice.signer, 'alice', items(1, 3), { chainId: 'test' });
    const b1 = s.craft.block(s.craft.genesis, 1n, signed);
    s.from(b1.block.proposer, s.craft.proposal(b1));
    const votes = s.votesFor(1n);
    expect(votes).toBeGreaterThan(0);
    const stripped = { ...b1.block, commands: signed.map(({ client, seq, payload }) => ({ client, seq, payload })) };
    expect(blockHash(sha256Hasher, stripped)).toEqual(b1.hash);
    s.from(b1.block.proposer, s.craft.proposal({ block: stripped, hash: b1.hash }));
    expect(s.votesFor(1n)).toBe(votes);
    expect(misbehaviours(s.events, 'invalid-signature')).toEqual([]);
    expect(s.events.some((e) => e.type === 'evidence')).toBe(false);
  });

  it('a proposal is checked only for commands not already pending (those passed check on admission)', () => {
    const inner = authenticator();
    let checks = 0;
    const counting: RequestAuthenticator = { check: (r) => (checks++, inner.check(r)) };
    const s = new Solo('r0', { clientAuth: counting });
    const pending = signRequests(alice.signer, 'alice', items(1, 3), { chainId: 'test' });
    for (const r of pending) s.step({ type: 'request', request: r });
    expect(checks).toBe(3);
    // The leader's copies may carry other signature objects (or none): same commands, not re-checked.
    const fresh = signRequests(bob.signer, 'bob', items(1, 1), { chainId: 'test' });
    const bare = pending.map(({ client, seq, payload }) => ({ client, seq, payload }));
    const b1 = s.craft.block(s.craft.genesis, 1n, [...bare, ...fresh]);
    s.from(b1.block.proposer, s.craft.proposal(b1));
    expect(checks).toBe(4);
    expect(s.votesFor(1n)).toBeGreaterThan(0);
    expect(misbehaviours(s.events, 'invalid-signature')).toEqual([]);
  });

  it('ancestors fetched by block sync are taken unsigned: they are certified', () => {
    const s = new Solo('r0', { clientAuth: authenticator() });
    const b1 = s.craft.block(s.craft.genesis, 1n, [{ client: 'alice', seq: 1n, payload: bytes('stripped') }]);
    const b2 = s.craft.block(s.craft.qc(b1), 2n, signRequests(alice.signer, 'alice', items(2, 1), { chainId: 'test' }));
    s.from(b2.block.proposer, s.craft.proposal(b2));
    expect(s.take('request-blocks').length).toBe(1);
    s.from(b2.block.proposer, { type: 'blocks', blocks: [b1.block] });
    expect(s.votesFor(2n)).toBeGreaterThan(0);
    expect(misbehaviours(s.events, 'invalid-signature')).toEqual([]);
  });

  describe('relayed requests', () => {
    it('commands of a client this replica does not know are skipped without blame: the directories may differ', () => {
      const withoutBob = createRequestAuthenticator({ chainId: 'test', keyOf: (id) => (id === 'bob' ? undefined : directory.get(id)), verifier: clientVerifier });
      const s = new Solo('r0', { clientAuth: withoutBob });
      const bobs = signRequests(bob.signer, 'bob', items(1, 2), { chainId: 'test' });
      const alices = signRequests(alice.signer, 'alice', items(1, 2), { chainId: 'test' });
      s.from('r2', { type: 'requests', requests: [...bobs, ...alices] });
      expect(s.detail('mempool')).toBe(2); // alice's, read past bob's
      expect(misbehaviours(s.events, 'invalid-signature')).toEqual([]);
      // A leader proposing bob's: no vote here, and no blame either.
      const b1 = s.craft.block(s.craft.genesis, 1n, bobs);
      s.from(b1.block.proposer, s.craft.proposal(b1));
      expect(s.votesFor(1n)).toBe(0);
      expect(misbehaviours(s.events, 'invalid-signature')).toEqual([]);
    });

    it('a forged relayed request convicts the relaying peer: blamed once, the rest of its message dropped unread', () => {
      let verifications = 0;
      const counting = createRequestAuthenticator({
        chainId: 'test',
        keyOf: (id) => directory.get(id),
        verifier: { verify: (k, m, sig) => (verifications++, clientVerifier.verify(k, m, sig)) },
      });
      const s = new Solo('r0', { clientAuth: counting });
      const genuine = signRequests(alice.signer, 'alice', items(1, 2), { chainId: 'test' });
      // Thousands of one-command groups with bad signatures behind the first forgery: never checked.
      const flood = Array.from({ length: 2_000 }, (_, i) => groupOf('alice', [{ seq: 50_000n + BigInt(i), payload: bytes('x') }], new Uint8Array(65))[0]!);
      s.from('r2', { type: 'requests', requests: [genuine[0]!, ...forgeries.map(([, f]) => f()), genuine[1]!, ...flood] });
      expect(s.detail('mempool')).toBe(1);
      expect(verifications).toBe(1);
      const blamed = misbehaviours(s.events, 'invalid-signature');
      expect(blamed).toHaveLength(1);
      expect(blamed[0]!.peer).toBe('r2');
      expect(blamed[0]!.detail).toMatch(/relayed command 1 that its client did not sign .*; 2003 more dropped unread/);
      // A failing `request` input (the runtime checks at admission) is dropped without blame.
      s.events = [];
      s.step({ type: 'request', request: forgeries[1]![1]() });
      expect(s.detail('mempool')).toBe(1);
      expect(s.events.filter((e) => e.type === 'misbehaviour')).toEqual([]);
    });

    it('a leader never proposes a forged relayed request', () => {
      const leader = new Solo('r1', { clientAuth: authenticator(), leaderElection: roundRobin });
      const genuine = signRequests(alice.signer, 'alice', items(1, 2), { chainId: 'test' });
      // What came before the first forgery is kept; the forgery and everything after it are not.
      leader.from('r2', { type: 'requests', requests: [genuine[0]!, forgeries[0]![1](), genuine[1]!, forgeries[2]![1]()] });
      const proposals = leader.take('proposal');
      expect(proposals).toHaveLength(1);
      expect(proposals[0]!.msg.block.commands.map(fullKey)).toEqual([fullKey(genuine[0]!)]);
      expect(misbehaviours(leader.events, 'invalid-signature').map((e) => e.peer)).toEqual(['r2']);
    });

    it('on a cluster: a Byzantine replica relaying forged requests is blamed by every honest replica, and none is ever proposed', () => {
      const c = signedCluster(24, { leaderElection: roundRobin });
      const forged = forgeries.map(([, f]) => f());
      // r3 slips the forgeries into every batch of requests it relays.
      c.tamper = (from, to, msg) => (from === 'r3' && msg.type === 'requests' ? [{ to, msg: { type: 'requests', requests: [...forged, ...msg.requests] } }] : [{ to, msg }]);
      const genuine = signRequests(bob.signer, 'bob', items(1, 30), { chainId: 'test' });
      for (const r of genuine) c.request('r3', r);
      c.run({ until: () => c.ids.every((id) => c.nodes.get(id)!.committedRequests.size >= 30) });
      const forgedKeys = new Set(forged.map(fullKey));
      for (const id of ['r0', 'r1', 'r2']) {
        const node = c.nodes.get(id)!;
        expect(misbehaviours(node.events, 'invalid-signature').every((e) => e.peer === 'r3')).toBe(true);
        expect(misbehaviours(node.events, 'invalid-signature').length).toBeGreaterThan(0);
        const proposed = node.sent.flatMap((m) => (m.type === 'proposal' ? m.block.commands.map(fullKey) : []));
        expect(proposed.some((k) => forgedKeys.has(k))).toBe(false);
        expect(committedFull(c, id)).toEqual(new Set(genuine.map(fullKey)));
      }
      c.checkAgreement(true);
    });

    it('drops a request whose signature the codec could not carry (every replica would refuse a message with it)', () => {
      const s = new Solo('r0');
      const [r, ok] = signRequests(alice.signer, 'alice', items(1, 2), { chainId: 'test' });
      const group = r!.auth!.group;
      const bad: ClientRequest[] = [
        { ...r!, auth: { group: { ...group, signature: new Uint8Array(9000) }, index: 0 } },
        { ...r!, auth: { group, index: 2 } },
        { ...r!, client: 'bob' },
      ];
      for (const x of bad) s.step({ type: 'request', request: x });
      expect(s.detail('mempool')).toBe(0);
      s.step({ type: 'request', request: ok! });
      expect(s.detail('mempool')).toBe(1);
      // What the pool forwards (and would propose) is what the codec carries.
      const relayed = s.take('requests');
      expect(relayed.flatMap((m) => m.msg.requests).map(fullKey)).toEqual([fullKey(ok!)]);
      for (const m of relayed) expect(decodeMessage(encodeMessage(m.msg))).toEqual(m.msg);
    });

    it('without clientAuth, drops a signed command that could not go alone in a block (its group would overflow it)', () => {
      const s = new Solo('r0', { maxPayloadBytes: 1000, maxBlockBytes: 2048 });
      const signed = signRequests(alice.signer, 'alice', items(1, 128), { chainId: 'test' });
      expect(requestWireBytes(signed[0]!)).toBeGreaterThan(2048);
      for (const r of signed) s.step({ type: 'request', request: r });
      expect(s.detail('mempool')).toBe(0);
      const small = signRequests(alice.signer, 'alice', items(1, 8), { chainId: 'test' });
      for (const r of small) s.step({ type: 'request', request: r });
      expect(s.detail('mempool')).toBe(8);
    });
  });

  it('a leader cuts blocks counting each signed group once (maxBlockBytes), and voters accept them', () => {
    const cfg = { maxPayloadBytes: 1000, maxBlockBytes: 16_384, maxBlockCommands: 1000, clientAuth: authenticator() };
    const leader = new Solo('r1', { ...cfg, leaderElection: roundRobin });
    const signed = signRequests(alice.signer, 'alice', items(1, 128, 'x'.repeat(100)), { chainId: 'test' });
    // Counted per command, each would carry its whole group (~4 KiB): 3 commands a block.
    expect(Math.floor(cfg.maxBlockBytes / requestWireBytes(signed[0]!))).toBeLessThan(5);
    leader.from('r2', { type: 'requests', requests: signed });
    const [p] = leader.take('proposal');
    const cmds = p!.msg.block.commands;
    expect(cmds.length).toBeGreaterThan(60);
    expect(cmds.length).toBeLessThan(128);
    expect(batchWireBytes(cmds)).toBeLessThanOrEqual(cfg.maxBlockBytes);
    expect(batchWireBytes(signed.slice(0, cmds.length + 1))).toBeGreaterThan(cfg.maxBlockBytes);
    // Over the wire, and a voter with the same budget takes it.
    const voter = new Solo('r0', { ...cfg, leaderElection: roundRobin });
    voter.from('r1', decodeMessage(encodeMessage(p!.msg)));
    expect(voter.votesFor(1n)).toBeGreaterThan(0);
  });

  it('config: clientAuth must be an authenticator, and blocks must leave room for a largest signed group', () => {
    const v = fakeValidators(4);
    const ctx = { self: 'r0', validators: v.validators, signer: v.signers.get('r0')!, verifier: fakeVerifier, rng: seededRng(1) };
    const make = (c: Partial<HotStuffConfig>) => hotstuff.create(ctx, { chainId: 'test', ...c });
    expect(() => make({ clientAuth: {} as RequestAuthenticator })).toThrow(ConfigError);
    expect(() => make({ maxPayloadBytes: 1000, maxBlockBytes: 2048 })).not.toThrow();
    expect(() => make({ maxPayloadBytes: 1000, maxBlockBytes: 2048, clientAuth: authenticator() })).toThrow(/signed group/);
    expect(() => make({ clientAuth: authenticator() })).not.toThrow();
  });
});

describe('codec and hashes with signed commands', () => {
  const v = fakeValidators(4);
  const craft = new Crafter(v.validators, v.signers);
  // One group of 10 split over two blocks, plus an unsigned command and a second client's group.
  const group = signRequests(alice.signer, 'alice', items(1, 10), { chainId: 'test' });
  const bobs = signRequests(bob.signer, 'bob', items(1, 2), { chainId: 'test' });
  const unsigned: ClientRequest = { client: 'carol', seq: 1n, payload: bytes('plain') };
  const b1 = craft.block(craft.genesis, 1n, [...group.slice(0, 6), unsigned, bobs[0]!]);
  const qc1 = craft.qc(b1);
  const b2 = craft.block(qc1, 2n, [bobs[1]!, ...group.slice(6)]);
  const auth = authenticator();

  it('round-trips proposals, BLOCKS and relayed requests carrying signed groups; decoded commands still check', () => {
    const msgs: HotStuffMessage[] = [
      craft.proposal(b1),
      craft.proposal(b2),
      { type: 'blocks', blocks: [b2.block, b1.block] },
      { type: 'requests', requests: [...group, ...bobs] },
      { type: 'requests', requests: [group[9]!, unsigned, group[0]!] },
    ];
    for (const m of msgs) {
      const back = decodeMessage(encodeMessage(m));
      expect(back).toEqual(m);
      const cmds = back.type === 'proposal' ? back.block.commands : back.type === 'blocks' ? back.blocks.flatMap((b) => b.commands) : back.type === 'requests' ? back.requests : [];
      for (const r of cmds) expect(auth.check(r)).toBe(r.client === 'carol' ? 'command 1 of "carol" is not signed' : undefined);
    }
    // Each block carries the whole group (all ten digests), once, whatever part of it it holds.
    const p2 = decodeMessage(encodeMessage(craft.proposal(b2))) as Extract<HotStuffMessage, { type: 'proposal' }>;
    const groups = new Set(p2.block.commands.map((r) => r.auth?.group).filter((g) => g !== undefined));
    expect([...groups].map((g) => g!.digests.length).sort()).toEqual([10, 2]);
  });

  it('keeps exactly the old encoding for unsigned commands', () => {
    const plain = craft.block(craft.genesis, 1n, [unsigned, { client: 'dave', seq: 5n, payload: bytes('') }]);
    const p = craft.proposal(plain) as Extract<HotStuffMessage, { type: 'proposal' }>;
    const b = plain.block;
    const old: Value = [
      0,
      [b.parent, b.height, b.view, b.proposer, [b.justify.view, b.justify.height, b.justify.block, b.justify.sig], b.election, b.commands.map((r) => [r.client, r.seq, r.payload])],
      p.signature,
      null,
    ];
    expect(bytesEqual(encodeMessage(p), encode(old))).toBe(true);
    const reqs: HotStuffMessage = { type: 'requests', requests: [unsigned] };
    expect(bytesEqual(encodeMessage(reqs), encode([5, [[unsigned.client, unsigned.seq, unsigned.payload]]]))).toBe(true);
  });

  it('refuses malformed signed lists with DecodeError', () => {
    const d = new Uint8Array(32);
    const sig = new Uint8Array(64);
    const asProposal = (cmds: Value): Uint8Array => {
      const b = b1.block;
      return encode([0, [b.parent, b.height, b.view, b.proposer, [b.justify.view, b.justify.height, b.justify.block, b.justify.sig], b.election, cmds], sig, null]);
    };
    const cases: Array<[Value, RegExp]> = [
      [{ g: [['alice', sig, new Uint8Array(31)]], r: [['alice', 1n, d, 0, 0]] }, /not 1\.\.128 digests/],
      [{ g: [['alice', sig, new Uint8Array(0)]], r: [['alice', 1n, d, 0, 0]] }, /not 1\.\.128 digests/],
      [{ g: [['alice', sig, new Uint8Array(32 * 129)]], r: [['alice', 1n, d, 0, 0]] }, /digests/],
      [{ g: [['alice', sig, d]], r: [['alice', 1n, d, 1, 0]] }, /group/],
      [{ g: [['alice', sig, d]], r: [['alice', 1n, d, 0, 1]] }, /position/],
      [{ g: [['alice', sig, d]], r: [['bob', 1n, d, 0, 0]] }, /in a group of "alice"/],
      [{ g: [['alice', sig, d], ['alice', sig, d]], r: [['alice', 1n, d, 0, 0]] }, /no command uses this group/],
      [{ g: [['alice', new Uint8Array(8193), d]], r: [['alice', 1n, d, 0, 0]] }, /exceed/],
      [{ g: [['alice', sig]], r: [['alice', 1n, d, 0, 0]] }, /expected \[client, signature, digests\]/],
      [{ g: [['alice', sig, d]], r: [['alice', 1n, d, 0]] }, /expected/],
      [{ g: [['alice', sig, d]] }, /\.r/],
    ];
    for (const [cmds, why] of cases) {
      expect(() => decodeMessage(asProposal(cmds))).toThrow(DecodeError);
      expect(() => decodeMessage(asProposal(cmds))).toThrow(why);
      expect(() => decodeMessage(encode([5, cmds]))).toThrow(DecodeError);
    }
  });

  it('flipped bytes in a signed frame give DecodeError or a frame that decodes, never another error', () => {
    const frames = [encodeMessage(craft.proposal(b1)), encodeMessage({ type: 'requests', requests: group })];
    const rng = seededRng(77);
    for (let i = 0; i < 3000; i++) {
      const f = Uint8Array.from(frames[i % 2]!);
      for (let k = 0; k < 1 + rng.nextInt(3); k++) f[rng.nextInt(f.length)] = rng.nextInt(256);
      try {
        decodeMessage(f);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
      }
    }
  });

  it('block hashes ignore signatures: a signed block and its unsigned twin hash alike, and unsigned hashes are unchanged', () => {
    const strip = (b: Block): Block => ({ ...b, commands: b.commands.map(({ client, seq, payload }) => ({ client, seq, payload })) });
    for (const m of [b1, b2]) {
      expect(toHex(blockHash(sha256Hasher, strip(m.block)))).toBe(toHex(m.hash));
      // Signed another way (other groups, other signatures), still the same block.
      const resigned = { ...m.block, commands: m.block.commands.map((r) => (r.auth ? signRequests(r.client === 'alice' ? alice.signer : bob.signer, r.client, [r], { chainId: 'test' })[0]! : r)) };
      expect(toHex(blockHash(sha256Hasher, resigned))).toBe(toHex(m.hash));
    }
    // Pinned before client signatures existed (same block, same chain): the hash did not move.
    const g = craft.genesis;
    const pinned: Block = {
      parent: g.block,
      height: 1n,
      view: 1n,
      proposer: 'r1',
      justify: g,
      election: new Uint8Array(0),
      commands: [
        { client: 'alice', seq: 1n, payload: bytes('set a 1') },
        { client: 'bob', seq: 7n, payload: bytes('') },
      ],
    };
    expect(toHex(blockHash(sha256Hasher, pinned))).toBe('dade2eca762ad47fc3a54659875cdeb18ff1b102f15008b2a9d4b2c0635a3cf9');
    const signedTwin = { ...pinned, commands: [...signRequests(alice.signer, 'alice', [pinned.commands[0]!], { chainId: 'test' }), ...signRequests(bob.signer, 'bob', [pinned.commands[1]!], { chainId: 'test' })] };
    expect(toHex(blockHash(sha256Hasher, signedTwin))).toBe('dade2eca762ad47fc3a54659875cdeb18ff1b102f15008b2a9d4b2c0635a3cf9');
  });

  describe('a forged twin of a pending command (found in review: the mempool key was not injective)', () => {
    const big = new Uint8Array(300).fill(7);
    const cases: Array<[string, ClientRequest, ClientRequest]> = [
      [
        'a >256-byte payload and the hex of its hash',
        signRequests(alice.signer, 'alice', [{ seq: 5n, payload: big }], { chainId: 'test' })[0]!,
        { client: 'alice', seq: 5n, payload: bytes(toHex(sha256Hasher.digest(big))) },
      ],
      [
        'a NUL inside the client id',
        signRequests(alice.signer, 'alice', [{ seq: 1n, payload: new Uint8Array([0x32, 0, 0x41, 0x42]) }], { chainId: 'test' })[0]!,
        { client: 'alice\u00001', seq: 2n, payload: new Uint8Array([0x41, 0x42]) },
      ],
    ];
    for (const [name, genuine, forged] of cases) {
      it(`gets no vote: ${name}`, () => {
        const s = new Solo('r0', { clientAuth: authenticator() });
        s.step({ type: 'request', request: genuine });
        const b1 = s.craft.block(s.craft.genesis, 1n, [forged]);
        s.from(b1.block.proposer, s.craft.proposal(b1));
        expect(s.votesFor(1n)).toBe(0);
        // A forged client id the directory does not know is refused without blame (directories
        // may differ for a while); a known client's forged command convicts its proposer.
        const known = authenticator().knows?.(forged.client) ?? true;
        expect(misbehaviours(s.events, 'invalid-signature').map((e) => e.peer)).toEqual(known ? [b1.block.proposer] : []);
      });
    }
  });
});
