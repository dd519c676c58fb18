import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { EncodeError, decode, encode } from '@phalanx/codec';
import { ArgumentError, DecodeError, batchWireBytes, requestBatches, requestWireBytes } from '@phalanx/interface';
import type { ClientRequest, VerifyItem } from '@phalanx/interface';
import type { Value } from '@phalanx/codec';
import { createVerifiedCache, generateKeyPair, signerFromSecret, verifier } from '@phalanx/crypto';
import {
  MAX_GROUP_SIZE,
  createRequestAuthenticator,
  groupMessage,
  groupOf,
  readRequestList,
  requestListValue,
  signGroup,
  signRequests,
} from '../src/index.js';
import { readRequestListChecked } from '../src/wire.js';

const alice = generateKeyPair('ed25519');
const bob = generateKeyPair('ed25519');
const aliceSigner = signerFromSecret(alice.secretKey);
const keys = new Map([
  ['alice', alice.publicKey],
  ['bob', bob.publicKey],
]);
const LIMITS = { maxRequests: 4096, maxPayloadBytes: 1 << 20, maxIdLength: 256, maxSignatureBytes: 8192 };
const items = (n: number, from = 0n) => Array.from({ length: n }, (_, i) => ({ seq: from + BigInt(i), payload: new Uint8Array([i & 0xff, 7]) }));
const roundTrip = (rs: readonly ClientRequest[]) => readRequestList(decode(encode(requestListValue(rs))), 'list', LIMITS);

function countingVerifier() {
  const v = { calls: 0, verify: (k: Uint8Array, m: Uint8Array, s: Uint8Array) => (v.calls++, verifier.verify(k, m, s)) };
  return v;
}

