import { describe, expect, it } from 'vitest';
import { CertificateError, ConfigError, DecodeError } from '@phalanx/interface';
import { encode } from '@phalanx/codec';
import {
  createValidatorSet,
  decodeCertificate,
  encodeCertificate,
  isValidCertificate,
  powerOf,
  signVote,
  verifyCertificate,
  verifyEvidence,
  VoteSet,
} from '../src/index.js';
import type { CommitCertificate } from '../src/index.js';
import { digestA, digestB, testSigner, testVerifier, validators } from './helpers.js';

const chainId = 'test-chain';
const set = createValidatorSet(validators(4));
const body = { kind: 'pbft/commit', height: 7n, round: 0n, digest: digestA };
const vote = (id: string, digest = digestA) => signVote(testSigner(id), chainId, id, { ...body, digest });
const newSet = () => new VoteSet({ validators: set, chainId, kind: 'pbft/commit', height: 7n, round: 0n, verifier: testVerifier });

describe('createValidatorSet', () => {
  it('refuses empty sets, duplicate ids and keys, and bad powers, naming the entry', () => {
    expect(() => createValidatorSet([])).toThrow(ConfigError);
    const v = validators(3);
    expect(() => createValidatorSet([...v, { ...v[0]!, publicKey: new Uint8Array([9]) }])).toThrow(/validators\[3\].id: duplicate validator id "r0"/);
    expect(() => createValidatorSet([...v, { id: 'x', publicKey: v[1]!.publicKey, power: 1 }])).toThrow(/validators\[3\].publicKey: same key as validator "r1"/);
    expect(() => createValidatorSet([{ ...v[0]!, power: 0 }])).toThrow(/validators\[0\].power/);
    expect(() =>
      createValidatorSet(v, { validateKey: (pk) => { if (pk[pk.length - 1] === '1'.charCodeAt(0)) throw new Error('small-order key'); } }),
    ).toThrow(/validators\[1\].publicKey: small-order key/);
  });

  it('indexes members in order and sums power once per distinct member', () => {
    const w = createValidatorSet(validators(4, (i) => i + 1));
    expect(w.totalPower).toBe(10);
    expect(w.indexOf('r2')).toBe(2);
    expect(w.has('zz')).toBe(false);
    expect(powerOf(w, ['r3', 'r3', 'zz', 'r0'])).toBe(5);
  });
});

describe('VoteSet', () => {
  it('reaches a quorum at 2f+1 distinct valid votes and builds a certificate that verifies offline', () => {
    const vs = newSet();
    expect(vs.add(vote('r0'))).toMatchObject({ status: 'added', power: 1, quorum: false });
    expect(vs.add(vote('r1'))).toMatchObject({ status: 'added', quorum: false });
    expect(vs.certificate()).toBeUndefined();
    expect(vs.add(vote('r3'))).toMatchObject({ status: 'added', power: 3, quorum: true });
    const cert = vs.certificate()!;
    expect(cert.votes.map((v) => v.voter)).toEqual(['r0', 'r1', 'r3']);
    expect(() => verifyCertificate(cert, set, testVerifier, { chainId, kind: 'pbft/commit', height: 7n, digest: digestA })).not.toThrow();
  });

  it('counts a replayed vote once', () => {
    const vs = newSet();
    vs.add(vote('r0'));
    expect(vs.add(vote('r0'))).toEqual({ status: 'duplicate' });
    expect(vs.powerFor(digestA)).toBe(1);
  });

  it('rejects forged signatures, non-members and other positions', () => {
    const vs = newSet();
    const forged = { ...vote('r1'), signature: testSigner('r2').sign(new Uint8Array([1])) };
    expect(vs.add(forged)).toEqual({ status: 'rejected', reason: 'invalid-signature' });
    expect(vs.add(vote('r9'))).toEqual({ status: 'rejected', reason: 'unknown-voter' });
    expect(vs.add({ ...vote('r1'), height: 8n })).toEqual({ status: 'rejected', reason: 'wrong-position' });
    expect(vs.votedPower).toBe(0);
  });

  it('turns a conflicting second vote into verifiable evidence and does not count it', () => {
    const vs = newSet();
    vs.add(vote('r2', digestA));
    const r = vs.add(vote('r2', digestB));
    expect(r.status).toBe('equivocation');
    if (r.status !== 'equivocation') return;
    expect(() => verifyEvidence(r.evidence, set, testVerifier, chainId)).not.toThrow();
    expect(vs.powerFor(digestB)).toBe(0);
    expect(vs.evidence()).toHaveLength(1);
    // Evidence made of two agreeing votes, or of a forged vote, proves nothing.
    expect(() => verifyEvidence({ voter: 'r2', first: vote('r2'), second: vote('r2') }, set, testVerifier, chainId)).toThrow(CertificateError);
    const forged = { ...vote('r2', digestB), signature: new Uint8Array(32) };
    for (const junk of [null, { voter: 'r2' }, { voter: 'r2', first: vote('r2'), second: null }, { voter: 'r2', first: vote('r2'), second: { ...vote('r2'), digest: 'x' } }]) {
      expect(() => verifyEvidence(junk as never, set, testVerifier, chainId)).toThrow(CertificateError);
    }
    expect(() => verifyEvidence({ voter: 'r2', first: vote('r2'), second: forged }, set, testVerifier, chainId)).toThrow(/does not verify/);
  });

  it('keeps one piece of evidence per equivocating voter, however many digests it signs', () => {
    const vs = newSet();
    vs.add(vote('r2', digestA));
    for (let i = 0; i < 50; i++) {
      const d = new Uint8Array(32).fill(i + 10);
      expect(vs.add(vote('r2', d)).status).toBe('equivocation');
    }
    vs.add(vote('r3', digestA));
    expect(vs.add(vote('r3', digestB)).status).toBe('equivocation');
    expect(vs.evidence().map((e) => e.voter)).toEqual(['r2', 'r3']);
  });

  it('refuses a threshold that is not a positive integer', () => {
    for (const threshold of [0, -1, 1.5, Number.NaN]) {
      expect(() => new VoteSet({ validators: set, chainId, kind: 'k', height: 1n, round: 0n, threshold })).toThrow(ConfigError);
    }
  });

  it('weighted: a quorum is more than two thirds of the power, not of the heads', () => {
    const w = createValidatorSet(validators(4, (i) => (i === 0 ? 7 : 1))); // total 10, quorum 7
    const vs = new VoteSet({ validators: w, chainId, kind: 'pbft/commit', height: 7n, round: 0n, verifier: testVerifier });
    for (const id of ['r1', 'r2', 'r3']) expect(vs.add(vote(id))).toMatchObject({ quorum: false });
    expect(vs.add(vote('r0'))).toMatchObject({ quorum: true, power: 10 });
  });
});

