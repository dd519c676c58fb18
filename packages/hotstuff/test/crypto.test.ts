/**
 * Real signatures and every certificate mode: Ed25519 and ML-DSA-44 signature lists (via
 * @phalanx/crypto), BLS aggregate and threshold BLS (via @phalanx/threshold). Each runs a small
 * cluster to commits and checks the commit proofs offline with only the validator set (and, for
 * BLS, the BLS public keys / group key).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { CertificateError } from '@phalanx/interface';
import type { Signer, SignatureScheme } from '@phalanx/interface';
import { createVerifier, generateKeyPair, signerFromSecret } from '@phalanx/crypto';
import {
  aggregateSignatures,
  combineSignatures,
  fastAggregateVerify,
  keygen,
  popProve,
  registerPublicKey,
  seededRng as blsRng,
  selectBackend,
  sign as blsSign,
  signShare,
  trustedDealerKeys,
  verify as blsVerify,
  verifyShare as blsVerifyShare,
  verifyThresholdSignature,
} from '@phalanx/threshold';
import type { PopVerifiedKey } from '@phalanx/threshold';
import { createValidatorSet } from '@phalanx/quorum';
import { toHex } from '@phalanx/codec';
import { blsAggregateScheme, thresholdBlsScheme, verifyCommitProof, VOTE_KIND } from '../src/index.js';
import type { CertificateSchemeFactory } from '../src/index.js';
import { Cluster, req } from './harness.js';

function realCluster(scheme: SignatureScheme, n: number, certificates?: (id: string) => CertificateSchemeFactory): Cluster {
  const ids = Array.from({ length: n }, (_, i) => `v${i}`);
  const signers = new Map<string, Signer>();
  const list = ids.map((id, i) => {
    const kp = generateKeyPair(scheme, { seed: new Uint8Array(scheme === 'ed25519' ? 32 : 32).fill(i + 1) });
    signers.set(id, signerFromSecret(kp.secretKey, scheme));
    return { id, publicKey: kp.publicKey, power: 1 };
  });
  return new Cluster({
    n,
    seed: 5,
    ids,
    signers,
    validators: createValidatorSet(list),
    verifier: createVerifier(),
    ...(certificates ? { configFor: (id: string) => ({ certificates: certificates(id) }) } : {}),
  });
}

function commitSome(c: Cluster, count: number): void {
  for (let i = 1; i <= count; i++) c.request(c.ids[0]!, req('k', i));
  c.run({ until: () => c.ids.every((id) => c.nodes.get(id)!.committedRequests.size >= count) });
  for (const id of c.ids) expect(c.nodes.get(id)!.committedRequests.size).toBe(count);
}

describe('signature-list certificates with real signatures', () => {
  it('Ed25519: commits, and proofs verify offline (and fail under another key set)', () => {
    const c = realCluster('ed25519', 4);
    commitSome(c, 6);
    const proof = c.nodes.get('v2')!.committed[0]!.proof!;
    expect(verifyCommitProof(proof, c.validators, createVerifier(), { chainId: 'test' }).height).toBe(1n);
    const other = realCluster('ed25519', 5);
    expect(() => verifyCommitProof(proof, other.validators, createVerifier())).toThrow(CertificateError);
  });

  it('ML-DSA-44: the same list form with a post-quantum signer', () => {
    const c = realCluster('ml-dsa-44', 4);
    commitSome(c, 2);
    const proof = c.nodes.get('v1')!.committed[0]!.proof!;
    expect(verifyCommitProof(proof, c.validators, createVerifier(), { chainId: 'test' }).height).toBe(1n);
  });
});

describe('BLS certificates (@phalanx/threshold)', () => {
  beforeAll(async () => {
    await selectBackend();
  });

  it('aggregate: one signature + bitmap per QC; verifies with the BLS keys, refuses a tampered one', () => {
    const rng = blsRng(new Uint8Array(32).fill(9));
    const ids = ['v0', 'v1', 'v2', 'v3'];
    const keys = new Map(ids.map((id) => [id, keygen(rng)]));
    const registered = new Map<string, PopVerifiedKey>();
    for (const k of keys.values()) registered.set(toHex(k.publicKey), registerPublicKey(k.publicKey, popProve(k.secretKey)));
    const publicKeys = new Map(ids.map((id) => [id, keys.get(id)!.publicKey]));
    const bls = {
      sign: blsSign,
      verify: blsVerify,
      aggregate: aggregateSignatures,
      verifyAggregate: (pks: readonly Uint8Array[], m: Uint8Array, s: Uint8Array) => fastAggregateVerify(pks.map((pk) => registered.get(toHex(pk))!), m, s),
    };
    const schemeFor = (id: string): CertificateSchemeFactory => blsAggregateScheme({ bls, publicKeys, secretKey: keys.get(id)!.secretKey });
    const c = realCluster('ed25519', 4, schemeFor);
    commitSome(c, 3);
    const proof = c.nodes.get('v3')!.committed[0]!.proof!;
    const verifyOnly = blsAggregateScheme({ bls, publicKeys });
    expect(verifyCommitProof(proof, c.validators, createVerifier(), { chainId: 'test', certificates: verifyOnly }).height).toBe(1n);
    // The list-form verifier cannot read it, and a flipped byte in the aggregate fails.
    expect(() => verifyCommitProof(proof, c.validators, createVerifier(), { chainId: 'test' })).toThrow(CertificateError);
    const t = Uint8Array.from(proof);
    t[t.length - 10] = t[t.length - 10]! ^ 1;
    expect(() => verifyCommitProof(t, c.validators, createVerifier(), { chainId: 'test', certificates: verifyOnly })).toThrow();
    // The bitmap names the voters (what activeRoundRobin reads), in validator-set order.
    const params = { validators: c.validators, verifier: createVerifier(), chainId: 'test' };
    const body = { kind: VOTE_KIND, height: 1n, round: 1n, digest: new Uint8Array(32).fill(3) };
    const shares = ['v3', 'v0', 'v2'].map((id) => ({ voter: id, share: schemeFor(id)({ ...params, self: id }).sign(body) }));
    const cert = verifyOnly(params).combine(body, shares);
    expect(() => verifyOnly(params).verify(body, cert)).not.toThrow();
    expect(verifyOnly(params).signers!(cert)).toEqual(['v0', 'v2', 'v3']);
  });

  it('threshold (2f+1 of n): a QC is one group signature, verified with the group key alone', () => {
    const rng = blsRng(new Uint8Array(32).fill(7));
    const { publicKey, shares } = trustedDealerKeys(2, 4, rng);
    const ids = ['v0', 'v1', 'v2', 'v3'];
    const prims = (i?: number) => ({
      ...(i === undefined ? {} : { signShare: (m: Uint8Array) => signShare(shares[i]!, m).signature }),
      verifyShare: (index: number, m: Uint8Array, s: Uint8Array) => blsVerifyShare(publicKey, m, { index, signature: s }),
      combine: (m: Uint8Array, sh: readonly { index: number; signature: Uint8Array }[]) => combineSignatures(publicKey, m, sh).signature,
      verify: (m: Uint8Array, s: Uint8Array) => verifyThresholdSignature(publicKey, m, s),
    });
    const c = realCluster('ed25519', 4, (id) => thresholdBlsScheme(prims(ids.indexOf(id))));
    commitSome(c, 3);
    const proof = c.nodes.get('v0')!.committed[0]!.proof!;
    expect(verifyCommitProof(proof, c.validators, createVerifier(), { chainId: 'test', certificates: thresholdBlsScheme(prims()) }).height).toBe(1n);
    const t = Uint8Array.from(proof);
    t[t.length - 5] = t[t.length - 5]! ^ 1;
    expect(() => verifyCommitProof(t, c.validators, createVerifier(), { chainId: 'test', certificates: thresholdBlsScheme(prims()) })).toThrow();
  });
});