describe('signed command groups', () => {
  it('accepts what the client signed, once per group however many commands point at it', () => {
    const v = countingVerifier();
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier: v });
    const signed = signRequests(aliceSigner, 'alice', items(300), { chainId: 'test' });
    expect(new Set(signed.map((r) => r.auth!.group)).size).toBe(Math.ceil(300 / MAX_GROUP_SIZE));
    for (const r of signed) expect(auth.check(r)).toBeUndefined();
    expect(v.calls).toBe(3);
    // Decoded copies are new objects: the verifier (the runtime's cache) is asked again, once per group.
    for (const r of roundTrip(signed)) expect(auth.check(r)).toBeUndefined();
    expect(v.calls).toBe(6);
  });

  it('refuses unsigned, altered, re-attributed, misplaced and unknown-client commands', () => {
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier: createVerifiedCache() });
    const [r0, r1] = signRequests(aliceSigner, 'alice', items(2), { chainId: 'test' });
    expect(auth.check({ client: 'alice', seq: 0n, payload: r0!.payload })).toMatch(/not signed/);
    expect(auth.check({ ...r0!, payload: new Uint8Array([9]) })).toMatch(/does not match/);
    expect(auth.check({ ...r0!, seq: 5n })).toMatch(/does not match/);
    expect(auth.check({ ...r0!, auth: { group: r0!.auth!.group, index: 1 } })).toMatch(/does not match/);
    expect(auth.check({ ...r1!, auth: { group: r1!.auth!.group, index: 2 } })).toMatch(/outside/);
    // A Byzantine leader cannot pass Alice's signature off as Bob's, nor sign for Bob itself.
    expect(auth.check({ ...r0!, client: 'bob' })).toMatch(/group signed for "alice"/);
    const forged = groupOf('bob', [{ seq: 0n, payload: r0!.payload }], aliceSigner.sign(new Uint8Array(32)));
    expect(auth.check(forged[0]!)).toMatch(/bad signature of client "bob"/);
    // Signed for another network with the same client id and key: refused here.
    const elsewhere = signRequests(aliceSigner, 'alice', items(1), { chainId: 'other-chain' });
    expect(auth.check(elsewhere[0]!)).toMatch(/bad signature of client "alice"/);
    const stranger = signRequests(aliceSigner, 'mallory', items(1), { chainId: 'test' });
    expect(auth.check(stranger[0]!)).toMatch(/unknown client "mallory"/);
    // A seq outside u64 must not pass for the one it wraps to in the digest (seq 0 signed above).
    expect(auth.check({ ...r0!, seq: 1n << 64n })).toMatch(/not a u64/);
    expect(auth.check({ ...r1!, seq: -((1n << 64n) - 1n) })).toMatch(/not a u64/);
    expect(() => signRequests(aliceSigner, 'alice', [{ seq: -1n, payload: r0!.payload }], { chainId: 'test' })).toThrow(EncodeError);
  });

  it('refuses what cannot be signed with named errors: a seq outside u64, a group of 0 or over MAX_GROUP_SIZE, a digest not of 32 bytes', () => {
    const scope = { chainId: 'test' };
    for (const seq of [-1n, 1n << 64n]) {
      expect(() => signRequests(aliceSigner, 'alice', [{ seq, payload: Uint8Array.of(1) }], scope)).toThrow(
        expect.objectContaining({ constructor: EncodeError, code: 'ENCODE', message: `a command seq is a u64, got ${seq}` }),
      );
    }
    for (const n of [0, MAX_GROUP_SIZE + 1]) {
      const tooMany = expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'items', message: `a signed group has 1..${MAX_GROUP_SIZE} commands, got ${n}` });
      expect(() => signGroup(aliceSigner, 'alice', items(n), scope)).toThrow(tooMany);
      expect(() => groupOf('alice', items(n), new Uint8Array(64))).toThrow(tooMany);
    }
    expect(() => groupMessage('alice', [new Uint8Array(32), new Uint8Array(31)], scope)).toThrow(
      expect.objectContaining({ constructor: ArgumentError, code: 'ARGUMENT', argument: 'digests', message: 'a command digest is 32 bytes, got 31' }),
    );
  });

  it('a group rebuilt from a frame checks like the original (the replica rebuilds what the client sent)', () => {
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier });
    const signed = signRequests(aliceSigner, 'alice', items(5), { chainId: 'test' });
    // signGroup gives a frame's per-run signature: the same one signRequests put on the group.
    expect(signGroup(aliceSigner, 'alice', items(5), { chainId: 'test' })).toEqual(signed[0]!.auth!.group.signature);
    const rebuilt = groupOf('alice', items(5), signed[0]!.auth!.group.signature);
    for (const r of rebuilt) expect(auth.check(r)).toBeUndefined();
    const tampered = groupOf('alice', items(5, 1n), signed[0]!.auth!.group.signature);
    expect(auth.check(tampered[0]!)).toMatch(/bad signature/);
  });
});

describe('verifyItem (pre-verification on a worker pool)', () => {
  it('lists exactly the check `check` makes, so a cache filled from it answers `check` without verifying', async () => {
    const inner = countingVerifier();
    const cache = createVerifiedCache({ verifier: inner });
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier: cache });
    // Decoded copies, as a replica gets them: nothing about them is known yet.
    const copies = roundTrip(signRequests(aliceSigner, 'alice', items(200), { chainId: 'test' }));
    const groups = [...new Set(copies.map((r) => r.auth!.group))];
    const listed = groups.map((g) => auth.verifyItem!(g)!);
    expect(listed).toHaveLength(2);
    // What a runtime does: the pool verifies the items and the cache keeps the valid ones.
    const pool = { verifyBatch: async (b: readonly VerifyItem[]) => b.map((it) => verifier.verify(it.publicKey, it.message, it.signature)), close: async () => {} };
    expect(await cache.preverify(pool, listed)).toEqual([true, true]);
    for (const r of copies) expect(auth.check(r)).toBeUndefined();
    expect(inner.calls).toBe(0);
    // Once judged, a group needs no check: nothing is listed for it any more.
    expect(groups.map((g) => auth.verifyItem!(g))).toEqual([undefined, undefined]);
  });

  it('lists nothing for what `check` refuses unverified, and never throws', () => {
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier });
    const [r] = signRequests(aliceSigner, 'alice', items(1), { chainId: 'test' });
    const g = r!.auth!.group;
    expect(auth.verifyItem!({ ...g, client: 'carol' })).toBeUndefined();
    expect(auth.verifyItem!({ ...g, digests: [] })).toBeUndefined();
    expect(auth.verifyItem!({ ...g, digests: [new Uint8Array(31)] })).toBeUndefined();
    expect(auth.verifyItem!({ ...g, signature: 'x' as unknown as Uint8Array })).toBeUndefined();
    for (const junk of [undefined, null, 7, {}, { client: 'alice' }, { client: 'alice', digests: 'no' }]) {
      expect(auth.verifyItem!(junk as never)).toBeUndefined();
    }
    // A forged signature is listed (only a verification can tell), and the pool's false is not cached.
    const forged = { ...g, signature: Uint8Array.from(g.signature, (b, i) => (i === 5 ? b ^ 1 : b)) };
    const it = auth.verifyItem!(forged)!;
    expect(verifier.verify(it.publicKey, it.message, it.signature)).toBe(false);
  });
});

