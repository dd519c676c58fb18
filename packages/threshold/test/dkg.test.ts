import { describe, expect, it } from 'vitest';
import { ConfigError, DecodeError } from '@phalanx/interface';
import { encode } from '@phalanx/codec';
import {
  combineSignatures,
  DkgParty,
  dkgCodec,
  publicKeyOf,
  reconstruct,
  scalarToBytes,
  seededRng,
  signShare,
  verifyThresholdSignature,
} from '../src/index.js';
import type { DkgResult } from '../src/index.js';
import { runDkg } from './dkg-driver.js';
import type { Behaviour } from './dkg-driver.js';

const utf8 = (s: string) => new TextEncoder().encode(s);

/** Every honest party finished with the same group key, key shares and qualified set. */
function agreed(run: ReturnType<typeof runDkg>): DkgResult[] {
  const results = run.honest.map((i) => run.parties[i - 1]!);
  for (const p of results) expect(p.phase).toBe('done');
  const rs = results.map((p) => p.result()!);
  for (const r of rs) {
    expect(r.publicKey).toEqual(rs[0]!.publicKey);
    expect(r.qualified).toEqual(rs[0]!.qualified);
    expect(r.disqualified).toEqual(rs[0]!.disqualified);
    for (const h of run.honest) expect(r.qualified).toContain(h); // honest dealers always qualify
  }
  // The shares really are a t-of-n sharing of the group key (checked here only; no party does this).
  const t = rs[0]!.publicKey.threshold;
  const secret = reconstruct(rs.map((r) => r.secretShare), t);
  expect(publicKeyOf(scalarToBytes(secret))).toEqual(rs[0]!.publicKey.groupPublicKey);
  rs.forEach((r) => expect(publicKeyOf(scalarToBytes(r.secretShare.value))).toEqual(r.publicKey.publicKeyShares[r.secretShare.index - 1]));
  return rs;
}

