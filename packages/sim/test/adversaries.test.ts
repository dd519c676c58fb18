import { describe, it, expect } from 'vitest';
import { createRng, createStubKeys, equivocating, replaying, silent, twins, corrupt } from '../src/index.js';
import type { AdversaryContext, SimHooks } from '../src/index.js';

type Msg = { v: number };
const codec = { encode: (m: Msg) => Uint8Array.of(m.v), decode: (b: Uint8Array) => ({ v: b[0]! }) };
const hooks: SimHooks<Msg> = { equivocate: (m) => ({ v: m.v + 100 }) };

function ctx(instance = 0, rng = createRng(5)): AdversaryContext<Msg> {
  const signer = createStubKeys(1).signer('r0');
  return {
    self: 'r0',
    peers: ['r1', 'r2', 'r3'],
    rng,
    now: 0,
    codec,
    signer,
    hooks,
    hookContext: { rng, signer, self: 'r0', chainId: 'c', memo: new Map() },
    instance,
  };
}

describe('adversaries', () => {
  it('equivocate tells two non-empty groups of peers two different things, consistently', () => {
    const adv = equivocating<Msg>();
    const c = ctx();
    const seen = new Map<string, number>();
    for (const to of ['r1', 'r2', 'r3']) for (const f of adv.outbound({ v: 1 }, to, codec.encode({ v: 1 }), c)) seen.set(f.to, f.bytes[0]!);
    const values = new Set(seen.values());
    expect(values).toEqual(new Set([1, 101]));
    // The same peer gets the same side next time.
    for (const to of ['r1', 'r2', 'r3']) expect(adv.outbound({ v: 1 }, to, codec.encode({ v: 1 }), c)[0]!.bytes[0]).toBe(seen.get(to));
  });

  it('twins split the peers between the two instances', () => {
    const adv = twins<Msg>();
    const c0 = ctx(0);
    const c1 = { ...ctx(1), rng: c0.rng };
    const reach0 = ['r1', 'r2', 'r3'].filter((to) => adv.outbound({ v: 1 }, to, Uint8Array.of(1), c0).length > 0);
    const reach1 = ['r1', 'r2', 'r3'].filter((to) => adv.outbound({ v: 1 }, to, Uint8Array.of(1), c1).length > 0);
    expect(reach0.length).toBeGreaterThan(0);
    expect(reach1.length).toBeGreaterThan(0);
    expect([...reach0, ...reach1].sort()).toEqual(['r1', 'r2', 'r3']);
    expect(adv.instances).toBe(2);
  });

  it('silent sends nothing; replay re-sends frames it saw', () => {
    expect(silent<Msg>().outbound({ v: 1 }, 'r1', Uint8Array.of(1), ctx())).toEqual([]);
    const adv = replaying<Msg>(1);
    const c = ctx();
    adv.inbound!('r2', Uint8Array.of(42), c);
    const out = adv.outbound({ v: 1 }, 'r1', Uint8Array.of(1), c);
    expect(out).toHaveLength(2);
    expect(out[1]!.bytes).toEqual(Uint8Array.of(42));
  });

  it('corrupt changes the frame', () => {
    const c = ctx();
    const frame = Uint8Array.from({ length: 40 }, (_, i) => i);
    for (let i = 0; i < 500; i++) expect(corrupt(frame, c)).not.toEqual(frame);
    expect(corrupt(new Uint8Array(0), c).length).toBeGreaterThan(0);
  });
});