describe('request lists on the wire', () => {
  it('keeps the unsigned format and carries each group once, split or whole', () => {
    const plain: ClientRequest[] = items(3).map((r) => ({ client: 'alice', ...r }));
    expect(requestListValue(plain)).toEqual(plain.map((r) => [r.client, r.seq, r.payload]));
    expect(roundTrip(plain)).toEqual(plain);
    const signed = signRequests(aliceSigner, 'alice', items(200), { chainId: 'test' });
    // A batch holding part of one group and a whole other one, with an unsigned command between.
    const mixed = [...signed.slice(100, 140), plain[0]!, ...signed.slice(0, 3)];
    const back = roundTrip(mixed);
    expect(back.map((r) => [r.client, r.seq, r.auth?.index])).toEqual(mixed.map((r) => [r.client, r.seq, r.auth?.index]));
    expect(new Set(back.filter((r) => r.auth).map((r) => r.auth!.group)).size).toBe(2);
    const auth = createRequestAuthenticator({ chainId: 'test', keyOf: (c) => keys.get(c), verifier });
    for (const r of back.filter((r) => r.auth)) expect(auth.check(r)).toBeUndefined();
  });

  it('refuses malformed lists with a DecodeError', () => {
    const signed = signRequests(aliceSigner, 'alice', items(2), { chainId: 'test' });
    const good = requestListValue(signed) as { g: unknown[][]; r: unknown[][] };
    const bad = (f: (v: { g: unknown[][]; r: unknown[][] }) => void) => {
      const v = structuredClone(good);
      f(v);
      return () => readRequestList(decode(encode(v as never)), 'list', LIMITS);
    };
    expect(bad((v) => (v.r[0]![3] = 1))).toThrow(DecodeError); // no such group
    expect(bad((v) => (v.r[0]![4] = 2))).toThrow(DecodeError); // position outside the group
    expect(bad((v) => (v.r[0]![0] = 'bob'))).toThrow(/in a group of "alice"/);
    expect(bad((v) => v.g.push(v.g[0]!))).toThrow(/no command uses this group/);
    expect(bad((v) => (v.g[0]![2] = new Uint8Array(33)))).toThrow(/not 1\.\.128 digests/);
    expect(bad((v) => (v.r[0] = v.r[0]!.slice(0, 4)))).toThrow(DecodeError);
    expect(bad((v) => ((v.g = []), (v.r = v.r.map((x) => x.slice(0, 3)))))).toThrow(/empty \(a list with no signed command is a plain array\)/);
  });

  /**
   * What a read gave, comparable across readers: each command's fields, with its group as the
   * group's content and as the index of its first holder (commands of one group share one object).
   */
  function shape(read: () => ClientRequest[]): unknown {
    let list: ClientRequest[];
    try {
      list = read();
    } catch (err) {
      expect(err).toBeInstanceOf(DecodeError);
      return { error: (err as Error).message };
    }
    return list.map((r) => {
      const g = r.auth?.group;
      return [r.client, r.seq, r.payload, r.auth?.index, g && [g.client, g.signature, g.digests, list.findIndex((o) => o.auth?.group === g)]];
    });
  }

  it('reads well-formed commands on its fast path exactly as the checking readers do, and names the bad one (property, mutated lists)', () => {
    const lim = { ...LIMITS, maxIdLength: 6, maxPayloadBytes: 4 };
    // Two groups of alice's (a wrong group index stays alice's, so only the group's content tells), one of bob's.
    const signed = [
      ...signRequests(aliceSigner, 'alice', items(2), { chainId: 'test' }),
      ...signRequests(signerFromSecret(bob.secretKey), 'bob', items(2, 9n), { chainId: 'test' }),
      ...signRequests(aliceSigner, 'alice', items(3, 20n), { chainId: 'test' }),
    ];
    // Every value meets every position often: each is a boundary of one of the rules.
    const values: Value[] = ['alice', 'bob', 'bobby', 'toolong', '', 0, 1, 2, 3, -1, 1.5, 2 ** 53 - 1, 2 ** 53, 0n, -1n, 2n ** 53n, 2n ** 64n - 1n, 2n ** 64n, -(2n ** 64n), null, true, new Uint8Array(0), new Uint8Array(4), new Uint8Array(5), []];
    // 'ref' aims at the group and position fields, whose bounds depend on the list (3 groups here).
    const refs: Value[] = [-1, 0, 1, 2, 3, 4, 5, 1.5, 2 ** 53, 0n, 'x', null];
    const mutation = fc.tuple(fc.nat(), fc.nat(4), fc.nat(values.length - 1), fc.constantFrom('set', 'set', 'ref', 'cut', 'grow'));
    fc.assert(
      fc.property(fc.boolean(), fc.array(mutation, { maxLength: 3 }), (withSigs, muts) => {
        const list = signed.map((r) => ({ ...(withSigs ? r : { client: r.client, seq: r.seq }), payload: r.payload.subarray(0, 2) }));
        const v = requestListValue(list) as Value;
        const cmds = (Array.isArray(v) ? v : (v as { r: Value[][] }).r) as Value[][];
        for (const [at, pos, vi, how] of muts) {
          const c = cmds[at % cmds.length]!;
          const value = values[vi]!;
          if (how === 'set' && c.length > 0) c[pos % c.length] = value;
          else if (how === 'ref' && c.length === 5) c[3 + (pos % 2)] = refs[vi % refs.length]!;
          else if (how === 'cut') c.length = Math.min(c.length, pos);
          else if (c.length < 6) c.push(...(pos % 2 === 0 ? [value] : [value, value])); // one field more, or two (a plain command in the signed shape)
        }
        // Read as decoded from the wire when it encodes, and as given (callers pass any Value) always.
        for (const back of [...encodes(v), v]) {
          const fast = shape(() => readRequestList(back, 'list', lim));
          expect(fast).toEqual(shape(() => readRequestListChecked(back, 'list', lim)));
          if (muts.length === 0) expect(fast).not.toHaveProperty('error'); // the unmutated list reads
        }
      }),
      { numRuns: 3000 },
    );
  });

  function encodes(v: Value): Value[] {
    try {
      return [decode(encode(v))];
    } catch {
      return []; // a float or an integer past CBOR's range: no frame carries it
    }
  }

  it('counts a group once per batch, and requestBatches cuts by that count', () => {
    const signed = signRequests(aliceSigner, 'alice', items(MAX_GROUP_SIZE), { chainId: 'test' });
    const whole = batchWireBytes(signed);
    const encoded = encode(requestListValue(signed)).length;
    expect(whole).toBeGreaterThanOrEqual(encoded);
    // Counting each command with its whole group would be 128 times the group: far from tight.
    expect(whole).toBeLessThan(signed.reduce((n, r) => n + requestWireBytes(r), 0) / 10);
    // Every part of a split group still fits its bound when encoded.
    for (const part of requestBatches(signed, 1000, 3000)) {
      expect(encode(requestListValue(part)).length).toBeLessThanOrEqual(batchWireBytes(part));
      expect(batchWireBytes(part) <= 3000 || part.length === 1).toBe(true);
    }
  });
});
