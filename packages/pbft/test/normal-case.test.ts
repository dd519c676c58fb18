import { describe, expect, it } from 'vitest';
import { Cluster } from './cluster.js';

describe('PBFT normal case (§4.2)', () => {
  it('commits client requests in order on all replicas with offline-verifiable certificates', () => {
    const c = new Cluster({ n: 4 });
    for (let i = 0; i < 10; i++) c.request('r0');
    expect(c.runUntil(() => c.node('r0').app.applied.length === 10 && c.committedAll(c.node('r0').core.status().committedHeight))).toBe(true);
    c.checkAgreement();
    c.checkHealthy();
    for (const id of c.ids) expect(c.node(id).app.applied.map((r) => r.seq)).toEqual(c.node('r0').app.applied.map((r) => r.seq));
  });
});