describe('verifyCertificate', () => {
  const good = (() => {
    const vs = newSet();
    for (const id of ['r0', 'r1', 'r2']) vs.add(vote(id));
    return vs.certificate()!;
  })();
  const bad = (cert: Partial<CommitCertificate>) => ({ ...good, ...cert });

  it.each<[string, CommitCertificate, RegExp]>([
    ['too little power', bad({ votes: good.votes.slice(0, 2) }), /power 2, needs 3/],
    ['a duplicated voter', bad({ votes: [...good.votes.slice(0, 2), good.votes[0]!] }), /appears twice/],
    ['an unknown voter', bad({ votes: [...good.votes.slice(0, 2), { voter: 'mallory', signature: new Uint8Array(32) }] }), /not in the validator set/],
    ['a signature moved to another digest', bad({ digest: digestB }), /does not verify/],
    ['a signature moved to another height', bad({ height: 8n }), /does not verify/],
    ['a signature replayed on another chain', bad({ chainId: 'other' }), /does not verify/],
  ])('refuses %s', (_what, cert, why) => {
    expect(() => verifyCertificate(cert, set, testVerifier)).toThrow(why);
    expect(isValidCertificate(cert, set, testVerifier)).toBe(false);
  });

  it('checks what the caller expects', () => {
    expect(() => verifyCertificate(good, set, testVerifier, { digest: digestB })).toThrow(/expected/);
    expect(() => verifyCertificate(good, set, testVerifier, { chainId: 'x' })).toThrow(/expected "x"/);
    expect(() => verifyCertificate(good, set, testVerifier, { kind: 'pbft/prepare' })).toThrow(/expected "pbft\/prepare"/);
    expect(() => verifyCertificate(good, set, testVerifier, { height: 8n })).toThrow(/expected 8/);
    expect(() => verifyCertificate(good, set, testVerifier, { round: 1n })).toThrow(/expected 1/);
    expect(() => verifyCertificate(good, set, testVerifier, { chainId, kind: 'pbft/commit', height: 7n, round: 0n, digest: digestA })).not.toThrow();
  });

  it('answers false, never throws, for certificates assembled from wrongly typed peer fields', () => {
    const shapes: unknown[] = [
      bad({ votes: null as never }),
      bad({ votes: [null] as never }),
      bad({ votes: [{ voter: 'r0' }] as never }),
      bad({ votes: [{ voter: 7, signature: new Uint8Array(32) }] as never }),
      bad({ height: 7 as never }),
      bad({ round: -1n }),
      bad({ height: 1n << 64n }),
      bad({ digest: 'ab' as never }),
      bad({ kind: undefined as never }),
      null,
    ];
    for (const cert of shapes) {
      expect(() => verifyCertificate(cert as CommitCertificate, set, testVerifier)).toThrow(CertificateError);
      expect(isValidCertificate(cert as CommitCertificate, set, testVerifier)).toBe(false);
      expect(isValidCertificate(cert as CommitCertificate, set, testVerifier, { chainId, kind: 'pbft/commit', height: 7n, digest: digestA })).toBe(false);
    }
  });

  it('never accepts an empty certificate, nor a threshold that would', () => {
    const empty = bad({ votes: [] });
    expect(() => verifyCertificate(empty, set, testVerifier)).toThrow(CertificateError);
    for (const threshold of [0, -3, 0.5, Number.NaN]) {
      expect(() => verifyCertificate(empty, set, testVerifier, { threshold })).toThrow(ConfigError);
      expect(() => verifyCertificate(good, set, testVerifier, { threshold })).toThrow(ConfigError);
    }
  });

  it('round-trips through its encoding and refuses malformed encodings', () => {
    const again = decodeCertificate(encodeCertificate(good));
    expect(again).toEqual(good);
    expect(() => verifyCertificate(again, set, testVerifier)).not.toThrow();
    expect(() => decodeCertificate(encode({ v: 2 }))).toThrow(DecodeError);
    expect(() => decodeCertificate(encodeCertificate(good).subarray(1))).toThrow(DecodeError);
    const tooMany = { ...good, votes: Array.from({ length: 5 }, () => good.votes[0]!) };
    expect(() => decodeCertificate(encodeCertificate(tooMany), 4)).toThrow(/exceed the limit of 4/);
  });
});
