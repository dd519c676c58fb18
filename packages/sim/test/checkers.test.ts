import { describe, it, expect } from 'vitest';
import { Checkers } from '../src/checkers.js';
import { utf8 } from '@phalanx/codec';
import type { ClientRequest } from '@phalanx/interface';

const req = (client: string, seq: bigint, p = 'mix k v'): ClientRequest => ({ client, seq, payload: utf8.encode(p) });
const batch = (height: bigint, ...requests: ClientRequest[]) => ({ height, requests });

function fresh(): Checkers {
  const c = new Checkers(['r0', 'r1', 'r2']);
  c.onSubmit(req('c0', 1n));
  c.onSubmit(req('c0', 2n));
  return c;
}

describe('checkers (each must be able to fail)', () => {
  it('agreement: two honest replicas, one height, two batches', () => {
    const c = fresh();
    c.onCommit('r0', batch(1n, req('c0', 1n)), 1n, 0);
    c.onCommit('r1', batch(1n, req('c0', 2n)), 1n, 0);
    expect(c.violations.map((v) => v.checker)).toContain('agreement');
  });

  it('agreement ignores Byzantine replicas', () => {
    const c = fresh();
    c.onCommit('r0', batch(1n, req('c0', 1n)), 1n, 0);
    c.onCommit('r3', batch(1n, req('c0', 2n)), 1n, 0);
    expect(c.violations).toEqual([]);
  });

  it('validity: invented request, altered payload, and a request committed twice', () => {
    const a = fresh();
    a.onCommit('r0', batch(1n, req('c9', 1n)), 1n, 0);
    expect(a.violations[0]?.checker).toBe('validity');
    const b = fresh();
    b.onCommit('r0', batch(1n, req('c0', 1n, 'put k evil')), 1n, 0);
    expect(b.violations[0]?.checker).toBe('validity');
    const c = fresh();
    c.onCommit('r0', batch(1n, req('c0', 1n)), 1n, 0);
    c.onCommit('r0', batch(2n, req('c0', 1n)), 2n, 0);
    expect(c.violations[0]?.message).toMatch(/twice/);
  });

  it('total order: gaps in a replica log, and diverging logs', () => {
    const a = fresh();
    a.onCommit('r0', batch(2n, req('c0', 1n)), 1n, 0);
    expect(a.violations[0]?.checker).toBe('total-order');
    const b = new Checkers(['r0', 'r1']);
    b.onSubmit(req('c0', 1n));
    b.onSubmit(req('c0', 2n));
    b.onCommit('r0', batch(1n, req('c0', 1n)), 1n, 0);
    b.onCommit('r1', batch(1n, req('c0', 1n)), 1n, 0);
    b.checkTotalOrder(0);
    expect(b.violations).toEqual([]);
  });

  it('durability: after a restart a replica commits a different batch at a height it had committed', () => {
    const c = fresh();
    c.onCommit('r0', batch(1n, req('c0', 1n)), 1n, 0);
    c.onRestart('r0');
    c.onCommit('r0', batch(1n, req('c0', 2n)), 1n, 0);
    expect(c.violations.map((v) => v.checker)).toContain('durability');
  });

  it('state: different digests at one height, and different final states', () => {
    const c = fresh();
    c.onDigest('r0', 4n, Uint8Array.of(1), 0);
    c.onDigest('r1', 4n, Uint8Array.of(2), 0);
    expect(c.violations[0]?.checker).toBe('state');
    const d = fresh();
    d.checkFinalStates([{ node: 'r0', height: 3n, digest: 'aa' }, { node: 'r1', height: 3n, digest: 'bb' }], 0);
    expect(d.violations[0]?.checker).toBe('state');
  });

  it('liveness: a live replica that never committed a submitted request', () => {
    const c = fresh();
    c.onCommit('r0', batch(1n, req('c0', 1n), req('c0', 2n)), 1n, 0);
    c.checkLiveness(['r0'], 0, 'test');
    expect(c.violations).toEqual([]);
    c.checkLiveness(['r1'], 0, 'test');
    expect(c.violations[0]?.checker).toBe('liveness');
  });
});

describe('re-delivered heights', () => {
  it('a replayed height must match what the replica committed there', () => {
    const c = new Checkers(['r0']);
    c.onSubmit(req('c0', 1n));
    c.onSubmit(req('c0', 2n));
    c.onCommit('r0', batch(1n, req('c0', 1n)), 1n, 0);
    c.onRecommit('r0', batch(1n, req('c0', 1n)), 0);
    expect(c.violations).toEqual([]);
    c.onRecommit('r0', batch(1n, req('c0', 2n)), 0);
    expect(c.violations[0]?.checker).toBe('durability');
  });
});
