import { describe, expect, it } from 'vitest';
import { ConfigError } from '@phalanx/interface';
import { leadingZeroBits, proofOfWork, roundRobin, sha256Hasher } from '../src/index.js';
import { Cluster, fakeValidators, req, seededRng } from './harness.js';

const { validators } = fakeValidators(4);

describe('leader election strategies', () => {
  it('round-robin: leader(v) = validators[v mod n]; only that leader is eligible, with an empty proof', () => {
    const rr = roundRobin({ validators, chainId: 'test', hasher: sha256Hasher });
    expect([0n, 1n, 2n, 3n, 4n, 9n].map((v) => rr.leader(v))).toEqual(['r0', 'r1', 'r2', 'r3', 'r0', 'r1']);
    const parent = new Uint8Array(32);
    expect(rr.eligible(5n, 'r1', parent, new Uint8Array(0))).toBe(true);
    expect(rr.eligible(5n, 'r2', parent, new Uint8Array(0))).toBe(false);
    expect(rr.eligible(5n, 'r1', parent, new Uint8Array(1))).toBe(false);
    expect(rr.prove(6n, 'r2', parent, seededRng(1))).toEqual(new Uint8Array(0));
    expect(rr.prove(6n, 'r3', parent, seededRng(1))).toBeUndefined();
  });

  it('leadingZeroBits counts bits across bytes', () => {
    expect(leadingZeroBits(new Uint8Array([0xff]))).toBe(0);
    expect(leadingZeroBits(new Uint8Array([0x01]))).toBe(7);
    expect(leadingZeroBits(new Uint8Array([0, 0, 0x10]))).toBe(19);
    expect(leadingZeroBits(new Uint8Array([0, 0]))).toBe(16);
  });

  it('proof-of-work (optional): bounded mining through the Rng, deterministic one-hash verification bound to view, proposer and parent', () => {
    const pow = proofOfWork({ difficultyBits: 8, attemptsPerView: 5000 })({ validators, chainId: 'test', hasher: sha256Hasher });
    expect(pow.leader(3n)).toBeUndefined();
    const parent = new Uint8Array(32).fill(7);
    const nonce = pow.prove(3n, 'r2', parent, seededRng(11))!;
    expect(nonce).toBeDefined();
    expect(pow.eligible(3n, 'r2', parent, nonce)).toBe(true);
    expect(pow.eligible(4n, 'r2', parent, nonce)).toBe(false);
    expect(pow.eligible(3n, 'r1', parent, nonce)).toBe(false);
    expect(pow.eligible(3n, 'r2', new Uint8Array(32), nonce)).toBe(false);
    expect(pow.eligible(3n, 'stranger', parent, nonce)).toBe(false);
    // One attempt at 30 bits essentially never succeeds: the work per step is bounded.
    const hard = proofOfWork({ difficultyBits: 30, attemptsPerView: 1 })({ validators, chainId: 'test', hasher: sha256Hasher });
    expect(hard.prove(3n, 'r2', parent, seededRng(11))).toBeUndefined();
    expect(() => proofOfWork({ difficultyBits: 65, attemptsPerView: 1 })).toThrow(ConfigError);
  });

  it('a cluster under proof-of-work election stays safe and commits (votes are broadcast)', () => {
    const c = new Cluster({ n: 4, seed: 21, config: { leaderElection: proofOfWork({ difficultyBits: 5, attemptsPerView: 8 }) } });
    for (let i = 1; i <= 10; i++) c.request('r0', req('p', i));
    c.run({ until: () => c.ids.every((id) => c.nodes.get(id)!.committedRequests.size >= 10), maxSteps: 100_000 });
    for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size).toBe(10);
    c.checkAgreement(true);
  });
});
