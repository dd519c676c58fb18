import { describe, expect, it } from 'vitest';
import { Cluster, req } from './harness.js';

describe('hotstuff cluster (in-process deterministic loop)', () => {
  it('commits requests at every replica in the same order (HotStuff §4.3 three-chain)', () => {
    const c = new Cluster({ n: 4, seed: 1 });
    for (let i = 0; i < 20; i++) c.request('r0', req('c1', i + 1));
    c.run({ until: () => c.ids.every((id) => c.committedKeys(id).length === 20) });
    const first = c.committedKeys('r0');
    expect([...first].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `c1/${i + 1}`).sort());
    for (const id of c.ids) expect(c.committedKeys(id)).toEqual(first);
    c.checkAgreement(true);
    // Quiescence: once everything is committed the cluster stops (no empty blocks, no timers).
    const steps = c.run({ maxSteps: 10_000 });
    expect(steps).toBeLessThan(10_000);
  });
});