describe('DKG (Joint-Feldman with complaints)', () => {
  it('all honest, n=4, t=1: one group key, every party qualified, threshold signing works', () => {
    const run = runDkg(4, 1, ['honest', 'honest', 'honest', 'honest'], 'all-honest');
    const rs = agreed(run);
    expect(rs[0]!.qualified).toEqual([1, 2, 3, 4]);
    expect(rs[0]!.disqualified).toEqual([]);
    const msg = utf8('signed by the group');
    const shares = [rs[3]!, rs[1]!].map((r) => signShare(r.secretShare, msg));
    const combined = combineSignatures(rs[0]!.publicKey, msg, shares);
    expect(verifyThresholdSignature(rs[0]!.publicKey, msg, combined.signature)).toBe(true);
  });

  const scenarios: [string, number, number, Behaviour[], number[], string[]][] = [
    ['silent dealer', 4, 1, ['honest', 'silent', 'honest', 'honest'], [2], ['no-commitments']],
    ['inconsistent commitments', 4, 1, ['honest', 'honest', 'inconsistent-commitments', 'honest'], [3], ['too-many-complaints']],
    ['bad shares, honest justification (stays qualified)', 4, 1, ['bad-shares', 'honest', 'honest', 'honest'], [], []],
    ['bad shares, bad justification', 4, 1, ['honest', 'honest', 'honest', 'bad-shares-bad-justification'], [4], ['bad-justification']],
    ['bad shares, no justification', 5, 2, ['honest', 'bad-shares-no-justification', 'honest', 'silent', 'honest'], [2, 4], ['unanswered-complaint', 'no-commitments']],
    ['false complaints against honest dealers', 4, 1, ['honest', 'honest', 'false-complainer', 'honest'], [], []],
    ['t=2 mixed attackers', 7, 2, ['honest', 'inconsistent-commitments', 'honest', 'honest', 'bad-shares-bad-justification', 'honest', 'honest'], [2, 5], ['too-many-complaints', 'bad-justification']],
  ];
  for (const [name, n, t, behaviours, dq, reasons] of scenarios) {
    it(`${name}: honest parties agree on the key and on who is disqualified`, () => {
      const run = runDkg(n, t, behaviours, name);
      const rs = agreed(run);
      expect(rs[0]!.disqualified.map((d) => d.dealer)).toEqual(dq);
      expect(rs[0]!.disqualified.map((d) => d.reason)).toEqual(reasons);
      expect(rs[0]!.qualified).toEqual(Array.from({ length: n }, (_, i) => i + 1).filter((j) => !dq.includes(j)));
    });
  }

  it('a share lost by the network is recovered through complaint and justification', () => {
    // Honest dealer 2's share to honest party 4 never arrives: party 4 complains, dealer 2 reveals
    // the share publicly, party 4 adopts it, and nobody is disqualified.
    const run = runDkg(4, 1, ['honest', 'honest', 'honest', 'honest'], 'lost-share', true, { lostShares: [[2, 4]] });
    const rs = agreed(run);
    expect(rs[0]!.disqualified).toEqual([]);
    expect(rs[0]!.qualified).toEqual([1, 2, 3, 4]);
  });

  it('a cheating dealer is reported as misbehaviour; bad input never throws', () => {
    const ids = ['a', 'b', 'c'];
    const p = new DkgParty({ session: 's', participants: ids, self: 'a', threshold: 1, rng: seededRng('x') });
    p.ready();
    p.step({ type: 'message', from: 'zz', msg: { type: 'dkg/complaint', session: 's', complainer: 1, dealer: 1 } });
    p.step({ type: 'message', from: 'b', msg: { type: 'dkg/complaint', session: 's', complainer: 3, dealer: 1 } });
    p.step({ type: 'message', from: 'b', msg: { type: 'dkg/complaint', session: 's', complainer: 2, dealer: 1.5 } });
    p.step({ type: 'message', from: 'b', msg: { type: 'dkg/commitments', session: 's', dealer: 2, commitments: [new Uint8Array(3)] } });
    p.step({ type: 'message', from: 'c', msg: { type: 'dkg/share', session: 'other', dealer: 3, recipient: 1, share: new Uint8Array(32) } });
    p.step({ type: 'message', from: 'c', msg: null as never });
    const kinds = p.ready().events.map((e) => (e.type === 'misbehaviour' ? `${e.peer}:${e.kind}` : e.type));
    expect(kinds).toEqual(['zz:unknown-sender', 'b:protocol-violation', 'b:malformed', 'b:malformed', 'c:stale', 'c:malformed']);
  });

  it('asks for one timer per phase and ignores unrelated timeouts', () => {
    const ids = ['a', 'b', 'c'];
    const p = new DkgParty({ session: 's', participants: ids, self: 'b', threshold: 1, rng: seededRng('y'), phaseMs: 250 });
    const r = p.ready();
    expect(r.timers).toEqual([{ op: 'set', id: 'dkg/s/dealing', ms: 250 }]);
    expect(r.send.filter((o) => o.to === 'all')).toHaveLength(1);
    expect(r.send.filter((o) => o.to !== 'all').map((o) => o.to)).toEqual(['a', 'c']);
    p.step({ type: 'timeout', timer: 'dkg/s/justifying' });
    expect(p.phase).toBe('dealing');
    p.step({ type: 'timeout', timer: 'dkg/s/dealing' });
    expect(p.phase).toBe('complaining');
  });

  it('refuses bad configurations with ConfigError', () => {
    const rng = seededRng('cfg');
    expect(() => new DkgParty({ session: 's', participants: ['a', 'b', 'c'], self: 'a', threshold: 2, rng })).toThrow(ConfigError);
    expect(() => new DkgParty({ session: 's', participants: ['a', 'a', 'c'], self: 'a', threshold: 1, rng })).toThrow(ConfigError);
    expect(() => new DkgParty({ session: 's', participants: ['a', 'b', 'c'], self: 'd', threshold: 1, rng })).toThrow(ConfigError);
  });

  it('the wire codec round-trips and refuses malformed frames with DecodeError', () => {
    const m = { type: 'dkg/share', session: 's', dealer: 2, recipient: 3, share: new Uint8Array(32).fill(7) } as const;
    expect(dkgCodec.decode(dkgCodec.encode(m))).toEqual(m);
    const bad = [
      encode({ type: 'dkg/share', session: 's', dealer: 2, recipient: 3, share: new Uint8Array(31) }),
      encode({ type: 'dkg/share', session: 's', dealer: 0, recipient: 3, share: new Uint8Array(32) }),
      encode({ type: 'dkg/share', session: 's', dealer: 2, recipient: 3, share: new Uint8Array(32), extra: 1 }),
      encode({ type: 'dkg/nope', session: 's' }),
      encode({ type: 'dkg/commitments', session: 's', dealer: 1, commitments: [new Uint8Array(47)] }),
      new Uint8Array([0xff]),
    ];
    for (const b of bad) expect(() => dkgCodec.decode(b)).toThrow(DecodeError);
  });
});
